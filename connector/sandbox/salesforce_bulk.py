"""Bulk API 2.0 jobs of the Salesforce emulator: query and ingest jobs, their states and limits.

Query jobs (``/jobs/query``) run their SOQL once when created, on a snapshot of the rows, and
serve the result as CSV sets paged by ``locator`` and ``maxRecords``. Ingest jobs
(``/jobs/ingest``) take one CSV upload while ``Open`` (a second one makes the close fail with
``400 INVALIDJOB``, as in Salesforce), start at ``UploadComplete`` and end in
``JobComplete`` (per-record successes and failures), ``Failed`` (the records it did not reach
are *unprocessed*) or ``Aborted``. A job is processed ``processing_s`` after it was started
(``UploadComplete``, then ``InProgress`` for the second half of that time), lazily, at the
first look after that moment, so tests can watch the states go by.

Result sets: ``maxRecords`` is optional and must be a positive integer (else 400
``INVALIDPARAMETER``); Salesforce documents no maximum, only that a set "is still subject to
the size limits", which it does not quantify for 2.0 (U), so a set here ends at ``maxRecords``
alone, and without it at :data:`DEFAULT_MAX_RECORDS` (the server's own choice, U).

Limits as Salesforce documents them (crm-api-notes-2 section 3.3): one upload of at most 150 MB
once base64-encoded; 150,000,000 records ingested and 15,000 batches (one per started 10,000
records of an ingest job) per rolling 24 hours; 10,000 query jobs per rolling 24 hours. The
``/limits`` entries ``DailyBulkApiBatches`` and ``DailyBulkV2QueryJobs`` report what is left.
Error codes for exceeding them are not documented for 2.0: the emulator answers
``400 LIMIT_EXCEEDED`` (a guess, kept in one place).

The ``jobfail`` fault (share of jobs) makes a job fail: a query job with no results, an ingest
job after half of its records (the rest unprocessed).
"""

from __future__ import annotations

import base64
import math
import threading
from collections import deque
from dataclasses import dataclass, field

from connector.sandbox.salesforce_fields import FieldError
from connector.sandbox.salesforce_sessions import APIError

MAX_UPLOAD_BASE64 = 150 * 1024 * 1024
DAILY_RECORDS = 150_000_000
DAILY_BATCHES = 15_000
DAILY_QUERY_JOBS = 10_000
RECORDS_PER_BATCH = 10_000
DEFAULT_MAX_RECORDS = 50_000  # the server's own page when maxRecords is absent (U: undocumented)
WINDOW_S = 24 * 3600.0
DELIMITERS = {"BACKQUOTE": "`", "CARET": "^", "COMMA": ",", "PIPE": "|", "SEMICOLON": ";",
              "TAB": "\t"}
LINE_ENDINGS = {"LF": "\n", "CRLF": "\r\n"}
TERMINAL = frozenset({"JobComplete", "Failed", "Aborted"})
INGEST_OPERATIONS = frozenset({"insert", "update", "upsert", "delete", "hardDelete"})


@dataclass
class BulkJob:
    """One Bulk API 2.0 job and everything it holds until deleted."""

    id: str
    kind: str  # "query" or "ingest"
    operation: str
    object: str
    api_version: str
    created: str
    delimiter: str = "COMMA"
    line_ending: str = "LF"
    state: str = "Open"
    started_at: float | None = None
    error_message: str | None = None
    fields: tuple[str, ...] = ()
    rows: list[dict] = field(default_factory=list)  # query: the result; ingest: the upload
    columns: list[str] = field(default_factory=list)
    uploaded: bool = False
    uploads: int = 0
    successful: list[tuple[str, bool, dict]] = field(default_factory=list)
    failed: list[tuple[str, str, dict]] = field(default_factory=list)
    unprocessed: list[dict] = field(default_factory=list)
    fail: bool = False

    def info(self, instance: str) -> dict:
        """The job's JSON as ``GET jobs/{kind}/{id}`` answers it."""
        body = {"id": self.id, "operation": self.operation, "object": self.object,
                "createdById": instance, "createdDate": self.created,
                "systemModstamp": self.created, "state": self.state,
                "concurrencyMode": "Parallel", "contentType": "CSV",
                "apiVersion": float(self.api_version),
                "jobType": "V2Query" if self.kind == "query" else "V2Ingest",
                "lineEnding": self.line_ending, "columnDelimiter": self.delimiter,
                "retries": 0, "totalProcessingTime": 0}
        if self.kind == "ingest":
            body["contentUrl"] = f"services/data/v{self.api_version}/jobs/ingest/{self.id}/batches"
            body.update(numberRecordsProcessed=len(self.successful) + len(self.failed),
                        numberRecordsFailed=len(self.failed), apiActiveProcessingTime=0,
                        apexProcessingTime=0)
        else:
            body["numberRecordsProcessed"] = len(self.rows) if self.state == "JobComplete" else 0
        if self.error_message:
            body["errorMessage"] = self.error_message
        return body


class RollingCount:
    """Amounts spent in the last 24 hours (Salesforce's allocations roll, they do not reset)."""

    def __init__(self, limit: int, clock) -> None:
        self.limit, self.clock = limit, clock
        self._spent: deque[tuple[float, int]] = deque()

    def used(self) -> int:
        """The amount spent in the window ending now."""
        horizon = self.clock() - WINDOW_S
        while self._spent and self._spent[0][0] <= horizon:
            self._spent.popleft()
        return sum(amount for _, amount in self._spent)

    def spend(self, amount: int, what: str) -> None:
        """Spend ``amount`` or raise 400 LIMIT_EXCEEDED when the window has no room for it."""
        if self.used() + amount > self.limit:
            raise APIError(400, "LIMIT_EXCEEDED", f"Exceeded the daily limit of {self.limit:,} "
                           f"{what} in a rolling 24-hour period")
        self._spent.append((self.clock(), amount))

    def remaining(self) -> int:
        """What is left in the window."""
        return max(0, self.limit - self.used())


class BulkJobs:
    """The org's Bulk API 2.0 jobs; ``org`` runs the queries and applies the writes."""

    def __init__(self, org, *, processing_s: float = 0.0, daily_records: int = DAILY_RECORDS
                 ) -> None:
        self.org, self.processing_s = org, processing_s
        self.max_upload_base64 = MAX_UPLOAD_BASE64
        self.stream_rows = 5_000  # result rows rendered per block of a streamed result set
        self.plan_of = None  # set by the app: the fault plan in force (``record``, ``jobfail``)
        self.lock = threading.RLock()
        self.jobs: dict[str, BulkJob] = {}
        self.records = RollingCount(daily_records, org.clock)
        self.batches = RollingCount(DAILY_BATCHES, org.clock)
        self.query_jobs = RollingCount(DAILY_QUERY_JOBS, org.clock)

    def limits(self) -> dict:
        """The Bulk entries of ``/limits``."""
        with self.lock:
            return {
                "DailyBulkApiBatches": {"Max": DAILY_BATCHES, "Remaining": self.batches.remaining()},
                "DailyBulkV2QueryJobs": {"Max": DAILY_QUERY_JOBS,
                                         "Remaining": self.query_jobs.remaining()},
            }

    # -- creating ----------------------------------------------------------------------------------

    def _new(self, kind: str, operation: str, sobject: str, version: str, body: dict) -> BulkJob:
        delimiter = body.get("columnDelimiter") or "COMMA"
        line_ending = body.get("lineEnding") or "LF"
        if delimiter not in DELIMITERS:
            raise APIError(400, "INVALIDJOB", f"Invalid columnDelimiter: {delimiter}")
        if line_ending not in LINE_ENDINGS:
            raise APIError(400, "INVALIDJOB", f"Invalid lineEnding: {line_ending}")
        return BulkJob(self.org.ids.next("750"), kind, operation, sobject, version,
                       self.org.now(), delimiter, line_ending)

    def create_query(self, body: dict, version: str, *, fail: bool) -> dict:
        """``POST jobs/query``: run the SOQL now; the job starts ``UploadComplete``."""
        operation = body.get("operation")
        if operation not in ("query", "queryAll"):
            raise APIError(400, "INVALIDJOB", f"Invalid operation for a query job: {operation}")
        text = body.get("query")
        if not isinstance(text, str) or not text.strip():
            raise APIError(400, "INVALIDJOB", "A query is required for a query job")
        obj, compiled, rows = self.org.select(text, include_deleted=operation == "queryAll")
        if compiled.count_only:
            raise APIError(400, "API_ERROR", "Aggregate queries (COUNT()) are not supported by "
                           "Bulk API 2.0 query jobs")
        job = self._new("query", operation, obj.name, version, body)
        with self.lock:
            self.query_jobs.spend(1, "Bulk API 2.0 query jobs")
            job.fields, job.rows, job.fail = compiled.fields, rows, fail
            job.state, job.started_at = "UploadComplete", self.org.clock()
            self.jobs[job.id] = job
        self.org.count("bulk_query_jobs")
        return job.info(self.org.user_id)

    def create_ingest(self, body: dict, version: str, *, fail: bool) -> dict:
        """``POST jobs/ingest``: an ``Open`` job waiting for its CSV."""
        operation = body.get("operation")
        if operation not in INGEST_OPERATIONS:
            raise APIError(400, "INVALIDJOB", f"Invalid operation for an ingest job: {operation}")
        if body.get("contentType", "CSV") != "CSV":
            raise APIError(400, "INVALIDJOB", "Only CSV content is supported")
        obj = self.org.sobject(str(body.get("object", "")))
        job = self._new("ingest", operation, obj.name, version, body)
        job.fail = fail
        with self.lock:
            self.jobs[job.id] = job
        self.org.count("bulk_ingest_jobs")
        return job.info(self.org.user_id)

    # -- looking at jobs ---------------------------------------------------------------------------

    def job(self, kind: str, job_id: str) -> BulkJob:
        """The job, advanced to its current state (404 NOT_FOUND when unknown)."""
        with self.lock:
            job = self.jobs.get(job_id)
            if job is None or job.kind != kind:
                raise APIError(404, "NOT_FOUND", "The requested resource does not exist")
            self._advance(job)
            return job

    def _advance(self, job: BulkJob) -> None:
        if job.state not in ("UploadComplete", "InProgress") or job.started_at is None:
            return
        elapsed = self.org.clock() - job.started_at
        if elapsed < self.processing_s:
            job.state = "InProgress" if elapsed >= self.processing_s / 2 else "UploadComplete"
            return
        if job.kind == "query":
            if job.fail:
                job.rows, job.state = [], "Failed"
                job.error_message = "InternalServerError : the query was retried more than " \
                                    "15 times without success"
            else:
                job.state = "JobComplete"
            return
        self._process(job)

    def set_state(self, kind: str, job_id: str, state: str) -> dict:
        """``PATCH jobs/{kind}/{id}``: ``UploadComplete`` (ingest) or ``Aborted``."""
        with self.lock:
            job = self.job(kind, job_id)
            if state == "Aborted" and job.state not in TERMINAL:
                job.state, job.unprocessed = "Aborted", list(job.rows) if job.kind == "ingest" else []
                return job.info(self.org.user_id)
            if state == "UploadComplete" and kind == "ingest" and job.state == "Open":
                if not job.uploaded:
                    raise APIError(400, "INVALIDJOBSTATE", "No data was uploaded for this job")
                if job.uploads > 1:
                    raise APIError(400, "INVALIDJOB", f"Found multiple contents for job: "
                                   f"<{job.id}>, please 'Close' / 'Abort' / 'Delete' the current "
                                   "Job then create a new Job and make sure you only do 'PUT' "
                                   "once on a given Job.")
                self.records.spend(len(job.rows), "records ingested")
                self.batches.spend(max(1, math.ceil(len(job.rows) / RECORDS_PER_BATCH)),
                                   "Bulk API batches")
                job.state, job.started_at = "UploadComplete", self.org.clock()
                self._advance(job)
                return job.info(self.org.user_id)
            raise APIError(409, "INVALIDJOBSTATE", f"Cannot change the state of a job in state "
                           f"{job.state} to {state}")

    def delete(self, kind: str, job_id: str) -> None:
        """``DELETE jobs/{kind}/{id}``: only a job that is not running."""
        with self.lock:
            job = self.job(kind, job_id)
            if job.state not in TERMINAL | {"Open"}:
                raise APIError(409, "INVALIDJOBSTATE", f"Cannot delete a job in state {job.state}")
            del self.jobs[job_id]

    # -- ingest ------------------------------------------------------------------------------------

    def upload(self, job_id: str, columns: list[str], rows: list[dict], size: int) -> None:
        """``PUT jobs/ingest/{id}/batches`` (already parsed): once, while the job is Open."""
        encoded = 4 * math.ceil(size / 3)
        if encoded > self.max_upload_base64:
            raise APIError(400, "LIMIT_EXCEEDED", f"The upload is {encoded:,} bytes once base64 "
                           f"encoded; at most {self.max_upload_base64:,} are accepted")
        with self.lock:
            job = self.job("ingest", job_id)
            if job.state != "Open":
                raise APIError(409, "INVALIDJOBSTATE", f"Cannot upload data to a job in state "
                               f"{job.state}")
            # A second upload is accepted here and refused when the job is closed, as
            # Salesforce does (one PUT per job).
            job.uploads += 1
            job.columns, job.rows, job.uploaded = columns, rows, True

    def _process(self, job: BulkJob) -> None:
        """Apply an ingest job's rows (``update`` and ``insert`` are emulated)."""
        obj = self.org.sobject(job.object)
        unknown = [c for c in job.columns if c.lower() != "id" and obj.field(c) is None]
        if unknown:
            job.state, job.unprocessed = "Failed", list(job.rows)
            job.error_message = f"InvalidBatch : Field name not found : {unknown[0]}"
            return
        stop = len(job.rows) // 2 if job.fail else len(job.rows)
        plan = self.plan_of() if self.plan_of is not None else None
        for index, values in enumerate(job.rows):
            if index >= stop:
                job.unprocessed.append(values)
                continue
            record_id = values.get("Id") or values.get("id") or ""
            try:
                row_id, created = self._apply(obj, job.operation, values, plan)
            except FieldError as error:
                fields = ",".join(error.fields)
                job.failed.append((record_id, f"{error.code}:{error.message}:{fields} --", values))
            else:
                job.successful.append((row_id, created, values))
        self.org.count("bulk_records_ingested", stop)
        if job.fail:
            job.state = "Failed"
            job.error_message = "InternalServerError : the batch was retried more than 10 times"
        else:
            job.state = "JobComplete"

    def _apply(self, obj, operation: str, csv_values: dict, plan) -> tuple[str, bool]:
        values = {key: (None if value == "#N/A" else value)
                  for key, value in csv_values.items() if value != ""}  # empty: leave as is
        if plan is not None and plan.reject_record("salesforce", "salesforce.bulk"):
            self.org.count("records_rejected_by_fault")
            raise FieldError("UNABLE_TO_LOCK_ROW", "unable to obtain exclusive access to this "
                             "record or 1 records", [])
        if operation == "insert":
            return self.org.create(obj, values), True
        if operation == "update":
            record_id = next((v for k, v in values.items() if k.lower() == "id"), None)
            if record_id is None:
                raise FieldError("MISSING_ARGUMENT", "Id not specified in an update call", [])
            self.org.update_in_batch(obj, record_id, values)
            return record_id, False
        raise FieldError("INVALID_OPERATION", f"{operation} is not emulated by the sandbox", [])

    # -- results -----------------------------------------------------------------------------------

    def results_window(self, job_id: str, version: str, locator: str | None,
                       max_records: int | None) -> tuple[BulkJob, int, int, str]:
        """``(job, start, end, next locator)`` of one result set of a completed query job."""
        with self.lock:
            job = self.job("query", job_id)
            if job.state != "JobComplete":
                raise APIError(400, "INVALIDJOBSTATE", f"Job {job_id} is in state {job.state}; "
                               "results are available once it is JobComplete")
            if version != job.api_version:
                raise APIError(409, "INVALIDJOBSTATE", f"The job was created with API version "
                               f"{job.api_version}; request its results with the same version")
        start = decode_locator(locator) if locator else 0
        size = max_records or DEFAULT_MAX_RECORDS
        end = min(start + size, len(job.rows))
        following = encode_locator(end) if end < len(job.rows) else "null"
        return job, start, end, following


def encode_locator(position: int) -> str:
    """An opaque locator for the result set starting at ``position`` (base64, no padding)."""
    return base64.b64encode(str(position).encode()).decode().rstrip("=")


def decode_locator(locator: str) -> int:
    """The position a locator names, or 400 INVALID_LOCATOR."""
    try:
        return int(base64.b64decode(locator + "=" * (-len(locator) % 4)).decode())
    except ValueError:
        raise APIError(400, "INVALIDLOCATOR", f"Invalid locator: {locator}") from None

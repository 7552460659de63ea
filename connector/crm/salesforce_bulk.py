"""Salesforce Bulk API 2.0 for the large cases: full pulls and big write sets.

A first sync or a ``--full`` rescan of a large org through REST costs one query call per 2,000
records and one composite call per 200 writes. Above ``bulk_query_threshold`` records (the
``totalSize`` of the REST query's first answer decides) :class:`SalesforceBulk` pulls with one
query job instead. Its results are downloaded in result sets of ``bulk_result_records``
(``maxRecords``, continued by ``Sforce-Locator``; a million records by default, so a
million-lead org costs one download call), each read as it streams in and handed to the engine
in pages of ``bulk_page_records`` compact records: memory holds a page or two, however large
the set. Write sets of at least ``bulk_write_threshold`` go out as ingest jobs (create, upload
the CSV, ``UploadComplete``, poll). A million-lead first sync then costs a few dozen calls
instead of thousands, and a full rescan about ten instead of five hundred.

Per-record outcomes are those of the REST path (:func:`~connector.crm.base.checked_write`):
the pre-check refuses what cannot be written, ``failedResults`` give each failure's code and
message (``UNABLE_TO_LOCK_ROW`` is transient and re-sent once), and records a failed or
aborted job left *unprocessed* are transient failures, retried next run. Every Bulk call goes
through the same session as REST calls, so it is counted, retried, and checked against the
daily API reserve; the Bulk allocations (query jobs and batches per rolling 24 hours, read from
``/limits`` at connect and counted down locally) keep the same reserve, and below it the REST
path is used. A query job that fails falls back to the REST pull, as does an ingest job the
org's allocation refuses.

Full pulls end at the query job's creation time (minus a second): whatever changed after it is
read by the next pull. A pull interrupted between pages leaves a cursor with ``resume`` (the
job, the locator of the result set it was in and the rows of that set already delivered): the
next run reads that set again past those rows (a locator re-reads the same set, and a job's
results stay readable for 7 days) or, if the job is gone, starts a new one. A result set cut
off mid-download is asked for again and read on past the rows already read; cut off
``MAX_CUTS`` times in a row without a row gained, it stops the run as above.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import requests
from simple_salesforce.bulk2 import Operation
from simple_salesforce.util import call_salesforce

from connector.crm.base import checked_write
from connector.crm.salesforce_bulk_csv import read_records, read_rows, text_lines, write_sets
from connector.errors import CRMRequestError, CRMUnavailableError
from connector.records import Cursor, Page, Record, RecordWrite, WriteResult, parse_stamp

if TYPE_CHECKING:
    from connector.crm.salesforce import SalesforceCRM

log = logging.getLogger(__name__)
TERMINAL = frozenset({"JobComplete", "Failed", "Aborted"})
RECORDS_PER_BATCH = 10_000  # Bulk API 2.0 splits ingest data into batches of 10,000 records
TRANSIENT_CODES = frozenset({"UNABLE_TO_LOCK_ROW"})
UNPROCESSED = "BULK_UNPROCESSED"
STREAM_CHUNK_BYTES = 256 * 1024  # read size of a streamed result set
MAX_CUTS = 3  # a result set cut off this many times in a row, with no row gained, ends the run


class _CutOff(Exception):
    """A result set's body stopped mid-download (the connection dropped)."""


class BulkDeclinedError(Exception):
    """The org refused a Bulk job (its allocation is spent): use the REST path instead."""


class SalesforceBulk:
    """The Bulk API 2.0 path of one :class:`SalesforceCRM` (see the module docstring)."""

    def __init__(self, crm: SalesforceCRM, *, poll_first_s: float = 0.5, poll_max_s: float = 30.0,
                 timeout_s: float = 6 * 3600.0, sleep: Callable[[float], None] = time.sleep
                 ) -> None:
        connection = crm.connection
        self.crm = crm
        self.query_threshold = connection.bulk_query_threshold
        self.write_threshold = connection.bulk_write_threshold
        self.page_records = connection.bulk_page_records
        self.result_records = connection.bulk_result_records
        self.reserve = connection.api_reserve
        self.poll_first_s, self.poll_max_s, self.timeout_s = poll_first_s, poll_max_s, timeout_s
        self.sleep = sleep
        self.allocations: dict[str, list[int]] = {}  # name -> [remaining, max]
        self.stats = {"query_jobs": 0, "ingest_jobs": 0, "records_read": 0,
                      "records_written": 0, "fallbacks": 0}
        self._lock = threading.Lock()

    # -- allocations -----------------------------------------------------------------------------

    def observe_limits(self, limits: dict) -> None:
        """Adopt the Bulk entries of a ``/limits`` answer."""
        for name in ("DailyBulkApiBatches", "DailyBulkV2QueryJobs"):
            if name in limits:
                self.allocations[name] = [limits[name]["Remaining"], limits[name]["Max"]]

    def _take(self, name: str, amount: int) -> bool:
        """Spend ``amount`` of an allocation unless that would dip into the reserve."""
        with self._lock:
            entry = self.allocations.get(name)
            if entry is None:
                return True  # not reported: the org will say if it refuses
            if entry[0] - amount <= math.ceil(self.reserve * entry[1]):
                return False
            entry[0] -= amount
            return True

    # -- plumbing --------------------------------------------------------------------------------

    def _bulk(self, action: Callable[[Any], Any]) -> Any:
        """Run ``action`` on the SDK's Bulk 2.0 client for the object (renewing an expired
        session once, errors translated, as every REST call)."""
        name = self.crm.object_name
        return self.crm.call(lambda sf: action(getattr(sf.bulk2, name)._client))

    def _wait(self, job_id: str, query: bool) -> dict:
        """Poll a job until it ends: first after ``poll_first_s``, then twice as long each time
        up to ``poll_max_s``; a job still running after ``timeout_s`` is aborted.

        Salesforce names no polling interval (its walkthroughs poll "until JobComplete"), and
        every poll is an API call: doubling from 0.5 s to 30 s costs about ``log2(T) + T / 30``
        polls for a job of ``T`` seconds (15 for five minutes, where simple-salesforce's 2-second
        cap costs 150) and sees a finished job at most 30 s, or its own running time, late."""
        delay, deadline = self.poll_first_s, time.monotonic() + self.timeout_s
        while True:
            self.sleep(delay)
            info = self._bulk(lambda c: c.get_job(job_id, query))
            if info["state"] in TERMINAL:
                return info
            if time.monotonic() > deadline:
                self._bulk(lambda c: c.abort_job(job_id, query))
                raise CRMUnavailableError(f"salesforce Bulk job {job_id} still {info['state']} "
                                          f"after {self.timeout_s:.0f} s; aborted")
            delay = min(delay * 2, self.poll_max_s)

    # -- reading ---------------------------------------------------------------------------------

    def resumes(self, cursor: Cursor | None) -> bool:
        """Whether ``cursor`` stopped inside a Bulk pull (its next run finishes it)."""
        return cursor is not None and cursor.stamp is None and (
            (cursor.resume or {}).get("mode") == "bulk")

    def takes(self, total: int) -> bool:
        """Whether a full pull of ``total`` records goes through a query job (the REST
        query's first answer tells the total, so small objects cost no extra call)."""
        return bool(self.query_threshold) and total >= self.query_threshold and self._take(
            "DailyBulkV2QueryJobs", 1)

    def pull(self, stamp_field: str, cursor: Cursor | None, fields: list[str]) -> Iterator[Page]:
        """Every record, in pages of ``bulk_page_records`` (see the module docstring).

        A job's rows are distinct, so only the starting cursor's versions are deduplicated,
        and mid-sweep cursors carry just those plus the position reached (the result set's
        locator and the rows of it already delivered): a cursor per page holding every version
        read so far would grow with the org. The versions the final cursor needs (those inside
        the overlap before its stamp) are collected on the way.
        """
        cursor = cursor or Cursor()
        resume = dict(cursor.resume or {})
        job = self._resumable(resume)
        if job is None:
            job = self._start_query(stamp_field, fields)
            if job is None:  # the job failed: read through REST instead
                yield from self.crm.rest_pull(stamp_field, cursor, fields)
                return
            resume = {"mode": "bulk", "job": job["id"], "locator": "", "skip": 0,
                      "started": (parse_stamp(job["createdDate"])
                                  - timedelta(seconds=1)).isoformat()}
        started = parse_stamp(resume["started"])
        floor = Cursor(stamp=started).since(self.crm.overlap)
        pinned, recent = cursor.seen, set()
        catalog, locator, skip = self.crm.describe(), resume["locator"], int(resume.get("skip", 0))
        fresh: list[Record] = []
        cuts = 0
        while True:
            rows = 0
            try:
                with self._result_set(resume["job"], locator) as (following, lines):
                    for record in read_records(lines, fields, stamp_field, catalog):
                        rows += 1
                        key = Cursor.version(record.id, record.stamp)
                        if rows <= skip or key in pinned:
                            continue
                        fresh.append(record)
                        if record.stamp >= floor:
                            recent.add(key)
                        if len(fresh) >= self.page_records:
                            yield Page(tuple(fresh), Cursor(seen=pinned, resume={
                                **resume, "locator": locator, "skip": rows}))
                            fresh = []
            except _CutOff as cut:
                # Ask for the set again and read on past what was read: a download that
                # stalls while the engine works through a page may be dropped by the server.
                cuts = 0 if rows > skip else cuts + 1
                if cuts >= MAX_CUTS:
                    raise CRMUnavailableError(f"salesforce Bulk job {resume['job']}: the result "
                                              f"set was cut off {cuts} times in a row ({cut}); "
                                              "the next run reads on from the last page "
                                              "recorded") from None
                self.stats["records_read"] += max(rows - skip, 0)
                skip = max(skip, rows)
                continue
            self.stats["records_read"] += max(rows - skip, 0)
            if not following:
                yield Page(tuple(fresh), Cursor(stamp=started, seen=frozenset(recent)))
                return
            locator, skip = following, 0

    @contextmanager
    def _result_set(self, job_id: str, locator: str) -> Iterator[tuple[str, Iterator[str]]]:
        """``(next locator or "", the CSV's lines)`` of one result set,
        the body read as it streams in (a set of a million records is never held at once);
        the SDK's own request, on our session, asked for up to ``bulk_result_records``."""
        def request(client: Any) -> requests.Response:
            params = {"maxRecords": self.result_records}
            if locator:
                params["locator"] = locator
            return call_salesforce(
                url=client._construct_request_url(job_id, True) + "/results", method="GET",
                session=client.session, params=params, stream=True,
                headers=client._get_headers(client.JSON_CONTENT_TYPE, client.CSV_CONTENT_TYPE))

        response = self._bulk(request)
        try:
            following = response.headers.get("Sforce-Locator", "")
            yield "" if following == "null" else following, text_lines(self._body(response))
        finally:
            response.close()

    @staticmethod
    def _body(response: requests.Response) -> Iterator[bytes]:
        try:
            yield from response.iter_content(chunk_size=STREAM_CHUNK_BYTES)
        except requests.RequestException as error:
            raise _CutOff(type(error).__name__) from None

    def _resumable(self, resume: dict) -> dict | None:
        """The job an interrupted Bulk pull was reading, if its results are still there."""
        if resume.get("mode") != "bulk":
            return None
        try:
            info = self._bulk(lambda c: c.get_job(resume["job"], True))
        except CRMRequestError:
            return None  # deleted (7 days after it ended) or never ours: start again
        return info if info.get("state") == "JobComplete" else None

    def _start_query(self, stamp_field: str, fields: list[str]) -> dict | None:
        columns = ", ".join(dict.fromkeys(["Id", stamp_field, *fields]))
        # No ORDER BY: it would switch off PK chunking and risk timeouts on large objects.
        soql = f"SELECT {columns} FROM {self.crm.object_name}"
        job = self._bulk(lambda c: c.create_job(Operation.query, soql))
        self.stats["query_jobs"] += 1
        info = self._wait(job["id"], True)
        if info["state"] != "JobComplete":
            self.stats["fallbacks"] += 1
            log.warning("salesforce Bulk query job %s ended %s (%s); reading through REST",
                        job["id"], info["state"], info.get("errorMessage", "no message"))
            return None
        return job

    # -- writing ---------------------------------------------------------------------------------

    def write_many(self, writes: Sequence[RecordWrite]) -> list[WriteResult] | None:
        """Results for ``writes`` through ingest jobs, in order; None (nothing sent) when the
        set is below the threshold or the Bulk allocation is spent: use REST batches."""
        if not self.write_threshold or len(writes) < self.write_threshold:
            return None
        batches = math.ceil(len(writes) / RECORDS_PER_BATCH)
        if not self._take("DailyBulkApiBatches", batches):
            return None
        try:
            return checked_write(writes, self.crm.describe(), self._send, len(writes))
        except BulkDeclinedError as declined:
            self.stats["fallbacks"] += 1
            log.warning("salesforce Bulk ingest refused (%s); writing through REST", declined)
            return None

    def _send(self, writes: list[RecordWrite]) -> list[WriteResult]:
        """One round of sends: ingest jobs for a large set, REST batches for the few records
        re-sent after a transient failure."""
        if len(writes) < self.write_threshold:
            size = self.crm.write_batch_size
            return [r for s in range(0, len(writes), size)
                    for r in self.crm.save(writes[s:s + size])]
        results: dict[str, WriteResult] = {}
        for chunk, text in write_sets(writes):
            results.update(self._ingest(chunk, text))
        return [results[w.record_id] for w in writes]

    def _ingest(self, writes: list[RecordWrite], text: str) -> dict[str, WriteResult]:
        job = self._bulk(lambda c: c.create_job(Operation.update))
        self.stats["ingest_jobs"] += 1
        try:
            self._bulk(lambda c: c.upload_job_data(job["id"], text))
            self._bulk(lambda c: c.close_job(job["id"]))
        except CRMRequestError as error:
            self._bulk(lambda c: c.abort_job(job["id"], False))
            if " LIMIT_EXCEEDED" in error.message:  # the rolling record allocation is spent
                raise BulkDeclinedError(error.message) from None
            raise
        info = self._wait(job["id"], False)
        results = {w.record_id: WriteResult(w.record_id, ok=True) for w in writes}
        if int(info.get("numberRecordsFailed", 0)):
            for row in read_rows(self._bulk(lambda c: c.get_ingest_results(job["id"],
                                                                           "failedResults"))):
                code, _, rest = row["sf__Error"].partition(":")
                message, _, names = rest.rpartition(":")
                field = names.removesuffix(" --").split(",")[0] or None
                results[row["Id"]] = WriteResult(row["Id"], ok=False, field=field, code=code,
                                                 reason=message or rest,
                                                 transient=code in TRANSIENT_CODES)
        if info["state"] != "JobComplete":
            why = info.get("errorMessage") or f"the job ended {info['state']}"
            for row in read_rows(self._bulk(lambda c: c.get_ingest_results(
                    job["id"], "unprocessedRecords"))):
                results[row["Id"]] = WriteResult(row["Id"], ok=False, code=UNPROCESSED,
                                                 reason=why, transient=True)
        ok = sum(r.ok for r in results.values())
        if ok != int(info.get("numberRecordsProcessed", 0)) - int(info.get("numberRecordsFailed", 0)):
            # Some record is in no result set we read: trust only the listed successes.
            done = {row["Id"] for row in read_rows(self._bulk(lambda c: c.get_ingest_results(
                job["id"], "successfulResults")))}
            for key, result in results.items():
                if result.ok and key not in done:
                    results[key] = WriteResult(key, ok=False, code=UNPROCESSED, transient=True,
                                               reason="not in the job's results")
            ok = len(done)
        self.stats["records_written"] += ok
        return results

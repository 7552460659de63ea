"""The Bulk API 2.0 resources of the Salesforce emulator (``/services/data/vNN.0/jobs/...``).

Handlers follow :mod:`connector.sandbox.salesforce_handlers`: they return ``(status, body)`` or
``(status, Response)`` (CSV answers with their ``Sforce-*`` headers) and
raise ``APIError``; the dispatcher authenticates and counts each call like any REST call, since
Bulk API 2.0 calls draw on the org's daily API allowance too. The jobs themselves live in
:mod:`connector.sandbox.salesforce_bulk`.

CSV: query results quote every value (Salesforce's form), render null as an empty field and
dateTimes with a ``Z``; every result set starts with the header row and is streamed, a block
of rows rendered at a time. Ingest uploads are read with the job's delimiter and line ending;
an empty field leaves the value as it is and ``#N/A`` clears it, as Salesforce documents.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from connector.sandbox.salesforce_bulk import DELIMITERS, LINE_ENDINGS, BulkJob, BulkJobs
from connector.sandbox.salesforce_handlers import read_json_text
from connector.sandbox.salesforce_sessions import APIError

CSV_TYPE = "text/csv"
_V = r"/services/data/v(?P<version>\d+\.0)/jobs"
RESULT_KINDS = {"successfulresults": "successful", "failedresults": "failed",
                "unprocessedrecords": "unprocessed"}


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    text = str(value)
    return text[:-5] + "Z" if text.endswith("+0000") and "T" in text else text


def render_csv(job: BulkJob, header: list[str] | None, rows) -> str:
    """``rows`` (lists of values) as CSV in the job's dialect, every value quoted, after the
    ``header`` row (None: rows only)."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=DELIMITERS[job.delimiter],
                        lineterminator=LINE_ENDINGS[job.line_ending], quoting=csv.QUOTE_ALL)
    if header is not None:
        writer.writerow(header)
    writer.writerows([_cell(v) for v in row] for row in rows)
    return out.getvalue()


def _stream_csv(job: BulkJob, start: int, end: int, block: int) -> Iterator[bytes]:
    """Rows ``start:end`` of a query job's result as CSV, header first, rendered and sent
    ``block`` rows at a time (a million-row set is never one string in memory)."""
    names = list(job.fields)
    for at in range(start, max(end, start + 1), block):
        rows = ([row.get(name) for name in names] for row in job.rows[at:min(at + block, end)])
        yield render_csv(job, names if at == start else None, rows).encode()


def bulk_routes(h: BulkHandlers) -> list[tuple[str, dict, dict]]:
    """The Bulk API 2.0 rows of the emulator's route table (see ``salesforce_api._routes``)."""
    query, ingest = "salesforce.bulk.query", "salesforce.bulk.ingest"
    job = r"/(?P<job>[A-Za-z0-9]{15,18})"
    return [
        (_V + r"/query", {"POST": (query, h.create, True)}, {"kind": "query"}),
        (_V + r"/query" + job, {"GET": (query, h.info, True), "PATCH": (query, h.patch, True),
                                "DELETE": (query, h.delete, True)}, {"kind": "query"}),
        (_V + r"/query" + job + r"/results", {"GET": (query + ".results", h.results, True)},
         {}),
        (_V + r"/ingest", {"POST": (ingest, h.create, True)}, {"kind": "ingest"}),
        (_V + r"/ingest" + job, {"GET": (ingest, h.info, True), "PATCH": (ingest, h.patch, True),
                                 "DELETE": (ingest, h.delete, True)}, {"kind": "ingest"}),
        (_V + r"/ingest" + job + r"/batches", {"PUT": (ingest, h.upload, True)}, {}),
        (_V + r"/ingest" + job
         + r"/(?P<results>(?i:successfulResults|failedResults|unprocessedRecords))",
         {"GET": (ingest, h.ingest_results, True)}, {}),
    ]


class BulkHandlers:
    """Endpoints over the org's :class:`BulkJobs`; ``plan_of`` gives the fault plan."""

    def __init__(self, jobs: BulkJobs, plan_of) -> None:
        self.jobs, self.plan_of = jobs, plan_of
        jobs.plan_of = plan_of

    def _fails(self, route: str) -> bool:
        plan = self.plan_of()
        share = plan.setting("jobfail", route)
        return bool(share) and plan.reject_share("salesforce", share)

    async def create(self, request: Request, params: dict) -> tuple[int, object]:
        """``POST jobs/query`` and ``POST jobs/ingest``."""
        _, body = await read_json_text(request)
        if not isinstance(body, dict):
            raise APIError(400, "JSON_PARSER_ERROR", "The request body must be a JSON object")
        fails = self._fails(params["route"])
        if params["kind"] == "query":
            return 200, self.jobs.create_query(body, params["version"], fail=fails)
        return 200, self.jobs.create_ingest(body, params["version"], fail=fails)

    async def info(self, request: Request, params: dict) -> tuple[int, object]:
        """``GET jobs/{kind}/{id}``."""
        return 200, self.jobs.job(params["kind"], params["job"]).info(self.jobs.org.user_id)

    async def patch(self, request: Request, params: dict) -> tuple[int, object]:
        """``PATCH jobs/{kind}/{id}`` with ``{"state": "UploadComplete" | "Aborted"}``."""
        _, body = await read_json_text(request)
        state = body.get("state") if isinstance(body, dict) else None
        if state not in ("UploadComplete", "Aborted"):
            raise APIError(400, "INVALIDJOBSTATE", f"Invalid state: {state}")
        return 200, self.jobs.set_state(params["kind"], params["job"], state)

    async def delete(self, request: Request, params: dict) -> tuple[int, object]:
        """``DELETE jobs/{kind}/{id}``."""
        self.jobs.delete(params["kind"], params["job"])
        return 204, None

    async def results(self, request: Request, params: dict) -> tuple[int, Response]:
        """``GET jobs/query/{id}/results?maxRecords=&locator=``: one CSV result set."""
        raw = request.query_params.get("maxRecords")
        if raw is not None and (not raw.isdigit() or int(raw) < 1):
            raise APIError(400, "INVALIDPARAMETER", f"maxRecords must be a positive integer: {raw}")
        job, start, end, following = self.jobs.results_window(
            params["job"], params["version"], request.query_params.get("locator"),
            int(raw) if raw else None)
        body = _stream_csv(job, start, end, self.jobs.stream_rows)
        return 200, StreamingResponse(body, media_type=CSV_TYPE, headers={
            "Sforce-NumberOfRecords": str(end - start), "Sforce-Locator": following})

    async def upload(self, request: Request, params: dict) -> tuple[int, object]:
        """``PUT jobs/ingest/{id}/batches``: the job's CSV; 201 with no body."""
        if not request.headers.get("content-type", "").startswith(CSV_TYPE):
            raise APIError(400, "INVALIDJOB", "Content-Type must be text/csv")
        data = await request.body()
        job = self.jobs.job("ingest", params["job"])
        reader = csv.reader(io.StringIO(data.decode("utf-8-sig"), newline=""),
                            delimiter=DELIMITERS[job.delimiter])
        lines = [line for line in reader if line]
        if not lines:
            raise APIError(400, "INVALIDJOB", "The upload holds no header row")
        header = lines[0]
        rows = [dict(zip(header, line, strict=False)) for line in lines[1:]]
        self.jobs.upload(params["job"], header, rows, len(data))
        return 201, None

    async def ingest_results(self, request: Request, params: dict) -> tuple[int, Response]:
        """``GET jobs/ingest/{id}/successfulResults|failedResults|unprocessedrecords``."""
        job = self.jobs.job("ingest", params["job"])
        if job.state not in ("JobComplete", "Failed", "Aborted"):
            raise APIError(400, "INVALIDJOBSTATE", f"Job {job.id} is in state {job.state}; its "
                           "results are available once it ends")
        kind = RESULT_KINDS[params["results"].lower()]
        cols = job.columns
        if kind == "successful":
            header = ["sf__Id", "sf__Created", *cols]
            rows = [[i, created, *(v.get(c) for c in cols)] for i, created, v in job.successful]
        elif kind == "failed":
            header = ["sf__Id", "sf__Error", *cols]
            rows = [[i, error, *(v.get(c) for c in cols)] for i, error, v in job.failed]
        else:
            header, rows = cols, [[v.get(c) for c in cols] for v in job.unprocessed]
        return 200, Response(render_csv(job, header, rows), media_type=CSV_TYPE)

"""Salesforce adapter on simple-salesforce: SOQL by ``SystemModstamp``, composite collections.

The SDK runs in direct mode on our session (:mod:`connector.crm.transport`): the token comes
from :mod:`connector.crm.salesforce_auth`, and an expired session is renewed once per call.
Every REST answer's ``Sforce-Limit-Info`` feeds the :class:`~connector.crm.pacing.ApiBudget`
checked before each call. Field creation (Tooling API) is in
:mod:`connector.crm.salesforce_fields`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any, ClassVar, TypeVar

import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceError

from connector.config import ConnectionConfig, Credentials
from connector.crm.base import checked_write
from connector.crm.history import FieldChange, salesforce_changes
from connector.crm.pacing import ApiBudget
from connector.crm.salesforce_auth import fetch_token
from connector.crm.salesforce_access import check_name, grant_access
from connector.crm.salesforce_bulk import SalesforceBulk
from connector.crm import salesforce_tasks
from connector.crm.salesforce_fields import ensure_custom_fields, field_info, security_steps
from connector.crm.salesforce_removals import removed_since, soql_time
from connector.crm.transport import (
    CallCounter,
    ErrorTable,
    RetryingAdapter,
    RetryPolicy,
    make_session,
)
from connector.errors import (
    ApiBudgetError,
    CredentialsError,
    CRMPermissionError,
    QueryLocatorLostError,
    ReplicationWindowError,
    SessionExpiredError,
)
from connector.records import (
    ApiUsage,
    Cursor,
    FieldCatalog,
    FieldSpec,
    Page,
    ProvisionReport,
    Record,
    RecordWrite,
    Removals,
    SeenWindow,
    TaskRequest,
    TaskResult,
    WriteResult,
    parse_stamp,
)

T = TypeVar("T")

ERRORS = ErrorTable("salesforce", {
    (401, "INVALID_SESSION_ID"): SessionExpiredError,
    (401, None): CredentialsError,
    (403, "REQUEST_LIMIT_EXCEEDED"): ApiBudgetError,  # the daily allowance is gone: stop
    (403, None): CRMPermissionError,
    (400, "INVALID_FIELD"): CRMPermissionError,  # absent, or hidden by field-level security
    (400, "INVALID_QUERY_LOCATOR"): QueryLocatorLostError,
    (400, "INVALID_REPLICATION_DATE"): ReplicationWindowError,  # getDeleted's window too old
})
TRANSIENT_RECORD_CODES = frozenset({"UNABLE_TO_LOCK_ROW"})
CONNECT_TIMEOUT_S = 10.0


def _code_of(response: requests.Response) -> tuple[str | None, str]:
    """``(errorCode, message)`` of a Salesforce error body (always a JSON list)."""
    try:
        first = response.json()[0]
        return first.get("errorCode"), first.get("message", "")
    except (ValueError, LookupError, AttributeError):
        return None, response.text[:200]


def _translate(exc: SalesforceError) -> Exception:
    content = exc.content
    first = content[0] if isinstance(content, list) and content else {}
    code = first.get("errorCode") if isinstance(first, dict) else None
    message = first.get("message", str(content)) if isinstance(first, dict) else str(content)
    return ERRORS.error(exc.status, code, message)


def _wire(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    return value


class SalesforceCRM:
    """One Salesforce org's object (``Lead`` by default); see :class:`connector.crm.base.CRM`."""

    name: ClassVar[str] = "salesforce"
    write_batch_size: ClassVar[int] = 200
    write_concurrency: ClassVar[int] = 4
    """Composite writes the engine may have in flight at once. Salesforce has no short-window
    rate limit; it refuses only more than 25 concurrent requests lasting 20 s or more (5 on a
    Developer Edition), and a 200-record composite update takes well under a second."""

    def __init__(self, connection: ConnectionConfig, credentials: Credentials, *,
                 policy: RetryPolicy | None = None) -> None:
        self.connection, self.object_name = connection, connection.object
        self.counter = CallCounter()
        self.budget = ApiBudget("salesforce", connection.api_reserve)
        adapter = RetryingAdapter(
            policy=policy or RetryPolicy(), table=ERRORS, counter=self.counter,
            timeout=(CONNECT_TIMEOUT_S, connection.timeout_seconds), code_of=_code_of,
            before_send=self._before_send, after_response=self._after_response)
        self.session = make_session(adapter, connection.ca_bundle())
        self._credentials = credentials
        self._overlap = timedelta(minutes=connection.overlap_minutes)
        self._sf: Salesforce | None = None
        self._user_id = ""
        self._catalog: FieldCatalog | None = None
        self.bulk = SalesforceBulk(self)

    @classmethod
    def connect(cls, connection: ConnectionConfig, *, environ: Mapping[str, str] | None = None,
                policy: RetryPolicy | None = None) -> SalesforceCRM:
        """Fetch a token with the connection's flow, then read the daily allowance."""
        crm = cls(connection, connection.credentials(environ), policy=policy)
        try:
            crm._login()
            answer = crm._call(lambda sf: sf.limits())
            limits = answer["DailyApiRequests"]
        except BaseException:
            crm.close()
            raise
        crm.bulk.observe_limits(answer)
        crm.budget.observe(limits["Max"] - limits["Remaining"], limits["Max"])
        return crm

    # -- plumbing --------------------------------------------------------------------------------

    def _login(self) -> None:
        token = fetch_token(self.session, self.connection, self._credentials)
        self._user_id = token.user_id
        # Plain dicts, not the SDK's default OrderedDict: parsing a 2,000-record page takes
        # about half the time, and every record becomes a plain dict anyway.
        self._sf = Salesforce(instance_url=token.instance_url, session_id=token.access_token,
                              session=self.session, version=self.connection.api_version,
                              object_pairs_hook=dict)

    def _before_send(self, request: requests.PreparedRequest) -> None:
        if "/services/data/" in (request.path_url or ""):  # token calls cost no allowance
            self.budget.check()

    def _after_response(self, response: requests.Response) -> None:
        self.budget.observe_header(response.headers.get("Sforce-Limit-Info"))

    def _call(self, action: Callable[[Salesforce], T]) -> T:
        """Run ``action`` on the SDK client, translating its errors; renew an expired session
        once and repeat (a second expiry in a row is raised)."""
        try:
            return self._translated(action)
        except SessionExpiredError:
            self._login()
            return self._translated(action)

    call = _call  # the Bulk path (connector.crm.salesforce_bulk) runs its calls through it

    @property
    def overlap(self) -> timedelta:
        """How far before its cursor a pull starts reading."""
        return self._overlap

    def _translated(self, action: Callable[[Salesforce], T]) -> T:
        try:
            return action(self._sf)
        except SalesforceError as exc:
            raise _translate(exc) from None

    # -- describe and fields ---------------------------------------------------------------------

    def describe(self, *, refresh: bool = False) -> FieldCatalog:
        """The object's fields from ``sobjects/{object}/describe`` (cached)."""
        if self._catalog is None or refresh:
            body = self._call(lambda sf: sf.restful(f"sobjects/{self.object_name}/describe"))
            self._catalog = FieldCatalog(self.object_name,
                                         {f["name"]: field_info(f) for f in body["fields"]})
        return self._catalog

    def ensure_fields(self, specs: Sequence[FieldSpec], *, dry_run: bool = False,
                      grant: str | None = None) -> ProvisionReport:
        """Create missing custom fields through the Tooling API, and with ``grant`` give the
        integration user Read and Edit on them through that permission set; see the protocol
        and :mod:`connector.crm.salesforce_access`."""
        if grant is not None:
            check_name(grant)  # before anything is created
        report = ensure_custom_fields(self._call, self.object_name, specs,
                                      visible=self.describe(refresh=True), dry_run=dry_run)
        if grant is None:
            self.describe(refresh=True)
            return report
        access, steps = grant_access(self._call, self.object_name, [s.name for s in specs],
                                     grant, user_id=self._user_id, dry_run=dry_run)
        catalog = self.describe(refresh=True)
        if not dry_run:  # what is still hidden now that the grants are in
            steps += security_steps(self.object_name, [s.name for s in specs if s.name not in catalog])
        return replace(report, access=access, manual_steps=tuple(dict.fromkeys(steps)))

    def _require(self, fields: Sequence[str]) -> None:
        missing = self.describe().missing(list(fields))
        if missing:
            raise CRMPermissionError(
                f"salesforce {self.object_name} has no field {', '.join(missing)} visible to "
                f"the integration user", hint="Check the mapping's field names, or grant "
                "field-level security on them to the integration user.")

    # -- reading ---------------------------------------------------------------------------------

    def pull_changed(self, cursor: Cursor | None, fields: Sequence[str]) -> Iterator[Page]:
        """Records by ``SystemModstamp >= cursor - overlap``, ordered ``SystemModstamp, Id``,
        one page per query batch (up to 2,000), following ``nextRecordsUrl``. A full pull of
        a large object goes through a Bulk API 2.0 query job instead: unordered, one page per
        result set (:mod:`connector.crm.salesforce_bulk`)."""
        self._require(fields)
        if self.bulk.resumes(cursor):
            return self.bulk.pull("SystemModstamp", cursor, list(fields))
        return self._pull("SystemModstamp", cursor, list(fields), bulk=True)

    def pull_created(self, cursor: Cursor | None, fields: Sequence[str]) -> Iterator[Page]:
        """Records by ``CreatedDate``, as :meth:`pull_changed` (one query when none are new)."""
        self._require(fields)
        return self._pull("CreatedDate", cursor, list(fields))

    def read(self, ids: Sequence[str], fields: Sequence[str]) -> list[Record]:
        """One SOQL query ``WHERE Id IN (...)``; missing ids are left out."""
        if len(ids) > self.write_batch_size:
            raise ValueError(f"read takes at most {self.write_batch_size} ids")
        self._require(fields)
        if not ids:
            return []
        columns = ", ".join(dict.fromkeys(["Id", "SystemModstamp", *fields]))
        # Salesforce ids are 15 or 18 letters and digits; anything else cannot match, and
        # leaving it out keeps the query free of quoting.
        quoted = ", ".join(f"'{i}'" for i in ids if i.isalnum() and len(i) in (15, 18))
        if not quoted:
            return []
        soql = f"SELECT {columns} FROM {self.object_name} WHERE Id IN ({quoted})"
        rows = {raw["Id"]: raw for raw in self._call(lambda sf: sf.query(soql))["records"]}
        by_prefix = {key[:15]: raw for key, raw in rows.items()}  # 15- or 18-char ids
        found = [(i, rows.get(i) or by_prefix.get(i[:15])) for i in ids]
        return [Record(raw["Id"], {name: raw.get(name) for name in fields},
                       parse_stamp(raw["SystemModstamp"])) for _, raw in found if raw]

    def _query(self, stamp_field: str, fields: list[str], since: datetime | None) -> dict:
        columns = ", ".join(dict.fromkeys(["Id", stamp_field, *fields]))
        where = f" WHERE {stamp_field} >= {soql_time(since)}" if since else ""
        soql = f"SELECT {columns} FROM {self.object_name}{where} ORDER BY {stamp_field}, Id"
        return self._call(lambda sf: sf.query(soql))

    def rest_pull(self, stamp_field: str, cursor: Cursor | None, fields: list[str]
                  ) -> Iterator[Page]:
        """The REST pull (SOQL pages), also the Bulk path's fallback."""
        return self._pull(stamp_field, cursor, fields)

    def _pull(self, stamp_field: str, cursor: Cursor | None, fields: list[str], *,
              bulk: bool = False) -> Iterator[Page]:
        cursor = cursor or Cursor()
        window = SeenWindow(self._overlap, set(cursor.seen))
        result = self._query(stamp_field, fields, cursor.since(self._overlap))
        if bulk and cursor.stamp is None and self.bulk.takes(result["totalSize"]):
            yield from self.bulk.pull(stamp_field, cursor, fields)  # a large full pull
            return
        reached = cursor.stamp
        while True:
            fresh = []
            for raw in result["records"]:
                record = Record(raw["Id"], {name: raw.get(name) for name in fields},
                                parse_stamp(raw[stamp_field]))
                reached = record.stamp if reached is None else max(reached, record.stamp)
                if window.first_time(record):
                    fresh.append(record)
            yield Page(tuple(fresh), window.cursor(reached))
            if result["done"]:
                return
            next_url = result["nextRecordsUrl"]
            try:
                result = self._call(lambda sf, url=next_url: sf.query_more(url,
                                                                           identifier_is_url=True))
            except QueryLocatorLostError:
                # Idle 15 minutes, or dropped for the user's 11th open query: ask again from
                # the cursor reached; the window drops what this pull already delivered.
                result = self._query(stamp_field, fields, window.cursor(reached).since(
                    self._overlap))

    def ids_for_email(self, email: str) -> list[str]:
        """``queryAll`` on ``Email`` (Salesforce compares text without case), so recycle-bin
        rows are found too."""
        literal = email.replace("\\", "\\\\").replace("'", "\\'")
        soql = f"SELECT Id FROM {self.object_name} WHERE Email = '{literal}'"
        rows = self._call(lambda sf: sf.query_all(soql, include_deleted=True))["records"]
        return [row["Id"] for row in rows]

    def removed_since(self, since: datetime | None) -> Removals:
        """getDeleted from ``since - overlap`` plus merge masters through ``queryAll``; see
        :mod:`connector.crm.salesforce_removals`."""
        start = since - self._overlap if since is not None else None
        return removed_since(self._call, self.object_name, start, datetime.now(UTC))
    def field_history(self, ids: Sequence[str], fields: Sequence[str]
                      ) -> dict[str, list[FieldChange]]:
        """Changes of ``fields`` on the records ``ids`` from the object's history (``Lead`` ->
        ``LeadHistory``, ``X__c`` -> ``X__History``), oldest first. One SOQL query filtered on
        ``Field`` (history values cannot be filtered), 2,000 rows a page; only tracked fields
        have rows."""
        name = self.object_name
        history = name[:-3] + "__History" if name.endswith("__c") else name + "History"
        parent = "ParentId" if name.endswith("__c") else f"{name}Id"
        names = ", ".join(f"'{f}'" for f in dict.fromkeys(fields) if f.replace("_", "").isalnum())
        soql = (f"SELECT {parent}, Field, OldValue, NewValue, CreatedDate FROM {history} "
                f"WHERE Field IN ({names}) ORDER BY CreatedDate, Id")
        wanted, rows = set(ids), []
        result = self._call(lambda sf: sf.query(soql))
        while True:
            rows += [{**raw, "LeadId": raw[parent]} for raw in result["records"]
                     if raw[parent] in wanted]
            if result["done"]:
                break
            next_url = result["nextRecordsUrl"]
            result = self._call(lambda sf, url=next_url: sf.query_more(url, identifier_is_url=True))
        return salesforce_changes(rows, set(fields))

    # -- writing ---------------------------------------------------------------------------------

    def write(self, batch: Sequence[RecordWrite]) -> list[WriteResult]:
        """One ``PATCH composite/sobjects`` (``allOrNone=false``) for the records that pass the
        pre-check; records refused with ``UNABLE_TO_LOCK_ROW`` are re-sent once."""
        return checked_write(batch, self.describe(), self._save, self.write_batch_size)

    def write_many(self, writes: Sequence[RecordWrite]) -> list[WriteResult] | None:
        """A large write set through Bulk API 2.0 ingest jobs, results in order; None when the
        set is below ``bulk_write_threshold`` or the Bulk allocation is spent (nothing was
        sent: use :meth:`write` batches). Per-record outcomes as :meth:`write`."""
        return self.bulk.write_many(writes)

    def save(self, writes: list[RecordWrite]) -> list[WriteResult]:
        """One composite update of up to 200 records, without the pre-check."""
        return self._save(writes)

    def _save(self, writes: list[RecordWrite]) -> list[WriteResult]:
        body = {"allOrNone": False, "records": [
            {"attributes": {"type": self.object_name}, "id": w.record_id,
             **{name: _wire(value) for name, value in w.values.items()}} for w in writes]}
        saves = self._call(lambda sf: sf.restful("composite/sobjects", method="PATCH", json=body))
        return [self._result(w, save) for w, save in zip(writes, saves, strict=True)]

    @staticmethod
    def _result(write: RecordWrite, save: dict) -> WriteResult:
        if save.get("success"):
            return WriteResult(write.record_id, ok=True)
        error = (save.get("errors") or [{}])[0]
        code = error.get("statusCode")
        return WriteResult(write.record_id, ok=False, field=(error.get("fields") or [None])[0],
                           code=code, reason=error.get("message"),
                           transient=code in TRANSIENT_RECORD_CODES)

    # -- callback tasks --------------------------------------------------------------------------

    def create_tasks(self, tasks: Sequence[TaskRequest]) -> list[TaskResult]:
        """``Task`` records in one composite collection; see :mod:`.salesforce_tasks`."""
        if len(tasks) > self.write_batch_size:
            raise ValueError(f"at most {self.write_batch_size} tasks per call, got {len(tasks)}")
        return salesforce_tasks.create_tasks(self._call, tasks)

    def find_tasks(self, tasks: Sequence[TaskRequest]) -> dict[str, str]:
        """One SOQL query over the leads' tasks; see :mod:`.salesforce_tasks`."""
        if len(tasks) > self.write_batch_size:
            raise ValueError(f"at most {self.write_batch_size} tasks per call, got {len(tasks)}")
        return salesforce_tasks.find_tasks(self._call, tasks)

    # -- usage -----------------------------------------------------------------------------------

    def usage(self) -> ApiUsage:
        """Calls made by this client, and the org's daily allowance from the last answer."""
        return ApiUsage(self.counter.calls, self.budget.used, self.budget.limit)

    def close(self) -> None:
        """Close the HTTP session."""
        self.session.close()

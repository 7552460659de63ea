"""HubSpot adapter on hubspot-api-client: search pulls, batch update of 100, paced calls.

The SDK's own retries are switched off (urllib3 would silently re-send GETs on 429 and never
POSTs): every call goes through :meth:`HubSpotCRM.request`, which checks the daily allowance
against the reserve (``X-HubSpot-RateLimit-Daily-Remaining``, shared with the portal's other
apps), paces it (the 10-second bucket, or search's per-second one; both pacers are shared by
every thread of the client, so the engine's prefetching pull and concurrent writes stay inside
the limits together), counts it, translates
failures with :data:`ERRORS` and repeats transient ones under the shared
:class:`~connector.crm.transport.RetryPolicy`. Pulls are
in :mod:`connector.crm.hubspot_pull`, property creation in :mod:`connector.crm.hubspot_fields`.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from functools import partial
from typing import Any, ClassVar

import urllib3
from hubspot import HubSpot
from hubspot.crm.objects import (
    BatchReadInputSimplePublicObjectId, Filter, FilterGroup, PublicObjectSearchRequest,
    SimplePublicObjectId)
from hubspot.crm.associations.v4.exceptions import ApiException as AssociationsApiException
from hubspot.crm.objects.exceptions import ApiException as ObjectsApiException
from hubspot.crm.objects.tasks.exceptions import ApiException as TasksApiException
from hubspot.crm.properties.exceptions import ApiException as PropertiesApiException
from urllib3.util.retry import Retry

from connector.config import ConnectionConfig, Credentials
from connector.crm.base import checked_write
from connector.crm import hubspot_tasks
from connector.crm.history import HISTORY_BATCH, FieldChange, hubspot_changes
from connector.crm.hubspot_fields import NOTHING_TO_GRANT, ensure_properties, property_info
from connector.crm.hubspot_pull import pull, record_of
from connector.crm.hubspot_removals import removed_since
from connector.crm.pacing import ApiBudget, Pacer
from connector.crm.transport import CallCounter, ErrorTable, RetryPolicy, retry_after_seconds
from connector.errors import (
    ApiBudgetError,
    BatchRejectedError,
    ConfigError,
    CredentialsError,
    CRMPermissionError,
    CRMUnavailableError,
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
    TaskRequest,
    TaskResult,
    WriteResult,
    wire_text,
)

API_ERRORS = (ObjectsApiException, PropertiesApiException,  # each SDK package has its own tree
              TasksApiException, AssociationsApiException)
ERRORS = ErrorTable("hubspot", {
    (401, None): CredentialsError,
    (403, None): CRMPermissionError,  # MISSING_SCOPES
    (429, "DAILY"): ApiBudgetError,  # the day's allowance is gone: retrying cannot help
})
WRITE_ERRORS = ErrorTable("hubspot", {**ERRORS.entries,
                                      (400, "VALIDATION_ERROR"): BatchRejectedError})
FINAL_RECORD_CATEGORIES = frozenset({"OBJECT_NOT_FOUND", "VALIDATION_ERROR"})
DEFAULT_LIMIT_PER_10S = 100  # Free/Starter: safe everywhere until the CRM's headers say more
SEARCH_PER_SECOND = 5  # crm-api-notes 2.7: per account, every tier, its own bucket
SEARCH_SLACK = 0.02
"""Search is paced at its full 5 calls per second (no headroom), each call holding its place in
the window from when it is sent until one second (+2%) after its *answer*: the portal counts a
call when it arrives, which is between the two, so no latency or jitter can squeeze six calls
into one server second (departure-based pacing with a margin did, under load). The cost is one
round trip per five calls (about 4.1 searches a second at 100 ms latency). HubSpot's search
answers carry no rate-limit headers to read the limit from (the emulator's neither); an
``X-HubSpot-RateLimit-Secondly`` header, if a portal sends one, is adopted."""
SEARCH_LIMIT_HEADER = "X-HubSpot-RateLimit-Secondly"
_PACERS: dict[tuple[str, str, str], Pacer] = {}
_PACERS_LOCK = threading.Lock()


def _shared_pacer(bucket: str, base_url: str, token: str, make: Callable[[], Pacer]) -> Pacer:
    """The pacer of one rate bucket of one portal and app, shared by every client in this
    process: HubSpot counts per app token, so two connections on one portal (or a client
    created right after another one's sweep: the scheduler's jobs, a status check) draw on one
    window instead of each using most of the limit."""
    key = (bucket, base_url.rstrip("/"), hashlib.sha256(token.encode()).hexdigest()[:16])
    with _PACERS_LOCK:
        pacer = _PACERS.get(key)
        if pacer is None:
            pacer = _PACERS[key] = make()
        return pacer


def search_pacer_for(base_url: str, token: str) -> Pacer:
    """The search API's per-second pacer of one portal and app (see :func:`_shared_pacer`)."""
    return _shared_pacer("search", base_url, token, lambda: Pacer(
        SEARCH_PER_SECOND, 1.0, headroom=1.0, slack=SEARCH_SLACK, until_answer=True))


def pacer_for(base_url: str, token: str, fixed_limit: int | None = None) -> Pacer:
    """The 10-second pacer of one portal and app (see :func:`_shared_pacer`); a limit fixed in
    the config (``rate_limit_per_10s``) is applied to it."""
    pacer = _shared_pacer("ten_secondly", base_url, token,
                          lambda: Pacer(fixed_limit or DEFAULT_LIMIT_PER_10S, 10.0))
    if fixed_limit and pacer.limit != fixed_limit:
        pacer.set_limit(fixed_limit, 10.0)
    return pacer
CONNECT_TIMEOUT_S = 10.0


def _error_body(exc: Exception) -> dict:
    try:
        body = json.loads(getattr(exc, "body", None) or "{}")
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


class HubSpotCRM:
    """One HubSpot portal's object type (``contacts`` by default); see :class:`CRM`."""

    name: ClassVar[str] = "hubspot"
    write_batch_size: ClassVar[int] = 100
    write_concurrency: ClassVar[int] = 2
    """Batch updates the engine may have in flight at once. They all draw on the one locked
    10-second :class:`Pacer`, so concurrency changes how fast the bucket is used, never how
    much of it."""

    def __init__(self, connection: ConnectionConfig, credentials: Credentials, *,
                 policy: RetryPolicy | None = None) -> None:
        self.connection, self.object_name = connection, connection.object
        self.policy = policy or RetryPolicy()
        self.counter = CallCounter()
        self._credentials = credentials
        self._fixed_limit = connection.rate_limit_per_10s
        self.pacer = pacer_for(connection.base_url, credentials.secret("access_token"),
                               self._fixed_limit)
        self.search_pacer = search_pacer_for(connection.base_url,
                                             credentials.secret("access_token"))
        self.timeout = (CONNECT_TIMEOUT_S, connection.timeout_seconds)
        self.overlap = timedelta(minutes=connection.overlap_minutes)
        # No SDK-level retries except refused connections (nothing was sent); see module doc.
        self.client = HubSpot(
            access_token=credentials.secret("access_token"), host=connection.base_url.rstrip("/"),
            retry=Retry(total=2, connect=2, read=0, status=0, respect_retry_after_header=False),
            ssl_ca_cert=connection.ca_bundle())
        # Every SDK accessor builds a new ApiClient with its own connection pool: take each once.
        objects, properties = self.client.crm.objects, self.client.crm.properties
        self.basic_api, self.search_api = objects.basic_api, objects.search_api
        self.batch_api = objects.batch_api
        self.properties_api, self.groups_api = properties.core_api, properties.groups_api
        self.tasks_batch_api = objects.tasks.batch_api
        self.associations_batch_api = self.client.crm.associations.v4.batch_api
        self._catalog: FieldCatalog | None = None
        self.budget = ApiBudget("hubspot", connection.api_reserve)
        self.server_time = datetime.now(UTC)  # the CRM's clock, from each answer's Date header
        self._thread_answers = threading.local()  # the same, per calling thread

    @classmethod
    def connect(cls, connection: ConnectionConfig, *, environ: Mapping[str, str] | None = None,
                policy: RetryPolicy | None = None) -> HubSpotCRM:
        """Build the client and read the object's properties, which proves the token works."""
        crm = cls(connection, connection.credentials(environ), policy=policy)
        crm.describe()
        return crm

    # -- one paced, counted, retried call --------------------------------------------------------

    def request(self, action: Callable[..., Any], *, search: bool = False,
                table: ErrorTable = ERRORS, raw: bool = False,
                wanted: Callable[[], bool] | None = None) -> Any:
        """Run ``action``, an SDK ``*_with_http_info`` call taking the timeout keywords, paced
        (``search``: the search bucket), counted, translated with ``table`` and retried; returns
        its data: the SDK's model, or with ``raw`` the answer's JSON as plain dicts and lists
        (the SDK's ``_preload_content=False``: the same request, without building a model
        object and parsing two dates with dateutil per record, which costs a list page of 100
        about 10 ms of CPU; the pulls read tens of thousands of records).

        ``wanted``, asked once the pacer has let the call go (a wait of up to a second on the
        search bucket), can still call it off: then nothing is sent and None is returned (a
        sweep whose work the other sweep finished meanwhile)."""
        def attempt() -> Any:
            self.budget.check()
            pacer = self.search_pacer if search else self.pacer
            slot = pacer.acquire()
            if wanted is not None and not wanted():
                pacer.release(slot)
                return None
            self.counter.add()
            try:
                if raw:
                    data, headers = self._read_json(action)
                else:
                    data, _status, headers = action(_return_http_data_only=False,
                                                    _request_timeout=self.timeout)
            except API_ERRORS as exc:
                raise self._error(exc, table) from None
            except urllib3.exceptions.HTTPError as exc:
                raise self._transport_error(exc) from None
            finally:
                pacer.release(slot)
            self._observe(headers or {}, search=search)
            return data
        return self.policy.call(attempt)

    def _read_json(self, action: Callable[..., Any]) -> tuple[Any, Mapping[str, str]]:
        """The JSON of a successful answer to ``action`` and its headers (non-2xx answers are
        raised by the SDK as with a model)."""
        response = action(_preload_content=False, _request_timeout=self.timeout)
        try:
            body = response.data
        finally:
            response.release_conn()
        try:
            return json.loads(body), response.headers
        except ValueError:
            raise CRMUnavailableError(
                f"hubspot: unreadable answer from {self.connection.base_url} (not JSON: "
                f"{body[:80]!r})") from None

    def _error(self, exc: Exception, table: ErrorTable) -> Exception:
        body = _error_body(exc)
        status = exc.status or 0
        code = body.get("policyName") if status == 429 else body.get("category")
        message = body.get("message") or exc.reason or ""
        error = table.error(status, code, message, retry_after=retry_after_seconds(
            (exc.headers or {}).get("Retry-After")))
        if isinstance(error, CredentialsError):
            error.message = (f"HubSpot refused the private app token in "
                             f"{self._credentials.variables()} ({status} {code}: {message})")
        return error

    def _transport_error(self, exc: urllib3.exceptions.HTTPError) -> Exception:
        cause = getattr(exc, "reason", None) or exc
        if isinstance(cause, urllib3.exceptions.SSLError):
            return ConfigError(f"hubspot: TLS verification failed for {self.connection.base_url}:"
                               f" {cause}", hint="Set ca_file for this connection.")
        return CRMUnavailableError(f"hubspot: {type(cause).__name__}: {cause}")

    def answer_time(self) -> datetime:
        """The server's clock at the last answer to *this thread* (else to any thread): a
        pull sweep running beside concurrent writes dates itself by its own answers."""
        return getattr(self._thread_answers, "server_time", None) or self.server_time

    def _observe(self, headers: Mapping[str, str], *, search: bool = False) -> None:
        """Note the server's clock and the daily allowance left, and adopt the 10-second limit
        the portal announces (unless the config fixes one), or on a search answer the
        per-second one if announced."""
        if headers.get("Date"):
            self.server_time = parsedate_to_datetime(headers["Date"])
            self._thread_answers.server_time = self.server_time
        if search:
            secondly = headers.get(SEARCH_LIMIT_HEADER)
            if secondly and secondly.isdigit() and int(secondly) != self.search_pacer.limit:
                self.search_pacer.set_limit(int(secondly), 1.0)
        limit = headers.get("X-HubSpot-RateLimit-Max")
        interval = headers.get("X-HubSpot-RateLimit-Interval-Milliseconds")
        announced = (int(limit), int(interval) / 1000) if limit and interval else None
        if announced and not self._fixed_limit and announced != (self.pacer.limit,
                                                                 self.pacer.window):
            self.pacer.set_limit(*announced)
        daily, left = (headers.get("X-HubSpot-RateLimit-Daily"),
                       headers.get("X-HubSpot-RateLimit-Daily-Remaining"))
        if daily and left:  # absent for OAuth apps
            self.budget.observe(int(daily) - int(left), int(daily))

    # -- describe and fields ---------------------------------------------------------------------

    def describe(self, *, refresh: bool = False) -> FieldCatalog:
        """The object's properties from ``GET /crm/v3/properties/{type}`` (cached)."""
        if self._catalog is None or refresh:
            data = self.request(partial(self.properties_api.get_all_with_http_info,
                                        self.object_name, archived=False))
            self._catalog = FieldCatalog(self.object_name,
                                         {p.name: property_info(p) for p in data.results})
        return self._catalog

    def ensure_fields(self, specs: Sequence[FieldSpec], *, dry_run: bool = False,
                      grant: str | None = None) -> ProvisionReport:
        """Create the "Lead scoring" group and the missing properties; see the protocol.

        ``grant`` has nothing to do here: a private app reads and writes every property its
        scopes cover, and HubSpot has no per-property grant for apps; the report says so."""
        report = ensure_properties(self, specs, dry_run=dry_run)
        self.describe(refresh=True)
        if grant is not None:
            report = replace(report, access=(NOTHING_TO_GRANT.format(grant=grant),))
        return report

    # -- reading ---------------------------------------------------------------------------------

    @property
    def modified_property(self) -> str:
        """The modification stamp: ``lastmodifieddate`` on contacts, else
        ``hs_lastmodifieddate``."""
        return "lastmodifieddate" if self.object_name == "contacts" else "hs_lastmodifieddate"

    @property
    def created_property(self) -> str:
        """The creation stamp: ``createdate`` on contacts, else ``hs_createdate``."""
        return "createdate" if self.object_name == "contacts" else "hs_createdate"

    def _require(self, fields: Sequence[str]) -> None:
        missing = self.describe().missing(list(fields))
        if missing:
            raise CRMPermissionError(
                f"hubspot {self.object_name} has no property {', '.join(missing)}",
                hint="Check the mapping's property names (internal names, not labels).")

    def pull_changed(self, cursor: Cursor | None, fields: Sequence[str]) -> Iterator[Page]:
        """A keyset search sweep on the modification property (``cursor`` None: a full load,
        every record, 200 a call); see :func:`connector.crm.hubspot_pull.pull`."""
        self._require(fields)
        return pull(self, self.modified_property, cursor, list(fields))

    def pull_created(self, cursor: Cursor | None, fields: Sequence[str]) -> Iterator[Page]:
        """As :meth:`pull_changed` on the creation property (one search when none are new)."""
        self._require(fields)
        return pull(self, self.created_property, cursor, list(fields))

    def read(self, ids: Sequence[str], fields: Sequence[str]) -> list[Record]:
        """One batch read; ids that do not exist (HubSpot's 207), and merged-away ids (HubSpot
        answers them with the survivor, whose id differs), are left out."""
        if len(ids) > self.write_batch_size:
            raise ValueError(f"read takes at most {self.write_batch_size} ids")
        self._require(fields)
        if not ids:
            return []
        names = list(dict.fromkeys([self.modified_property, *fields]))
        body = BatchReadInputSimplePublicObjectId(
            inputs=[SimplePublicObjectId(id=i) for i in ids], properties=names,
            properties_with_history=[])
        data = self.request(partial(self.batch_api.read_with_http_info, self.object_name, body,
                                    archived=False))
        found = {obj.id: obj for obj in data.results or ()}
        return [record_of(found[i], self.modified_property, list(fields))
                for i in ids if i in found]

    def ids_for_email(self, email: str) -> list[str]:
        """A search on ``email`` (HubSpot compares strings without case); archived contacts
        are not searchable, and their state left at the sync's removal look."""
        request = PublicObjectSearchRequest(
            filter_groups=[FilterGroup(filters=[Filter(property_name="email", operator="EQ",
                                                       value=email)])],
            properties=["email"], limit=100)
        data = self.request(partial(self.search_api.do_search_with_http_info, self.object_name,
                                    request), search=True)
        return [obj.id for obj in data.results]

    def removed_since(self, since: datetime | None) -> Removals:
        """Archived records and merges since ``since - overlap``; see
        :mod:`connector.crm.hubspot_removals`."""
        return removed_since(self, since - self.overlap if since is not None else None)

    history_records_per_call: ClassVar[int] = HISTORY_BATCH
    """:meth:`field_history` reads this many records a call."""

    def field_history(self, ids: Sequence[str], fields: Sequence[str]
                      ) -> dict[str, list[FieldChange]]:
        """Changes of ``fields`` on the records ``ids``, oldest first: batch reads with
        ``propertiesWithHistory``, 50 records a call (HubSpot's cap for history reads)."""
        found: dict[str, list[FieldChange]] = {}
        for start in range(0, len(ids), HISTORY_BATCH):
            body = BatchReadInputSimplePublicObjectId(
                inputs=[SimplePublicObjectId(id=i) for i in ids[start:start + HISTORY_BATCH]],
                properties=[self.modified_property], properties_with_history=list(fields))
            data = self.request(partial(self.batch_api.read_with_http_info, self.object_name,
                                        body, archived=False))
            for obj in data.results or ():
                found[obj.id] = hubspot_changes(obj.properties_with_history)
        return found

    # -- writing ---------------------------------------------------------------------------------

    def write(self, batch: Sequence[RecordWrite]) -> list[WriteResult]:
        """Batch update (one call) of the records passing the pre-check. A 400 for one bad value
        rejects the whole batch: it is split in halves until the offender stands alone. Records
        refused for other per-record reasons (a lock) are re-sent once."""
        return checked_write(batch, self.describe(), self._isolate, self.write_batch_size)

    def _isolate(self, writes: list[RecordWrite]) -> list[WriteResult]:
        try:
            return self._update(writes)
        except BatchRejectedError as exc:
            if len(writes) == 1:
                return [WriteResult(writes[0].record_id, ok=False, code="VALIDATION_ERROR",
                                    field=_failed_property(exc.message), reason=exc.message)]
            middle = len(writes) // 2
            return self._isolate(writes[:middle]) + self._isolate(writes[middle:])

    def _update(self, writes: list[RecordWrite]) -> list[WriteResult]:
        # The body as plain JSON and the answer read raw (``request(raw=True)``): only ids,
        # categories and messages are wanted back, not 100 record objects with parsed dates.
        body = {"inputs": [{"id": w.record_id,
                            "properties": {k: wire_text(v, null="") for k, v in w.values.items()}}
                           for w in writes]}
        data = self.request(partial(self.batch_api.update_with_http_info, self.object_name, body),
                            table=WRITE_ERRORS, raw=True)
        written = {record["id"] for record in data.get("results") or ()}
        failed: dict[str, WriteResult] = {}
        for error in data.get("errors") or ():  # a 207: some records refused
            category = error.get("category")
            for record_id in (error.get("context") or {}).get("ids", ()):
                failed[record_id] = WriteResult(
                    record_id, ok=False, code=category, reason=error.get("message"),
                    transient=category not in FINAL_RECORD_CATEGORIES)
        return [WriteResult(w.record_id, ok=True) if w.record_id in written else
                failed.get(w.record_id) or WriteResult(
                    w.record_id, ok=False, code="NOT_CONFIRMED", transient=True,
                    reason="HubSpot answered without this record or an error for it")
                for w in writes]

    # -- callback tasks --------------------------------------------------------------------------

    def create_tasks(self, tasks: Sequence[TaskRequest]) -> list[TaskResult]:
        """One ``tasks`` batch create with associations; see :mod:`.hubspot_tasks`."""
        if len(tasks) > self.write_batch_size:
            raise ValueError(f"at most {self.write_batch_size} tasks per call, got {len(tasks)}")
        return hubspot_tasks.create_tasks(self, tasks, WRITE_ERRORS)

    def find_tasks(self, tasks: Sequence[TaskRequest]) -> dict[str, str]:
        """v4 association read plus a batch read of the tasks; see :mod:`.hubspot_tasks`."""
        if len(tasks) > self.write_batch_size:
            raise ValueError(f"at most {self.write_batch_size} tasks per call, got {len(tasks)}")
        return hubspot_tasks.find_tasks(self, tasks)

    # -- usage -----------------------------------------------------------------------------------

    def usage(self) -> ApiUsage:
        """Calls made by this client, and the portal's daily count from the last headers."""
        return ApiUsage(self.counter.calls, self.budget.used, self.budget.limit)

    def close(self) -> None:
        """Close the SDK's connection pools."""
        for api in (self.basic_api, self.search_api, self.batch_api, self.properties_api,
                    self.groups_api, self.tasks_batch_api, self.associations_batch_api):
            api.api_client.rest_client.pool_manager.clear()


def _failed_property(message: str) -> str | None:
    """The property a ``VALIDATION_ERROR`` message names (``..."name":"prop"...``), if any."""
    start = message.find('"name":"')
    if start < 0:
        return None
    start += len('"name":"')
    return message[start:message.find('"', start)]

"""The one interface the sync engine sees: :class:`CRM`. Its docstrings are the contract.

Every adapter (``salesforce``, ``hubspot``, a third one later) implements it over one object
type (Salesforce ``Lead``, HubSpot ``contacts``...), and passes ``tests/crm/test_contract.py``.

Errors (all from :mod:`connector.errors`), the same for every method unless stated:

* :class:`~connector.errors.CredentialsError` - the CRM refused the credentials.
* :class:`~connector.errors.CRMPermissionError` - a field or object is not visible/editable.
* :class:`~connector.errors.RetryLaterError` - still failing after the retry policy gave up
  (rate limited, unavailable, or a session that expired again right after renewal).
* :class:`~connector.errors.ApiBudgetError` - the daily allowance is down to the reserve;
  raised *before* a call, so nothing is half-sent.
* :class:`~connector.errors.CRMRequestError` - the CRM rejected a request we built (a bug).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import ClassVar, Protocol, Self, runtime_checkable

from connector.config import ConnectionConfig
from connector.crm.transport import RetryPolicy
from connector.errors import ApiBudgetError, RetryLaterError
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
)


@runtime_checkable
class CRM(Protocol):
    """A connection to one object type of one Salesforce org or HubSpot portal."""

    name: ClassVar[str]
    """The entry-point name (``salesforce``, ``hubspot``)."""

    write_batch_size: ClassVar[int]
    """The most records :meth:`write` accepts per call: one API request each (200 / 100)."""

    object_name: str
    """The object type read and written (``Lead``, ``contacts``...)."""

    # Optional: ``write_concurrency: ClassVar[int]`` - how many :meth:`write` calls the sync
    # engine may run at once from different threads (default 1 when absent). An adapter that
    # declares more than 1 must make :meth:`write` and its call accounting thread-safe, and
    # keep concurrent calls within the CRM's rate limits (HubSpot: one shared, locked pacer).
    # Optional: ``field_history(ids, fields) -> {id: [FieldChange, ...]}`` - the CRM's own
    # field history (connector.crm.history), oldest first; ``history_records_per_call`` when it
    # reads record by record (absent: one pass over the whole object, as Salesforce's SOQL).
    # :meth:`pull_changed` / :meth:`pull_created` iterators may be consumed from another thread
    # than the one that created them (the engine prefetches the next page), concurrently with
    # :meth:`write`.
    # Optional: ``write_many(writes) -> list[WriteResult] | None`` - a whole write set of any
    # size in one go (Salesforce Bulk API 2.0), results in order and per-record outcomes as
    # :meth:`write`; None when the adapter declines (too few records, allocation spent) and
    # nothing was sent, so the engine falls back to :meth:`write` batches.

    @classmethod
    def connect(cls, connection: ConnectionConfig, *, environ: Mapping[str, str] | None = None,
                policy: RetryPolicy | None = None) -> Self:
        """Authenticate with the connection's flow and return a ready client.

        Secrets come from ``environ`` (default: the process environment and ``.env``). A missing
        variable or refused credential raises :class:`CredentialsError` naming the variables
        and the flow; nothing else is attempted. ``policy`` replaces the default retries (tests
        inject a recording sleep).
        """

    def describe(self, *, refresh: bool = False) -> FieldCatalog:
        """The object's fields visible to the integration user. Cached; ``refresh`` re-reads."""

    def ensure_fields(self, specs: Sequence[FieldSpec], *, dry_run: bool = False,
                      grant: str | None = None) -> ProvisionReport:
        """Create the fields in ``specs`` that do not exist yet; never alter existing ones.

        Idempotent: a second call reports every field as existing. With ``dry_run`` nothing is
        created; the report lists what would be. ``manual_steps`` says what the admin must still
        do (Salesforce: grant field-level security).

        ``grant`` names where access to the fields is granted to the integration user
        (Salesforce: a permission set's API name, created and assigned when missing; HubSpot has
        no per-property grant for apps, so it only says so); ``access`` in the report lists what
        was done. A malformed ``grant`` raises :class:`ConfigError`; a grant the CRM refuses,
        :class:`CRMPermissionError`.
        """

    def pull_changed(self, cursor: Cursor | None, fields: Sequence[str]) -> Iterator[Page]:
        """Stream the records modified since ``cursor`` (None: every record, a full load).

        Each record carries ``fields`` (plus its id and modification stamp), values as the API
        returns them. Pages come one API page at a time, never the whole object in memory, each
        with the cursor reached once its records are handled; every record version is delivered
        once: the overlap re-read before ``cursor`` is deduplicated against ``cursor.seen``.
        Record order is the CRM's (Salesforce by ``SystemModstamp, Id``); a page may be empty.
        Unknown ``fields`` raise :class:`CRMPermissionError` before any record is read.
        """

    def pull_created(self, cursor: Cursor | None, fields: Sequence[str]) -> Iterator[Page]:
        """Like :meth:`pull_changed`, but following the creation date: the new-leads job.

        Costs one API call when nothing new was created.
        """

    def read(self, ids: Sequence[str], fields: Sequence[str]) -> list[Record]:
        """The records with ``ids`` (at most :attr:`write_batch_size`, one API call), with
        ``fields``; ids that do not exist are left out. Order follows ``ids``."""

    def removed_since(self, since: datetime | None) -> Removals:
        """The records removed from the object since ``since`` (None: as far back as the CRM
        keeps track), each id once: ``deleted`` (with ``at``), ``merged`` (with the
        ``survivor``'s id; on HubSpot a merge may give the survivor a new id, and then both old
        ids are ``merged``), ``archived``.

        A handful of calls whatever the object's size (Salesforce: getDeleted plus one
        ``queryAll`` for merge masters; HubSpot: the archived listing, 100 a call, plus one
        search for merge survivors). ``reached`` is the ``since`` of the next call; it never
        passes the CRM's own clock. When part of the window is older than the CRM keeps
        (Salesforce: 15 days of delete log), the rest is returned with ``complete`` False
        instead of failing. The same removal may be reported again by a later call (windows
        overlap); callers must treat it as idempotent. Records removed for good without a trace
        (HubSpot's GDPR delete) are not listed: :meth:`read` no longer finds them.
        """

    def ids_for_email(self, email: str) -> list[str]:
        """The ids of the records whose email address is ``email`` (compared without case),
        for an erasure request: live records, and on Salesforce deleted ones still in the
        recycle bin. One or two API calls; an address with no record gives an empty list."""

    def write(self, batch: Sequence[RecordWrite]) -> list[WriteResult]:
        """Set absolute values on up to :attr:`write_batch_size` records; one result each, in
        the order given.

        Values are checked against :meth:`describe` first (unknown or read-only field, type,
        text length, a number beyond the field's precision, picklist option); a record that
        fails is not sent and its result says which field and why. One bad record never fails
        the others: records the CRM rejects for transient reasons are re-sent once, the rest
        reported with the CRM's code and message.
        Raises ``ValueError`` if ``batch`` is larger than :attr:`write_batch_size`.
        """

    def create_tasks(self, tasks: Sequence[TaskRequest]) -> list[TaskResult]:
        """Create one follow-up task per request: at most :attr:`write_batch_size`, one API call
        (Salesforce composite collection of ``Task``; HubSpot ``tasks`` batch create); one
        result per request, in the order given.

        Each task is linked to its record (Salesforce ``WhoId``; HubSpot the default task ->
        record association, 204 for contacts), assigned to ``owner_id`` (else the CRM's
        default, the integration user), due at ``due``, and carries ``ref`` in its description.
        A request the CRM refuses (a deleted record, an inactive owner) gets the CRM's code and
        reason; the others are still created. Not idempotent by itself: a request whose outcome
        is unknown (a crash, a timeout) must be checked with :meth:`find_tasks` before it is
        sent again. Raises ``ValueError`` past :attr:`write_batch_size` requests.
        """

    def find_tasks(self, tasks: Sequence[TaskRequest]) -> dict[str, str]:
        """``{ref: task id}`` of the requests whose task already exists: a task linked to the
        request's record whose description contains its ``ref``.

        Reads only what the CRM answers consistently right after a write (Salesforce SOQL;
        HubSpot v4 association reads and batch reads by id, never the search index, which lags
        a few seconds), so a task created just before a crash is found. At most
        :attr:`write_batch_size` requests; two API calls on HubSpot, one on Salesforce.
        """

    def usage(self) -> ApiUsage:
        """API calls made by this client so far, and the daily allowance where the CRM says."""

    def close(self) -> None:
        """Release connections. The client is unusable afterwards."""


def write_all(crm: CRM, writes: Sequence[RecordWrite]) -> Iterator[list[WriteResult]]:
    """Write ``writes`` in batches of ``crm.write_batch_size``, one at a time, yielding each
    batch's results as soon as it is done, so whatever stops the run (an error, the API budget)
    leaves every finished batch reported and no batch half-sent. (The sync engine sends up to
    ``write_concurrency`` batches at once instead; see :mod:`connector.sync.engine`.)"""
    size = crm.write_batch_size
    for start in range(0, len(writes), size):
        yield crm.write(writes[start:start + size])


def checked_write(batch: Sequence[RecordWrite], catalog: FieldCatalog,
                  send: Callable[[list[RecordWrite]], list[WriteResult]],
                  limit: int) -> list[WriteResult]:
    """The part of :meth:`CRM.write` every adapter shares: refuse what ``catalog`` says cannot
    be written (without sending it), ``send`` the rest (one API call for the list), and re-send
    once the records refused for a transient reason. One result per write, in ``batch`` order.

    An error on the first send propagates (nothing was written); if the re-send cannot go out,
    its records keep their transient results, so the caller retries them next run.
    """
    if len(batch) > limit:
        raise ValueError(f"at most {limit} records per write, got {len(batch)}")
    results: dict[int, WriteResult] = {}
    pending = []
    for index, write in enumerate(batch):
        refusal = catalog.refusal(write)
        if refusal:
            results[index] = refusal
        else:
            pending.append(index)
    for round_ in range(2):
        if not pending:
            break
        try:
            outcome = send([batch[i] for i in pending])
        except (ApiBudgetError, RetryLaterError):
            if round_ == 0:
                raise
            break
        results.update(zip(pending, outcome, strict=True))
        pending = [i for i in pending if results[i].transient]
    return [results[i] for i in range(len(batch))]

"""The sync engine: pull -> fingerprint -> score -> diff -> write -> record, one page at a time.

It sees only the :class:`~connector.crm.base.CRM` protocol, so a third CRM needs no change here.

I/O overlaps, the bookkeeping does not: a background thread pulls the next page (at most
:data:`~connector.sync.prefetch.PREFETCH_PAGES` ahead, so memory stays one or two pages; see
:class:`~connector.sync.prefetch.Prefetcher`) while the current one is scored and written, and a
page's write batches go out up to ``crm.write_concurrency`` at a time (an optional attribute of
the adapter, default 1). Pages are still recorded one after the other, in pull order, each only
once all of its writes have answered.

Per page: records whose mapped inputs and model version are unchanged are skipped (this is what
stops the write-back loop: our own write bumps the modification stamp, the record comes back
once, and is skipped); the rest are scored, compared with the values the CRM holds, and only real
changes are written, in the CRM's largest batches. The changes are staged in the state store
before the write and confirmed after it, and the page's states, audit rows, failures and cursor
are recorded in one transaction, so a ``kill -9`` anywhere costs at most a re-read of one page.

Cursor discipline: the stored cursor moves only past recorded pages, never past the run's start,
and the pull starts no later than the oldest record that failed last time (so it is retried).
Records that left the CRM, and failures that can never succeed, are handled by
:mod:`connector.sync.lifecycle` before the pull and per page.
After a model promotion the change stream is rewound to the beginning, so every open lead is
rescored; a budget stop leaves the rest for the next runs.
"""

from __future__ import annotations

import csv
import dataclasses
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import ExitStack
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from connector.config import ConnectionConfig
from connector.crm.base import CRM
from connector.errors import LeadscoreError, StopRunError
from connector.mapping import Mapping
from connector.sync.feature_logging import log_inputs
from connector.sync.lifecycle import Lifecycle
from connector.sync.prefetch import Prefetcher
from connector.sync.proving import Proving
from connector.records import Cursor, Page, Record, RecordWrite, WriteResult
from connector.state import (
    Change, Failure, PageRecord, RecordState, RunCounts, StateStore, utcnow,
)
from connector.sync.writeback import (
    PREVIEW_COLUMNS, changed_fields, fingerprint, holds_stored, output_plan, output_values,
    preview_row, roles_by_field, stored_value, stored_values,
)

if TYPE_CHECKING:  # connector.model.scoring imports the model package; only types are needed
    from connector.model.scoring import LeadScore

CHANGED, CREATED = "changed", "created"


class Model(Protocol):
    """What the engine needs of a model: its version and a scorer."""

    version: str

    def score(self, records: Iterable[dict]) -> list[LeadScore]:
        """One :class:`LeadScore` per record, in order."""


@dataclasses.dataclass
class RunSummary:
    """The result of one run: what :func:`run_sync` returns and the scheduler logs."""

    connection: str
    kind: str
    run_id: int
    dry_run: bool
    model_version: str
    started_at: datetime
    outcome: str = "running"
    counts: RunCounts = dataclasses.field(default_factory=RunCounts)
    api_calls: int = 0
    ended_at: datetime | None = None
    message: str | None = None
    preview_path: Path | None = None
    error: LeadscoreError | None = dataclasses.field(default=None, repr=False)

    def line(self) -> str:
        """The run as one log line."""
        seconds = (self.ended_at - self.started_at).total_seconds() if self.ended_at else 0.0
        counts = " ".join(f"{k}={v}" for k, v in self.counts.as_dict().items())
        extra = f" ({self.message})" if self.message else ""
        mode = " dry-run" if self.dry_run else ""
        return (f"{self.kind}{mode} {self.connection} run={self.run_id} {self.outcome}: {counts} "
                f"api_calls={self.api_calls} model={self.model_version} {seconds:.1f}s{extra}")

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready fields (for ``--json`` output)."""
        data = {name: getattr(self, name) for name in
                ("connection", "kind", "run_id", "dry_run", "model_version", "outcome",
                 "api_calls", "message")}
        data.update(counts=self.counts.as_dict(), started_at=self.started_at.isoformat(),
                    ended_at=self.ended_at.isoformat() if self.ended_at else None,
                    preview_path=str(self.preview_path) if self.preview_path else None)
        return data

    def raise_for_outcome(self) -> None:
        """Re-raise the error that ended the run, if any (the CLI maps it to an exit code)."""
        if self.error is not None:
            raise self.error


def _clamp(cursor: Cursor, ceiling: datetime) -> Cursor:
    """``cursor`` moved back to ``ceiling`` if past it: our own writes stamp records after the
    run started, and a later pull must not start beyond a moment it has not fully seen."""
    if cursor.stamp is None or cursor.stamp <= ceiling or cursor.resume is not None:
        return cursor
    return dataclasses.replace(cursor, stamp=ceiling)


class SyncRun:
    """One run over one stream of pages (see the module docstring for the steps)."""

    def __init__(self, summary: RunSummary, crm: CRM, model: Model, mapping: Mapping,
                 state: StateStore, *, stream: str, force: bool = False, limit: int | None = None,
                 clock: Callable[[], datetime] = utcnow,
                 progress: Callable[[RunSummary], None] | None = None,
                 stop: threading.Event | None = None, renew: Callable[[], None] = lambda: None,
                 preview: csv.DictWriter | None = None, api_base: int = 0,
                 lifecycle: Lifecycle,
                 proving: Proving | None = None) -> None:
        self.summary, self.crm, self.model, self.mapping, self.state = (
            summary, crm, model, mapping, state)
        self.name = summary.connection
        self.stream, self.force, self.limit, self.clock = stream, force, limit, clock
        self.progress, self.stop, self.renew, self.preview = progress, stop, renew, preview
        self.inputs = mapping.input_fields()
        self.roles = roles_by_field(mapping)
        self.plan = output_plan(mapping)
        self.catalog = crm.describe()
        self.failed = {f.record_id for f in state.failures(self.name)}
        self.life = lifecycle
        self.concurrency = max(1, int(getattr(crm, "write_concurrency", 1) or 1))
        self._api_base = api_base
        self.proving = proving or Proving(self.name, mapping, crm, state, summary.run_id, clock,
                                          dry_run=True)
        self.outcome = "ok"

    @property
    def fields(self) -> list[str]:
        """Every field a pull must return: inputs and outputs."""
        return list(dict.fromkeys(self.inputs + list(self.roles)
                                  + self.proving.extra_fields()))

    def execute(self, pages: Iterable[Page]) -> str:
        """Process ``pages`` until they end, the limit is reached or a stop is requested;
        return the outcome (``ok`` or ``interrupted``). The next page is pulled in the
        background while one is processed (:class:`Prefetcher`)."""
        with Prefetcher(pages) as prefetched:
            for page in prefetched:
                whole = self._page(page)
                if self.stop is not None and self.stop.is_set():
                    self.summary.message = "stop requested: finished the batch in flight"
                    return "interrupted"
                if not whole or (self.limit is not None
                                 and self.summary.counts.pulled >= self.limit):
                    self.summary.message = f"stopped at --limit {self.limit}"
                    return "ok"
        return "ok"

    # -- one page ----------------------------------------------------------------------------------

    def _page(self, page: Page) -> bool:
        records, ended = self.life.screen(page.records, self.failed)
        complete = True
        if self.limit is not None:
            room = max(self.limit - self.summary.counts.pulled, 0)
            complete = len(records) <= room
            records = records[:room]
        counts = RunCounts(pulled=len(records))
        ids = [record.id for record in records]
        states = self.state.record_states(self.name, ids)
        pending = self.state.pending(self.name, ids)
        landed = [key for key, change in pending.items()
                  if holds_stored(self.roles.get(key[1], ""),
                                  self._values(records, key[0]).get(key[1]), change.new)]
        todo = [(r, fp) for r in records if (fp := self._needs_scoring(r, states, counts))]
        leads = self.model.score([dict(r.values) for r, _ in todo]) if todo else []
        counts.scored = len(todo)
        now = self.clock()
        done: list[RecordState] = []
        writes: list[tuple[Record, RecordState, dict[str, Any]]] = []
        scored = []  # (record, previous state, new values): for the control group and callbacks
        for (record, fp), lead in zip(todo, leads):
            new = output_values(lead, self.mapping, model_version=self.model.version,
                                scored_at=now, catalog=self.catalog, plan=self.plan)
            scored.append((record, states.get(record.id), new))
            diff = ({} if self.proving.holds_back(record.id)  # control lead: nothing written
                    else changed_fields(record.values, new, self.roles))
            after = RecordState(record.id, fp, self.model.version,
                                stored_values(self.mapping, {**record.values, **diff},
                                              self.roles))
            if diff:
                writes.append((record, after, diff))
            else:
                done.append(after)
                counts.unchanged += 1
        if self.summary.dry_run:
            return self._preview(writes, counts, complete)
        # The feature log keeps inputs as scored, for point-in-time training: new or changed.
        log_inputs(self.state, self.name, self.mapping, now,
                   [r for r, fp in todo if getattr(states.get(r.id), "fingerprint", None) != fp])
        return self._write_and_record(page, ids, done, writes, landed, counts, complete, scored,
                                      ended)

    @staticmethod
    def _values(records: tuple[Record, ...], record_id: str) -> dict[str, Any]:
        return next(dict(r.values) for r in records if r.id == record_id)

    def _held(self, values: dict[str, Any], field: str) -> Any:
        return stored_value(self.roles.get(field, ""), values.get(field))

    def _needs_scoring(self, record: Record, states: dict[str, RecordState],
                       counts: RunCounts) -> str | None:
        """The record's fingerprint if it must be scored, else None (and counted unchanged)."""
        values = record.values
        if self.mapping.outcome_of(dict(values)) is not None:
            counts.unchanged += 1  # closed leads keep the score they had while open
            return None
        fp = fingerprint(values, self.inputs)
        known = states.get(record.id)
        if (not self.force and known is not None and known.fingerprint == fp
                and known.model_version == self.model.version and record.id not in self.failed
                and not self.proving.must_rescore(record.id)):
            counts.unchanged += 1
            return None
        return fp

    def _preview(self, writes, counts: RunCounts, complete: bool) -> bool:
        for record, _, diff in writes:
            self.preview.writerow(preview_row(record.id, self.mapping, record.values,
                                              {**record.values, **diff}))
        counts.written = len(writes)  # in a dry run: would be written
        self._add(counts)
        self.state.add_counts(self.summary.run_id, counts, api_calls=self.summary.api_calls)
        if self.progress is not None:
            self.progress(self.summary)
        return complete

    def _write_and_record(self, page: Page, ids: list[str], done: list[RecordState], writes,
                          landed, counts: RunCounts, complete: bool, scored,
                          ended: list[str]) -> bool:
        self.proving.before_write(scored)
        changes = []
        for record, after, diff in writes:  # after.written: the stored form of the new values
            held = record.values
            changes += [Change(record.id, field, self._held(held, field), after.written[field])
                        for field in diff]
        self.state.stage_changes(self.name, self.summary.run_id, changes, landed=landed)
        by_id = {record.id: (record, after, diff) for record, after, diff in writes}
        confirmed: list[tuple[str, str]] = []
        failures: list[Failure] = []

        def take(results: list[WriteResult]) -> None:
            for result in results:
                record, after, diff = by_id[result.record_id]
                if result.ok:
                    done.append(after)
                    confirmed.extend((record.id, field) for field in diff)
                    counts.written += 1
                else:
                    failures.append(Failure(record.id, f"{result.code}: {result.reason}",
                                            result.code, stamp=record.stamp))
                    counts.failed += 1

        requests = [RecordWrite(record.id, diff) for record, _, diff in writes]
        error, whole = self._write_batches(requests, take)
        complete = complete and whole
        cursor = None
        if complete:
            reached = self.life.scrub(_clamp(page.cursor, self.summary.started_at))
            cursor = (self.stream, reached.to_json())
        self._add(counts)
        failures, final, gone = self.life.settle(failures)
        self.state.record_page(self.name, self.summary.run_id, PageRecord(
            states=done, confirmed=confirmed, failures=failures, ended=ended + final, seen=ids,
            counts=counts, cursor=cursor, api_calls=self.summary.api_calls))
        self.life.forget_gone(gone)
        self.renew()
        if error is not None:
            raise error  # tasks of this page's leads wait for the next run's sweep
        self.proving.after_record({state.record_id for state in done})
        if self.progress is not None:
            self.progress(self.summary)
        return complete

    def _write_batches(self, requests: list[RecordWrite],
                       take: Callable[[list[WriteResult]], None]
                       ) -> tuple[BaseException | None, bool]:
        """Send ``requests`` in batches of ``crm.write_batch_size``, up to
        :attr:`concurrency` batches at once, handing each batch's results to ``take`` (in this
        thread) as it answers. Returns ``(error, whole)``: the error that stopped the writes,
        and whether every batch was sent.

        Once a stop is requested or a batch fails with a :class:`LeadscoreError` (the API
        budget, a CRM that stays unavailable), no further batch starts; the batches already in
        flight are waited for and their results taken, so no batch is half-sent or unrecorded.
        """
        write_many = getattr(self.crm, "write_many", None)  # optional: see crm.base.CRM
        if write_many is not None and requests:
            try:
                results = write_many(requests)
            except LeadscoreError as raised:
                return raised, False
            if results is not None:
                take(results)
                return None, True
        size = self.crm.write_batch_size
        batches = [requests[start:start + size] for start in range(0, len(requests), size)]
        if not batches:
            return None, True
        error: BaseException | None = None
        whole = True
        pending = iter(batches)
        workers = min(self.concurrency, len(batches))
        with ThreadPoolExecutor(max_workers=workers,
                                thread_name_prefix="leadscore-write") as pool:
            inflight: set[Future] = set()

            def refill() -> None:
                nonlocal whole
                while len(inflight) < workers:
                    if error is not None or (self.stop is not None and self.stop.is_set()):
                        if next(pending, None) is not None:
                            whole = False  # finish the batches in flight, leave the rest
                        return
                    batch = next(pending, None)
                    if batch is None:
                        return
                    inflight.add(pool.submit(self.crm.write, batch))

            refill()
            while inflight:
                try:
                    finished, _ = wait(inflight, return_when=FIRST_COMPLETED)
                except KeyboardInterrupt as raised:  # wait for the batches in flight, then stop
                    error, whole = error or raised, False
                    continue
                for future in finished:
                    inflight.discard(future)
                    try:
                        take(future.result())
                    except LeadscoreError as raised:
                        error, whole = error or raised, False
                refill()
        return error, whole

    def _add(self, counts: RunCounts) -> None:
        self.summary.counts = self.summary.counts + counts
        self.summary.api_calls = self.crm.usage().calls - self._api_base


def _start_cursor(state: StateStore, life: Lifecycle, stream: str, started: datetime,
                  *, full: bool, dry_run: bool) -> Cursor | None:
    """Where a pull of ``stream`` starts: the stored cursor, moved back to the oldest record
    still worth a retry (:meth:`Lifecycle.rewind`); None (everything) for ``full``."""
    if full:
        return None
    stored = state.get_cursor(life.name, stream)
    cursor = Cursor.from_json(stored) if stored else None
    if stream == CREATED:
        return cursor or Cursor(stamp=started)  # new-leads: from now on; the sync has the past
    return life.rewind(cursor, count=not dry_run)


def _open_preview(stack: ExitStack, directory: Path, summary: RunSummary) -> csv.DictWriter:
    directory.mkdir(parents=True, exist_ok=True)
    summary.preview_path = directory / (
        f"dry-run-{summary.connection}-{summary.started_at:%Y%m%dT%H%M%SZ}-{summary.run_id}.csv")
    handle = stack.enter_context(summary.preview_path.open("w", newline="", encoding="utf-8"))
    writer = csv.DictWriter(handle, fieldnames=PREVIEW_COLUMNS)
    writer.writeheader()
    return writer


def run_sync(connection: str | ConnectionConfig, crm: CRM, model: Model, mapping: Mapping,
             state: StateStore, *, dry_run: bool = False, full: bool = False,
             limit: int | None = None, clock: Callable[[], datetime] = utcnow,
             progress: Callable[[RunSummary], None] | None = None,
             stop: threading.Event | None = None, new_leads: bool = False,
             preview_dir: Path = Path("out")) -> RunSummary:
    """Sync one connection once and return its :class:`RunSummary`.

    ``full`` re-reads every record and rescores every open lead (still writing only real
    changes); ``limit`` stops after that many records; ``dry_run`` writes nothing to the CRM or
    the state (but the run row) and saves a CSV preview under ``preview_dir``; ``new_leads``
    follows the creation stream instead (the scheduler's frequent job). ``stop`` ends the run
    cleanly after the batch in flight.

    Raises :class:`~connector.errors.ConnectionLockedError` when another worker holds the
    connection. Any other :class:`~connector.errors.LeadscoreError` ends the run with every
    finished page recorded and is returned in ``summary.error`` (outcome ``stopped`` for a
    budget stop, ``failed`` otherwise); other exceptions (bugs) are recorded and re-raised.
    """
    name = connection if isinstance(connection, str) else connection.name
    state.ensure_connection(name, crm.name)
    with state.lock(name) as lock, ExitStack() as stack:
        stream = CREATED if new_leads else CHANGED
        started = clock()
        message = None
        if not new_leads and not dry_run and state.model_version(name) != model.version:
            if state.model_version(name) is not None:
                message = f"model {model.version} promoted: rescoring every open lead"
            state.set_cursor(name, CHANGED, None)  # rewind: every lead comes past again
            state.set_model_version(name, model.version)
        kind = "new_leads" if new_leads else "sync"
        run_id = state.start_run(name, kind, dry_run=dry_run, model_version=model.version)
        summary = RunSummary(name, kind, run_id, dry_run, model.version, started, message=message)
        api_base = crm.usage().calls
        preview = _open_preview(stack, preview_dir, summary) if dry_run else None
        try:
            life = Lifecycle(state, name, run_id, mapping)
            if stream == CHANGED and not dry_run:
                life.apply_removals(crm, started)  # before the failures are read: removals end some
            cursor = _start_cursor(state, life, stream, started, full=full, dry_run=dry_run)
            proving = Proving(connection, mapping, crm, state, run_id, clock, dry_run=dry_run)
            run = SyncRun(summary, crm, model, mapping, state, stream=stream, force=full,
                          limit=limit, clock=clock, progress=progress, stop=stop,
                          renew=lock.renew, preview=preview, api_base=api_base, lifecycle=life,
                          proving=proving)
            proving.start(model.version)
            pull = crm.pull_created if new_leads else crm.pull_changed
            summary.outcome = run.execute(proving.pages(pull(cursor, run.fields), run.fields,
                                                        cursor, releases=not new_leads))
            proving.finish()
        except LeadscoreError as error:
            summary.outcome = "stopped" if isinstance(error, StopRunError) else "failed"
            summary.message, summary.error = error.message, error
        except BaseException as error:
            summary.outcome, summary.message = "failed", f"{type(error).__name__}: {error}"
            _finish(state, crm, summary, api_base)
            raise
        _finish(state, crm, summary, api_base)
        return summary


def _finish(state: StateStore, crm: CRM, summary: RunSummary, api_base: int) -> None:
    usage = crm.usage()
    summary.api_calls = usage.calls - api_base
    info = state.finish_run(summary.run_id, summary.outcome, message=summary.message,
                            api_calls=summary.api_calls, daily_used=usage.daily_used,
                            daily_max=usage.daily_max)
    summary.ended_at = info.ended_at

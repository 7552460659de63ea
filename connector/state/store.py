"""The state store: what a sync needs to remember between runs, and nothing personal.

Per connection the cursors; per record its input fingerprint, model version and the values last
written; per run its counts and API calls; per failure the record id and reason; an audit row for
every field value changed. The sync engine records each page in one transaction
(:meth:`StateStore.record_page`), which is what makes ``kill -9`` at any point safe.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, case, delete, func, literal, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import OperationalError

from connector.errors import StateStoreError
from connector.state import schema as t
from connector.state.bulk import matching, upsert_rows
from connector.state.feature_log import FeatureLog
from connector.state.lifecycle import LifecycleOps
from connector.state.lock import DEFAULT_LEASE_S, ConnectionLock, current_holder
from connector.state.pilot import PilotStore
from connector.state.rows import (
    AuditEntry, Change, Failure, PageRecord, RecordState, RunCounts, RunInfo,
)
from connector.state.schema import make_engine, migrate, write_tx

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    """The current time, timezone-aware UTC (the store's default clock)."""
    return datetime.now(timezone.utc)


class StateStore(LifecycleOps):
    """The state database behind one URL (a file path or SQLite/PostgreSQL SQLAlchemy URL).

    Opening creates or migrates the schema. Every method is one short transaction, safe to call
    from several processes at once; per-connection exclusivity comes from :meth:`lock`.
    """

    def __init__(self, url: str | Path, *, clock: Clock = utcnow) -> None:
        self.engine: Engine = make_engine(url)
        self.clock = clock
        try:
            self.schema_version = migrate(self.engine)
        except OperationalError as error:
            self.engine.dispose()
            raise StateStoreError(f"cannot open the state store {self.url}: {error.orig}") from None
        self.feature_log = FeatureLog(self.engine)
        """The logged model inputs of scored open leads (:mod:`connector.state.feature_log`)."""
        self.pilot = PilotStore(self.engine, clock)
        """Control group, callback tasks and webhook deliveries (:mod:`connector.state.pilot`)."""

    @property
    def url(self) -> str:
        """The database URL with any password hidden."""
        return self.engine.url.render_as_string(hide_password=True)

    def close(self) -> None:
        """Release every pooled database connection."""
        self.engine.dispose()

    def __enter__(self) -> StateStore:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def _insert(self, table):
        dialect = postgresql if self.engine.dialect.name == "postgresql" else sqlite
        return dialect.insert(table)

    def forget_logged_inputs(self, connection: str, record_ids: Sequence[str]) -> int:
        """Erase the feature-log entries of ``record_ids`` (the erasure command); returns how
        many went."""
        return self.feature_log.forget(connection, list(record_ids))

    # -- connections and cursors -----------------------------------------------------------------

    def ensure_connection(self, name: str, crm: str) -> None:
        """Register connection ``name`` (a no-op when it exists)."""
        now = self.clock()
        with write_tx(self.engine) as conn:
            conn.execute(self._insert(t.connections)
                         .values(name=name, crm=crm, created_at=now, updated_at=now)
                         .on_conflict_do_nothing(index_elements=["name"]))

    def connection_names(self) -> list[str]:
        """Every registered connection, by name."""
        with self.engine.connect() as conn:
            return list(conn.execute(select(t.connections.c.name)
                                     .order_by(t.connections.c.name)).scalars())

    def model_version(self, connection: str) -> str | None:
        """The model version every open lead of ``connection`` has been rescored with."""
        with self.engine.connect() as conn:
            return conn.execute(select(t.connections.c.model_version)
                                .where(t.connections.c.name == connection)).scalar()

    def set_model_version(self, connection: str, version: str) -> None:
        """Note that a rescoring pass with model ``version`` has completed."""
        with write_tx(self.engine) as conn:
            conn.execute(update(t.connections).where(t.connections.c.name == connection)
                         .values(model_version=version, updated_at=self.clock()))

    def get_cursor(self, connection: str, stream: str = "changed") -> str | None:
        """The stored cursor of ``stream`` (an opaque string from the CRM adapter), or None."""
        with self.engine.connect() as conn:
            return conn.execute(select(t.cursors.c.value).where(
                t.cursors.c.connection == connection, t.cursors.c.stream == stream)).scalar()

    def cursors(self, connection: str) -> dict[str, tuple[str, datetime]]:
        """Every cursor of ``connection``: ``{stream: (value, updated_at)}``."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(t.cursors).where(t.cursors.c.connection == connection))
            return {row.stream: (row.value, row.updated_at) for row in rows}

    def set_cursor(self, connection: str, stream: str, value: str | None) -> None:
        """Store (or with None, forget) the cursor of ``stream``."""
        with write_tx(self.engine) as conn:
            self._set_cursor(conn, connection, stream, value)

    def _set_cursor(self, conn: Connection, connection: str, stream: str,
                    value: str | None) -> None:
        if value is None:
            conn.execute(delete(t.cursors).where(t.cursors.c.connection == connection,
                                                 t.cursors.c.stream == stream))
            return
        stmt = self._insert(t.cursors).values(connection=connection, stream=stream, value=value,
                                              updated_at=self.clock())
        conn.execute(stmt.on_conflict_do_update(
            index_elements=["connection", "stream"],
            set_={"value": stmt.excluded.value, "updated_at": stmt.excluded.updated_at}))

    # -- records, staged changes, pages ----------------------------------------------------------

    def record_states(self, connection: str, ids: Iterable[str]) -> dict[str, RecordState]:
        """The stored state of each of ``ids`` that has one."""
        found: dict[str, RecordState] = {}
        with self.engine.connect() as conn:
            for ids_in in matching(conn, t.records.c.record_id, list(ids)):
                rows = conn.execute(select(t.records).where(
                    t.records.c.connection == connection, ids_in))
                for row in rows:
                    found[row.record_id] = RecordState(row.record_id, row.fingerprint,
                                                       row.model_version, dict(row.written))
        return found

    def record_count(self, connection: str, *, model_version: str | None = None) -> int:
        """How many records have a state (optionally: scored with ``model_version``)."""
        query = select(func.count()).select_from(t.records).where(
            t.records.c.connection == connection)
        if model_version is not None:
            query = query.where(t.records.c.model_version == model_version)
        with self.engine.connect() as conn:
            return conn.execute(query).scalar_one()

    def pending(self, connection: str, ids: Iterable[str]) -> dict[tuple[str, str], Change]:
        """Staged changes of ``ids`` not yet confirmed (left by a run that died mid-write)."""
        found: dict[tuple[str, str], Change] = {}
        with self.engine.connect() as conn:
            for ids_in in matching(conn, t.pending_changes.c.record_id, list(ids)):
                rows = conn.execute(select(t.pending_changes).where(
                    t.pending_changes.c.connection == connection, ids_in))
                for row in rows:
                    change = Change(row.record_id, row.field, row.old_value, row.new_value)
                    found[change.key] = change
        return found

    def stage_changes(self, connection: str, run_id: int, changes: Sequence[Change], *,
                      landed: Sequence[tuple[str, str]] = ()) -> None:
        """Before writing: turn ``landed`` staged changes into audit rows, then stage ``changes``.

        A change staged again for the same ``(record, field)`` replaces the earlier one, which
        did not land (the caller has checked, and passed those that did as ``landed``).
        With neither, no transaction is opened (most pages of a first sync are closed leads).
        """
        if not changes and not landed:
            return
        now = self.clock()
        with write_tx(self.engine) as conn:
            self._confirm(conn, connection, landed, now)
            if changes:
                self._stage(conn, connection, run_id, changes, now)

    def _stage(self, conn: Connection, connection: str, run_id: int, changes: Sequence[Change],
               now: datetime) -> None:
        upsert_rows(conn, t.pending_changes,
                    {"connection": connection, "run_id": run_id, "created_at": now},
                    ("record_id", "field", "old_value", "new_value"),
                    [(c.record_id, c.field, c.old, c.new) for c in changes],
                    key=("connection", "record_id", "field"),
                    update=("old_value", "new_value", "run_id", "created_at"))

    def record_page(self, connection: str, run_id: int, page: PageRecord) -> None:
        """Record one finished page in a single transaction; see :class:`PageRecord`."""
        now = self.clock()
        with write_tx(self.engine) as conn:
            self._confirm(conn, connection, page.confirmed, now)
            touched = sorted({s.record_id for s in page.states} | set(page.seen)
                             | {f.record_id for f in page.failures} | set(page.ended))
            for ids_in in matching(conn, t.pending_changes.c.record_id, touched):
                conn.execute(delete(t.pending_changes).where(
                    t.pending_changes.c.connection == connection, ids_in))
            self._upsert_states(conn, connection, run_id, page.states, now)
            self._upsert_failures(conn, connection, run_id, page.failures, now)
            for ids_in in matching(conn, t.failures.c.record_id, sorted(set(page.ended))):
                conn.execute(delete(t.failures).where(t.failures.c.connection == connection,
                                                      ids_in))
            if page.cursor is not None:
                self._set_cursor(conn, connection, *page.cursor)
            self._add_counts(conn, run_id, page.counts, page.api_calls)

    def _confirm(self, conn: Connection, connection: str, keys: Sequence[tuple[str, str]],
                 now: datetime) -> None:
        """Turn the staged changes ``keys`` into audit rows and drop them from the staging
        table, inside the database (``INSERT ... SELECT``): the values never travel through
        Python, which made this the costliest step of a page."""
        pending = t.pending_changes.c
        by_field: dict[str, set[str]] = {}
        for record_id, field in keys:
            by_field.setdefault(field, set()).add(record_id)
        # One field at a time (a page writes a handful), so that every condition is a plain
        # equality or id list on the (connection, record_id, field) index: a row-value IN
        # ((record_id, field), ...) is matched against each candidate row item by item on
        # both databases, which made confirming a large page quadratic.
        for field, ids in sorted(by_field.items()):
            for ids_in in matching(conn, pending.record_id, sorted(ids)):
                where = (pending.connection == connection, ids_in, pending.field == field)
                rows = select(pending.id, pending.connection, pending.record_id, pending.field,
                              pending.old_value, pending.new_value, pending.run_id,
                              literal(now, t.UTCDateTime())).where(*where)
                conn.execute(self._insert(t.audit).from_select(
                    ["change_id", "connection", "record_id", "field", "old_value",
                     "new_value", "run_id", "at"], rows
                ).on_conflict_do_nothing(index_elements=["change_id"]))
                conn.execute(delete(t.pending_changes).where(*where))

    def _upsert_states(self, conn: Connection, connection: str, run_id: int,
                       states: Sequence[RecordState], now: datetime) -> None:
        if not states:
            return
        upsert_rows(conn, t.records,
                    {"connection": connection, "run_id": run_id, "updated_at": now},
                    ("record_id", "fingerprint", "model_version", "written"),
                    [(s.record_id, s.fingerprint, s.model_version, s.written) for s in states],
                    key=("connection", "record_id"),
                    update=("fingerprint", "model_version", "written", "run_id", "updated_at"))
        for ids_in in matching(conn, t.failures.c.record_id, [s.record_id for s in states]):
            conn.execute(delete(t.failures).where(t.failures.c.connection == connection,
                                                  ids_in))

    def _upsert_failures(self, conn: Connection, connection: str, run_id: int,
                         failures: Sequence[Failure], now: datetime) -> None:
        if not failures:
            return
        stmt = self._insert(t.failures)
        conn.execute(stmt.on_conflict_do_update(
            index_elements=["connection", "record_id"],
            set_={"code": stmt.excluded.code, "reason": stmt.excluded.reason,
                  "stamp": stmt.excluded.stamp,
                  # one attempt per run: a rewind may already have counted this one
                  "attempts": case((t.failures.c.run_id == stmt.excluded.run_id,
                                    t.failures.c.attempts), else_=t.failures.c.attempts + 1),
                  "last_at": stmt.excluded.last_at,
                  "run_id": stmt.excluded.run_id}),
            [{"connection": connection, "record_id": f.record_id, "code": f.code,
              "reason": f.reason[:1000], "stamp": f.stamp, "attempts": 1, "first_at": now, "last_at": now,
              "run_id": run_id} for f in failures])

    # -- failures and audit ----------------------------------------------------------------------

    def failures(self, connection: str, *, limit: int | None = None) -> list[Failure]:
        """Records waiting for a retry, oldest failure first."""
        query = (select(t.failures).where(t.failures.c.connection == connection)
                 .order_by(t.failures.c.first_at, t.failures.c.record_id).limit(limit))
        with self.engine.connect() as conn:
            return [Failure(r.record_id, r.reason, r.code, r.stamp, r.attempts, r.last_at)
                    for r in conn.execute(query)]

    def failure_count(self, connection: str) -> int:
        """How many records wait for a retry."""
        with self.engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(t.failures)
                                .where(t.failures.c.connection == connection)).scalar_one()

    def audit(self, connection: str, *, record_id: str | None = None,
              limit: int | None = None) -> list[AuditEntry]:
        """Audit rows of ``connection`` (optionally one record), in the order they happened."""
        query = select(t.audit).where(t.audit.c.connection == connection)
        if record_id is not None:
            query = query.where(t.audit.c.record_id == record_id)
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(t.audit.c.id).limit(limit))
            return [AuditEntry(r.record_id, r.field, r.old_value, r.new_value, r.run_id, r.at)
                    for r in rows]

    # -- runs ------------------------------------------------------------------------------------

    def start_run(self, connection: str, kind: str, *, dry_run: bool = False,
                  model_version: str | None = None) -> int:
        """Open a run row (outcome ``running``) and return its id.

        Runs of ``connection`` still marked ``running`` are marked ``crashed``: call this only
        while holding the connection's :meth:`lock`, so no other live run can exist.
        """
        with write_tx(self.engine) as conn:
            conn.execute(update(t.runs).where(t.runs.c.connection == connection,
                                              t.runs.c.outcome == "running")
                         .values(outcome="crashed"))
            return conn.execute(t.runs.insert().values(
                connection=connection, kind=kind, dry_run=dry_run, started_at=self.clock(),
                outcome="running", model_version=model_version)).inserted_primary_key[0]

    def _add_counts(self, conn: Connection, run_id: int, counts: RunCounts,
                    api_calls: int | None) -> None:
        values: dict[str, Any] = {name: getattr(t.runs.c, name) + value
                                  for name, value in counts.as_dict().items() if value}
        if api_calls is not None:
            values["api_calls"] = api_calls
        if values:
            conn.execute(update(t.runs).where(t.runs.c.id == run_id).values(**values))

    def add_counts(self, run_id: int, counts: RunCounts, *, api_calls: int | None = None) -> None:
        """Add ``counts`` to a run outside a page (a dry run, or a page with nothing to record)."""
        with write_tx(self.engine) as conn:
            self._add_counts(conn, run_id, counts, api_calls)

    def finish_run(self, run_id: int, outcome: str, *, message: str | None = None,
                   api_calls: int | None = None, daily_used: int | None = None,
                   daily_max: int | None = None, model_version: str | None = None) -> RunInfo:
        """Close a run with its outcome (``ok``, ``stopped``, ``failed``...) and return it;
        ``daily_used``/``daily_max`` are the CRM's allowance as it last reported it;
        ``model_version`` is set when the run made one (a retraining)."""
        values: dict[str, Any] = {"outcome": outcome, "ended_at": self.clock(),
                                  "message": message, "daily_used": daily_used,
                                  "daily_max": daily_max}
        if api_calls is not None:
            values["api_calls"] = api_calls
        if model_version is not None:
            values["model_version"] = model_version
        with write_tx(self.engine) as conn:
            conn.execute(update(t.runs).where(t.runs.c.id == run_id).values(**values))
        return self.run(run_id)

    def run(self, run_id: int) -> RunInfo:
        """One run by id."""
        with self.engine.connect() as conn:
            return _run_info(conn.execute(select(t.runs).where(t.runs.c.id == run_id)).one())

    def last_runs(self, connection: str, *, limit: int = 5,
                  kinds: Sequence[str] | None = None) -> list[RunInfo]:
        """The latest runs of ``connection``, newest first."""
        query = select(t.runs).where(t.runs.c.connection == connection)
        if kinds:
            query = query.where(t.runs.c.kind.in_(list(kinds)))
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(t.runs.c.id.desc()).limit(limit))
            return [_run_info(row) for row in rows]

    # -- locking ---------------------------------------------------------------------------------

    lease_s: float = DEFAULT_LEASE_S
    """Lease length of :meth:`lock` (fleet mode sets its own)."""

    def lock(self, connection: str, *, lease_s: float | None = None,
             owner: str | None = None) -> ConnectionLock:
        """The per-connection worker lock (not yet acquired; use ``with store.lock(name):``)."""
        return ConnectionLock(self.engine, connection, clock=self.clock,
                              lease_s=lease_s or self.lease_s, owner=owner)

    def lock_holder(self, connection: str) -> tuple[str, datetime] | None:
        """``(owner, lease expiry)`` of whoever holds ``connection`` now, or None."""
        return current_holder(self.engine, connection, self.clock())


def _run_info(row) -> RunInfo:
    return RunInfo(row.id, row.connection, row.kind, bool(row.dry_run), row.started_at,
                   row.ended_at, row.outcome,
                   RunCounts(row.pulled, row.scored, row.written, row.unchanged, row.failed),
                   row.api_calls, row.model_version, row.message, row.daily_used, row.daily_max)


__all__ = ["AuditEntry", "Change", "Failure", "PageRecord", "RecordState", "RunCounts",
           "RunInfo", "StateStore", "utcnow"]

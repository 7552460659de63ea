"""The state store's lifecycle operations: removed records, erasure on request, retention.

* :meth:`LifecycleOps.remove_records` - records that left the CRM lose every row (state,
  failure, staged change, audit, feature log, control-group row, callback task and its webhook
  delivery) and leave one erasure-safe row in ``removed_records``: a salted
  hash of the id, what happened, when.
* :meth:`LifecycleOps.forget` - the same for an erasure request, reporting what it removed.
* :meth:`LifecycleOps.prune` - retention: audit rows, runs and removal rows older than a moment.
* :meth:`LifecycleOps.count_retries` - a rewind of the cursor to retry failed records counts as
  one attempt of each (at most one per run), so a record that can never succeed stops
  rewinding after :data:`~connector.sync.lifecycle.MAX_RETRY_ATTEMPTS`.

The salt is made once per database (``leadscore_meta``), so a hash links the removal rows of one
record without the id itself being kept, and the hashes of two databases do not match.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import Connection, delete, func, or_, select, update

from connector.state import schema as t
from connector.state.bulk import matching
from connector.state.schema import write_tx

SALT_KEY = "record_hash_salt"
# Rows that hold a record id, per table: what forget() and remove_records() clear.
ID_TABLES = (t.records, t.failures, t.pending_changes, t.audit, t.feature_log, t.pilot_leads,
             t.callback_tasks)


class LifecycleOps:
    """Mixed into :class:`~connector.state.store.StateStore` (uses its engine, clock and
    ``_insert``)."""

    def record_hash(self, connection: str, record_id: str) -> str:
        """The erasure-safe form of a record id: a salted SHA-256, 32 hex digits."""
        salt = self._salt()
        return hashlib.sha256(f"{salt}:{connection}:{record_id}".encode()).hexdigest()[:32]

    def _salt(self) -> str:
        cached = getattr(self, "_cached_salt", None)
        if cached:
            return cached
        with write_tx(self.engine) as conn:
            conn.execute(self._insert(t.meta).values(key=SALT_KEY, value=secrets.token_hex(16))
                         .on_conflict_do_nothing(index_elements=["key"]))
            salt = conn.execute(select(t.meta.c.value).where(t.meta.c.key == SALT_KEY)).scalar()
        self._cached_salt = salt
        return salt

    # -- failures --------------------------------------------------------------------------------

    def count_retries(self, connection: str, run_id: int, ids: Iterable[str]) -> None:
        """Count one attempt for each failure in ``ids`` retried by run ``run_id`` (a failure
        already counted by that run is left alone)."""
        now = self.clock()
        c = t.failures.c
        with write_tx(self.engine) as conn:
            for ids_in in matching(conn, c.record_id, sorted(set(ids))):
                conn.execute(update(t.failures).where(
                    c.connection == connection, ids_in,
                    or_(c.run_id.is_(None), c.run_id != run_id))
                    .values(attempts=c.attempts + 1, run_id=run_id, last_at=now))

    def exhausted_count(self, connection: str, attempts: int) -> int:
        """How many failures reached ``attempts``: retried only when their record changes."""
        c = t.failures.c
        with self.engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(t.failures).where(
                c.connection == connection, c.attempts >= attempts)).scalar_one()

    def record_ids(self, connection: str) -> list[str]:
        """Every record id with a state, in id order (the reconciliation walks them)."""
        c = t.records.c
        with self.engine.connect() as conn:
            return list(conn.execute(select(c.record_id).where(c.connection == connection)
                                     .order_by(c.record_id)).scalars())

    def clear_fingerprints(self, connection: str, ids: Iterable[str]) -> None:
        """Forget the input fingerprints of ``ids`` so the next pull rescores them (a merge
        survivor: its inputs may be the same, its history is not)."""
        with write_tx(self.engine) as conn:
            for ids_in in matching(conn, t.records.c.record_id, sorted(set(ids))):
                conn.execute(update(t.records).where(t.records.c.connection == connection, ids_in)
                             .values(fingerprint=""))

    # -- removed records and erasure ---------------------------------------------------------

    def remove_records(self, connection: str, removed: Sequence[tuple[str, str]], *,
                       run_id: int | None = None) -> int:
        """Drop every row of each ``(record_id, event)`` in ``removed`` and keep one
        erasure-safe row per record leadscore knew; returns how many it knew. Idempotent."""
        now = self.clock()
        self._salt()  # read (or made) before the write transaction, which must not nest
        events = dict(removed)
        with write_tx(self.engine) as conn:
            held = self._held_ids(conn, connection, list(events))
            self._delete_ids(conn, connection, list(events))
            rows = [{"connection": connection, "record_hash": self.record_hash(connection, i),
                     "event": event, "at": now, "run_id": run_id}
                    for i, event in events.items() if i in held]
            if rows:
                conn.execute(self._insert(t.removed_records).on_conflict_do_nothing(
                    index_elements=["connection", "record_hash", "event"]), rows)
        return len(rows)

    def forget(self, connection: str, ids: Sequence[str]) -> dict[str, int]:
        """Erase every row holding one of ``ids`` (state, failures, staged changes, audit);
        return the rows removed per table and keep one ``forgotten`` row per id leadscore
        knew (a salted hash, no id)."""
        now = self.clock()
        self._salt()
        with write_tx(self.engine) as conn:
            held = self._held_ids(conn, connection, ids)
            counts = self._delete_ids(conn, connection, list(ids))
            rows = [{"connection": connection, "record_hash": self.record_hash(connection, i),
                     "event": "forgotten", "at": now, "run_id": None} for i in sorted(held)]
            if rows:
                conn.execute(self._insert(t.removed_records).on_conflict_do_nothing(
                    index_elements=["connection", "record_hash", "event"]), rows)
        return counts

    def forgotten_hashes(self, connection: str) -> frozenset[str]:
        """The hashes of the records forgotten on request: the sync never scores them again."""
        c = t.removed_records.c
        with self.engine.connect() as conn:
            return frozenset(conn.execute(select(c.record_hash).where(
                c.connection == connection, c.event == "forgotten")).scalars())

    def removal_events(self, connection: str, record_id: str) -> list[tuple[str, datetime]]:
        """``(event, at)`` of the erasure-safe rows of ``record_id``, oldest first."""
        c = t.removed_records.c
        with self.engine.connect() as conn:
            rows = conn.execute(select(c.event, c.at).where(
                c.connection == connection,
                c.record_hash == self.record_hash(connection, record_id)).order_by(c.id))
            return [(row.event, row.at) for row in rows]

    def holds_any(self, connection: str) -> bool:
        """Whether any row holds a record of ``connection`` (a state, a failure, a staged
        change, an audit row, logged inputs, a pilot or callback row)."""
        with self.engine.connect() as conn:
            return any(conn.execute(select(table.c.record_id).where(
                table.c.connection == connection).limit(1)).first() for table in ID_TABLES)

    def _held_ids(self, conn: Connection, connection: str, ids: Sequence[str]) -> set[str]:
        held: set[str] = set()
        for table in ID_TABLES:
            for ids_in in matching(conn, table.c.record_id, ids):
                held |= set(conn.execute(select(table.c.record_id).where(
                    table.c.connection == connection, ids_in)).scalars())
        return held

    def _delete_ids(self, conn: Connection, connection: str, ids: list[str]) -> dict[str, int]:
        self._scrub_cursors(conn, connection, set(ids))
        counts = dict.fromkeys((table.name for table in ID_TABLES), 0)
        counts["webhook_outbox"] = 0
        for ids_in in matching(conn, t.callback_tasks.c.record_id, ids):
            # a callback's webhook payload names the lead: it goes with the callback row
            callbacks = select(t.callback_tasks.c.id).where(
                t.callback_tasks.c.connection == connection, ids_in)
            counts["webhook_outbox"] += conn.execute(delete(t.webhook_outbox).where(
                t.webhook_outbox.c.callback_id.in_(callbacks))).rowcount
        for table in ID_TABLES:
            for ids_in in matching(conn, table.c.record_id, ids):
                counts[table.name] += conn.execute(delete(table).where(
                    table.c.connection == connection, ids_in)).rowcount
        return counts

    @staticmethod
    def _scrub_cursors(conn: Connection, connection: str, ids: set[str]) -> None:
        """Drop ``ids`` from the record versions a cursor remembers inside its overlap (the
        next pull may deliver such a version again; the sync screens it out)."""
        c = t.cursors.c
        for stream, value in conn.execute(select(c.stream, c.value).where(
                c.connection == connection)).all():
            try:
                data = json.loads(value)
            except ValueError:
                continue
            if not isinstance(data, dict) or not data.get("seen"):
                continue
            kept = [pair for pair in data["seen"] if pair[0] not in ids]
            if len(kept) != len(data["seen"]):
                conn.execute(update(t.cursors).where(c.connection == connection,
                                                     c.stream == stream)
                             .values(value=json.dumps({**data, "seen": kept}, sort_keys=True)))

    # -- retention -------------------------------------------------------------------------------

    def prune(self, connection: str, before: datetime) -> dict[str, int]:
        """Delete ``connection``'s audit rows, finished runs and removal rows older than
        ``before``; return how many of each. ``forgotten`` rows stay: they keep the sync from
        scoring an erased person again."""
        with write_tx(self.engine) as conn:
            audit = conn.execute(delete(t.audit).where(
                t.audit.c.connection == connection, t.audit.c.at < before)).rowcount
            runs = conn.execute(delete(t.runs).where(
                t.runs.c.connection == connection, t.runs.c.started_at < before,
                t.runs.c.outcome != "running")).rowcount
            removed = conn.execute(delete(t.removed_records).where(
                t.removed_records.c.connection == connection, t.removed_records.c.at < before,
                t.removed_records.c.event != "forgotten")).rowcount
        return {"audit": audit, "runs": runs, "removed_records": removed}

"""The state of a pilot: who is in the control group and what they scored, the callback tasks
owed to lead owners, and the webhook deliveries of those tasks (schema version 2 tables).

Reached as ``StateStore.pilot``. Like the rest of the store it keeps ids, scores, tiers, task
ids and counts, never a lead's own values: a task's description (the reason, which quotes the
lead's values) is rebuilt from the CRM when it is needed again.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from connector.state import schema as t
from connector.state.bulk import matching
from connector.state.schema import write_tx

OPEN = ("staged", "sending")


@dataclasses.dataclass(frozen=True)
class PilotRow:
    """One scored open lead of a connection with a control group."""

    record_id: str
    group: str  # "control" or "scored"
    score: int | None
    tier: str | None
    model_version: str | None = None
    first_scored_at: datetime | None = None
    released_at: datetime | None = None


@dataclasses.dataclass(frozen=True)
class Callback:
    """One callback task owed for a lead's entry into a tier (see ``callback_tasks``)."""

    record_id: str
    after: str
    ref: str
    tier: str
    previous_tier: str | None
    score: int | None
    owner_id: str | None
    subject: str
    due_at: datetime
    status: str = "staged"
    id: int | None = None
    attempts: int = 0
    task_id: str | None = None
    code: str | None = None
    reason: str | None = None
    staged_at: datetime | None = None


class PilotStore:
    """Control-group rows, callback tasks and webhook deliveries of every connection."""

    def __init__(self, engine: Engine, clock: Callable[[], datetime]) -> None:
        self.engine, self.clock = engine, clock

    def _insert(self, table):
        dialect = postgresql if self.engine.dialect.name == "postgresql" else sqlite
        return dialect.insert(table)

    # -- control group ---------------------------------------------------------------------------

    def save_scores(self, connection: str, rows: Sequence[PilotRow]) -> None:
        """Upsert scored leads: the group they were first drawn in and the first scoring's
        score and tier stay (a lowered share releases leads, it does not move them between
        groups); the latest score and tier are added."""
        if not rows:
            return
        now = self.clock()
        stmt = self._insert(t.pilot_leads)
        stmt = stmt.on_conflict_do_update(
            index_elements=["connection", "record_id"],
            set_={"last_score": stmt.excluded.last_score,
                  "last_tier": stmt.excluded.last_tier, "updated_at": stmt.excluded.updated_at})
        with write_tx(self.engine) as conn:
            conn.execute(stmt, [
                {"connection": connection, "record_id": r.record_id, "grp": r.group,
                 "score": r.score, "tier": r.tier, "model_version": r.model_version,
                 "first_scored_at": now, "last_score": r.score, "last_tier": r.tier,
                 "updated_at": now} for r in rows])

    def pilot_rows(self, connection: str) -> list[PilotRow]:
        """Every lead of the pilot, in record id order."""
        c = t.pilot_leads.c
        with self.engine.connect() as conn:
            rows = conn.execute(select(t.pilot_leads).where(c.connection == connection)
                                .order_by(c.record_id))
            return [PilotRow(r.record_id, r.grp, r.score, r.tier, r.model_version,
                             r.first_scored_at, r.released_at) for r in rows]

    def held_back(self, connection: str, ids: Iterable[str]) -> set[str]:
        """Those of ``ids`` recorded as control leads whose scores were never written."""
        c, found = t.pilot_leads.c, set()
        with self.engine.connect() as conn:
            for ids_in in matching(conn, c.record_id, list(ids)):
                found.update(conn.execute(select(c.record_id).where(
                    c.connection == connection, c.grp == "control", c.released_at.is_(None),
                    ids_in)).scalars())
        return found

    def unreleased_control(self, connection: str, *, limit: int | None = None) -> list[str]:
        """Control leads whose scores were never written, in record id order."""
        c = t.pilot_leads.c
        with self.engine.connect() as conn:
            return list(conn.execute(select(c.record_id).where(
                c.connection == connection, c.grp == "control", c.released_at.is_(None))
                .order_by(c.record_id).limit(limit)).scalars())

    def mark_released(self, connection: str, ids: Sequence[str]) -> None:
        """Note that the scores of control leads ``ids`` have now been written."""
        c, now = t.pilot_leads.c, self.clock()
        with write_tx(self.engine) as conn:
            for ids_in in matching(conn, c.record_id, list(ids)):
                conn.execute(update(t.pilot_leads).where(c.connection == connection, ids_in)
                             .values(released_at=now, updated_at=now))

    def group_sizes(self, connection: str) -> dict[str, int]:
        """``{"control": n, "scored": n, "released": n}`` (released: control leads written
        after the group was switched off, still counted as control)."""
        c = t.pilot_leads.c
        with self.engine.connect() as conn:
            rows = conn.execute(select(c.grp, func.count(), func.count(c.released_at))
                                .where(c.connection == connection).group_by(c.grp)).all()
        sizes = {"control": 0, "scored": 0, "released": 0}
        for group, count, released in rows:
            sizes[group] = count
            if group == "control":
                sizes["released"] = released
        return sizes

    # -- callback tasks --------------------------------------------------------------------------

    def entry_tokens(self, connection: str, ids: Iterable[str]) -> dict[str, str]:
        """Per record with a state: a token naming that state version (the run and moment it
        was recorded), which the next tier entry is keyed by."""
        c, found = t.records.c, {}
        with self.engine.connect() as conn:
            for ids_in in matching(conn, c.record_id, list(ids)):
                for row in conn.execute(select(c.record_id, c.run_id, c.updated_at).where(
                        c.connection == connection, ids_in)):
                    found[row.record_id] = f"{row.run_id}@{row.updated_at.isoformat()}"
        return found

    def stage_callbacks(self, connection: str, run_id: int, callbacks: Sequence[Callback]) -> None:
        """Stage ``callbacks``; an entry already staged (a rerun after a crash) is kept as is."""
        if not callbacks:
            return
        now = self.clock()
        stmt = self._insert(t.callback_tasks).on_conflict_do_nothing(
            index_elements=["connection", "record_id", "after"])
        with write_tx(self.engine) as conn:
            conn.execute(stmt, [
                {"connection": connection, "record_id": cb.record_id, "after": cb.after,
                 "ref": cb.ref, "tier": cb.tier, "previous_tier": cb.previous_tier,
                 "score": cb.score, "owner_id": cb.owner_id, "subject": cb.subject,
                 "due_at": cb.due_at, "status": "staged", "attempts": 0, "run_id": run_id,
                 "staged_at": now} for cb in callbacks])

    def callbacks(self, connection: str, *, statuses: Sequence[str] = OPEN,
                  ids: Iterable[str] | None = None, limit: int | None = None) -> list[Callback]:
        """Callbacks of ``connection`` in ``statuses`` (optionally of records ``ids``), oldest
        first."""
        c = t.callback_tasks.c
        query = select(t.callback_tasks).where(c.connection == connection,
                                                c.status.in_(list(statuses)))
        with self.engine.connect() as conn:
            if ids is None:
                rows = list(conn.execute(query.order_by(c.id).limit(limit)))
            else:
                rows = [r for ids_in in matching(conn, c.record_id, list(ids))
                        for r in conn.execute(query.where(ids_in))]
        return [_callback(r) for r in sorted(rows, key=lambda r: r.id)]

    def mark_sending(self, ids: Sequence[int]) -> None:
        """Before the CRM call: from now on the task may exist, so look before re-creating."""
        c = t.callback_tasks.c
        with write_tx(self.engine) as conn:
            for ids_in in matching(conn, c.id, list(ids)):
                conn.execute(update(t.callback_tasks).where(ids_in)
                             .values(status="sending", attempts=c.attempts + 1))

    def settle(self, outcomes: Sequence[tuple[int, str, dict[str, Any]]]) -> None:
        """Record ``(callback id, status, values)`` outcomes: created (``task_id``), failed
        (``code``, ``reason``), dropped, or back to staged."""
        now = self.clock()
        with write_tx(self.engine) as conn:
            for callback_id, status, values in outcomes:
                done = {"done_at": now} if status in ("created", "failed", "dropped") else {}
                conn.execute(update(t.callback_tasks).where(t.callback_tasks.c.id == callback_id)
                             .values(status=status, **values, **done))

    def callback_counts(self, connection: str) -> dict[str, int]:
        """How many callbacks are in each status."""
        c = t.callback_tasks.c
        with self.engine.connect() as conn:
            rows = conn.execute(select(c.status, func.count()).where(c.connection == connection)
                                .group_by(c.status))
            return {status: count for status, count in rows}

    # -- webhook outbox --------------------------------------------------------------------------

    def enqueue_webhooks(self, connection: str, items: Sequence[tuple[int, dict]]) -> None:
        """Queue one delivery per created callback ``(callback id, payload)``; once only."""
        if not items:
            return
        now = self.clock()
        stmt = self._insert(t.webhook_outbox).on_conflict_do_nothing(
            index_elements=["callback_id"])
        with write_tx(self.engine) as conn:
            conn.execute(stmt, [{"callback_id": cid, "connection": connection, "payload": payload,
                                 "status": "pending", "attempts": 0, "next_at": now,
                                 "created_at": now} for cid, payload in items])

    def due_webhooks(self, connection: str, now: datetime) -> list[tuple[int, dict, int]]:
        """Pending deliveries due by ``now``: ``(callback id, payload, attempts so far)``."""
        c = t.webhook_outbox.c
        with self.engine.connect() as conn:
            rows = conn.execute(select(c.callback_id, c.payload, c.attempts).where(
                c.connection == connection, c.status == "pending", c.next_at <= now)
                .order_by(c.callback_id))
            return [(r.callback_id, dict(r.payload), r.attempts) for r in rows]

    def webhook_attempted(self, callback_id: int, *, status: str, error: str | None,
                          next_at: datetime) -> None:
        """Record one delivery attempt: ``sent``, ``pending`` (retry at ``next_at``) or
        ``dead``."""
        now = self.clock()
        c = t.webhook_outbox.c
        with write_tx(self.engine) as conn:
            conn.execute(update(t.webhook_outbox).where(c.callback_id == callback_id).values(
                status=status, attempts=c.attempts + 1, last_error=error, next_at=next_at,
                sent_at=now if status == "sent" else None))

    def webhook_counts(self, connection: str) -> dict[str, int]:
        """Deliveries per status (``pending``, ``sent``, ``dead``: the dead letters)."""
        c = t.webhook_outbox.c
        with self.engine.connect() as conn:
            rows = conn.execute(select(c.status, func.count()).where(c.connection == connection)
                                .group_by(c.status))
            counts = {"pending": 0, "sent": 0, "dead": 0}
            counts.update({status: count for status, count in rows})
            return counts


def _callback(row) -> Callback:
    return Callback(row.record_id, row.after, row.ref, row.tier, row.previous_tier, row.score,
                    row.owner_id, row.subject, row.due_at, row.status, row.id, row.attempts,
                    row.task_id, row.code, row.reason, row.staged_at)

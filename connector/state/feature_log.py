"""The feature log: an open lead's model inputs as they were each time it was scored.

A lead's fields change while the sales process runs; on the day it closes, some of them hold
what the process learned (a call's duration, a rep's rating), which a fresh lead never has.
Training on today's values therefore learns from answers it will not have when scoring. The sync
and the new-lead job log the mapped feature values of every open lead they score, the first
time and whenever they change, keyed by record and time; training then takes each closed lead's
inputs as they were when it was last scored while open (see
:mod:`connector.model.point_in_time`).

Bounds: only the mapping's feature fields are kept (never the CRM's other fields); entries older
than the retention (``training.retention_days`` of the mapping, default 400) are deleted, at
most once a day per process; :meth:`FeatureLog.forget` erases a record's entries (the erasure
command). Rows hold a JSON list of values in the order of a layout row (the field names), so a
row costs its values and its key only.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, delete, func, select

from connector.state import schema as t
from connector.state.bulk import matching, upsert_rows
from connector.state.schema import write_tx

PRUNE_EVERY = timedelta(days=1)
_ENCODER = json.JSONEncoder(separators=(",", ":"), default=str)  # one encoder for every row


def _naive(moment: datetime) -> datetime:
    """``moment`` as the naive UTC the ``scored_at`` column holds (aware input required)."""
    if moment.tzinfo is None:
        raise ValueError("feature log timestamps must be timezone-aware")
    return moment.astimezone(UTC).replace(tzinfo=None)


@dataclass(frozen=True)
class LoggedInputs:
    """One logged scoring of one lead: when, and its feature values then."""

    record_id: str
    scored_at: datetime
    values: dict[str, Any]


class FeatureLog:
    """The ``feature_log`` tables of one state store (``StateStore.feature_log``)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._layouts: dict[tuple[str, str], int] = {}
        self._pruned: dict[str, datetime] = {}

    def _layout(self, conn, key: tuple[str, str]) -> int:
        """The id of the layout ``key`` (connection, JSON field list), created if new."""
        if key in self._layouts:
            return self._layouts[key]
        connection, fields = key
        found = conn.execute(select(t.feature_log_layouts.c.id).where(
            t.feature_log_layouts.c.connection == connection,
            t.feature_log_layouts.c.fields == fields)).scalar()
        if found is None:
            found = conn.execute(t.feature_log_layouts.insert().values(
                connection=connection, fields=fields)).inserted_primary_key[0]
        return found

    def add(self, connection: str, fields: Sequence[str],
            scored: Iterable[tuple[str, dict[str, Any]]], at: datetime, *,
            retention_days: int) -> int:
        """Log ``fields`` of each ``(record_id, values)`` as scored at ``at``; returns the
        count. Entries older than ``retention_days`` go, at most once a day per process."""
        encode = _ENCODER.encode
        rows = [(record_id, encode([values.get(f) for f in fields]))
                for record_id, values in scored]
        if not rows:
            return 0
        stamp = _naive(at)
        key = (connection, json.dumps(list(fields)))
        with write_tx(self.engine) as conn:
            layout = self._layout(conn, key)
            upsert_rows(conn, t.feature_log,
                        {"connection": connection, "scored_at": stamp, "layout": layout},
                        ("record_id", "inputs"), rows,
                        key=("connection", "record_id", "scored_at"))
            last = self._pruned.get(connection)
            prune = last is None or at - last >= PRUNE_EVERY
            if prune:
                conn.execute(delete(t.feature_log).where(
                    t.feature_log.c.connection == connection,
                    t.feature_log.c.scored_at < stamp - timedelta(days=retention_days)))
        # Remembered once committed: a rollback forgets a new layout and an undone prune.
        self._layouts[key] = layout
        if prune:
            self._pruned[connection] = at
        return len(rows)

    def entries(self, connection: str, ids: Sequence[str] | None = None
                ) -> dict[str, list[LoggedInputs]]:
        """Record id -> its logged inputs, oldest first (every record when ``ids`` is None)."""
        log, layouts = t.feature_log, t.feature_log_layouts
        with self.engine.connect() as conn:
            names = {row.id: json.loads(row.fields) for row in conn.execute(
                select(layouts.c.id, layouts.c.fields).where(layouts.c.connection == connection))}
            query = select(log.c.record_id, log.c.scored_at, log.c.layout, log.c.inputs).where(
                log.c.connection == connection)
            batches = ([query] if ids is None else
                       [query.where(ids_in) for ids_in in matching(conn, log.c.record_id, ids)])
            found: dict[str, list[LoggedInputs]] = {}
            for batch in batches:
                for row in conn.execute(batch.order_by(log.c.record_id, log.c.scored_at)):
                    values = dict(zip(names[row.layout], json.loads(row.inputs)))
                    found.setdefault(row.record_id, []).append(
                        LoggedInputs(row.record_id, row.scored_at.replace(tzinfo=UTC),
                                     values))
        return found

    def count(self, connection: str) -> int:
        """How many entries the log holds for ``connection``."""
        with self.engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(t.feature_log).where(
                t.feature_log.c.connection == connection)).scalar_one()

    def forget(self, connection: str, record_ids: Sequence[str]) -> int:
        """Erase every entry of ``record_ids``; returns how many went."""
        gone = 0
        with write_tx(self.engine) as conn:
            for ids_in in matching(conn, t.feature_log.c.record_id, list(record_ids)):
                gone += conn.execute(delete(t.feature_log).where(
                    t.feature_log.c.connection == connection, ids_in)).rowcount
        return gone

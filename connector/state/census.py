"""Counts over the values the store last wrote: how many records hold each tier."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import select

from connector.state import schema as t


def written_counts(store, connection: str, field: str, model_version: str) -> dict[str, int]:
    """How many of ``connection``'s records hold each value of ``field`` as last written by
    ``model_version`` (records the sync skipped for that version, closed leads among them,
    do not count)."""
    query = select(t.records.c.written).where(t.records.c.connection == connection,
                                              t.records.c.model_version == model_version)
    counts: Counter[str] = Counter()
    with store.engine.connect() as conn:
        for (written,) in conn.execution_options(yield_per=5000).execute(query):
            value = (written or {}).get(field)
            if value is not None:
                counts[str(value)] += 1
    return dict(counts)

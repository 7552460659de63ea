"""The CRM's own field history: reading it, and rebuilding a record's values as of a moment.

Salesforce keeps ``LeadHistory`` rows for tracked fields (at most 20 per object; notes-2
section 1), read with SOQL; HubSpot returns ``propertiesWithHistory`` on reads, at most 50
records per batch (notes-2 section 6). Both become :class:`FieldChange` lists, oldest first, so
:func:`value_as_of` and the leak detectors need not know which CRM they came from.

An adapter offers ``field_history(ids, fields)`` (optional in the :class:`~connector.crm.base.CRM`
protocol); :func:`read_history` calls it when it exists.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from connector.records import parse_stamp

HISTORY_BATCH = 50
"""Records per HubSpot batch read with ``propertiesWithHistory``."""


@dataclass(frozen=True)
class FieldChange:
    """One change of one field of one record: the value before and after, and when."""

    field: str
    at: datetime
    old: Any
    new: Any


def value_as_of(today: Any, changes: Sequence[FieldChange], moment: datetime) -> Any:
    """The field's value just before ``moment``: a change at or after it is undone (the value
    before the first such change), else today's value stands."""
    for change in changes:
        if change.at >= moment:
            return change.old
    return today


def close_moment(changes: Sequence[FieldChange], outcome_fields: Sequence[str],
                 created: datetime | None) -> datetime | None:
    """When the lead reached its outcome: the last change of an outcome field after the
    record's creation (values written at creation, as HubSpot's history shows them, are no
    close), or None when the history shows no such change."""
    moments = [c.at for c in changes if c.field in outcome_fields
               and (created is None or c.at > created)]
    return max(moments) if moments else None


def salesforce_changes(rows: Iterable[dict], fields: set[str]) -> dict[str, list[FieldChange]]:
    """LeadHistory rows (``LeadId, Field, OldValue, NewValue, CreatedDate``; ordered by
    ``CreatedDate, Id``) -> record id -> changes of ``fields``."""
    found: dict[str, list[FieldChange]] = {}
    for row in rows:
        if row.get("Field") in fields:
            found.setdefault(row["LeadId"], []).append(FieldChange(
                row["Field"], parse_stamp(row["CreatedDate"]), row.get("OldValue"),
                row.get("NewValue")))
    return found


def hubspot_changes(history: dict[str, list[Any]] | None) -> list[FieldChange]:
    """``propertiesWithHistory`` of one record (entries newest first, each with ``value`` and
    ``timestamp``) -> its changes, oldest first; an empty value reads as None."""
    changes = []
    for name, entries in (history or {}).items():
        previous = None
        ordered = sorted(entries or [], key=lambda e: _timestamp(e))
        for entry in ordered:
            value = _value(entry) or None
            changes.append(FieldChange(name, _timestamp(entry), previous, value))
            previous = value
    return sorted(changes, key=lambda c: c.at)


def _value(entry: Any) -> Any:
    return entry.get("value") if isinstance(entry, dict) else entry.value


def _timestamp(entry: Any) -> datetime:
    raw = entry.get("timestamp") if isinstance(entry, dict) else entry.timestamp
    return raw if isinstance(raw, datetime) else parse_stamp(raw)


def read_history(crm: Any, ids: Sequence[str], fields: Sequence[str]
                 ) -> dict[str, list[FieldChange]] | None:
    """Record id -> changes of ``fields`` (oldest first) for ``ids``, or None when the adapter
    cannot read field history."""
    reader = getattr(crm, "field_history", None)
    if reader is None or not ids or not fields:
        return None if reader is None else {}
    return reader(ids, fields)

"""Point-in-time training inputs: each closed lead's fields as they were while it was open.

A closed lead's fields today may hold what the sales process learned (a call's length, a rep's
rating) - answers a fresh lead never has. So training takes, for each closed lead, in order:

1. ``logged``: its inputs from the feature log (:mod:`connector.state.feature_log`), the last
   time it was scored while open (or its first scoring, with the mapping's
   ``training.decision_point: first_scored``);
2. ``history``: for a lead that closed before the log existed, its values rebuilt from the CRM's
   field history as they were just before its outcome was set (changes at or after the close
   are undone; fields the CRM does not track keep today's value);
3. ``today``: today's values, only for a lead seen by neither.

The model card counts each kind. The outcome and the time field always come from today's values.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from connector.crm.history import FieldChange, close_moment, value_as_of
from connector.mapping import Mapping, canonical
from connector.model.features import parse_time
from connector.model.leaks import Leak
from connector.state.feature_log import LoggedInputs

KINDS = ("logged", "history", "today")


@dataclass
class PointInTime:
    """Closed leads' training records (point in time) beside their values today, aligned."""

    ids: list[str]
    records: list[dict[str, Any]]
    today: list[dict[str, Any]]
    kinds: list[str]
    decision_point: str = "last_open"
    history_note: str | None = None  # why no CRM history was used, when none was
    changed: dict[str, int] = field(default_factory=dict)  # field -> leads whose value differs
    leaks: list[Leak] = field(default_factory=list)  # found before training (gaps, history)
    open_since: float | None = None  # creation (epoch seconds) of the oldest open lead

    def counts(self) -> dict[str, int]:
        """How many closed leads train with each kind of input."""
        return {kind: self.kinds.count(kind) for kind in KINDS}

    def today_of(self) -> dict[int, dict[str, Any]]:
        """Today's values by the identity of each training record (train_model reorders)."""
        return {id(record): today for record, today in zip(self.records, self.today)}

    def card(self) -> dict:
        """The model card's ``inputs`` section."""
        card = {"decision_point": self.decision_point, **self.counts(),
                "fields_differing_from_today": dict(sorted(self.changed.items(),
                                                           key=lambda kv: -kv[1]))}
        if self.history_note:
            card["history_note"] = self.history_note
        return card


def created_at(values: dict[str, Any], time_field: str) -> datetime | None:
    """The record's creation time from its time field, or None when unreadable."""
    epoch = parse_time(values.get(time_field))
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC)


def rebuild(today: dict[str, Any], changes: Sequence[FieldChange], fields: Sequence[str],
            moment: datetime) -> dict[str, Any]:
    """``today`` with each of ``fields`` as it was just before ``moment``."""
    rebuilt = dict(today)
    for name in fields:
        own = [c for c in changes if c.field == name]
        if own:
            rebuilt[name] = value_as_of(today.get(name), own, moment)
    return rebuilt


def assemble(closed: Sequence[tuple[str, dict[str, Any]]], mapping: Mapping,
             logged: dict[str, list[LoggedInputs]],
             history: dict[str, list[FieldChange]] | None,
             history_note: str | None = None) -> PointInTime:
    """The point-in-time records of the ``closed`` leads ``(id, today's values)``."""
    features = list(dict.fromkeys(f.field for f in mapping.features))
    outcome_fields = mapping.outcome.fields()
    last = mapping.training.decision_point == "last_open"
    result = PointInTime([], [], [], [], mapping.training.decision_point, history_note)
    for record_id, today in closed:
        entries = logged.get(record_id)
        changes = (history or {}).get(record_id) or []
        moment = close_moment(changes, outcome_fields, created_at(today, mapping.time_field))
        if entries:
            chosen = entries[-1] if last else entries[0]
            values = {**today, **{k: v for k, v in chosen.values.items() if k in features}}
            kind = "logged"
        elif moment is not None:
            values, kind = rebuild(today, changes, features, moment), "history"
        else:
            values, kind = dict(today), "today"
        for name in features:
            if canonical(values.get(name)) != canonical(today.get(name)):
                result.changed[name] = result.changed.get(name, 0) + 1
        result.ids.append(record_id)
        result.records.append(values)
        result.today.append(today)
        result.kinds.append(kind)
    return result

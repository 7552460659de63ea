"""What the state store takes in and hands out: plain values holding record ids, hashes,
scores and counts (never names, emails or other personal data)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class RecordState:
    """What the store remembers about one record after its last successful sync."""

    record_id: str
    fingerprint: str
    model_version: str
    written: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Change:
    """One output field of one record going from ``old`` to ``new`` (values safe to store)."""

    record_id: str
    field: str
    old: Any
    new: Any

    @property
    def key(self) -> tuple[str, str]:
        """``(record_id, field)``: at most one pending change per key."""
        return (self.record_id, self.field)


@dataclass(frozen=True)
class Failure:
    """A record the last attempt could not finish; it is retried on the next run."""

    record_id: str
    reason: str
    code: str | None = None
    stamp: datetime | None = None
    attempts: int = 1
    last_at: datetime | None = None


@dataclass
class RunCounts:
    """Counts of one run (or one page of it)."""

    pulled: int = 0
    scored: int = 0
    written: int = 0
    unchanged: int = 0
    failed: int = 0

    def __add__(self, other: RunCounts) -> RunCounts:
        return RunCounts(**{name: getattr(self, name) + getattr(other, name)
                            for name in self.__dataclass_fields__})

    def as_dict(self) -> dict[str, int]:
        """The counts as a plain dict (for logs and JSON)."""
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


@dataclass(frozen=True)
class RunInfo:
    """One row of run history."""

    id: int
    connection: str
    kind: str
    dry_run: bool
    started_at: datetime
    ended_at: datetime | None
    outcome: str
    counts: RunCounts
    api_calls: int
    model_version: str | None
    message: str | None
    daily_used: int | None = None
    daily_max: int | None = None


@dataclass(frozen=True)
class AuditEntry:
    """One field value changed in the CRM, by which run, when."""

    record_id: str
    field: str
    old: Any
    new: Any
    run_id: int
    at: datetime


@dataclass(frozen=True)
class PageRecord:
    """Everything one page changed, recorded atomically by :meth:`StateStore.record_page`.

    ``confirmed`` are the staged changes now known to be in the CRM (they become audit rows);
    any other staged change of a record in ``states``, ``failures`` or ``seen`` (the page's
    other record ids) did not land and is dropped. ``ended`` are failures that will never be
    retried (the record closed, or the CRM gave a final answer): their rows go. ``cursor`` is
    ``(stream, value)`` to advance to, ``api_calls`` the run's total so far.
    """

    states: Sequence[RecordState] = ()
    seen: Sequence[str] = ()
    confirmed: Sequence[tuple[str, str]] = ()
    failures: Sequence[Failure] = ()
    ended: Sequence[str] = ()
    counts: RunCounts = field(default_factory=RunCounts)
    cursor: tuple[str, str] | None = None
    api_calls: int | None = None

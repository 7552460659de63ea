"""Durations and moments as an admin reads them: ``3 min``, ``16 years``, and times to the
second in the connection's configured time zone (``2026-12-06 09:15:04 CET``)."""

from __future__ import annotations

from datetime import datetime

from connector.cron import time_zone

_DAY = 86_400.0
# (below this many seconds, unit length in seconds, unit name)
_UNITS = ((90, 1, "s"), (90 * 60, 60, "min"), (48 * 3600, 3600, "h"),
          (60 * _DAY, _DAY, "day"), (730 * _DAY, 30.44 * _DAY, "month"),
          (float("inf"), 365.25 * _DAY, "year"))
IMPORTED_AFTER_S = 30 * _DAY
"""A cursor whose newest change was older than this when a sync recorded it is not lagging:
the CRM's newest record is that old (history imported, or a CRM nobody touches)."""


def whole_units(seconds: float) -> str:
    """``seconds`` in the largest unit that keeps a readable number: ``45 s``, ``3 min``,
    ``5 h``, ``12 days``, ``4 months``, ``16 years`` (whole units, rounded): how long ago or
    how far behind, at a glance. Amounts a rep reads exactly in a reason ("3 min 20 s") are
    :func:`connector.model.numbers.duration`'s."""
    for below, size, unit in _UNITS:
        if abs(seconds) < below:
            count = round(seconds / size)
            plural = "" if abs(count) == 1 or unit in ("s", "min", "h") else "s"
            return f"{count:,} {unit}{plural}"
    raise AssertionError("the last unit has no upper bound")


def local_time(moment: str | datetime | None, zone: str) -> str:
    """An ISO time (or datetime) to the second in the time zone ``zone``, with its
    abbreviation; ``-`` for none."""
    if moment is None:
        return "-"
    value = datetime.fromisoformat(moment) if isinstance(moment, str) else moment
    return value.astimezone(time_zone(zone)).strftime("%Y-%m-%d %H:%M:%S %Z")


def cursor_lag(lag_s: float, stamp: str | None, recorded_at: str | None, now: datetime) -> str:
    """The cursor lag line: how far the newest change seen is behind now, and when that was
    looked at; an old stamp that was already old when recorded reads as imported history."""
    text = whole_units(lag_s)
    if stamp and recorded_at:
        seen = datetime.fromisoformat(recorded_at)
        if (seen - datetime.fromisoformat(stamp)).total_seconds() > IMPORTED_AFTER_S:
            text += " (history imported)"
        text += f", synced {whole_units((now - seen).total_seconds())} ago"
    return text

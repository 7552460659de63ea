"""Numbers as people read them, for reasons, the card and the report.

No scientific notation, integers as integers with thousands separators, fractions to a few
significant digits, and the mapping's ``format`` (``percent``: a share shown as a percentage;
``duration_s`` / ``duration_min``: an amount of time) or ``unit`` ("12 km"). Pure functions.
"""

from __future__ import annotations

import math

_SECONDS = {"duration_s": 1, "duration_min": 60}
_PARTS = (("d", 86400), ("h", 3600), ("min", 60), ("s", 1))


def plain_number(value: float) -> str:
    """``1,234`` for whole numbers; ``12.3``, ``1.25``, ``0.047`` (two or three significant
    digits) otherwise; ``1,235`` from 100 up. Never ``1.2e+04``."""
    if not math.isfinite(value):
        return "not set"
    magnitude = abs(value)
    if float(value).is_integer() or magnitude >= 100:
        return f"{round(value):,}"
    if magnitude >= 10:
        decimals = 1
    elif magnitude >= 1:
        decimals = 2
    else:
        decimals = min(-math.floor(math.log10(magnitude)) + 1, 12) if magnitude else 0
    text = f"{value:,.{decimals}f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def duration(seconds: float) -> str:
    """``45 s``, ``3 min 20 s``, ``2 h 5 min``, ``3 d 4 h``: the largest unit and the next
    one, rounded to the next one."""
    if not math.isfinite(seconds):
        return "not set"
    sign, magnitude = ("-" if seconds < 0 else ""), abs(seconds)
    if magnitude < 59.5:
        return f"{sign}{plain_number(round(magnitude) if magnitude >= 1 else magnitude)} s"
    for (big, size), (small, step) in zip(_PARTS, _PARTS[1:]):
        if magnitude >= size - step / 2:
            total = round(magnitude / step)
            whole, rest = divmod(total, size // step)
            return sign + f"{whole} {big}" + (f" {rest} {small}" if rest else "")
    raise AssertionError("unreachable: 59.5 s and up always matches minutes")


def formatted(value: float, fmt: str | None = None, unit: str | None = None) -> str:
    """``value`` in the mapping's ``format`` (percent, duration_s, duration_min) or with its
    ``unit``."""
    if fmt == "percent":
        return f"{plain_number(value * 100)}%"
    if fmt in _SECONDS:
        return duration(value * _SECONDS[fmt])
    text = plain_number(value)
    return f"{text} {unit}" if unit else text

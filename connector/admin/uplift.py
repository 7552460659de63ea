"""Does scoring change anything? Conversion of scored vs control leads, with honest intervals.

Pure functions, no I/O:

* :func:`wilson` - the Wilson score interval of one conversion rate (good at small counts and
  near 0 or 1, where the plain ``p +- 1.96 SE`` is not).
* :func:`newcombe` - Newcombe's hybrid score interval (his method 10, 1998) of the difference of
  two rates, built from the two Wilson intervals.
* :func:`closed_needed` - about how many closed leads a pilot needs before a difference of a
  given size can be told from zero at 95%, for the pilot's control share.
* :func:`uplift_rows` - overall and per would-be tier (the tier a lead had at its first scoring,
  before any rep acted on it, so the reps' actions cannot move a lead between rows).
* :func:`headline` - the one plain sentence at the top of the report.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from connector.model.metrics import roc_auc

Z95 = 1.959963984540054
MIN_EFFECT = 0.02  # below 2 points, "need N more" is asked for a 5-point difference instead
TARGET_EFFECT = 0.05


def wilson(successes: int, n: int, z: float = Z95) -> tuple[float, float, float]:
    """``(rate, low, high)``: the Wilson score interval of ``successes`` out of ``n``
    (``(nan, 0, 1)`` when ``n`` is 0)."""
    if n <= 0:
        return math.nan, 0.0, 1.0
    p = successes / n
    z2 = z * z
    denominator = 1 + z2 / n
    center = (p + z2 / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denominator
    return p, max(0.0, center - half), min(1.0, center + half)


def newcombe(x1: int, n1: int, x2: int, n2: int, z: float = Z95
             ) -> tuple[float, float, float]:
    """``(difference, low, high)`` of rate 1 minus rate 2: Newcombe's hybrid score interval."""
    p1, l1, u1 = wilson(x1, n1, z)
    p2, l2, u2 = wilson(x2, n2, z)
    if n1 <= 0 or n2 <= 0:
        return math.nan, -1.0, 1.0
    d = p1 - p2
    return (d, d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2),
            d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2))


def closed_needed(p_scored: float, p_control: float, control_share: float,
                  effect: float, z: float = Z95) -> int:
    """Closed leads (both groups together) a pilot with ``control_share`` needs so that a
    difference of ``effect`` between the rates is about ``z`` standard errors from zero."""
    share = min(max(control_share, 0.01), 0.99)
    variance = (p_scored * (1 - p_scored) / (1 - share)
                + p_control * (1 - p_control) / share)
    return math.ceil(z * z * max(variance, 1e-6) / (effect * effect))


@dataclass(frozen=True)
class Lead:
    """One pilot lead as the report sees it: group, would-be tier, first score, and outcome
    (None while open); ``days`` from first scoring to conversion where the CRM records it."""

    group: str  # "control" or "scored"
    tier: str | None
    score: int | None
    outcome: bool | None
    days: float | None = None


@dataclass(frozen=True)
class UpliftRow:
    """Conversion of closed scored vs control leads in one would-be tier (or ``All``)."""

    tier: str
    scored: tuple[int, int]  # (converted, closed)
    control: tuple[int, int]
    open_scored: int
    open_control: int

    @property
    def scored_rate(self) -> tuple[float, float, float]:
        """Wilson ``(rate, low, high)`` of the scored leads."""
        return wilson(*self.scored)

    @property
    def control_rate(self) -> tuple[float, float, float]:
        """Wilson ``(rate, low, high)`` of the control leads."""
        return wilson(*self.control)

    @property
    def difference(self) -> tuple[float, float, float]:
        """Newcombe ``(difference, low, high)``, scored minus control."""
        return newcombe(*self.scored, *self.control)

    @property
    def measurable(self) -> bool:
        """Whether the 95% interval of the difference excludes zero."""
        _, low, high = self.difference
        return low > 0 or high < 0


def uplift_rows(leads: Iterable[Lead], tiers: Sequence[str]) -> list[UpliftRow]:
    """``All`` first, then one row per tier of ``tiers`` (in that order)."""
    counts: dict[str, dict[str, list[int]]] = {}
    for lead in leads:
        for key in ("All", lead.tier or "?"):
            group = counts.setdefault(key, {"scored": [0, 0, 0], "control": [0, 0, 0]})
            tally = group["control" if lead.group == "control" else "scored"]
            if lead.outcome is None:
                tally[2] += 1
            else:
                tally[0] += int(lead.outcome)
                tally[1] += 1
    rows = []
    for key in ("All", *tiers):
        group = counts.get(key, {"scored": [0, 0, 0], "control": [0, 0, 0]})
        s, c = group["scored"], group["control"]
        rows.append(UpliftRow(key, (s[0], s[1]), (c[0], c[1]), s[2], c[2]))
    return rows


def _pct(rate: float) -> str:
    return f"{100 * rate:.0f}%"


def _pm(rate: tuple[float, float, float]) -> str:
    p, low, high = rate
    return f"±{100 * max(p - low, high - p):.0f}"


def _points(value: float) -> str:
    return f"{100 * value:+.0f} points"


def headline(row: UpliftRow, control_share: float) -> str:
    """The report's first sentence for ``row`` (the tier that gets callbacks, or All)."""
    who = "Leads" if row.tier == "All" else f"{row.tier} leads"
    if row.scored[1] == 0 or row.control[1] == 0:
        return (f"{who}: no closed leads in both groups yet ({row.scored[1]:,} scored, "
                f"{row.control[1]:,} control), so no comparison yet.")
    scored, control = row.scored_rate, row.control_rate
    d, low, high = row.difference
    again = "leads" if row.tier == "All" else who  # a tier's name keeps its capital
    start = (f"{who} reps saw converted {_pct(scored[0])} ({_pm(scored)}), {again} they "
             f"did not {_pct(control[0])} ({_pm(control)})")
    if row.measurable:
        return (f"{start}: {_points(d)} (95% interval {100 * low:+.0f} to "
                f"{100 * high:+.0f}).")
    effect = abs(d) if abs(d) >= MIN_EFFECT else TARGET_EFFECT
    needed = closed_needed(scored[0], control[0], control_share, effect)
    more = needed - row.scored[1] - row.control[1]
    if more <= 0:  # enough leads already: the interval itself is the answer
        return (f"{start}: no measurable difference (95% interval {100 * low:+.0f} to "
                f"{100 * high:+.0f} points).")
    return (f"{start}: no measurable difference yet (need about {more:,} more closed leads "
            f"to tell {_points(effect).replace('+', '')} from zero).")


def median_days(leads: Iterable[Lead], group: str) -> float | None:
    """Median days from first scoring to conversion of ``group``'s converted leads."""
    days = sorted(lead.days for lead in leads if lead.group == group and lead.outcome
                  and lead.days is not None)
    if not days:
        return None
    middle = len(days) // 2
    return days[middle] if len(days) % 2 else (days[middle - 1] + days[middle]) / 2


def ranking_auc(leads: Iterable[Lead], group: str) -> tuple[float | None, int]:
    """ROC AUC of the first scores against outcomes within ``group`` (ties count half), and
    how many closed leads it rests on; None without both outcomes."""
    closed = [(lead.score, lead.outcome) for lead in leads
              if lead.group == group and lead.outcome is not None and lead.score is not None]
    auc = roc_auc([bool(y) for _, y in closed], [s for s, _ in closed]) if closed else math.nan
    return (None if math.isnan(auc) else auc), len(closed)

"""Leak detectors named by field: signs that a field is filled during the sales process.

A field filled while the lead is worked (a call's length, a rating, a rep's tag) carries the
answer on closed leads and is empty or different on fresh ones; a model trained on it validates
beautifully and scores fresh leads badly. Each detector names the field, says what it saw in
numbers and what to do:

* :func:`closed_open_gaps` - filled on far more closed leads than open ones ("filled on 95% of
  closed leads, 3% of open ones"), or filled on both with clearly different values; compared
  with closed leads from the open leads' own period when there are enough of them, so drift
  over time is not mistaken for a leak;
* :func:`set_after_outcome` - the CRM's field history shows the value set at or after the
  outcome for most closed leads;
* the near-perfect single-field ranking lives in :func:`connector.model.train.leakage_warnings`;
* :func:`validation_gap` - validation on today's values beats validation on point-in-time
  values, and these fields differ between the two.

A legitimately sparse field (filled on 10% of closed and of open leads) is not a leak: only a
gap between closed and open leads counts, never sparseness itself.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from connector.crm.history import FieldChange, close_moment
from connector.mapping import canonical, to_number
from connector.model.features import parse_time

FILL_GAP = 0.30         # closed fill rate minus open fill rate, at least ...
FILL_RATIO = 3.0        # ... and the closed rate this many times the open one
VALUE_PSI = 0.25        # population stability index between closed and open values
MIN_SIDE = 50           # closed and open leads needed to compare fill rates
MIN_SAME_PERIOD = 100   # closed leads from the open leads' period to compare against them only
MIN_VALUES = 200        # filled values on each side to compare value distributions
AFTER_SHARE = 0.5       # share of closed leads whose history shows the value set at the close
MIN_HISTORY = 20        # closed leads with history needed to judge a field
VALIDATION_GAP = 0.02   # ROC AUC on today's values above the point-in-time one


@dataclass(frozen=True)
class Leak:
    """One field that looks filled during the sales process, with the evidence."""

    field: str
    detector: str  # fill_gap, value_gap, after_outcome, validation_gap
    seen: str
    advice: str

    def line(self) -> str:
        """The warning as one line: ``likely leakage: FIELD ...; what to do``."""
        return f"likely leakage: {self.field} {self.seen}; {self.advice}"


def _filled(value: Any) -> bool:
    return canonical(value) is not None


def _psi(closed: list[Any], opened: list[Any]) -> float:
    """Population stability index of two samples of one field (numbers in 10 quantile bins)."""
    numbers = [to_number(v) for v in closed + opened]
    if all(n is not None for n in numbers):
        ordered = sorted(numbers)
        edges = sorted({ordered[len(ordered) * i // 10] for i in range(1, 10)})

        def key(value):
            number = to_number(value)
            return sum(number >= edge for edge in edges)
    else:
        def key(value):
            return canonical(value)
    a, b = Counter(map(key, closed)), Counter(map(key, opened))
    total = 0.0
    for level in set(a) | set(b):
        p = max(a[level] / len(closed), 1e-4)
        q = max(b[level] / len(opened), 1e-4)
        total += (p - q) * math.log(p / q)
    return total


def closed_open_gaps(records: Sequence[dict], fields: Sequence[str],
                     outcome_of: Callable[[dict], bool | None], time_field: str) -> list[Leak]:
    """Fields filled far more often on closed leads than on open ones, or (with enough closed
    leads from the open leads' period) filled with clearly different values."""
    closed = [r for r in records if outcome_of(r) is not None]
    opened = [r for r in records if outcome_of(r) is None]
    if len(closed) < MIN_SIDE or len(opened) < MIN_SIDE:
        return []
    oldest_open = min((t for r in opened if (t := parse_time(r.get(time_field))) is not None),
                      default=None)
    same = [r for r in closed if oldest_open is not None
            and (t := parse_time(r.get(time_field))) is not None and t >= oldest_open]
    period = "closed leads created since the oldest open one" if len(same) >= MIN_SAME_PERIOD \
        else "closed leads"
    compared = same if len(same) >= MIN_SAME_PERIOD else closed
    found = []
    for name in fields:
        fill_closed = sum(_filled(r.get(name)) for r in compared) / len(compared)
        fill_open = sum(_filled(r.get(name)) for r in opened) / len(opened)
        if fill_closed - fill_open >= FILL_GAP and fill_closed >= FILL_RATIO * fill_open:
            found.append(Leak(name, "fill_gap", (
                f"is filled on {fill_closed:.0%} of {len(compared):,} {period} but {fill_open:.0%}"
                f" of {len(opened):,} open ones"), "it is probably filled while the lead is "
                "worked, so a fresh lead never has it: leave it out of the features unless it is "
                "known before the first contact"))
            continue
        if len(same) < MIN_SAME_PERIOD:
            continue  # values drift over time: compare only leads of the same period
        a = [r.get(name) for r in same if _filled(r.get(name))]
        b = [r.get(name) for r in opened if _filled(r.get(name))]
        if len(a) >= MIN_VALUES and len(b) >= MIN_VALUES and (psi := _psi(a, b)) >= VALUE_PSI:
            found.append(Leak(name, "value_gap", (
                f"has different values on {len(a):,} closed leads than on {len(b):,} open ones "
                f"of the same period (PSI {psi:.2f})"), "it probably changes while the lead is "
                "worked: leave it out unless its value is final before the first contact"))
    return found


def set_after_outcome(today: dict[str, dict], history: dict[str, list[FieldChange]],
                      fields: Sequence[str], outcome_fields: Sequence[str],
                      time_field: str) -> list[Leak]:
    """Fields that the history shows set at or after the outcome on most closed leads
    (``today``: closed lead id -> values today; the close is an outcome field's change after
    the creation the time field gives)."""
    moments: dict[str, datetime] = {}
    for record_id, changes in history.items():
        if record_id not in today:
            continue
        epoch = parse_time(today[record_id].get(time_field))
        created = None if epoch is None else datetime.fromtimestamp(epoch, UTC)
        moment = close_moment(changes, outcome_fields, created)
        if moment is not None:
            moments[record_id] = moment
    found = []
    for name in fields:
        judged = [i for i in moments if _filled(today[i].get(name))]
        if len(judged) < MIN_HISTORY:
            continue
        late = sum(any(c.field == name and c.at >= moments[i] for c in history[i])
                   for i in judged)
        if late / len(judged) >= AFTER_SHARE:
            found.append(Leak(name, "after_outcome", (
                f"was set at or after the outcome on {late / len(judged):.0%} of {len(judged):,} "
                "closed leads whose history shows both"), "it records what happened, not what "
                "was known before: remove it from the features"))
    return found


def validation_gap(auc_today: float, auc_point_in_time: float,
                   responsible: Sequence[tuple[str, str]]) -> list[Leak]:
    """The validation gap, as one leak per field responsible (``(field, evidence)``)."""
    if auc_today - auc_point_in_time < VALIDATION_GAP:
        return []
    return [Leak(name, "validation_gap", (
        f"makes validation on today's values read ROC AUC {auc_today:.3f} where the inputs "
        f"as they were while the leads were open read {auc_point_in_time:.3f} ({evidence})"),
        "today's figure counts answers an open lead does not have: trust the point-in-time "
        "figures and remove the field") for name, evidence
        in responsible]

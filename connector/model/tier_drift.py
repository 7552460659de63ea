"""Tier drift: is a tier's share of today's leads far from the share it was cut to hold?

Tiers are cut at training time on the history's scores (``top_share`` tiers: Hot = the best
10 % of past leads). Later the same cuts can hold a very different share of today's open leads:
with ``scale: probability`` a better lead mix (or a model whose newest history converted more)
fills Hot well past 10 %. That may be true news, but reps routing "the top 10 %" get 45 %.

"Far" (:func:`tier_drift`) needs both, so that neither noise nor a trivial gap raises it:

* **large**: today's share is at least 1.5 times the intended share, or at most half of it
  (:data:`RATIO`); 10 % -> 15 % or 5 % is the smallest gap that changes a rep's week;
* **not chance**: the count lies more than :data:`SIGMAS` binomial standard deviations from
  what the intended share predicts (``|k - n p| > 3 sqrt(n p (1 - p))``), so a handful of open
  leads never raises it; below :data:`MIN_LEADS` leads nothing is judged.

All functions here are pure.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from connector.model.scoring import to_scores, to_tiers

RATIO = 1.5
SIGMAS = 3.0
MIN_LEADS = 30


@dataclass(frozen=True)
class TierDrift:
    """One tier whose share of today's leads is far from its intended share."""

    tier: str
    intended: float  # share of the training history in the tier (0-1)
    current: float  # share of today's leads in the tier (0-1)
    leads: int  # today's leads in the tier
    total: int  # today's leads in all tiers
    upper: bool  # one of the better half of the tiers (Hot, Warm of four)

    @property
    def larger(self) -> bool:
        """True when the tier holds more than intended."""
        return self.current > self.intended


def intended_shares(reference: Sequence[float], scale: str,
                    cuts: Sequence[tuple[str, int]]) -> dict[str, float]:
    """Each tier's share of the training history, read from the model's 101 reference
    quantiles of the history's probabilities (linear between quantiles: about 0.1 % exact)."""
    grid = np.linspace(0.0, 1.0, len(reference))
    history = np.interp(np.linspace(0.0, 1.0, 1001), grid, np.asarray(reference, dtype=float))
    tiers = to_tiers(to_scores(history, scale, reference), cuts)
    return {name: tiers.count(name) / len(tiers) for name, _ in cuts}


def is_far(intended: float, leads: int, total: int) -> bool:
    """Whether ``leads`` of ``total`` is far from a share of ``intended`` (module docstring)."""
    if total < MIN_LEADS or intended <= 0.0 or intended >= 1.0:
        return False
    expected = total * intended
    large = leads >= RATIO * expected - 1e-9 or leads <= expected / 2 + 1e-9
    spread = math.sqrt(total * intended * (1.0 - intended))
    return large and abs(leads - expected) > SIGMAS * spread


def tier_drift(intended: Mapping[str, float], counts: Mapping[str, int]) -> list[TierDrift]:
    """The tiers (in ``intended``'s order) whose share of ``counts`` is far from intended."""
    total = sum(counts.get(name, 0) for name in intended)
    return [TierDrift(name, share, counts.get(name, 0) / total, counts.get(name, 0), total,
                      upper=index < len(intended) / 2)
            for index, (name, share) in enumerate(intended.items())
            if total and is_far(share, counts.get(name, 0), total)]


def explain(drift: TierDrift, scale: str, whose: str = "today's open leads") -> str:
    """One line: what is off, the likely cause, and the choices."""
    what = (f"tier {drift.tier} holds {drift.current:.0%} of {whose} ({drift.leads:,} of "
            f"{drift.total:,}) but was cut to hold {drift.intended:.0%} of past leads")
    if scale == "percentile":
        cause = ("today's leads rank differently against past leads than the history did "
                 "(the lead mix changed)")
        choices = "retrain (`leadscore train`) so the reference reflects recent leads"
    else:
        direction = "better" if drift.larger == drift.upper else "worse"
        cause = (f"today's leads score {direction} than the history the cuts were set on: the "
                 "lead mix changed, or the newest history converts at another rate")
        choices = ("retrain (`leadscore train`) to set the cuts on recent history, or use "
                   "`scale: percentile` in the mapping's scoring to keep tier sizes fixed; keep "
                   "it if the bar should stay where it is")
    return f"{what}; likely cause: {cause}; choices: {choices}"

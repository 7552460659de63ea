"""The tournament: fit every candidate on the older history, rank on the newest closed leads,
and weigh each candidate's scoring cost against the connection's real volume.

Cost is weighed, not capped: each candidate's exact contributions (the reasons) are timed on
this machine, per lead, and multiplied by the leads a sync interval brings and by the whole org
(a full rescan, after a retrain or a mapping change). A candidate is excluded only when a full
rescan would not fit the budget (the mapping's ``training.rescan_minutes``); the card lists
every exclusion with its figure. A small org can afford a deep forest that a large one cannot.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from connector.model import metrics
from connector.model.candidates import Candidate
from connector.model.features import FeatureMatrix
from connector.model.numbers import duration

NEAR_TIE = 0.005  # holdout ROC AUC; inside this the simpler (earlier) candidate always wins
COST_SAMPLE = 1000  # rows timed per candidate


@dataclass(frozen=True)
class Volume:
    """How many leads the connection scores: the whole org on a full rescan, and (when the
    state store knows it) the most leads one sync interval has brought lately."""

    org_leads: int | None = None  # None: the records handed to training (the whole org)
    changed_per_sync: int | None = None
    sync_minutes: int | None = None


def recency_weights(n: int, half_life: float | None) -> np.ndarray | None:
    """Weights halving every ``half_life`` share of the (time-ordered) rows back from the newest."""
    if not half_life or n == 0:
        return None
    age = (n - 1 - np.arange(n)) / n
    return 0.5 ** (age / half_life)


def fit_candidate(candidate: Candidate, matrix: FeatureMatrix, y: np.ndarray,
                  early_stop: bool) -> Candidate:
    """Fit on time-ordered rows; boosted trees early-stop on the newest sixth of them."""
    X, roles, fields = matrix.values, matrix.roles, matrix.fields
    weights = recency_weights(len(X), candidate.half_life)
    if early_stop and candidate.family == "xgboost":
        cut = len(X) - max(len(X) // 6, 1)
        head = None if weights is None else weights[:cut]
        return candidate.fit(X[:cut], y[:cut], roles, head, eval_set=(X[cut:], y[cut:]),
                             fields=fields)
    return candidate.fit(X, y, roles, weights, fields=fields)


def scoring_cost(candidate: Candidate, X: np.ndarray) -> float:
    """Seconds per lead for the candidate's exact contributions on this machine (the best of
    two timings of up to :data:`COST_SAMPLE` rows, so a busy moment does not exclude it)."""
    sample = X[:COST_SAMPLE]
    timings = []
    for _ in range(2):
        started = time.perf_counter()
        candidate.contributions(sample)
        timings.append(time.perf_counter() - started)
    return min(timings) / max(len(sample), 1)


def weigh(cost_per_lead: float, volume: Volume, budget_minutes: float) -> dict:
    """The cost columns of one candidate's card row; ``excluded`` names the figure when a full
    rescan would not fit the budget."""
    rescan_s = cost_per_lead * volume.org_leads
    row = {"score_ms_per_1000": round(cost_per_lead * 1e6, 1),
           "rescan_s": round(rescan_s, 1), "excluded": None}
    if volume.changed_per_sync is not None:
        row["sync_s"] = round(cost_per_lead * volume.changed_per_sync, 2)
    if rescan_s > budget_minutes * 60:
        row["excluded"] = (f"a full rescan of {volume.org_leads:,} leads with exact reasons "
                           f"would take {duration(rescan_s)} of scoring, over the "
                           f"{budget_minutes:g}-minute budget")
    return row


def compete(candidates: list[Candidate], old: FeatureMatrix, y_old: np.ndarray,
            X_hold: np.ndarray, y_hold: np.ndarray, *, volume: Volume,
            budget_minutes: float,
            cost_of: Callable[[Candidate, np.ndarray], float] = scoring_cost,
            stop: Callable[[str], None] | None = None) -> tuple[Candidate, list[dict]]:
    """Fit every candidate on the older rows and rank them on the holdout by ROC AUC among those
    whose full rescan fits the budget: the simplest (earliest) within one standard error of the
    best wins. Return (winner, one card row per candidate). If none fits, the cheapest is
    chosen and says so. ``stop`` is called before each fit (it raises to end the training)."""
    table = []
    for candidate in candidates:
        if stop is not None:
            stop(f"before fitting {candidate.name}")
        started = time.perf_counter()
        fit_candidate(candidate, old, y_old, early_stop=True)
        train_s = time.perf_counter() - started
        row = {"name": candidate.name, "family": candidate.family,
               **metrics.summary(y_hold, candidate.margin(X_hold)),
               "train_s": round(train_s, 2), **weigh(cost_of(candidate, X_hold), volume,
                                                     budget_minutes), "chosen": False}
        if getattr(candidate, "rounds_", None) and candidate.family == "xgboost":
            row["rounds"] = candidate.rounds_
        table.append(row)
    eligible = [i for i, row in enumerate(table) if row["excluded"] is None]
    if not eligible:
        cheapest = min(range(len(table)), key=lambda i: table[i]["rescan_s"])
        table[cheapest]["excluded"] = None
        table[cheapest]["note"] = "every candidate is over the budget; the cheapest is used"
        eligible = [cheapest]
    best = max(table[i]["roc_auc"] for i in eligible)
    # One standard error rule: among many candidates the holdout's best is partly luck, so the
    # simplest candidate within one standard error of the best wins (a tree must be clearly
    # better than the linear models to be chosen).
    tie = max(NEAR_TIE, metrics.roc_auc_standard_error(y_hold, best))
    chosen = next(i for i in eligible if table[i]["roc_auc"] >= best - tie)
    table[chosen]["chosen"] = True
    return candidates[chosen], table


def exclusions(table: list[dict]) -> list[str]:
    """One line per excluded candidate, with its figure (for the card and the report)."""
    return [f"{row['name']} excluded: {row['excluded']}" for row in table if row["excluded"]]

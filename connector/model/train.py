"""Train, compete, calibrate and (maybe) promote a model from a CRM's closed history.

The flow of :func:`train_model`:

1. keep closed leads (the mapping's outcome rule), order them by the mapping's time field and
   refuse below the minimum counts;
2. hold out the newest ``holdout_share`` of them; every candidate is fit on the older leads
   (trees stop early on the newest slice of those) and ranked by holdout ROC AUC; near-ties go to
   the simpler candidate, and a candidate whose exact reasons would not score the whole org
   within the mapping's ``rescan_minutes`` is excluded, with its figure on the card
   (:mod:`connector.model.selection`);
3. the winner is refit on all history and calibrated on its own margins there, weighted
   toward the newest closed leads (:mod:`connector.model.calibration`);
4. it is promoted only if it beats the admin baseline on the holdout and is not worse there than
   the live model, graded fairly on the same leads (:mod:`connector.model.guard`), unless
   forced; the version is saved either way, so it can be inspected or
   restored later, with its holdout predictions and a binned profile of the training inputs
   and scores (the report measures drift against it).
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
from scipy.special import expit

import sklearn
import xgboost

from connector.errors import NotEnoughDataError, StopRequestedError
from connector.model.features import FeatureEncoder, FeatureMatrix, parse_time
from connector.mapping import Mapping, to_number
from connector.model import artifacts, metrics
from connector.model.calibration import HALF_LIFE, calibrate, holdout_slope
from connector.model.candidates import Candidate, default_candidates, fresh
from connector.model.guard import grade_live, promotion
from connector.model.point_in_time import PointInTime
from connector.model.profile import build_profile
from connector.model.validation import compare_with_today, open_period_check
from connector.model.scoring import ScoringModel, tier_cuts, to_scores, to_tiers
from connector.model.selection import Volume, compete, exclusions, fit_candidate, scoring_cost

LEAK_AUC = 0.97           # one field alone ranking closed leads this well is almost surely leakage


@dataclass
class TrainResult:
    """What a training run produced and decided."""

    promoted: bool
    version: str
    card: dict
    warnings: list[str] = field(default_factory=list)
    metrics: dict = field(default_factory=dict)


def closed_history(records: Iterable[dict], mapping: Mapping) -> tuple[list[dict], np.ndarray,
                                                                      np.ndarray, int]:
    """(closed records oldest first, outcome 0/1, epoch times, count skipped for no time)."""
    rows, skipped = [], 0
    for record in records:
        outcome = mapping.outcome_of(record) if isinstance(record, dict) else None
        if outcome is None:
            continue
        moment = parse_time(record.get(mapping.time_field))
        if moment is None:
            skipped += 1
            continue
        rows.append((moment, outcome, record))
    rows.sort(key=lambda row: row[0])  # stable: ties keep the order the CRM returned
    times = np.array([r[0] for r in rows], dtype=float)
    return [r[2] for r in rows], np.array([r[1] for r in rows], dtype=int), times, skipped


def baseline_scores(mapping: Mapping, records: list[dict]) -> np.ndarray | None:
    """The admin's current score for each record (points rule or CRM score field), or None.
    A missing or unreadable CRM score ranks lowest."""
    if mapping.baseline is None:
        return None
    if mapping.baseline.points is not None:
        return np.array([sum(rule.points for rule in mapping.baseline.points if rule.holds(r))
                         for r in records], dtype=float)
    numbers = [to_number(r.get(mapping.baseline.score_field)) for r in records]
    return np.array([-np.inf if v is None else v for v in numbers], dtype=float)


def leakage_warnings(matrix: FeatureMatrix, y: np.ndarray) -> list[str]:
    """Warnings naming fields that alone predict the outcome almost perfectly, or are filled
    almost only for one outcome (e.g. a date the CRM sets on conversion)."""
    warnings = []
    for name, auc, fill_pos, fill_neg in metrics.single_field_strength(matrix, y):
        if auc >= LEAK_AUC:
            warnings.append(f"likely leakage: {name} alone predicts the outcome almost "
                            f"perfectly (ROC AUC {auc:.3f}); remove it unless it is known "
                            "before the outcome")
        elif max(fill_pos, fill_neg) >= 0.5 and min(fill_pos, fill_neg) <= 0.02:
            which = "converted" if fill_pos > fill_neg else "lost"
            warnings.append(f"likely leakage: {name} is filled for {max(fill_pos, fill_neg):.0%}"
                            f" of {which} leads but {min(fill_pos, fill_neg):.0%} of the others;"
                            " the CRM probably sets it once the outcome is known")
    return warnings


def train_model(records: Iterable[dict], mapping: Mapping, *, model_dir: Path,
                force: bool = False, min_closed: int | None = None,
                min_positive: int | None = None, now: datetime | None = None,
                candidates: list[Candidate] | None = None,
                stop: threading.Event | None = None,
                point_in_time: PointInTime | None = None, strict: bool = False,
                volume: Volume | None = None,
                cost_of: Callable[[Candidate, np.ndarray], float] = scoring_cost
                ) -> TrainResult:
    """Train on the closed ``records`` as the mapping reads them, save a version under
    ``model_dir`` and promote it to ``current`` if it earns it (or ``force``).

    ``records`` is the whole org (open leads too): its size is the full rescan each candidate's
    scoring cost is weighed against, unless ``volume`` says otherwise. ``cost_of`` measures a
    candidate's seconds per lead (tests inject figures).

    With ``point_in_time`` (:mod:`connector.model.point_in_time`), ``records`` are its
    point-in-time records: the card counts each kind of input, the holdout figures are theirs,
    and today's-values validation is shown beside them with the fields that make them differ.
    Its leaks (and the validation gap) become warnings; with ``strict`` a model with any leak
    warning is saved but not promoted (the CLI then refuses).

    Raises NotEnoughDataError below ``min_closed`` closed leads or ``min_positive`` conversions
    (defaults: the mapping's ``training`` section), and StopRequestedError between two fits
    once ``stop`` is set (nothing is saved then).
    """
    started, now = time.perf_counter(), now or datetime.now(timezone.utc)
    records = list(records)
    volume = volume or Volume()
    if volume.org_leads is None:
        volume = replace(volume, org_leads=len(records))
    rows, y, times, skipped = closed_history(records, mapping)
    _check_stop(stop, "before training")
    need_closed = mapping.training.min_closed if min_closed is None else min_closed
    need_pos = mapping.training.min_converted if min_positive is None else min_positive
    if len(rows) < need_closed or y.sum() < need_pos:
        raise NotEnoughDataError(
            f"only {len(rows)} closed leads with {int(y.sum())} conversions; training needs at "
            f"least {need_closed} closed and {need_pos} converted")
    n_hold = math.ceil(len(rows) * mapping.training.holdout_share)
    old, hold = slice(0, len(rows) - n_hold), slice(len(rows) - n_hold, len(rows))
    if len(set(y[old])) < 2 or len(set(y[hold])) < 2:
        raise NotEnoughDataError("the older history or the newest closed leads hold only one "
                                 "outcome", "wait until both conversions and losses are recent")
    encoder = FeatureEncoder(mapping.features, mapping.time_field).fit(rows[old])
    X_old, X_hold = encoder.transform(rows[old]), encoder.transform(rows[hold]).values
    warnings = leakage_warnings(X_old, y[old])
    if skipped:
        warnings.append(f"{skipped} closed leads have no readable {mapping.time_field}; skipped")
    winner, table = compete(candidates or default_candidates(), X_old, y[old], X_hold, y[hold],
                            volume=volume, budget_minutes=mapping.training.rescan_minutes,
                            cost_of=cost_of, stop=lambda where: _check_stop(stop, where))
    holdout_margin = winner.margin(X_hold)
    slope_hold = holdout_slope(holdout_margin, y[hold])
    if slope_hold <= 0.05:  # the winner ranks the newest leads no better than chance
        warnings.append(f"trained on older leads, the chosen model barely ranks the newest closed"
                        f" leads (calibration slope {slope_hold:.3f}): what converts has changed "
                        "lately; the saved model, refit on all history, may lag it")
    # The holdout figures are those of the pre-refit model calibrated as the saved one is (on
    # its own training leads), so the holdout's calibration chart shows how the method fares
    # on newer leads instead of a fit to the very leads it is drawn on.
    slope_old, intercept_old = calibrate(winner.margin(X_old.values), y[old])

    _check_stop(stop, "before the final fit")
    encoder_all = FeatureEncoder(mapping.features, mapping.time_field).fit(rows)
    X_all = encoder_all.transform(rows)
    final = fit_candidate(fresh(winner, len(y[old]), len(y)), X_all, y, early_stop=False)
    history_margin = final.margin(X_all.values)
    slope, intercept = calibrate(history_margin, y)
    history_p = expit(slope * history_margin + intercept)
    reference = np.quantile(history_p, np.linspace(0, 1, 101)).tolist()
    history_scores = to_scores(history_p, mapping.scoring.scale, reference)
    cuts = tier_cuts(mapping.scoring, history_scores)

    holdout_p = expit(slope_old * holdout_margin + intercept_old)
    holdout_tiers = to_tiers(to_scores(holdout_p, mapping.scoring.scale, reference), cuts)
    product = {**metrics.summary(y[hold], holdout_margin, holdout_p),
               "tiers": metrics.tier_table(y[hold], holdout_p, holdout_tiers,
                                           [name for name, _ in cuts]),
               "calibration": metrics.calibration_table(y[hold], holdout_p)}
    base = baseline_scores(mapping, rows[hold])
    baseline = None if base is None else {
        "kind": "points rule" if mapping.baseline.points else mapping.baseline.score_field,
        **metrics.summary(y[hold], base)}
    live = grade_live(model_dir, mapping, rows[old], y[old], rows[hold], y[hold])
    promoted, why = promotion(product["roc_auc"], baseline, live, force)
    leaks = list(point_in_time.leaks) if point_in_time else []
    validation = None

    def refit(matrix: FeatureMatrix, y_: np.ndarray) -> Candidate:
        return fit_candidate(fresh(winner), matrix, y_, early_stop=True)

    if point_in_time is not None and any(kind != "today" for kind in point_in_time.kinds):
        validation, gap = compare_with_today(point_in_time, rows, y, n_hold, mapping,
                                             product["roc_auc"], refit)
        leaks += gap
    if point_in_time is not None and point_in_time.open_since is not None:
        period = open_period_check(rows, y, mapping, point_in_time.open_since, refit)
        validation = {**(validation or {}), **(period or {})} or None
    warnings += [leak.line() for leak in leaks]
    if strict and leaks:
        promoted, why = False, ("refused (--strict): likely leakage in "
                                + ", ".join(dict.fromkeys(leak.field for leak in leaks)))

    version = artifacts.next_version(model_dir)
    card = {
        "version": version, "trained_at": now.isoformat(), "mapping": mapping.source,
        "crm": mapping.crm, "object": mapping.object, "time_field": mapping.time_field,
        "data_window": {"from": _iso(times[0]), "to": _iso(times[-1]),
                        "holdout_from": _iso(times[hold][0])},
        "counts": {"closed": len(rows), "converted": int(y.sum()), "holdout": n_hold,
                   "holdout_converted": int(y[hold].sum()), "skipped_no_time": skipped},
        "features": [{"field": f.field, "kind": f.kind, "label": f.label}
                     for f in mapping.features],
        "candidates": table, "chosen": winner.name, "refit_as": final.name, "exclusions": exclusions(table),
        "volume": {"org_leads": volume.org_leads, "changed_per_sync": volume.changed_per_sync,
                   "sync_minutes": volume.sync_minutes,
                   "rescan_budget_minutes": mapping.training.rescan_minutes},
        "holdout": product,
        "baseline": baseline, "live_model": live, "promoted": promoted, "decision": why,
        "calibration": {"method": "platt on the model's own history, recency-weighted "
                                  f"(weights halve every {HALF_LIFE:.0%} of the history)",
                        "slope": slope, "intercept": intercept,
                        "holdout_slope": round(slope_hold, 4)},
        "scale": mapping.scoring.scale, "tier_cuts": [list(c) for c in cuts],
        "inputs": point_in_time.card() if point_in_time else {"today": len(rows)},
        "validation": validation,
        "leaks": [{"field": k.field, "detector": k.detector, "seen": k.seen, "advice": k.advice}
                  for k in leaks],
        "warnings": warnings, "train_s": round(time.perf_counter() - started, 2),
        "libraries": {"numpy": np.__version__, "scikit-learn": sklearn.__version__,
                      "xgboost": xgboost.__version__},
    }
    model = ScoringModel(version=version, card=card, encoder=encoder_all, estimator=final,
                         calibration=(slope, intercept), scale=mapping.scoring.scale,
                         reference=reference, cuts=cuts,
                         reason_count=mapping.scoring.reasons.count,
                         separator=mapping.scoring.reasons.separator,
                         reason_length=mapping.outputs.reason.max_length)
    artifacts.save_version(model_dir, model)
    artifacts.save_holdout(model_dir, version, y[hold], holdout_p)
    artifacts.save_profile(model_dir, version, build_profile(encoder_all, rows, history_scores))
    if promoted:
        artifacts.set_current(model_dir, version)
    return TrainResult(promoted, version, card, warnings, product)


def _check_stop(stop: threading.Event | None, where: str) -> None:
    if stop is not None and stop.is_set():
        raise StopRequestedError(f"stop requested: the training stopped {where}; nothing saved")


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(float(epoch), tz=timezone.utc).isoformat()

"""Validation that matches scoring: point-in-time holdout figures beside today's-values ones.

The holdout metrics on the card come from point-in-time inputs (what the leads looked like while
open, as they will when scored). :func:`compare_with_today` refits the chosen candidate on the
same closed leads' values as they are today and measures it on the same holdout: the figure a
product trained on today's values would have claimed. When it is higher by
:data:`~connector.model.leaks.VALIDATION_GAP` or more, the fields responsible are named: those
whose values differ between the two views and whose ranking of the holdout gains the most.

:func:`open_period_check` measures the situation scoring is in: the open leads share their
period with leads that closed meanwhile, and the live model has trained on those. It holds out a
seeded random half of the closed leads created since the oldest open lead, fits the chosen
candidate on every other closed lead and reads its ROC AUC there. On data that drifts over time
the newest-slice holdout (trained only on older periods) reads lower than the scores will
achieve; this figure is the one the written scores should meet.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from connector.mapping import Mapping
from connector.model import metrics
from connector.model.features import FeatureEncoder, FeatureMatrix, parse_time
from connector.model.leaks import Leak, validation_gap
from connector.model.point_in_time import PointInTime

MIN_CHANGED_SHARE = 0.01  # of the closed leads, for a field to be named
MIN_OPEN_PERIOD = 200     # closed leads created since the oldest open lead, to hold half out


def _single_auc(mapping: Mapping, rows: list[dict], y: np.ndarray) -> dict[str, float]:
    matrix = FeatureEncoder(mapping.features, mapping.time_field).fit(rows).transform(rows)
    return {name: auc for name, auc, _, _ in metrics.single_field_strength(matrix, y)}


def compare_with_today(point_in_time: PointInTime, rows: list[dict], y: np.ndarray,
                       n_hold: int, mapping: Mapping, auc_point_in_time: float,
                       refit: Callable[[FeatureMatrix, np.ndarray], Any]
                       ) -> tuple[dict, list[Leak]]:
    """The card's ``validation`` section and the validation-gap leaks.

    ``rows`` are the time-ordered point-in-time training records and ``y`` their outcomes;
    ``refit(matrix, y)`` fits a fresh copy of the chosen candidate on older rows.
    """
    today_of = point_in_time.today_of()
    today = [today_of[id(row)] for row in rows]
    old, hold = slice(0, len(rows) - n_hold), slice(len(rows) - n_hold, len(rows))
    encoder = FeatureEncoder(mapping.features, mapping.time_field).fit(today[old])
    X_old, X_hold = encoder.transform(today[old]), encoder.transform(today[hold]).values
    model = refit(X_old, y[old])
    auc_today = metrics.roc_auc(y[hold], model.margin(X_hold))
    section = {"point_in_time_roc_auc": round(auc_point_in_time, 4),
               "today_values_roc_auc": round(auc_today, 4),
               "gap": round(auc_today - auc_point_in_time, 4), "fields": []}
    if auc_today - auc_point_in_time < 0.0 or not point_in_time.changed:
        return section, []
    single_today = _single_auc(mapping, today[hold], y[hold])
    single_pit = _single_auc(mapping, rows[hold], y[hold])
    candidates = []
    for name, count in point_in_time.changed.items():
        share = count / len(rows)
        gain = single_today.get(name, 0.5) - single_pit.get(name, 0.5)
        if share >= MIN_CHANGED_SHARE and gain > 0:
            candidates.append((gain, name, share))
    candidates.sort(reverse=True)
    section["fields"] = [
        {"field": name, "differs_on_share": round(share, 4),
         "alone_roc_auc_today": round(single_today.get(name, 0.5), 4),
         "alone_roc_auc_point_in_time": round(single_pit.get(name, 0.5), 4)}
        for _, name, share in candidates]
    evidence = [(entry["field"], f"its value differs on {entry['differs_on_share']:.0%} of the "
                 f"closed leads; alone it ranks the holdout at {entry['alone_roc_auc_today']:.2f}"
                 f" today, {entry['alone_roc_auc_point_in_time']:.2f} as it was")
                for entry in section["fields"]]
    return section, validation_gap(auc_today, auc_point_in_time, evidence)



def open_period_check(rows: list[dict], y: np.ndarray, mapping: Mapping, open_since: float,
                      refit: Callable[[FeatureMatrix, np.ndarray], Any]) -> dict | None:
    """ROC AUC on a seeded random half of the closed leads created since ``open_since`` (epoch
    seconds: the oldest open lead), fitting on every other closed lead; None when fewer than
    :data:`MIN_OPEN_PERIOD` such leads or a single outcome among them."""
    times = [parse_time(row.get(mapping.time_field)) for row in rows]
    same = [i for i, t in enumerate(times) if t is not None and t >= open_since]
    if len(same) < MIN_OPEN_PERIOD or len(set(y[same].tolist())) < 2:
        return None
    held = set(np.random.default_rng(0).choice(same, len(same) // 2, replace=False).tolist())
    train = [i for i in range(len(rows)) if i not in held]
    hold = sorted(held)
    if len(set(y[hold].tolist())) < 2:
        return None
    encoder = FeatureEncoder(mapping.features, mapping.time_field).fit([rows[i] for i in train])
    X_train = encoder.transform([rows[i] for i in train])
    model = refit(X_train, y[train])
    X_hold = encoder.transform([rows[i] for i in hold]).values
    return {"open_period_roc_auc": round(metrics.roc_auc(y[hold], model.margin(X_hold)), 4),
            "open_period_holdout": len(hold)}

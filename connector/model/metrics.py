"""Model-quality figures shared by training, the model card, the report and the benchmarks.

All functions take plain arrays (``y`` as 0/1, scores as any increasing-is-better number,
probabilities in [0, 1]) and return plain floats, lists or dicts that serialise to JSON.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score


def roc_auc(y: np.ndarray, score: np.ndarray) -> float:
    """Area under the ROC curve (ties count half); NaN when only one class is present."""
    y = np.asarray(y)
    if y.size == 0 or y.min() == y.max():  # an `initial` value would make one class look like two
        return float("nan")
    return float(roc_auc_score(y, score))


def roc_auc_standard_error(y: np.ndarray, auc: float) -> float:
    """The standard error of a ROC AUC of ``auc`` on outcomes ``y`` (Hanley and McNeil, 1982):
    how much the figure would move on another holdout of the same size."""
    y = np.asarray(y)
    positives, negatives = int(y.sum()), int(len(y) - y.sum())
    if positives == 0 or negatives == 0 or not np.isfinite(auc):
        return 0.0
    q1, q2 = auc / (2 - auc), 2 * auc * auc / (1 + auc)
    variance = (auc * (1 - auc) + (positives - 1) * (q1 - auc * auc)
                + (negatives - 1) * (q2 - auc * auc)) / (positives * negatives)
    return float(np.sqrt(max(variance, 0.0)))


def pr_auc(y: np.ndarray, score: np.ndarray) -> float:
    """Area under the precision-recall curve (average precision)."""
    y = np.asarray(y)
    return float(average_precision_score(y, score)) if y.any() else float("nan")


def lift_top_decile(y: np.ndarray, score: np.ndarray, share: float = 0.1) -> float:
    """Conversion rate in the top ``share`` of scores over the overall rate.

    Leads tied at the cut count pro rata, so a coarse points rule (many ties) gets its expected
    lift under random tie-breaking rather than whatever order the sort happened to leave.
    """
    y, score = np.asarray(y, dtype=float), np.asarray(score, dtype=float)
    if len(y) == 0 or y.sum() == 0:
        return float("nan")
    k = len(y) * share
    threshold = np.sort(score)[::-1][max(int(np.ceil(k)) - 1, 0)]
    above, tied = score > threshold, score == threshold
    hits = y[above].sum() + y[tied].mean() * (k - above.sum())
    return float(hits / k / y.mean())


def brier(y: np.ndarray, probability: np.ndarray) -> float:
    """Mean squared error of probabilities (lower is better)."""
    return float(np.mean((np.asarray(probability) - np.asarray(y)) ** 2))


def calibration_table(y: np.ndarray, probability: np.ndarray, bins: int = 10) -> list[dict]:
    """Predicted vs observed conversion per probability decile (equal-count bins)."""
    order = np.argsort(probability, kind="stable")
    rows = []
    for chunk in np.array_split(order, bins):
        if len(chunk):
            rows.append({"leads": int(len(chunk)),
                         "predicted": round(float(np.mean(probability[chunk])), 4),
                         "observed": round(float(np.mean(y[chunk])), 4)})
    return rows


def tier_table(y: np.ndarray, probability: np.ndarray, tiers: Sequence[str],
               order: Sequence[str]) -> list[dict]:
    """Per tier (in ``order``): lead count, share, predicted and observed conversion."""
    tiers = np.asarray(tiers)
    rows = []
    for name in order:
        mask = tiers == name
        count = int(mask.sum())
        rows.append({"tier": name, "leads": count, "share": round(count / max(len(tiers), 1), 4),
                     "predicted": round(float(probability[mask].mean()), 4) if count else None,
                     "observed": round(float(y[mask].mean()), 4) if count else None})
    return rows


def summary(y: np.ndarray, score: np.ndarray, probability: np.ndarray | None = None) -> dict:
    """ROC AUC, PR AUC, top-decile lift and (given probabilities) Brier, rounded for display."""
    out = {"roc_auc": roc_auc(y, score), "pr_auc": pr_auc(y, score),
           "lift_top_decile": lift_top_decile(y, score)}
    if probability is not None:
        out["brier"] = brier(y, probability)
    return {k: round(v, 4) for k, v in out.items()}


def single_field_strength(matrix, y: np.ndarray) -> list[tuple[str, float, float, float]]:
    """Per CRM field of a FeatureMatrix: (field, ROC AUC of that field alone, fill rate among
    converted, fill rate among lost). The field's columns become one bucket per row (its level,
    or one of 20 quantile bins of its value, or missing), scored by the bucket's conversion
    rate, so any shape of dependence counts."""
    y = np.asarray(y, dtype=float)
    fields = np.asarray(matrix.fields)
    roles = np.asarray(matrix.roles)
    out = []
    for field in dict.fromkeys(matrix.fields):
        cols = np.flatnonzero(fields == field)
        block, kinds = matrix.values[:, cols], roles[cols]
        if "level" in kinds:
            bucket = block.argmax(axis=1)
            missing = np.array([matrix.columns[c].endswith("=(missing)") for c in cols])
            filled = ~missing[bucket]
        elif "flag" in kinds:
            bucket, filled = block[:, 0].astype(int), block[:, 0] > 0
        else:
            value, filled = block[:, 0], block[:, 1] == 0
            edges = np.unique(np.quantile(value[filled], np.linspace(0, 1, 21)[1:-1])) \
                if filled.any() else np.array([])
            bucket = np.where(filled, np.searchsorted(edges, value, side="right"), -1)
        _, inverse = np.unique(bucket, return_inverse=True)
        rate = np.bincount(inverse, weights=y) / np.bincount(inverse)
        pos, neg = y == 1, y == 0
        out.append((field, roc_auc(y, rate[inverse]),
                    float(filled[pos].mean()) if pos.any() else 0.0,
                    float(filled[neg].mean()) if neg.any() else 0.0))
    return out

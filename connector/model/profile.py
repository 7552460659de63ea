"""A compact profile of the rows a model was trained on, and drift (PSI) measured against it.

Saved beside a model version as ``profile.json`` so the report can compare today's open leads
with training rather than with today's closed leads::

    {"format": 1, "rows": 2160,
     "score": {"edges": [...], "shares": [...]},
     "features": [{"field": "Visits", "edges": [...], "shares": [...]},
                  {"field": "LeadSource", "labels": [...], "shares": [...]}]}

Numeric inputs (numbers, day counts, hours) and the score keep the deciles of the training
values, rounded, as bin edges; ``shares`` holds the share of rows per bin and, last, the share
missing.
Categorical inputs and yes/no flags keep one share per label: the levels the encoder learned
(already in encoder.json, each seen at least ``min_count`` times), then "(other)" and
"(missing)". Nothing else is kept: no ids and no values beyond those edges and labels.

Values are read exactly as the model reads them (:func:`connector.model.features.reader`), so a
sentinel, alias or garbage value lands in the same bin at training and in the report. All
functions are pure.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from connector.model.features import MISSING, OTHER, FeatureEncoder, is_categorical, parse_time, reader
from connector.mapping import Feature

FORMAT = 1
BINS = 10
# An empty bin has share 0 and ln(0) is undefined, so shares are floored here first. 1e-4
# (one lead in 10,000) keeps the index finite while a bin emptied or newly filled still adds
# a visible amount: a 5% bin that empties contributes about 0.05 * ln(0.05 / 1e-4) = 0.31.
EPSILON = 1e-4
_FLAG_LABELS = {1.0: "yes", 0.0: "no"}


def psi(expected: Sequence[float], actual: Sequence[float]) -> float:
    """Population stability index of ``actual`` shares against ``expected`` shares (same bins,
    same order): sum of (actual - expected) * ln(actual / expected), each share floored at
    :data:`EPSILON`. Reading: below 0.1 stable, 0.1-0.25 moderate shift, above 0.25 major."""
    if len(expected) != len(actual):
        raise ValueError(f"PSI needs the same bins: {len(expected)} vs {len(actual)} shares")
    e = np.clip(np.asarray(expected, dtype=float), EPSILON, None)
    a = np.clip(np.asarray(actual, dtype=float), EPSILON, None)
    return float(np.sum((a - e) * np.log(a / e)))


def _share_list(counts: np.ndarray) -> list[float]:
    total = max(int(counts.sum()), 1)
    return [round(float(c) / total, 6) for c in counts]


def _bin_index(entry: dict, values: Sequence[Any]) -> np.ndarray:
    """The bin of each value under ``entry``'s edges or labels (see the module docstring)."""
    if "edges" in entry:
        edges = np.asarray(entry["edges"], dtype=float)
        present = np.array([v is not None for v in values], dtype=bool)
        numbers = np.array([v if v is not None else 0.0 for v in values], dtype=float)
        return np.where(present, np.searchsorted(edges, numbers, side="right"), len(edges) + 1)
    index = {label: i for i, label in enumerate(entry["labels"])}
    other, missing = index[OTHER], index[MISSING]
    return np.array([missing if v is None else index.get(v, other) for v in values], dtype=int)


def shares(entry: dict, values: Sequence[Any]) -> list[float]:
    """Share of ``values`` in each of ``entry``'s bins (the binning stored at training)."""
    size = len(entry["edges"]) + 2 if "edges" in entry else len(entry["labels"])
    return _share_list(np.bincount(_bin_index(entry, values), minlength=size))


def numeric_entry(values: Sequence[float | None]) -> dict:
    """Bin edges at the deciles of the present ``values`` and the share per bin (last: missing).
    Edges keep three significant digits, so the edge of a wide-ranging field (revenue, say) is
    not one lead's exact figure; repeated edges (a value most rows share) merge into one."""
    present = [v for v in values if v is not None]
    quantiles = np.quantile(present, np.linspace(0, 1, BINS + 1)[1:-1]) if present else []
    entry = {"edges": sorted({float(f"{q:.3g}") for q in quantiles})}
    return {**entry, "shares": shares(entry, values)}


def categorical_entry(values: Sequence[str | None], levels: Sequence[str]) -> dict:
    """The share of ``values`` per known level, then per "(other)" and "(missing)"."""
    entry = {"labels": [*levels, OTHER, MISSING]}
    return {**entry, "shares": shares(entry, values)}


def _is_flag(feature: Feature) -> bool:
    return feature.kind in ("boolean", "text_present")


def read_inputs(encoder: FeatureEncoder, records: Sequence[dict]) -> dict[str, list[Any]]:
    """Per mapped field, each record's value as the model reads it (flags as "yes"/"no")."""
    rows = [r if isinstance(r, dict) else {} for r in records]
    anchors = [parse_time(r.get(encoder.time_field)) for r in rows]
    out = {}
    for feature in encoder.features:
        read = reader(feature)
        values = [read(r, a) for r, a in zip(rows, anchors)]
        out[feature.field] = [_FLAG_LABELS.get(v) for v in values] if _is_flag(feature) else values
    return out


def _levels(encoder: FeatureEncoder, feature: Feature) -> list[str] | None:
    """The labels a categorical feature is profiled by, or None for a numeric one."""
    if is_categorical(feature):
        return encoder.levels_[feature.field]
    return list(_FLAG_LABELS.values()) if _is_flag(feature) else None


def build_profile(encoder: FeatureEncoder, records: Sequence[dict],
                  scores: Sequence[int]) -> dict:
    """The profile of ``records`` (read by the fitted ``encoder``) and their ``scores``."""
    inputs = read_inputs(encoder, records)
    features = []
    for feature in encoder.features:
        levels, values = _levels(encoder, feature), inputs[feature.field]
        entry = numeric_entry(values) if levels is None else categorical_entry(values, levels)
        features.append({"field": feature.field, **entry})
    return {"format": FORMAT, "rows": len(records),
            "score": numeric_entry([float(s) for s in scores]), "features": features}


def drift(profile: dict, encoder: FeatureEncoder, records: Sequence[dict],
          scores: Sequence[int]) -> tuple[float | None, dict[str, float]]:
    """(PSI of ``scores``, PSI per profiled field) of ``records`` against ``profile``. Fields the
    encoder does not map are left out; with no records there is nothing to compare (None, {})."""
    if not records:
        return None, {}
    inputs = read_inputs(encoder, records)
    score = psi(profile["score"]["shares"],
                shares(profile["score"], [float(s) for s in scores]))
    fields = {entry["field"]: psi(entry["shares"], shares(entry, inputs[entry["field"]]))
              for entry in profile["features"] if entry["field"] in inputs}
    return score, fields

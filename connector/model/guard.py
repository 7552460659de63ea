"""The promotion guard: grade the live model fairly against a challenger.

Fair means the same holdout leads, each model with its own fields and encoder, and neither
model having trained on those leads. The live model's saved version was refit on all of its
history, which may include today's holdout, so grading it as saved flatters it. Instead its
configuration (its own feature specs, its estimator's settings and round count) is refit on
exactly the training slice the challenger saw, and graded on the same holdout. When the mapping
changed, the card says so: each model is compared on the same leads with its own fields.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from connector.errors import LeadscoreError
from connector.mapping import Mapping
from connector.model import artifacts, metrics
from connector.model.candidates import fresh
from connector.model.features import FeatureEncoder
from connector.model.selection import fit_candidate

NOT_WORSE = 0.001  # a retrain may trail the live model by this much and still replace it
FIELDS_CHANGED = "different fields: compared on the same leads with each model's own fields"


def live_fields(model_dir: Path) -> list[str]:
    """The CRM fields the live model reads (empty without a loadable live model), so the
    history pull can fetch them even after the mapping dropped some."""
    version = artifacts.current_version(model_dir)
    if version is None:
        return []
    try:
        encoder = artifacts.load_version(model_dir, version).encoder
    except (LeadscoreError, KeyError, ValueError):
        return []
    return [feature.field for feature in encoder.features]


def grade_live(model_dir: Path, mapping: Mapping, old: list[dict], y_old: np.ndarray,
               hold: list[dict], y_hold: np.ndarray) -> dict | None:
    """The live model's ROC AUC on ``hold`` after refitting its configuration on ``old``, or
    None without a live model. The row also holds the live model's own holdout figure from
    its card and, when the fields differ, which ones and :data:`FIELDS_CHANGED`."""
    version = artifacts.current_version(model_dir)
    if version is None:
        return None
    try:
        live = artifacts.load_version(model_dir, version)
        specs = live.encoder.features
        encoder = FeatureEncoder(specs, live.encoder.time_field).fit(old)
        # Its recency half-life keeps its span in leads (see candidates.fresh).
        closed = (live.card.get("counts") or {}).get("closed")
        estimator = fit_candidate(fresh(live.estimator, closed, len(old)),
                                  encoder.transform(old), y_old, early_stop=False)
        auc = metrics.roc_auc(y_hold, estimator.margin(encoder.transform(hold).values))
    except (LeadscoreError, KeyError, ValueError) as exc:  # e.g. saved by an older leadscore
        return {"version": version, "roc_auc": None, "error": str(exc)}
    row = {"version": version, "roc_auc": round(auc, 4),
           "graded": "its configuration refit on the same training leads, on the same holdout",
           "own_holdout_roc_auc": (live.card.get("holdout") or {}).get("roc_auc")}
    theirs, ours = [f.field for f in specs], [f.field for f in mapping.features]
    if [(f.field, f.kind) for f in specs] != [(f.field, f.kind) for f in mapping.features]:
        row["fields"] = FIELDS_CHANGED
        row["fields_removed"] = [f for f in theirs if f not in ours]
        row["fields_added"] = [f for f in ours if f not in theirs]
        unseen = [f for f in theirs if not any(f in r for r in hold)]
        if unseen:
            row["fields_not_pulled"] = unseen
    return row


def promotion(product_auc: float, baseline: dict | None, live: dict | None,
              force: bool) -> tuple[bool, str]:
    """(promote?, why in one sentence)."""
    if force:
        return True, "forced"
    if baseline is not None and not product_auc > baseline["roc_auc"]:
        return False, (f"holdout ROC AUC {product_auc:.4f} does not beat the admin baseline "
                       f"({baseline['kind']}: {baseline['roc_auc']:.4f})")
    if live and live.get("roc_auc") is not None and product_auc < live["roc_auc"] - NOT_WORSE:
        return False, (f"holdout ROC AUC {product_auc:.4f} is worse than the live model "
                       f"{live['version']} ({live['roc_auc']:.4f}, {live['graded']})")
    parts = []
    if baseline is not None:
        parts.append(f"beats the admin baseline ({baseline['kind']}: {baseline['roc_auc']:.4f})")
    if live and live.get("roc_auc") is not None:
        parts.append(f"is not worse than the live model {live['version']} "
                     f"({live['roc_auc']:.4f})")
    return True, " and ".join(parts) if parts else "no admin baseline configured and no live model"

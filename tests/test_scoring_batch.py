"""Batch scoring equals a straightforward per-lead computation, for every model family.

``ScoringModel.score`` reads each distinct value once, phrases only the fields a reason shows,
and the trees' TreeSHAP runs once per tree cell. The reference below is the plain way: every
lead read field by field with :func:`reader`, contributions from ``np.add.at`` (linear) or
XGBoost's ``pred_contribs`` (trees), then each lead's reason built on its own. Scores,
probabilities, tiers, reasons and rounded contributions must be identical.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
from scipy.special import expit

from connector.mapping import Feature
from connector.model.candidates import LinearCandidate, TreeCandidate
from connector.model.features import FeatureEncoder, parse_time, reader
from connector.model.scoring import (MIN_STRENGTH, LeadScore, ScoringModel, join_reasons, phrase,
                                     to_scores, to_tiers, value_text)
from connector.model.shap_cells import MIN_ROWS

FEATURES = [
    Feature(field="Source", kind="category", label="Came from {value}",
            aliases={"web": ["website", "online"]}, min_count=5),
    Feature(field="Visits", kind="number", label="{value} site visits", missing_values=[999]),
    Feature(field="Talk", kind="number", label="Talked {value}", format="duration_s"),
    Feature(field="Share", kind="number", label="Wallet share", format="percent"),
    Feature(field="OptIn", kind="boolean", label="Opted in: {value}"),
    Feature(field="LastSeen", kind="date", label="Last seen {value} after creation"),
    Feature(field="FirstCall", kind="date", derive="hour", label="First call at {value}"),
    Feature(field="Signup", kind="date", derive="weekday", label="Signed up on a {value}"),
    Feature(field="Phone", kind="text_present", label="Phone number {value}"),
]


def mixed_leads(n: int, seed: int) -> tuple[list[dict], np.ndarray]:
    """Leads as both CRMs send them (JSON types and HubSpot strings), with missing values,
    sentinels, garbage, True/1/1.0 and 0.0/-0.0, and an outcome the fields explain."""
    rng = np.random.default_rng(seed)
    start = datetime(2024, 1, 1, tzinfo=timezone.utc)
    sources = ["Web", "website", " online ", "Partner", "Event", "N/A", None, 7, True, 1,
               1.0]
    flags = [True, False, 1, 0, 1.0, 0.0, -0.0, "true", "no", "yes", None, "maybe"]
    leads, logits = [], []
    for i in range(n):
        created = start + timedelta(hours=int(rng.integers(0, 24 * 300)))
        seen = created + timedelta(days=float(rng.exponential(20)))
        visits = int(rng.poisson(3))
        source = sources[rng.integers(len(sources))]
        lead = {
            "Id": f"L{i}", "CreatedDate": created.isoformat().replace("+00:00", "Z"),
            "Source": source,
            "Visits": [visits, str(visits), float(visits), 999, None, "lots"][rng.integers(6)],
            "Talk": [float(rng.integers(0, 4000)), None, -0.0, 0.0][rng.integers(4)],
            "Share": round(float(rng.random()), 3) if rng.random() < 0.8 else None,
            "OptIn": flags[rng.integers(len(flags))],
            "LastSeen": [seen.isoformat(), str(int(seen.timestamp() * 1000)), None,
                         "not a date"][rng.integers(4)],
            "FirstCall": (created + timedelta(minutes=int(rng.integers(0, 5000)))).isoformat(),
            "Signup": int((created - timedelta(days=int(rng.integers(0, 60)))).timestamp() * 1000),
            "Phone": ["+1 555 0100", "", None, "n/a", ["junk"]][rng.integers(5)],
        }
        leads.append(lead)
        logits.append(0.4 * visits - 1.5 + (source in ("Web", "website")) * 1.2
                      - (lead["Phone"] is None) * 0.8 + (lead["OptIn"] is True) * 0.6)
    y = (rng.random(n) < expit(np.asarray(logits))).astype(int)
    return [*leads, None, {}, 7], np.asarray([*y, 0, 1, 0])


def scoring_model(candidate, leads: list[dict], y: np.ndarray) -> ScoringModel:
    encoder = FeatureEncoder(FEATURES, "CreatedDate").fit(leads)
    matrix = encoder.transform(leads)
    candidate.fit(matrix.values, y, matrix.roles, fields=matrix.fields)
    return ScoringModel(version="v1", card={}, encoder=encoder, estimator=candidate,
                        calibration=(0.9, -0.2), scale="probability", reference=[],
                        cuts=[("Hot", 40), ("Warm", 20), ("Cold", 0)], reason_count=3,
                        reason_length=60)


def plain_contributions(estimator, X: np.ndarray) -> np.ndarray:
    """The estimator's exact contributions, computed the plain way."""
    if isinstance(estimator, LinearCandidate):
        Z, source = estimator._expand(X)
        out = np.zeros((len(X), estimator.n_inputs_ + 1))
        np.add.at(out.T, source, ((Z - estimator.center_) * estimator.coef_).T)
        out[:, -1] = estimator.intercept_ + float(estimator.center_ @ estimator.coef_)
        return out
    compact = estimator.booster_.predict(estimator._matrix(X), pred_contribs=True)
    out = np.zeros((len(X), estimator.n_inputs_ + 1))
    out[:, [cols[0] for _, cols in estimator.groups_]] = compact[:, :-1]
    out[:, -1] = compact[:, -1]
    return out


def per_lead(model: ScoringModel, records: list) -> list[LeadScore]:
    """Every lead read, phrased and tallied on its own."""
    records = [r if isinstance(r, dict) else {} for r in records]
    encoder, features = model.encoder, model.encoder.features
    readers = [reader(f) for f in features]
    anchors = [parse_time(r.get(encoder.time_field)) for r in records]
    columns = [[read(r, a) for r, a in zip(records, anchors)] for read in readers]
    X = encoder.matrix(columns, len(records)).values
    names = list(dict.fromkeys(encoder.fields_))
    fold = np.zeros((len(encoder.fields_), len(names)))
    fold[np.arange(len(encoder.fields_)), [names.index(f) for f in encoder.fields_]] = 1.0
    slope, intercept = model.calibration
    raw = plain_contributions(model.estimator, X)
    fields = (raw[:, :-1] @ fold) * slope
    base = raw[:, -1] * slope + intercept
    probability = expit(fields.sum(axis=1) + base)
    scores = to_scores(probability, model.scale, model.reference)
    tiers = to_tiers(scores, model.cuts)
    out = []
    for i, record in enumerate(records):
        phrases = []
        for j in np.argsort(-np.abs(fields[i]), kind="stable")[: model.reason_count]:
            if abs(fields[i, j]) >= MIN_STRENGTH:
                k = [f.field for f in features].index(names[j])
                text = value_text(features[k], readers[k](record, anchors[i]),
                                  record.get(names[j]))
                phrases.append(phrase(features[k], text, fields[i, j]))
        out.append(LeadScore(float(probability[i]), int(scores[i]), tiers[i],
                             join_reasons(phrases, model.separator, model.reason_length),
                             dict(zip(names, np.round(fields[i], 4).tolist()))))
    return out


@pytest.mark.parametrize("candidate", [
    LinearCandidate(C=0.5),
    TreeCandidate(max_depth=6, rounds=25, eta=0.3, min_child_weight=1),
    TreeCandidate(forest=True, max_depth=6, min_child_weight=2),
], ids=["linear", "xgboost", "forest"])
def test_batch_scoring_equals_per_lead_scoring(candidate):
    leads, y = mixed_leads(MIN_ROWS + 400, seed=0)
    model = scoring_model(candidate, leads, y)
    batch, _ = mixed_leads(MIN_ROWS + 200, seed=1)  # the trees take the per-cell path
    got, want = model.score(batch), per_lead(model, batch)
    assert [s.reason for s in got] == [s.reason for s in want]
    assert got == want
    shown = {p.split(" ", 1)[1].split(" ")[0] for s in got for p in s.reason.split(" · ") if p}
    assert len(shown) > 5  # reasons really vary: many fields and values are phrased
    model.reason_length = None
    uncapped = model.score(batch)
    assert uncapped == per_lead(model, batch)
    assert any(a.reason != b.reason for a, b in zip(got, uncapped))  # the cap dropped phrases
    assert all(s.reason for s in got[:50])

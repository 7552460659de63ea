"""Training: refusal, leakage warnings, compete, calibration, promotion, artifacts, restore,
the training profile."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import numpy as np
import pytest

from connector.errors import ModelMissingError, NotEnoughDataError
from connector.model.artifacts import load_holdout, load_profile
from connector.model import load_model, restore_model, train_model, versions
from connector.model.candidates import LinearCandidate, TreeCandidate

from leadsynth import make_leads, make_mapping

FAST = [LinearCandidate(C=1.0), TreeCandidate(max_depth=2, rounds=60)]
NOW = datetime(2024, 1, 1, tzinfo=timezone.utc)


def train(leads, mapping, model_dir, **kwargs):
    kwargs.setdefault("candidates", FAST)
    return train_model(leads, mapping, model_dir=model_dir, now=NOW, **kwargs)


def test_trains_saves_and_scores(leads, mapping, tmp_path):
    result = train(leads, mapping, tmp_path)
    assert result.promoted and result.version == "v0001" and result.warnings == []
    card = result.card
    assert card["counts"]["closed"] == 2160 and card["counts"]["holdout"] == 432
    assert {c["name"] for c in card["candidates"]} == {c.name for c in FAST}
    assert sum(c["chosen"] for c in card["candidates"]) == 1
    assert result.metrics["roc_auc"] > 0.7 and card["baseline"]["kind"] == "points rule"
    assert card["trained_at"] == NOW.isoformat()
    files = sorted(p.name for p in (tmp_path / "v0001").iterdir())
    assert not any(name.endswith((".pkl", ".joblib", ".pickle")) for name in files)
    json.loads((tmp_path / "v0001" / "model.json").read_text())
    y, p = load_holdout(tmp_path / "v0001")
    assert len(y) == len(p) == 432 and set(y) == {0, 1} and all(0 < v < 1 for v in p)
    model = load_model(tmp_path)
    scores = model.score(leads[-5:])
    assert model.version == "v0001" and len(scores) == 5
    assert all(0 <= s.score <= 100 and s.tier in {"Hot", "Warm", "Cool", "Cold"} for s in scores)


def test_probabilities_are_calibrated_on_the_newest_leads(leads, mapping, tmp_path):
    train(leads, mapping, tmp_path)
    model = load_model(tmp_path)
    closed = [r for r in leads if mapping.outcome_of(r) is not None][-432:]
    y = np.array([mapping.outcome_of(r) for r in closed], dtype=float)
    assert abs(model.probabilities(closed).mean() - y.mean()) < 0.02


def test_refuses_too_little_data(mapping, tmp_path):
    few = make_leads(150)
    with pytest.raises(NotEnoughDataError, match="only 150 closed leads"):
        train(few, mapping, tmp_path)
    assert train(few, mapping, tmp_path, min_closed=100, min_positive=10).version == "v0001"


def test_refuses_too_few_conversions(tmp_path):
    mapping = make_mapping(training={"min_closed": 100, "min_converted": 5000})
    with pytest.raises(NotEnoughDataError, match="training needs at least 100 closed and 5000"):
        train(make_leads(300), mapping, tmp_path)


def test_warns_about_leaking_fields(leads, tmp_path):
    leaky = [{**r, "ConvertedDate": "2024-01-02" if r["IsConverted"] else None,
              "Stage": "Won" if r["IsConverted"] else "Nurture"} for r in leads]
    features = make_mapping().model_dump()["features"] + [
        {"field": "ConvertedDate", "kind": "text_present", "label": "Converted {value}"},
        {"field": "Stage", "kind": "category", "label": "Stage {value}"}]
    result = train(leaky, make_mapping(features=features), tmp_path, force=True)
    assert any("ConvertedDate" in w and "likely leakage" in w for w in result.warnings)
    assert any("Stage" in w and "almost perfectly" in w for w in result.warnings)
    assert not any("Visits" in w or "LeadSource" in w for w in result.warnings)


def test_not_promoted_when_worse_than_live_then_forced_and_restored(leads, mapping, tmp_path):
    assert train(leads, mapping, tmp_path).promoted
    noisy = make_mapping(features=[{"field": "Region", "kind": "category", "label": "R"}],
                         baseline=None)
    worse = train(leads, noisy, tmp_path)
    assert not worse.promoted and "worse than the live model v0001" in worse.card["decision"]
    assert load_model(tmp_path).version == "v0001" and versions(tmp_path) == ["v0001", "v0002"]
    assert train(leads, noisy, tmp_path, force=True).promoted
    assert load_model(tmp_path).version == "v0003"
    assert restore_model(tmp_path, "v0001").version == "v0001"
    assert load_model(tmp_path).version == "v0001"
    with pytest.raises(ModelMissingError):
        restore_model(tmp_path, "v0042")


def test_not_promoted_when_admin_score_field_wins(leads, tmp_path):
    perfect = [{**r, "Rating_Score__c": 100 if r["IsConverted"] else 1} for r in leads]
    mapping = make_mapping(baseline={"score_field": "Rating_Score__c"})
    result = train(perfect, mapping, tmp_path)
    assert not result.promoted and "does not beat the admin baseline" in result.card["decision"]
    with pytest.raises(ModelMissingError):
        load_model(tmp_path)


def test_leads_without_time_are_skipped_with_a_warning(leads, mapping, tmp_path):
    broken = [dict(r, CreatedDate="garbage") if i % 50 == 0 else r for i, r in enumerate(leads)]
    result = train(broken, mapping, tmp_path)
    assert result.card["counts"]["skipped_no_time"] == 44
    assert any("no readable CreatedDate" in w for w in result.warnings)


def test_training_saves_a_binned_profile_without_ids_or_raw_values(leads, mapping, tmp_path):
    train(leads, mapping, tmp_path)
    text = (tmp_path / "v0001" / "profile.json").read_text()
    assert "00Q" not in text and "555" not in text  # no record ids, no phone numbers
    profile = load_profile(tmp_path / "v0001")
    assert profile["rows"] == 2160 and profile["format"] == 1
    entries = {e["field"]: e for e in profile["features"]}
    assert list(entries) == ["LeadSource", "Visits", "Phone", "Region"]
    assert entries["LeadSource"]["labels"] == ["web", "cold call", "webinar", "partner",
                                               "(other)", "(missing)"]
    assert entries["Phone"]["labels"] == ["yes", "no", "(other)", "(missing)"]
    assert entries["Phone"]["shares"][0] == pytest.approx(0.6, abs=0.03)
    visits = entries["Visits"]
    assert visits["edges"] == sorted(visits["edges"]) and visits["shares"][-1] == 0.0
    for entry in [*entries.values(), profile["score"]]:
        assert sum(entry["shares"]) == pytest.approx(1.0, abs=1e-5)
    assert len(profile["score"]["shares"]) == len(profile["score"]["edges"]) + 2


def test_a_version_without_a_readable_profile_loads_as_none(tmp_path):
    assert load_profile(tmp_path) is None  # saved before profiles existed
    (tmp_path / "profile.json").write_text('{"format": 99}')
    assert load_profile(tmp_path) is None  # written by a newer leadscore

"""The promotion guard grades the live model fairly: with its own fields and encoder, on the
same holdout leads, refit on the same training leads (never on the holdout it is graded on)."""

from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
import pytest
from leadsynth import make_leads, make_mapping

from connector.mapping import load_mapping
from connector.model import load_model, metrics, train_model
from connector.model.candidates import LinearCandidate, TreeCandidate
from connector.model.guard import FIELDS_CHANGED
from connector.sandbox import Sandbox
from connector.sync.training_inputs import pull_records
from connector.sync.workspace import live_model_fields, pull_history
from tests.admin_support import salesforce_mapping, small_seed
from tests.crm.conftest import salesforce_connection, salesforce_environ
from connector.crm import open_crm

NOW = datetime(2024, 1, 1, tzinfo=timezone.utc)
LINEAR = [LinearCandidate(C=1.0)]


def test_after_a_mapping_change_the_live_model_is_graded_with_its_own_fields(tmp_path):
    leads = make_leads(2400)
    first = train_model(leads, make_mapping(), model_dir=tmp_path, now=NOW, candidates=LINEAR)
    narrow = make_mapping(features=[{"field": "Region", "kind": "category", "label": "R"}],
                          baseline=None)
    second = train_model(leads, narrow, model_dir=tmp_path, now=NOW, candidates=LINEAR)
    live = second.card["live_model"]
    assert live["fields"] == FIELDS_CHANGED
    assert live["fields_removed"] == ["LeadSource", "Visits", "Phone"]
    assert live["fields_added"] == [] and "fields_not_pulled" not in live
    # Same leads, same training slice, its own three strong fields: its own holdout figure.
    assert live["roc_auc"] == pytest.approx(first.card["holdout"]["roc_auc"], abs=1e-3)
    assert not second.promoted and "worse than the live model v0001" in second.card["decision"]
    # Graded on records that lack the live model's fields, the card says which were missing.
    stripped = [{k: v for k, v in r.items() if k not in ("Visits", "Phone")} for r in leads]
    third = train_model(stripped, narrow, model_dir=tmp_path, now=NOW, candidates=LINEAR)
    assert third.card["live_model"]["fields_not_pulled"] == ["Visits", "Phone"]


def test_a_live_model_whose_refit_saw_the_holdout_is_not_flattered(tmp_path):
    # A continuous field that carries no signal lets deep trees memorise single leads.
    rng = np.random.default_rng(3)
    leads = [{**r, "Noise": float(rng.random())} for r in make_leads(1200)]
    features = make_mapping().model_dump()["features"] + [
        {"field": "Noise", "kind": "number", "label": "Noise {value}"}]
    mapping = make_mapping(baseline=None, features=features)
    memorise = [TreeCandidate(forest=True, max_depth=8, min_child_weight=0.01)]
    first = train_model(leads, mapping, model_dir=tmp_path, now=NOW, candidates=memorise,
                        cost_of=lambda candidate, X: 0.0)
    closed = [r for r in leads if mapping.outcome_of(r) is not None]
    hold = closed[-first.card["counts"]["holdout"]:]
    y = np.array([mapping.outcome_of(r) for r in hold], dtype=int)
    as_saved = metrics.roc_auc(y, load_model(tmp_path).probabilities(hold))
    own = first.card["holdout"]["roc_auc"]
    assert as_saved > own + 0.15  # the saved model was refit on these very leads
    again = train_model(leads, mapping, model_dir=tmp_path, now=NOW, candidates=memorise,
                        cost_of=lambda candidate, X: 0.0)
    assert again.card["live_model"]["roc_auc"] == pytest.approx(own, abs=1e-3)
    assert again.card["live_model"]["own_holdout_roc_auc"] == own
    assert "fields" not in again.card["live_model"]
    assert again.promoted, again.card["decision"]
    # No baseline configured: the decisions never claim to beat one.
    assert first.card["decision"] == "no admin baseline configured and no live model"
    assert again.card["decision"].startswith("is not worse than the live model v0001 (")


def test_the_history_pull_brings_the_live_models_fields_the_mapping_dropped(tmp_path):
    full = load_mapping(salesforce_mapping(tmp_path))
    narrow = load_mapping(salesforce_mapping(tmp_path, name="narrow.yaml"))
    narrow = narrow.model_copy(update={"features": [narrow.features[1]]})  # Job__c only
    with Sandbox(crms=("salesforce",), seed=small_seed(tmp_path),
                 directory=tmp_path / "sandbox") as sandbox:
        crm = open_crm(salesforce_connection(sandbox), environ=salesforce_environ(sandbox))
        try:
            records = list(pull_history(crm, full))
            train_model(records, full, model_dir=tmp_path / "models", now=NOW,
                        candidates=LINEAR, min_closed=100, min_positive=10)
            without = list(pull_history(crm, narrow))
            with_live = list(pull_history(crm, narrow, tmp_path / "models"))
            also = live_model_fields(crm, narrow, tmp_path / "models")
            records_also = [values for _, values in pull_records(crm, narrow, also=also)]
        finally:
            crm.close()
    assert "Age__c" not in without[0] and "Age__c" in with_live[0]
    assert len(with_live) == len(records) == 400
    assert also == ["Age__c"] and "Age__c" in records_also[0]  # the point-in-time pull

"""The model search: trees win when the signal is an interaction, scoring cost is weighed
against the org's size (not capped), and the exclusions are on the card."""

from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
import pytest
from leadsynth import make_interaction_leads, make_mapping

from connector.model import load_model, train_model
from connector.model import metrics
from connector.model.candidates import LinearCandidate, TreeCandidate, default_candidates
from connector.model.selection import Volume, weigh

NOW = datetime(2024, 1, 1, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def interaction():
    """3,000 leads of history and the 600 newest after them."""
    leads = make_interaction_leads(3600)
    return leads[:3000], leads[3000:]


def test_search_picks_a_tree_when_the_signal_is_an_interaction(interaction, tmp_path):
    history, newest = interaction
    mapping = make_mapping(baseline=None)
    result = train_model(history, mapping, model_dir=tmp_path / "all", now=NOW)
    chosen = next(c for c in result.card["candidates"] if c["chosen"])
    assert chosen["family"] in ("xgboost", "random_forest")
    linear = [c for c in default_candidates() if isinstance(c, LinearCandidate)]
    train_model(history, mapping, model_dir=tmp_path / "linear", now=NOW, candidates=linear)
    y = np.array([lead["IsConverted"] for lead in newest], dtype=int)
    tree_auc = metrics.roc_auc(y, load_model(tmp_path / "all").probabilities(newest))
    linear_auc = metrics.roc_auc(y, load_model(tmp_path / "linear").probabilities(newest))
    assert tree_auc >= linear_auc + 0.03
    assert result.card["exclusions"] == []


def _injected_cost(candidate, X):
    """Seconds per lead: 1 ms for trees, 1 µs for a linear model (deterministic)."""
    return 1e-6 if candidate.family == "logistic_regression" else 1e-3


@pytest.mark.parametrize("org_leads, tree_affordable", [(10_000, True), (5_000_000, False)])
def test_a_small_org_affords_a_model_a_large_one_does_not(interaction, tmp_path, org_leads,
                                                            tree_affordable):
    history, _ = interaction
    candidates = [LinearCandidate(C=0.1), TreeCandidate(max_depth=3, eta=0.1)]
    result = train_model(history, make_mapping(baseline=None), model_dir=tmp_path, now=NOW,
                         candidates=candidates, volume=Volume(org_leads=org_leads),
                         cost_of=_injected_cost)
    rows = {c["family"]: c for c in result.card["candidates"]}
    assert rows["xgboost"]["rescan_s"] == pytest.approx(org_leads * 1e-3)
    assert rows["xgboost"]["chosen"] is tree_affordable
    if tree_affordable:
        assert result.card["exclusions"] == []
    else:
        assert result.card["exclusions"] == [
            "xgboost(depth=3, eta=0.1, leaf_weight=5, subsample=0.8) excluded: a full rescan "
            "of 5,000,000 leads with exact reasons would take 1 h 23 min of scoring, over the "
            "10-minute budget"]
        assert rows["logistic_regression"]["chosen"]
    assert result.card["volume"]["rescan_budget_minutes"] == 10


def test_cost_figures_per_sync_and_budget_edge():
    row = weigh(2e-4, Volume(org_leads=3_000_000, changed_per_sync=5_000), 10)
    assert row["rescan_s"] == 600.0 and row["excluded"] is None and row["sync_s"] == 1.0
    assert "10 min" in weigh(2e-4, Volume(org_leads=3_000_001), 10)["excluded"]


def test_when_no_candidate_fits_the_cheapest_is_used_and_says_so(interaction, tmp_path):
    history, _ = interaction
    result = train_model(history, make_mapping(baseline=None), model_dir=tmp_path, now=NOW,
                         candidates=[LinearCandidate(C=0.1), TreeCandidate(max_depth=3)],
                         volume=Volume(org_leads=10**9), cost_of=_injected_cost)
    chosen = next(c for c in result.card["candidates"] if c["chosen"])
    assert chosen["family"] == "logistic_regression" and "cheapest" in chosen["note"]
    assert len(result.card["exclusions"]) == 1


def test_the_volume_per_sync_is_the_median_of_recent_syncs(tmp_path):
    from connector.state import StateStore
    from connector.state.rows import RunCounts
    from connector.sync.training_run import recent_volume

    with StateStore(f"sqlite:///{tmp_path / 'state.db'}") as state:
        state.ensure_connection("sf", "salesforce")
        assert recent_volume(state, "sf", 60) == Volume(sync_minutes=60)
        for pulled, kind in [(40_000, "sync"), (120, "sync"), (150, "sync"), (9, "new_leads")]:
            run_id = state.start_run("sf", kind)
            state.add_counts(run_id, RunCounts(pulled=pulled))
            state.finish_run(run_id, "ok")
        volume = recent_volume(state, "sf", 60)
    assert volume == Volume(changed_per_sync=150, sync_minutes=60)  # the rescan does not skew


def test_the_simplest_candidate_within_one_standard_error_wins(interaction):
    from connector.model.features import FeatureEncoder
    from connector.model.metrics import roc_auc_standard_error
    from connector.model.selection import compete

    y = np.r_[np.ones(1000), np.zeros(5590)]
    assert roc_auc_standard_error(y, 0.65) == pytest.approx(0.0100, abs=2e-4)  # Hanley-McNeil
    assert roc_auc_standard_error(np.ones(5), 0.7) == 0.0
    history, _ = interaction
    mapping = make_mapping()
    encoder = FeatureEncoder(mapping.features, mapping.time_field).fit(history[:2400])
    old, hold = encoder.transform(history[:2400]), encoder.transform(history[2400:]).values
    y_old = np.array([r["IsConverted"] for r in history[:2400]], dtype=int)
    y_hold = np.array([r["IsConverted"] for r in history[2400:]], dtype=int)
    # Two strengths of the same linear model: within a standard error, the simpler one wins.
    winner, table = compete([LinearCandidate(C=0.01), LinearCandidate(C=1.0)], old, y_old, hold,
                            y_hold, volume=Volume(org_leads=3000), budget_minutes=10,
                            cost_of=_injected_cost)
    assert abs(table[0]["roc_auc"] - table[1]["roc_auc"]) < roc_auc_standard_error(y_hold, 0.7)
    assert winner.C == 0.01 and table[0]["chosen"]

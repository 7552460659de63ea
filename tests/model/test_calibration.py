"""Calibration: Platt's fit itself, and what retrains on changing histories make of it."""

from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
import pytest
from scipy.special import expit, logit
from sklearn.linear_model import LogisticRegression

from connector.model import load_model, metrics, train_model
from connector.model.calibration import calibrate, platt, recency_weights
from connector.model.candidates import LinearCandidate, TreeCandidate, fresh

from leadsynth import make_changing_leads, make_drifting_leads, make_mapping

NOW = datetime(2024, 1, 1, tzinfo=timezone.utc)


def outcomes(leads: list[dict]) -> np.ndarray:
    return np.array([int(lead["IsConverted"]) for lead in leads])


def test_platt_matches_an_unpenalised_fit_even_when_margins_barely_vary():
    # A boosted model stopped after a few rounds: margins near -3, spread 0.02. Plain Newton
    # on the raw margin ran off to a slope in the hundreds of millions here.
    rng = np.random.default_rng(0)
    z = rng.normal(size=5000)
    margin = -3.0 + 0.02 * z
    y = (rng.random(5000) < expit(-1.2 + 0.8 * z)).astype(int)
    reference = LogisticRegression(C=np.inf, tol=1e-10, max_iter=1000).fit(margin[:, None], y)
    slope, intercept = platt(margin, y)
    assert abs(slope - reference.coef_[0, 0]) < 0.01 * abs(reference.coef_[0, 0])
    assert abs(intercept - reference.intercept_[0]) < 0.05
    assert 30 < slope < 50


def test_constant_margins_give_the_rate_and_no_slope():
    y = np.array([1, 0, 0, 0])
    slope, intercept = platt(np.full(4, 2.0), y)
    assert slope == 0.0 and abs(expit(intercept) - 0.25) < 1e-6


def test_calibrate_matches_the_recency_weighted_rate():
    rng = np.random.default_rng(1)
    margin = rng.normal(-2, 1, size=4000)
    # Conversions become twice as likely in the newest leads than the margins say.
    y = (rng.random(4000) < expit(margin + np.linspace(0, 1, 4000))).astype(int)
    slope, intercept = calibrate(margin, y)
    weights = recency_weights(4000, 0.1)
    p = expit(slope * margin + intercept)
    assert abs(np.average(p, weights=weights) - np.average(y, weights=weights)) < 1e-6
    assert intercept > 0.5  # follows the newest leads, not the history's average


def test_a_pattern_that_turned_over_does_not_flatten_the_scores(tmp_path):
    """The model trained on older leads ranks the newest ones backwards (slope below 0); the
    model refit on all history has learned the new pattern. Its calibration is its own: the
    next leads get spread scores that hold, not one flat score (a slope carried over from the
    older model, clamped at 0.05, gave every lead nearly the same score)."""
    leads = make_changing_leads(3000)
    history, following = leads[:2700], leads[2700:]
    result = train_model(history, make_mapping(), model_dir=tmp_path, now=NOW,
                         candidates=[LinearCandidate(C=1.0, half_life=0.1)], force=True)
    assert result.card["calibration"]["holdout_slope"] < 0.05
    assert any("barely ranks the newest closed leads" in w for w in result.warnings)
    model = load_model(tmp_path)
    p = model.probabilities(following)
    y = outcomes(following)
    assert metrics.roc_auc(y, p) > 0.65
    assert len({lead.score for lead in model.score(following)}) >= 10
    next_slope, _ = platt(logit(p), y)
    assert 0.5 < next_slope < 2.5
    assert abs(p.mean() - y.mean()) < 0.06


def test_consecutive_retrains_keep_comparable_levels(tmp_path):
    """The weekly retrain on a history whose rate climbs: each retrain scores the same leads
    higher as the rate rises, with about the same spread, so scores of one week compare with
    the next; pooled over the weeks the ranking is no worse than within each week."""
    leads = make_drifting_leads(5000)
    reference = leads[3000:3400]
    blocks = [(4250, 4500), (4500, 4750), (4750, 5000)]
    means, spreads, pooled_p, pooled_y, within = [], [], [], [], []
    for i, (start, end) in enumerate(blocks):
        folder = tmp_path / f"week{i}"
        train_model(leads[:start], make_mapping(), model_dir=folder, now=NOW, force=True,
                    candidates=[LinearCandidate(C=1.0), TreeCandidate(max_depth=2, rounds=60)])
        model = load_model(folder)
        ref = model.probabilities(reference)
        means.append(ref.mean())
        spreads.append(logit(ref).std())
        p, y = model.probabilities(leads[start:end]), outcomes(leads[start:end])
        pooled_p.append(p)
        pooled_y.append(y)
        within.append(metrics.roc_auc(y, p))
    assert means[0] < means[1] < means[2]
    assert all(0.67 < b / a < 1.5 for a, b in zip(spreads, spreads[1:]))
    pooled = metrics.roc_auc(np.concatenate(pooled_y), np.concatenate(pooled_p))
    assert pooled >= np.mean(within)


def test_the_refit_keeps_the_recency_half_life_in_leads(tmp_path):
    """Chosen on the older 80% with weights halving every 30% of those rows, the winner is
    refit on all rows with the same span in leads (24% of them), as the guard refits it back."""
    assert fresh(LinearCandidate(C=1.0, half_life=0.3), 800, 1000).half_life == pytest.approx(0.24)
    tree = fresh(TreeCandidate(half_life=0.5, rounds=40), 600, 1200)
    assert tree.half_life == pytest.approx(0.25) and tree.rounds == 40
    assert fresh(LinearCandidate(C=1.0), 800, 1000).half_life is None
    assert fresh(LinearCandidate(C=1.0, half_life=0.3)).half_life == 0.3
    leads = make_drifting_leads(2000)
    result = train_model(leads, make_mapping(), model_dir=tmp_path, now=NOW,
                         candidates=[LinearCandidate(C=1.0, half_life=0.3)])
    assert result.card["chosen"] == "logistic_regression(C=1, half-life 0.3)"
    assert result.card["refit_as"] == "logistic_regression(C=1, half-life 0.24)"
    assert load_model(tmp_path).estimator.half_life == pytest.approx(0.24)

"""The training profile and PSI against it: hand-computed cases, binning, round trips."""

from __future__ import annotations

import math

import pytest

from connector.model.features import MISSING, OTHER, FeatureEncoder
from connector.model.profile import (EPSILON, build_profile, categorical_entry, drift,
                                     numeric_entry, psi, shares)


def test_psi_of_identical_shares_is_zero():
    assert psi([0.1, 0.2, 0.3, 0.4], [0.1, 0.2, 0.3, 0.4]) == 0.0
    assert psi([0.5, 0.5, 0.0], [0.5, 0.5, 0.0]) == 0.0  # an empty bin on both sides adds nothing


def test_psi_matches_a_hand_computed_case():
    # (0.25 - 0.5) ln(0.25 / 0.5) + (0.75 - 0.5) ln(0.75 / 0.5) = 0.173287 + 0.101366
    assert psi([0.5, 0.5], [0.25, 0.75]) == pytest.approx(0.274653, abs=1e-6)


def test_psi_floors_an_empty_bin_at_epsilon():
    # The empty expected bin counts as EPSILON: (0.1 - 1e-4) ln(0.1 / 1e-4) = 0.690085
    expected = 0.0 + (0.4 - 0.5) * math.log(0.4 / 0.5) + (0.1 - EPSILON) * math.log(0.1 / EPSILON)
    assert psi([0.5, 0.5, 0.0], [0.5, 0.4, 0.1]) == pytest.approx(expected)
    assert psi([0.5, 0.5, 0.0], [0.5, 0.4, 0.1]) == pytest.approx(0.712399, abs=1e-6)
    assert math.isfinite(psi([1.0, 0.0], [0.0, 1.0]))


def test_psi_refuses_different_bins():
    with pytest.raises(ValueError, match="same bins"):
        psi([0.5, 0.5], [1.0])


def test_numeric_entry_bins_by_training_deciles_with_a_missing_bin():
    entry = numeric_entry([float(v) for v in range(1, 11)] + [None] * 10)
    assert len(entry["edges"]) == 9 and entry["edges"][0] == pytest.approx(1.9)
    assert len(entry["shares"]) == 11 and entry["shares"][-1] == 0.5
    assert entry["shares"][:-1] == [0.05] * 10
    assert shares(entry, [100.0, -5.0, None, None]) == [0.25] + [0.0] * 8 + [0.25, 0.5]


def test_numeric_entry_merges_repeated_deciles_and_survives_no_values():
    assert numeric_entry([3.0] * 20)["edges"] == [3.0]
    assert numeric_entry([123_456.0, 123_457.0])["edges"] == [123_000.0]
    assert numeric_entry([None, None]) == {"edges": [], "shares": [0.0, 1.0]}


def test_categorical_entry_keeps_known_levels_then_other_and_missing():
    entry = categorical_entry(["web", "web", "fax", None], ["web", "webinar"])
    assert entry == {"labels": ["web", "webinar", OTHER, MISSING],
                     "shares": [0.5, 0.0, 0.25, 0.25]}


def test_training_rows_do_not_drift_from_their_own_profile(leads, mapping):
    closed = [r for r in leads if mapping.outcome_of(r) is not None]
    encoder = FeatureEncoder(mapping.features, mapping.time_field).fit(closed)
    scores = [r["Visits"] * 7 for r in closed]  # any score works; it is binned like an input
    profile = build_profile(encoder, closed, scores)
    assert profile["rows"] == len(closed)
    assert [e["field"] for e in profile["features"]] == [f.field for f in mapping.features]
    assert all(sum(e["shares"]) == pytest.approx(1.0, abs=1e-5) for e in profile["features"])
    score, fields = drift(profile, encoder, closed, scores)
    assert score == pytest.approx(0.0, abs=1e-6)
    assert all(value == pytest.approx(0.0, abs=1e-6) for value in fields.values())
    shifted = [{**r, "Visits": r["Visits"] + 6, "Phone": None} for r in closed]
    _, moved = drift(profile, encoder, shifted, scores)
    assert moved["Visits"] > 0.25 and moved["Phone"] > 0.25 and moved["Region"] < 0.01
    assert drift(profile, encoder, [], []) == (None, {})

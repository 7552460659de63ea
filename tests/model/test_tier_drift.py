"""The tier-drift rule: far means a large gap (x1.5 or /2) that chance does not explain."""

import pytest

from connector.model.tier_drift import explain, intended_shares, is_far, tier_drift

INTENDED = {"Hot": 0.10, "Warm": 0.20, "Cool": 0.30, "Cold": 0.40}


def test_the_demo_case_45_percent_hot_where_10_percent_was_intended():
    counts = {"Hot": 3707, "Warm": 2100, "Cool": 1500, "Cold": 931}  # 8,238 open leads
    drift = tier_drift(INTENDED, counts)
    assert [d.tier for d in drift] == ["Hot", "Cold"]
    hot = drift[0]
    assert hot.larger and hot.upper and round(hot.current, 2) == 0.45 and hot.total == 8238
    line = explain(hot, "probability")
    assert line.startswith("tier Hot holds 45% of today's open leads (3,707 of 8,238) but was "
                           "cut to hold 10% of past leads")
    assert "score better" in line and "retrain" in line and "scale: percentile" in line
    assert "score better" in explain(drift[1], "probability")  # fewer Cold: better leads too
    assert "scale: percentile" not in explain(hot, "percentile")


@pytest.mark.parametrize("leads, total, far", [
    (150, 1000, True),     # 15 % vs 10 %: 1.5 x, 5.3 sigma
    (140, 1000, False),    # 14 %: significant (4.2 sigma) but not 1.5 x
    (50, 1000, True),      # 5 %: half, 5.3 sigma
    (60, 1000, False),     # 6 %: not half
    (8, 40, False),        # 20 % of 40 leads: twice, but 1.1 sigma: chance
    (20, 29, False),       # under 30 leads nothing is judged
    (11000, 100000, False),  # 11 %: very significant, too small to matter
])
def test_far_needs_a_large_gap_that_chance_does_not_explain(leads, total, far):
    assert is_far(0.10, leads, total) is far


def test_tiers_on_target_raise_nothing_and_no_leads_is_no_drift():
    assert tier_drift(INTENDED, {"Hot": 98, "Warm": 205, "Cool": 310, "Cold": 387}) == []
    assert tier_drift(INTENDED, {}) == []


def test_intended_shares_from_the_reference_quantiles():
    reference = [i / 100 for i in range(101)]  # history probabilities spread evenly over 0-1
    cuts = [("Hot", 90), ("Warm", 70), ("Cool", 40), ("Cold", 0)]
    shares = intended_shares(reference, "probability", cuts)
    assert shares == pytest.approx({"Hot": 0.10, "Warm": 0.20, "Cool": 0.30, "Cold": 0.40},
                                   abs=0.01)
    assert intended_shares(reference, "percentile", cuts) == pytest.approx(shares, abs=0.01)

"""The uplift statistics with values computed by hand and published ones (Newcombe 1998), the
report's sentences, and the sandbox's seeded task effect that a pilot has to find."""

from __future__ import annotations

import math

import pytest

from connector.admin.uplift import (
    Lead, closed_needed, headline, median_days, newcombe, ranking_auc, uplift_rows, wilson)
from connector.sandbox.timeline import CloseRequest, CloseRequestError, decide_outcomes


def test_wilson_by_hand_and_as_published():
    # 41/100 by hand: z^2 = 3.8415, centre (0.41 + 0.019207) / 1.038415 = 0.41333,
    # half 1.96 * sqrt(0.002419 + 0.000096) / 1.038415 = 0.094656.
    p, low, high = wilson(41, 100)
    assert (p, round(low, 4), round(high, 4)) == (0.41, 0.3187, 0.5080)
    # Newcombe (1998), Stat Med 17:857, example 81/263: 0.2553 to 0.3662.
    assert [round(v, 4) for v in wilson(81, 263)[1:]] == [0.2553, 0.3662]
    assert wilson(0, 10)[1] == 0.0 and round(wilson(0, 10)[2], 4) == 0.2775
    assert math.isnan(wilson(0, 0)[0])


def test_newcombe_difference_as_published():
    # Newcombe (1998), Stat Med 17:873, method 10 (hybrid score, no continuity correction).
    assert [round(v, 4) for v in newcombe(56, 70, 48, 80)] == [0.2, 0.0524, 0.3339]
    assert [round(v, 4) for v in newcombe(9, 10, 3, 10)] == [0.6, 0.1705, 0.8090]
    d, low, high = newcombe(30, 100, 30, 100)
    assert d == 0 and round(low, 4) == -round(high, 4) and low < 0 < high


def test_closed_needed_by_hand():
    # 0.4 vs 0.3, control share 0.2: 3.8415 * (0.24/0.8 + 0.21/0.2) / 0.01 = 518.6 -> 519.
    assert closed_needed(0.4, 0.3, 0.2, 0.1) == 519
    assert closed_needed(0.4, 0.3, 0.5, 0.1) == 346  # a balanced split needs fewer


def _leads(tier: str, group: str, converted: int, lost: int, still_open: int = 0,
           score: int = 50) -> list[Lead]:
    return ([Lead(group, tier, score, True)] * converted + [Lead(group, tier, score, False)] * lost
            + [Lead(group, tier, score, None)] * still_open)


def test_rows_per_would_be_tier_and_the_headline_sentences():
    leads = (_leads("Hot", "scored", 82, 118, 7) + _leads("Hot", "control", 17, 33, 2)
             + _leads("Cold", "scored", 10, 190) + _leads("Cold", "control", 2, 48))
    rows = uplift_rows(leads, ["Hot", "Warm", "Cold"])
    assert [r.tier for r in rows] == ["All", "Hot", "Warm", "Cold"]
    hot = rows[1]
    assert (hot.scored, hot.control, hot.open_scored, hot.open_control) == (
        (82, 200), (17, 50), 7, 2)
    assert rows[0].scored == (92, 400) and rows[2].scored == (0, 0)
    # 41% vs 34%: the difference (+7) is not told from zero with 50 control leads.
    # Control 17/50 by hand: centre 0.378415 / 1.076830 = 0.351416, half 0.127046, so
    # 0.2244 to 0.4785 and "±14" (the longer side). Needed: 3.8415 * (0.41 * 0.59 / 0.8
    # + 0.34 * 0.66 / 0.2) / 0.07^2 = 1116.7 -> 1,117, minus the 250 closed: 867 more.
    assert not hot.measurable
    assert [round(v, 4) for v in hot.control_rate[1:]] == [0.2244, 0.4785]
    assert headline(hot, 0.2) == (
        "Hot leads reps saw converted 41% (±7), Hot leads they did not 34% (±14): no "
        "measurable difference yet (need about 867 more closed leads to tell 7 points from "
        "zero).")
    big = uplift_rows(_leads("Hot", "scored", 820, 1180) + _leads("Hot", "control", 130, 370),
                      ["Hot"])[1]
    assert big.measurable
    assert headline(big, 0.2) == (
        "Hot leads reps saw converted 41% (±2), Hot leads they did not 26% (±4): +15 points "
        "(95% interval +10 to +19).")
    same = uplift_rows(_leads("Hot", "scored", 400, 1600) + _leads("Hot", "control", 100, 400),
                       ["Hot"])[1]
    assert headline(same, 0.2) == (  # plenty of leads: the interval itself is the answer
        "Hot leads reps saw converted 20% (±2), Hot leads they did not 20% (±4): no "
        "measurable difference (95% interval -4 to +4 points).")
    assert headline(uplift_rows([], ["Hot"])[1], 0.2).startswith(
        "Hot leads: no closed leads in both groups yet")


def test_ranking_on_one_group_and_time_to_conversion():
    leads = [Lead("control", "Hot", 90, True, 3), Lead("control", "Hot", 80, False),
             Lead("control", "Cold", 10, False), Lead("control", "Cold", 80, True, 5),
             Lead("scored", "Hot", 70, True, 1), Lead("control", "Hot", 50, None)]
    # positives 90, 80 against negatives 80, 10: 1 + 1 + 0.5 + 1 = 3.5 of 4 pairs.
    assert ranking_auc(leads, "control") == (0.875, 4)
    assert ranking_auc(leads, "scored") == (None, 1)
    assert median_days(leads, "control") == 4.0 and median_days(leads, "scored") == 1


def test_the_seeded_task_effect_moves_only_leads_with_a_task():
    chosen = [f"L{i}" for i in range(10_000)]
    hidden = {i: n % 4 == 0 for n, i in enumerate(chosen)}  # a 25% hidden rate
    treated = set(chosen[:5000])
    request = CloseRequest.parse({"share": 1.0, "seed": 3, "task_effect": 0.1})
    outcomes = decide_outcomes(request, chosen, hidden, treated)
    rate = lambda ids: sum(outcomes[i] for i in ids) / len(ids)  # noqa: E731
    assert abs(rate(chosen[:5000]) - 0.35) < 0.02 and rate(chosen[5000:]) == 0.25
    assert decide_outcomes(request, chosen, hidden, treated) == outcomes  # seeded
    none = decide_outcomes(CloseRequest.parse({"share": 1.0}), chosen, hidden, treated)
    assert none == hidden
    with pytest.raises(CloseRequestError, match="task_effect"):
        CloseRequest.parse({"share": 1.0, "task_effect": 2})


def test_a_tier_where_scored_leads_do_worse_is_a_warning():
    from connector.admin.report.pilot import pilot_warnings
    rows = uplift_rows(_leads("Hot", "scored", 200, 800) + _leads("Hot", "control", 100, 150),
                       ["Hot"])
    sizes = {"control": 250, "scored": 1000, "released": 0}
    warned = pilot_warnings(rows, 0.2, sizes)
    # 20% vs 40%: -20 points, measurably; both the All row and the Hot row say so.
    assert len(warned) == 2 and warned[1].startswith("Hot leads reps saw converted 20 points "
                                                     "less than control leads")
    assert pilot_warnings(rows, None, sizes)[-1] == (
        "The control group is switched off, but 250 of its leads have no scores in the CRM "
        "yet: run a sync to write them.")
    fine = uplift_rows(_leads("Hot", "scored", 400, 600) + _leads("Hot", "control", 50, 100),
                       ["Hot"])
    assert pilot_warnings(fine, 0.2, sizes) == []

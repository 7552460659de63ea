"""The fault spec parser and its seeded decisions."""

import pytest

from connector.sandbox.faults import FaultPlan, FaultSpecError


def test_parses_kinds_settings_and_route_selectors():
    plan = FaultPlan.parse("429:0.1, hubspot.search:503:0.5, expire:200, retryafter:2, seed:7")
    assert plan.setting("429", "salesforce.query") == 0.1
    assert plan.setting("503", "hubspot.search") == 0.5
    assert plan.setting("503", "hubspot.batch_update") == 0.0
    assert plan.setting("expire", "salesforce.query") == 200
    assert plan.setting("retryafter", "x", default=1) == 2
    assert plan.setting("slowms", "x", default=3000) == 3000


@pytest.mark.parametrize("spec, fragment", [
    ("429", "expected kind:value"),
    ("teapot:0.1", "unknown kind 'teapot'"),
    ("503:lots", "'lots' is not a number"),
    ("drop:1.5", "between 0 and 1"),
    ("expire:-3", "must not be negative"),
    ("a:b:c:d", "expected kind:value"),
])
def test_bad_specs_name_the_item(spec, fragment):
    with pytest.raises(FaultSpecError, match=fragment):
        FaultPlan.parse(spec)


def test_same_seed_same_decisions_and_shares_are_respected():
    def decisions(spec):
        plan = FaultPlan.parse(spec)
        return [plan.draw_call_fault("salesforce", "salesforce.query") for _ in range(4000)]

    first, second = decisions("503:0.2,429:0.1,seed:3"), decisions("503:0.2,429:0.1,seed:3")
    assert first == second
    assert decisions("503:0.2,429:0.1,seed:4") != first
    assert 0.17 < first.count("503") / 4000 < 0.23
    assert 0.08 < first.count("429") / 4000 < 0.12
    assert first.count(None) > 2600


def test_423_is_drawn_for_hubspot_only():
    plan = FaultPlan.parse("423:1")
    assert plan.draw_call_fault("hubspot", "hubspot.batch_update") == "423"
    assert plan.draw_call_fault("salesforce", "salesforce.composite") is None


def test_no_faults_means_no_draws_and_fixed_latency():
    plan = FaultPlan.parse("", latency_ms=100)
    assert plan.draw_call_fault("hubspot", "hubspot.search") is None
    assert plan.reject_record("hubspot", "hubspot.batch_update") is False
    assert plan.latency_s("hubspot") == pytest.approx(0.1)


def test_jitter_stays_within_bounds():
    plan = FaultPlan.parse("seed:1", latency_ms=50, jitter_ms=20)
    delays = [plan.latency_s("salesforce") for _ in range(200)]
    assert all(0.05 <= d <= 0.07 for d in delays)
    assert len(set(delays)) > 100


def test_record_rejection_share():
    plan = FaultPlan.parse("record:0.05,seed:2")
    rejected = sum(plan.reject_record("salesforce", "salesforce.composite") for _ in range(10000))
    assert 400 < rejected < 600

"""The client-side pacer and the daily API budget, on a fake clock (no network, no waiting)."""

from __future__ import annotations

import pytest

from connector.crm.pacing import ApiBudget, Pacer
from connector.errors import ApiBudgetError


class FakeClock:
    """A monotonic clock that only moves when the pacer sleeps or the test says so."""

    def __init__(self) -> None:
        self.now, self.slept = 0.0, []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_the_pacer_sends_a_burst_then_waits_for_the_window_to_roll():
    clock = FakeClock()
    pacer = Pacer(190, 10.0, clock=clock, sleep=clock.sleep)
    for _ in range(171):  # 90% of 190 go at once
        pacer.acquire()
    assert clock.slept == []
    pacer.acquire()
    assert clock.slept == [pytest.approx(10.5)]  # the window, stretched by 5% slack


def test_no_window_ever_holds_more_than_the_allowed_share():
    clock = FakeClock()
    pacer = Pacer(100, 10.0, clock=clock, sleep=clock.sleep)
    sent = []
    for n in range(1_000):
        clock.now += 0.003 * (n % 7)  # uneven gaps between calls
        pacer.acquire()
        sent.append(clock.now)
    for start in sent:
        assert sum(start <= t < start + 10.0 for t in sent) <= 90


def test_the_pacer_adopts_an_announced_limit():
    clock = FakeClock()
    pacer = Pacer(100, 10.0, clock=clock, sleep=clock.sleep)
    pacer.set_limit(250, 10.0)
    for _ in range(225):
        pacer.acquire()
    assert clock.slept == []


def test_the_budget_reads_sforce_limit_info_and_stops_at_the_reserve():
    budget = ApiBudget("salesforce", reserve=0.2)
    budget.check()  # unknown yet: never blocks the first call
    budget.observe_header("api-usage=7999/10000")
    assert budget.remaining == 2001
    budget.check()
    budget.observe_header("api-usage=8000/10000")
    with pytest.raises(ApiBudgetError, match="2,000 of 10,000 calls left"):
        budget.check()


def test_the_budget_ignores_other_limit_info_entries():
    budget = ApiBudget("salesforce", reserve=0.2)
    budget.observe_header("per-app-api-usage=17/250(appName=sample)")
    assert budget.remaining is None


def test_an_until_answer_pacer_measures_the_window_from_each_answer():
    clock = FakeClock()
    pacer = Pacer(5, 1.0, headroom=1.0, slack=0.0, until_answer=True, clock=clock,
                  sleep=clock.sleep)
    for _ in range(5):
        slot = pacer.acquire()
        clock.now += 0.2  # a 200 ms round trip: the portal saw the call somewhere in it
        pacer.release(slot)
    assert clock.slept == []
    pacer.acquire()
    # The first call was answered at 0.2 s: its window ends at 1.2 s, not 1.0 s after sending.
    assert clock.slept == [pytest.approx(0.2)] and clock.now == pytest.approx(1.2)

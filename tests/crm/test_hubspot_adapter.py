"""HubSpot-only behaviour: isolating the one bad value of a batch, pulling past the search cap,
pacing a long run under the portal's rate limits, and keeping the daily reserve."""

from __future__ import annotations

from functools import partial

import pytest

from connector.crm import write_all
from connector.crm.hubspot import pacer_for
from connector.errors import ApiBudgetError
from connector.records import Cursor, FieldSpec, RecordWrite
from connector.sandbox.hubspot_ratelimit import RateLimits


def test_a_batch_of_100_with_one_bad_value_writes_the_other_99(hubspot):
    ids = hubspot.admin.create(100)
    crm = hubspot.connect()
    emails = {i: f"renamed{n}@example.com" for n, i in enumerate(ids)}
    emails[ids[37]] = "not an email"  # passes our checks (it is text); HubSpot refuses it
    before = hubspot.admin.stats()["write_requests"]

    results = crm.write([RecordWrite(i, {"email": e}) for i, e in emails.items()])

    failed = [r for r in results if not r.ok]
    assert [(r.record_id, r.field, r.code) for r in failed] == [(ids[37], "email",
                                                                  "VALIDATION_ERROR")]
    assert "not an email" in failed[0].reason and failed[0].sent
    stored = hubspot.admin.read(ids, ["email"])
    assert all(stored[i]["email"] == emails[i] for i in ids if i != ids[37])
    # Halving isolates the offender in at most 2 * log2(100) further requests; the 6 good
    # halves that came out of the split were written, the failing ones were not.
    assert hubspot.admin.stats()["write_requests"] - before <= 7


def test_more_than_10000_changes_pass_the_search_cap_none_lost_or_repeated(hubspot):
    crm = hubspot.connect()
    cursor = Cursor(crm.server_time)
    ids = hubspot.admin.create(10_500)
    crm.ensure_fields(_score_spec())
    delivered: list[str] = []

    # Like a sync run: every page is written back before the next is read. Those writes move
    # records to the end of any timestamp order; nothing may be skipped or delivered twice.
    for page in crm.pull_changed(cursor, ["email"]):
        delivered += [r.id for r in page.records]
        results = crm.write([RecordWrite(r.id, {"ls_score": 1}) for r in page.records[:100]])
        assert all(r.ok for r in results)

    assert len(delivered) == len(set(delivered)) == 10_500
    assert set(delivered) == set(ids)
    assert hubspot.admin.stats()["http_429"] == 0


def test_20000_writes_at_professional_limits_meet_no_429(start_case):
    case = start_case("hubspot", hubspot_tier="professional")
    ids = case.admin.create(20_000)
    crm = case.connect()
    crm.ensure_fields(_score_spec())
    case.sandbox.hubspot.reset_rate_limits()

    results = [r for batch in write_all(crm, [RecordWrite(i, {"ls_score": 50}) for i in ids])
               for r in batch]

    stats = case.admin.stats()
    assert len(results) == 20_000 and all(r.ok for r in results)
    assert stats["http_429"] == 0
    assert crm.pacer.limit == 190  # learned from the portal's X-HubSpot-RateLimit-Max


def test_connections_on_one_portal_share_its_10_second_window(start_case):
    """HubSpot counts the 10-second bucket per app token: two connections with the same token
    (two mappings on one portal, or the scheduler's jobs) pace against one window."""
    case = start_case("hubspot", hubspot_tier="professional")
    ids = case.admin.create(3)
    first, second = case.connect(), case.connect(timeout_seconds=30)
    assert first.pacer is second.pacer and first.search_pacer is second.search_pacer
    first.read(ids, ["email"])
    assert second.pacer.limit == 190  # the portal's limit, heard through the first connection
    elsewhere = pacer_for(first.connection.base_url, "another app's token")
    assert elsewhere is not first.pacer and elsewhere.limit == 100


def _score_spec():
    return [FieldSpec("ls_score", "Lead score", "number")]


def test_the_daily_reserve_stops_a_run_before_it_is_touched(hubspot):
    ids = hubspot.admin.create(300)
    hubspot.sandbox.hubspot.reset_rate_limits(RateLimits(190, 5, daily=10))
    crm = hubspot.connect()  # describe: 1 call of 10; the reserve is 20%, 2 calls
    recorded = []
    with pytest.raises(ApiBudgetError, match="2 of 10 calls left"):
        for batch in write_all(crm, [RecordWrite(i, {"firstname": "Al"}) for i in ids * 3]):
            recorded += batch
    assert len(recorded) == 700 and crm.usage().daily_remaining == 2


def test_a_call_off_after_the_pacer_sends_nothing(hubspot):
    """``request(..., wanted=...)`` asks again once the pacer lets the call go: a sweep whose
    work the other sweep finished meanwhile sends nothing and counts nothing."""
    hubspot.admin.create(3)
    crm = hubspot.connect()
    before, calls = hubspot.admin.stats()["api_calls"], crm.usage().calls
    page = partial(crm.basic_api.get_page_with_http_info, "contacts", limit=10)
    assert crm.request(page, raw=True, wanted=lambda: False) is None
    assert hubspot.admin.stats()["api_calls"] == before and crm.usage().calls == calls
    answer = crm.request(page, raw=True, wanted=lambda: True)
    assert len(answer["results"]) == 3 and crm.usage().calls == calls + 1
    assert hubspot.admin.stats()["api_calls"] == before + 1

"""Rate limits: the rolling 10-second bucket, the search bucket, the daily count and headers."""

from __future__ import annotations

import pytest
from hubspot.crm.contacts import ApiException as ContactsError

from connector.sandbox.hubspot_ratelimit import RateLimiter, RateLimits

TINY = RateLimits(ten_secondly=5, search_secondly=2, daily=1_000)
SEARCH = {"filterGroups": [], "limit": 1}


def test_every_call_carries_the_rate_limit_headers(http, base_url):
    answer = http.get(f"{base_url}/crm/v3/objects/contacts?limit=1")
    headers = answer.headers
    assert headers["X-HubSpot-RateLimit-Max"] == "190"
    assert headers["X-HubSpot-RateLimit-Remaining"] == "189"
    assert headers["X-HubSpot-RateLimit-Interval-Milliseconds"] == "10000"
    assert headers["X-HubSpot-RateLimit-Daily"] == "650000"
    assert int(headers["X-HubSpot-RateLimit-Daily-Remaining"]) < 650000
    error = http.get(f"{base_url}/crm/v3/objects/contacts/999999999")
    assert error.headers["X-HubSpot-RateLimit-Remaining"] == "188"


def test_the_ten_second_bucket_refuses_with_hubspots_429(portal, http, base_url, client):
    portal.reset_rate_limits(TINY)
    remaining = [http.get(f"{base_url}/crm/v3/objects/contacts?limit=1")
                 .headers["X-HubSpot-RateLimit-Remaining"] for _ in range(5)]
    assert remaining == ["4", "3", "2", "1", "0"]
    refused = http.get(f"{base_url}/crm/v3/objects/contacts?limit=1")
    assert refused.status_code == 429
    body = refused.json()
    assert body["policyName"] == "TEN_SECONDLY_ROLLING" and body["errorType"] == "RATE_LIMIT"
    assert body["message"] == "You have reached your ten_secondly_rolling limit."
    assert body["groupName"].startswith("publicapi:") and body["correlationId"]
    assert "category" not in body  # 429 bodies differ from other errors (notes 2.7)
    assert refused.headers["X-HubSpot-RateLimit-Remaining"] == "0"
    assert "Retry-After" not in refused.headers  # not promised by HubSpot
    with pytest.raises(ContactsError) as caught:
        client.crm.contacts.basic_api.get_page(limit=1)
    assert caught.value.status == 429
    assert portal.stats()["http_429"] >= 2


def test_search_has_its_own_secondly_bucket(portal, http, base_url):
    portal.reset_rate_limits(TINY)
    url = f"{base_url}/crm/v3/objects/contacts/search"
    answers = [http.post(url, json=SEARCH) for _ in range(2)]
    assert [a.status_code for a in answers] == [200, 200]
    # search answers carry the daily pair only: the 10-second headers do not apply to them
    assert "X-HubSpot-RateLimit-Daily-Remaining" in answers[0].headers
    assert "X-HubSpot-RateLimit-Max" not in answers[0].headers
    refused = http.post(url, json=SEARCH)
    assert refused.status_code == 429
    assert refused.json()["policyName"] == "SECONDLY"
    assert refused.json()["message"] == "You have reached your secondly limit."
    # searches do not spend the ten-second bucket, and ordinary calls still pass
    ordinary = http.get(f"{base_url}/crm/v3/objects/contacts?limit=1")
    assert ordinary.status_code == 200
    assert ordinary.headers["X-HubSpot-RateLimit-Remaining"] == "4"


def test_the_daily_allowance(portal, http, base_url):
    portal.reset_rate_limits(RateLimits(ten_secondly=100, search_secondly=5, daily=3))
    statuses = [http.get(f"{base_url}/crm/v3/objects/contacts?limit=1") for _ in range(4)]
    assert [s.status_code for s in statuses] == [200, 200, 200, 429]
    assert statuses[2].headers["X-HubSpot-RateLimit-Daily-Remaining"] == "0"
    assert statuses[3].json()["policyName"] == "DAILY"
    assert portal.stats()["daily_used"] == 3


def test_real_professional_numbers(portal, http, base_url):
    """190 calls in 10 s pass, the 191st is refused; 5 searches a second pass, the 6th not."""
    url = f"{base_url}/crm/v3/objects/companies?limit=1"
    statuses = [http.get(url).status_code for _ in range(191)]
    assert statuses[:190] == [200] * 190 and statuses[190] == 429
    search = f"{base_url}/crm/v3/objects/companies/search"
    searches = [http.post(search, json=SEARCH).status_code for _ in range(6)]
    assert searches == [200] * 5 + [429]


@pytest.mark.parametrize("tier, burst, daily", [
    ("free", 100, 250_000), ("starter", 100, 250_000), ("professional", 190, 650_000),
    ("enterprise", 190, 1_000_000), ("api_add_on", 250, 1_650_000)])
def test_tiers(tier, burst, daily):
    limits = RateLimits.for_tier(tier)
    assert (limits.ten_secondly, limits.search_secondly, limits.daily) == (burst, 5, daily)


def test_unknown_tiers_are_refused():
    with pytest.raises(ValueError, match="unknown HubSpot tier"):
        RateLimits.for_tier("platinum")


def test_the_window_rolls_and_the_day_resets():
    """The limiter alone, on a hand-driven clock (no HTTP involved)."""
    now = [1_700_000_000.0]
    limiter = RateLimiter(RateLimits(ten_secondly=2, search_secondly=1, daily=5), lambda: now[0])
    assert limiter.admit().body is None and limiter.admit().body is None
    assert limiter.admit().body["policyName"] == "TEN_SECONDLY_ROLLING"
    now[0] += 9.9
    assert limiter.admit().body is not None  # still inside the rolling 10 s
    now[0] += 0.2
    assert limiter.admit().body is None
    assert limiter.admit(search=True).body is None
    assert limiter.admit(search=True).body["policyName"] == "SECONDLY"
    now[0] += 1.0
    assert limiter.admit(search=True).body is None
    now[0] += 1.0
    assert limiter.admit(search=True).body["policyName"] == "DAILY"
    now[0] += 86_400
    assert limiter.admit(search=True).body is None

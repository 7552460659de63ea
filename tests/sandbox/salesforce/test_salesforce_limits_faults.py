"""API usage accounting, the daily allowance, and every injected fault kind over real TLS."""

import time

import pytest
import requests
from simple_salesforce.exceptions import (SalesforceExpiredSession, SalesforceGeneralError,
                                          SalesforceRefusedRequest)


def get(http, info, sf, path):
    return http.get(f"{info['instance_url']}/services/data/v59.0/{path}",
                    headers={"Authorization": f"Bearer {sf.session_id}"})


def test_every_response_carries_usage_and_every_call_counts(sf, http, info, org):
    sf.limits()
    used = sf.api_usage["api-usage"].used
    sf.query("SELECT Id FROM Lead LIMIT 1")
    assert sf.api_usage["api-usage"].used == used + 1
    assert sf.api_usage["api-usage"].total == org.daily_api_limit
    for response in (get(http, info, sf, "limits"), get(http, info, sf, "query?q=SELECT"),
                     get(http, info, sf, "sobjects/Nope/describe"), http.post(info["token_url"])):
        assert response.headers["Sforce-Limit-Info"].startswith("api-usage=")
    limits = sf.limits()["DailyApiRequests"]
    assert limits["Max"] - limits["Remaining"] == org.stats()["api_usage_used"]
    assert all(set(entry) == {"Max", "Remaining"} for entry in sf.limits().values())


def test_exhausted_allowance_is_403_request_limit_exceeded(sf, org):
    org.set_remaining_api_calls(1)
    sf.query("SELECT Id FROM Lead LIMIT 1")
    with pytest.raises(SalesforceRefusedRequest) as caught:
        sf.query("SELECT Id FROM Lead LIMIT 1")
    assert caught.value.status == 403
    assert caught.value.content == [
        {"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}]


def test_429_with_retry_after(sandbox, sf, http, info, org):
    sandbox.set_faults("salesforce.limits:429:1,retryafter:7")
    before = org.stats()["http_429"]
    response = get(http, info, sf, "limits")
    assert response.status_code == 429 and response.headers["Retry-After"] == "7"
    assert response.headers["Sforce-Limit-Info"].startswith("api-usage=")
    assert response.json()[0]["errorCode"] == "TOO_MANY_REQUESTS"
    assert org.stats()["http_429"] == before + 1
    assert sf.query("SELECT Id FROM Lead LIMIT 1")["totalSize"] == 1  # other routes unaffected


@pytest.mark.parametrize("status, code", [(500, "UNKNOWN_EXCEPTION"), (502, "SERVER_UNAVAILABLE"),
                                          (503, "SERVER_UNAVAILABLE")])
def test_server_errors_are_json_lists(sandbox, sf, status, code):
    sandbox.set_faults(f"salesforce.query:{status}:1")
    with pytest.raises(SalesforceGeneralError) as caught:
        sf.query("SELECT Id FROM Lead LIMIT 1")
    assert caught.value.status == status
    assert caught.value.content[0]["errorCode"] == code


def test_injected_faults_on_the_token_endpoint_keep_the_oauth_shape(sandbox, http, info):
    sandbox.set_faults("salesforce.token:503:1")
    response = http.post(info["token_url"], data={"grant_type": "password"})
    assert response.status_code == 503 and response.json() == {
        "error": "unknown_error", "error_description": "retry your request"}


def test_slow_answers(sandbox, sf):
    sandbox.set_faults("salesforce.limits:slow:1,slowms:300")
    began = time.perf_counter()
    sf.limits()
    assert time.perf_counter() - began >= 0.3


def test_dropped_connections(sandbox, sf):
    sandbox.set_faults("salesforce.limits:drop:1")
    with pytest.raises(requests.exceptions.ConnectionError):
        sf.limits()
    sandbox.set_faults("")
    assert sf.limits()["DailyApiRequests"]


def test_shares_are_seeded_and_deterministic(sandbox, sf):
    def outcomes():
        sandbox.set_faults("salesforce.limits:503:0.5,seed:11")
        seen = []
        for _ in range(20):
            try:
                sf.limits()
                seen.append("ok")
            except SalesforceGeneralError:
                seen.append("503")
        return seen
    first = outcomes()
    assert first == outcomes() and 3 < first.count("503") < 17


def test_record_fault_rejects_a_share_of_batch_records(sandbox, sf, org):
    ids = [r["Id"] for r in sf.query("SELECT Id FROM Lead WHERE IsConverted = false LIMIT 200")["records"]]
    sandbox.set_faults("record:0.1,seed:5")
    results = sf.restful("composite/sobjects", method="PATCH", json={"records": [
        {"attributes": {"type": "Lead"}, "id": i, "Age__c": 30} for i in ids]})
    locked = [r for r in results if not r["success"]]
    assert 5 <= len(locked) <= 40
    assert {e["statusCode"] for r in locked for e in r["errors"]} == {"UNABLE_TO_LOCK_ROW"}
    sandbox.set_faults("")
    retried = sf.restful("composite/sobjects", method="PATCH", json={"records": [
        {"attributes": {"type": "Lead"}, "id": ids[i], "Age__c": 30}
        for i, r in enumerate(results) if not r["success"]]})
    assert all(r["success"] for r in retried)


def test_expire_fault_with_the_plain_sdk(sandbox, make_client):
    sandbox.set_faults("salesforce.query:expire:2")
    sf = make_client()
    sf.query("SELECT Id FROM Lead LIMIT 1")
    sf.query("SELECT Id FROM Lead LIMIT 1")
    with pytest.raises(SalesforceExpiredSession):
        sf.query("SELECT Id FROM Lead LIMIT 1")


def test_admin_routes_are_free_and_report_outcomes(http, info, org):
    before = org.stats()["api_usage_used"]
    stats = http.get(f"{info['admin_url']}/stats").json()
    outcomes = http.get(f"{info['admin_url']}/outcomes").json()
    assert "Sforce-Limit-Info" not in http.get(f"{info['admin_url']}/stats").headers
    assert stats["api_usage_max"] == org.daily_api_limit and len(outcomes) == 500
    assert set(outcomes.values()) == {True, False}
    assert org.stats()["api_usage_used"] == before

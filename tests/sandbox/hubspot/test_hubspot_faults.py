"""Every injected fault kind, as the unmodified SDK meets it, plus latency and admin routes."""

from __future__ import annotations

import time

import pytest
import requests
import urllib3
from hubspot.crm.contacts import BatchInputSimplePublicObjectBatchInput
from hubspot.crm.contacts import ApiException as ContactsError


def update_all(client, ids, value):
    """Batch-update ``jobtitle`` on ``ids``; the SDK's response."""
    return client.crm.contacts.batch_api.update(BatchInputSimplePublicObjectBatchInput(
        inputs=[{"id": i, "properties": {"jobtitle": value}} for i in ids]))


def test_injected_429_has_hubspots_body_and_retry_after(sandbox, client, http, base_url):
    sandbox.set_faults("hubspot.list:429:1,retryafter:7")
    answer = http.get(f"{base_url}/crm/v3/objects/contacts")
    assert answer.status_code == 429 and answer.headers["Retry-After"] == "7"
    assert answer.json()["policyName"] == "TEN_SECONDLY_ROLLING"
    assert "X-HubSpot-RateLimit-Max" in answer.headers
    with pytest.raises(ContactsError) as caught:  # GET, yet no silent urllib3 retry (notes 3.2)
        client.crm.contacts.basic_api.get_page()
    assert caught.value.status == 429 and caught.value.headers["Retry-After"] == "7"
    assert http.get(f"{base_url}/crm/v3/objects/contacts/1001").status_code == 200


def test_injected_429_on_search_names_the_secondly_policy(sandbox, http, base_url):
    sandbox.set_faults("hubspot.search:429:1")
    answer = http.post(f"{base_url}/crm/v3/objects/contacts/search", json={"limit": 1})
    assert answer.json()["policyName"] == "SECONDLY" and answer.headers["Retry-After"] == "1"


@pytest.mark.parametrize("status", [500, 502, 503, 423])
def test_injected_server_errors(sandbox, client, http, base_url, status):
    sandbox.set_faults(f"hubspot:{status}:1")
    answer = http.post(f"{base_url}/crm/v3/objects/contacts/batch/read",
                       json={"inputs": [{"id": "1001"}], "properties": [],
                             "propertiesWithHistory": []})
    assert answer.status_code == status
    if status == 502:  # the edge's HTML page, not HubSpot's JSON
        assert answer.headers["Content-Type"].startswith("text/html")
        assert "<h1>502 Bad Gateway</h1>" in answer.text
    else:
        body = answer.json()
        assert body["status"] == "error" and body["correlationId"]
        assert answer.headers["X-HubSpot-Correlation-Id"] == body["correlationId"]
        if status == 500:  # HubSpot's 500 carries no category
            assert body == {"status": "error", "message": "internal error",
                            "correlationId": body["correlationId"]}
        else:
            assert body["category"] == ("LOCKED" if status == 423 else "INTERNAL_ERROR")
    with pytest.raises(ContactsError) as caught:
        client.crm.contacts.basic_api.get_by_id("1001")
    assert caught.value.status == status


def test_423_locks_writes_only_where_asked(sandbox, client, http, base_url):
    """``423`` is a HubSpot fault (Salesforce has none); route-scoped like any other."""
    sandbox.set_faults("hubspot.batch_update:423:1")
    with pytest.raises(ContactsError) as caught:
        update_all(client, ["1201"], "locked")
    assert caught.value.status == 423 and '"category":"LOCKED"' in caught.value.body
    assert "2 seconds" in caught.value.body
    assert http.get(f"{base_url}/crm/v3/objects/contacts/1201").status_code == 200
    sandbox.set_faults("")
    assert update_all(client, ["1201"], "unlocked").status == "COMPLETE"


def test_slow_answers(sandbox, http, base_url):
    sandbox.set_faults("hubspot.get:slow:1,slowms:300")
    started = time.monotonic()
    assert http.get(f"{base_url}/crm/v3/objects/contacts/1001").status_code == 200
    assert time.monotonic() - started >= 0.3


def test_latency_on_every_call(sandbox, http, base_url):
    sandbox.set_faults("", latency_ms=80, jitter_ms=20)
    started = time.monotonic()
    http.get(f"{base_url}/crm/v3/objects/contacts/1001")
    assert time.monotonic() - started >= 0.08


def test_dropped_connections(sandbox, client, http, base_url):
    sandbox.set_faults("hubspot.get:drop:1")
    with pytest.raises(requests.ConnectionError):
        http.get(f"{base_url}/crm/v3/objects/contacts/1001")
    with pytest.raises(urllib3.exceptions.HTTPError):
        client.crm.contacts.basic_api.get_by_id("1001")


def test_record_faults_reject_a_seeded_share_with_a_transient_207(sandbox, client, portal):
    ids = [str(1200 + i) for i in range(100)]
    outcomes = []
    for _ in range(2):  # the same spec and calls meet the same faults
        sandbox.set_faults("hubspot.batch_update:record:0.3,seed:5")
        answer = update_all(client, ids, f"faulted {time.time_ns()}")
        refused = answer.errors[0].context["ids"]
        outcomes.append(refused)
        assert answer.num_errors == 1 and answer.errors[0].category == "CONFLICT"
        assert 15 <= len(refused) <= 45
        assert sorted(r.id for r in answer.results) == sorted(set(ids) - set(refused))
    assert outcomes[0] == outcomes[1]
    stored = client.crm.contacts.batch_api.read({"inputs": [{"id": i} for i in outcomes[0]],
                                                 "properties": ["jobtitle"],
                                                 "propertiesWithHistory": []})
    assert all(not (r.properties["jobtitle"] or "").startswith("faulted") for r in stored.results)


def test_record_faults_on_batch_create_name_the_trace_ids(sandbox, http, base_url):
    sandbox.set_faults("hubspot.batch_create:record:1")
    stamp = time.time_ns()
    answer = http.post(f"{base_url}/crm/v3/objects/contacts/batch/create", json={"inputs": [
        {"properties": {"email": f"fault-{stamp}-{i}@example.org"}, "associations": [],
         "objectWriteTraceId": f"t{i}"} for i in range(2)]})
    assert answer.status_code == 207
    body = answer.json()
    assert body["results"] == [] and body["errors"][0]["context"] == {
        "objectWriteTraceId": ["t0", "t1"]}


def test_admin_routes_need_no_token_and_skip_faults(sandbox, base_url, portal):
    sandbox.set_faults("503:1")
    plain = requests.Session()
    plain.trust_env = False
    stats = plain.get(f"{base_url}/__sandbox/stats")
    assert stats.status_code == 200 and "api_calls" in stats.json()
    outcomes = plain.get(f"{base_url}/__sandbox/outcomes").json()
    assert len(outcomes) == round(41188 * 0.2) and outcomes == portal.hidden_outcomes()
    assert plain.post(f"{base_url}/__sandbox/reset").json() == {"reset": True}
    assert portal.stats()["api_calls"] == 0

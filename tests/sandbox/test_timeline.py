"""The sandbox's time route and post-outcome columns, over HTTP with the unmodified SDKs.

A small data set with a post-outcome column (``duration``) is seeded into both emulators: it is
empty on open leads, filled on closed ones with history showing it set at the close; then
``POST /__sandbox/close`` closes open leads by their hidden outcomes.
"""

from __future__ import annotations

import gc
from datetime import UTC, datetime, timedelta

import pytest
import requests
from hubspot import HubSpot
from hubspot.crm.contacts import BatchReadInputSimplePublicObjectId
from simple_salesforce import Salesforce

from connector.cli import main
from connector.sandbox import Sandbox
from connector.sandbox.seeding import (
    SeedColumn, SeedData, SeedError, SeedRow, close_time, with_post_outcome_columns)
from connector.sandbox.timeline import CloseRequest, CloseRequestError, choose

ROWS, OPEN = 300, 120
START = datetime(2024, 1, 1, tzinfo=UTC)


def seed() -> SeedData:
    columns = (SeedColumn("age", "int", "Age__c", "bank_age", "Age"),
               SeedColumn("duration", "int", "Duration__c", "bank_duration", "Duration"))
    rows = tuple(SeedRow(index=i, created_at=START + timedelta(hours=i),
                         values={"age": 20 + i % 50, "duration": 100 + i}, is_open=i >= ROWS - OPEN,
                         outcome=i % 3 == 0)
                 for i in range(ROWS))
    return with_post_outcome_columns(SeedData("tests", columns, rows), ["duration"])


@pytest.fixture(scope="module")
def box():
    with Sandbox(seed=seed()) as running:
        yield running


@pytest.fixture(scope="module")
def http(box):
    session = requests.Session()
    session.verify, session.trust_env = box.info["salesforce"]["ca_file"], False
    yield session
    session.close()
    gc.collect()


@pytest.fixture(scope="module")
def sf(box, http) -> Salesforce:
    info = box.info["salesforce"]
    token = http.post(info["token_url"], data={
        "grant_type": "password", "client_id": info["consumer_key"],
        "client_secret": info["consumer_secret"], "username": info["username"],
        "password": info["password"] + info["security_token"]}, timeout=10).json()
    box.salesforce.enforce_field_security = False
    return Salesforce(instance_url=token["instance_url"], session_id=token["access_token"],
                      session=http)


@pytest.fixture(scope="module")
def hs(box) -> HubSpot:
    info = box.info["hubspot"]
    return HubSpot(access_token=info["access_token"], host=info["base_url"])


def _leads(sf: Salesforce, where: str = "") -> dict[str, dict]:
    found = sf.query_all(f"SELECT Id, Status, IsConverted, Duration__c, CreatedDate, "
                         f"LastModifiedDate FROM Lead {where}")["records"]
    return {r["Id"]: r for r in found}


def _history(sf: Salesforce, lead_ids) -> list[dict]:
    ids = ",".join(f"'{i}'" for i in lead_ids)
    return sf.query_all("SELECT LeadId, Field, OldValue, NewValue, CreatedDate FROM LeadHistory "
                        f"WHERE LeadId IN ({ids}) ORDER BY CreatedDate, Id")["records"]


def test_post_outcome_column_is_empty_on_open_leads_and_set_at_the_close_on_closed(box, sf, hs):
    leads = _leads(sf)
    open_ids = set(box.salesforce.hidden_outcomes())
    assert len(open_ids) == OPEN
    assert all(leads[i]["Duration__c"] is None for i in open_ids)
    closed = [i for i in leads if i not in open_ids]
    assert all(leads[i]["Duration__c"] is not None for i in closed)
    history = [h for h in _history(sf, closed[:50]) if h["Field"] == "Duration__c"]
    assert len(history) == 50 and all(h["OldValue"] is None for h in history)
    for change in history:
        created = datetime.fromisoformat(leads[change["LeadId"]]["CreatedDate"])
        assert datetime.fromisoformat(change["CreatedDate"]) - created >= timedelta(days=3)

    contacts = hs.crm.contacts.batch_api.read(BatchReadInputSimplePublicObjectId(
        inputs=[{"id": str(1001 + i)} for i in (0, 1, ROWS - 1)],
        properties=["bank_duration", "createdate"], properties_with_history=["bank_duration"]))
    by_id = {c.id: c for c in contacts.results}
    first, last = by_id["1001"], by_id[str(1000 + ROWS)]
    assert last.properties["bank_duration"] is None and last.properties_with_history["bank_duration"] == []
    (filled,) = first.properties_with_history["bank_duration"]
    assert filled.value == "100"
    assert filled.timestamp == close_time(seed().rows[0]).replace(microsecond=0)


def test_close_a_seeded_share_fills_post_outcome_fields_with_history(box, sf, http):
    hidden = box.salesforce.hidden_outcomes()
    expected = choose(CloseRequest(share=0.5, seed=11), box.salesforce.open_seeded_leads())
    answer = http.post(box.info["salesforce"]["admin_url"] + "/close",
                       json={"share": 0.5, "seed": 11}, timeout=10)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["ids"] == expected and body["closed"] == len(expected) == round(len(hidden) / 2)
    assert body["converted"] == sum(hidden[i] for i in expected)
    leads = _leads(sf)
    for record_id in expected:
        lead = leads[record_id]
        assert lead["IsConverted"] is hidden[record_id]
        assert lead["Status"] == ("Closed - Converted" if hidden[record_id] else "Closed - Not Converted")
        assert lead["Duration__c"] is not None
    remaining = box.salesforce.hidden_outcomes()
    assert set(remaining) == set(hidden) - set(expected)
    assert all(leads[i]["Duration__c"] is None for i in remaining)
    changes = _history(sf, expected[:10])
    assert {(h["LeadId"], h["Field"]) for h in changes} == {
        (i, f) for i in expected[:10] for f in ("Status", "Duration__c")}
    stamp = body["at"][:19]
    assert all(h["CreatedDate"].startswith(stamp) for h in changes)
    assert all(leads[i]["LastModifiedDate"][:19] == stamp for i in expected)


def test_close_by_creation_date_on_hubspot(box, hs):
    portal = box.hubspot
    before = START + timedelta(hours=ROWS - OPEN + 10)
    answer = requests.post(box.info["hubspot"]["admin_url"] + "/close",
                           json={"created_before": before.isoformat()}, timeout=10)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["closed"] == 10
    read = hs.crm.contacts.batch_api.read(BatchReadInputSimplePublicObjectId(
        inputs=[{"id": i} for i in body["ids"]],
        properties=["lifecyclestage", "hs_lead_status", "bank_duration"],
        properties_with_history=["bank_duration", "lifecyclestage"]))
    for contact in read.results:
        assert contact.properties["bank_duration"] is not None
        converted = contact.properties["lifecyclestage"] == "customer"
        assert converted or contact.properties["hs_lead_status"] == "UNQUALIFIED"
        (filled,) = contact.properties_with_history["bank_duration"]
        assert filled.timestamp.isoformat()[:19] == body["at"][:19]
    assert not set(body["ids"]) & set(portal.hidden_outcomes())
    # Closing the same leads again finds none of them open.
    again = requests.post(box.info["hubspot"]["admin_url"] + "/close",
                          json={"created_before": before.isoformat()}, timeout=10)
    assert again.json()["closed"] == 0


@pytest.mark.parametrize("body, message", [
    ({}, "give exactly one of share, created_before, ids"),
    ({"share": 1.5}, "share: expected a number in (0, 1]"),
    ({"share": 0.5, "ids": []}, "give exactly one of"),
    ({"created_before": "2024-01-01"}, "has no UTC offset"),
    ({"ids": ["00Qnope"]}, "is not an open lead"),
    ({"share": 0.1, "at": "2000-01-01T00:00:00Z"}, "precedes the creation"),
    ({"share": 0.1, "when": 1}, "unknown key(s) when"),
])
def test_bad_close_requests_answer_400_with_one_line(box, http, body, message):
    answer = http.post(box.info["salesforce"]["admin_url"] + "/close", json=body, timeout=10)
    assert answer.status_code == 400
    (error,) = answer.json()
    assert message in error["message"] and "\n" not in error["message"]
    answer = requests.post(box.info["hubspot"]["admin_url"] + "/close", json=body, timeout=10)
    assert answer.status_code == 400 and message in answer.json()["message"]


def test_choose_is_deterministic_and_rejects_nothing_silently():
    leads = {f"id{i}": START + timedelta(minutes=i) for i in range(40)}
    first = choose(CloseRequest(share=0.25, seed=5), leads)
    assert first == choose(CloseRequest(share=0.25, seed=5), leads) and len(first) == 10
    assert first != choose(CloseRequest(share=0.25, seed=6), leads)
    with pytest.raises(CloseRequestError):
        CloseRequest.parse([1, 2])


def test_unknown_post_outcome_column_is_refused(tmp_path, capsys):
    with pytest.raises(SeedError, match="no column 'nope'"):
        with_post_outcome_columns(seed(), ["nope"])
    assert main(["sandbox", "--seed", "bank", "--post-outcome-columns", "nope"]) == 3
    assert "--post-outcome-columns" in capsys.readouterr().err

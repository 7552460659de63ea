"""Field history through the adapters and the unmodified SDKs: Salesforce ``LeadHistory``
(paging, the 20-field limit, unfilterable values, every update recorded) and HubSpot
``propertiesWithHistory`` (the 50-record cap), and as-of reconstruction from both."""

from __future__ import annotations

import gc
import time

from datetime import UTC, datetime, timedelta

import pytest
import requests
from hubspot import HubSpot
from hubspot.crm.contacts import ApiException, BatchReadInputSimplePublicObjectId
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceMalformedRequest

from connector.crm import open_crm
from connector.crm.history import value_as_of
from connector.sandbox import Sandbox
from connector.sandbox.seeding import (
    SeedColumn, SeedData, SeedRow, close_time, with_post_outcome_columns)
from tests.crm.conftest import (
    hubspot_connection, hubspot_environ, salesforce_connection, salesforce_environ)

ROWS, OPEN = 2300, 200  # more closed leads than one 2,000-row history page
START = datetime(2024, 1, 1, tzinfo=UTC)


def _seed() -> SeedData:
    columns = (SeedColumn("age", "int", "Age__c", "bank_age", "Age"),
               SeedColumn("duration", "int", "Duration__c", "bank_duration", "Duration"))
    rows = tuple(SeedRow(index=i, created_at=START + timedelta(minutes=i),
                         values={"age": 30 + i % 40, "duration": 10 + i}, is_open=i >= ROWS - OPEN,
                         outcome=i % 5 == 0) for i in range(ROWS))
    return with_post_outcome_columns(SeedData("tests", columns, rows), ["duration"])


@pytest.fixture(scope="module")
def box():
    with Sandbox(seed=_seed()) as running:
        running.salesforce.enforce_field_security = False
        yield running


@pytest.fixture
def sf_crm(box):
    crm = open_crm(salesforce_connection(box), environ=salesforce_environ(box))
    yield crm
    crm.close()


@pytest.fixture
def hs_crm(box):
    crm = open_crm(hubspot_connection(box), environ=hubspot_environ(box))
    yield crm
    crm.close()


def _lead_ids(crm) -> list[str]:
    return [r.id for page in crm.pull_changed(None, ["Age__c"]) for r in page.records]


def test_lead_history_pages_past_2000_rows_and_rebuilds_values_before_the_close(box, sf_crm):
    ids = _lead_ids(sf_crm)
    history = sf_crm.field_history(ids, ["Duration__c", "Status"])
    closed = [i for i in ids if i not in box.salesforce.hidden_outcomes()]
    assert len(closed) == ROWS - OPEN and set(history) == set(closed)  # 4,200 rows, 3 pages
    today = {r.id: r.values for r in sf_crm.read(closed[:50], ["Duration__c", "CreatedDate"])}
    for record_id in closed[:50]:
        changes = history[record_id]
        duration = [c for c in changes if c.field == "Duration__c"]
        status = [c for c in changes if c.field == "Status"]
        assert len(duration) == len(status) == 1 and duration[0].at == status[0].at
        closed_at = status[0].at
        assert value_as_of(today[record_id]["Duration__c"], duration, closed_at) is None
        after = closed_at + timedelta(seconds=1)
        assert value_as_of(today[record_id]["Duration__c"], duration, after) == \
            today[record_id]["Duration__c"] is not None


def test_every_update_of_a_tracked_field_is_recorded(box, sf_crm, sdk):
    sf = sdk
    record_id = next(iter(box.salesforce.hidden_outcomes()))
    seeded = box.salesforce.peek([record_id], ["Age__c"])[record_id]["Age__c"]
    org, now = box.salesforce, time.time()
    try:  # a minute apart: history stamps are whole seconds, so same-second changes would tie
        org.clock = lambda: now - 60
        sf.Lead.update(record_id, {"Age__c": 77})
        org.clock = lambda: now
        sf.Lead.update(record_id, {"Age__c": 78, "LastName": "Renamed"})  # LastName: untracked
    finally:
        org.clock = time.time
    changes = sf_crm.field_history([record_id], ["Age__c", "LastName"])[record_id]
    assert [(c.field, c.old, c.new) for c in changes] == [("Age__c", seeded, 77),
                                                          ("Age__c", 77, 78)]
    assert isinstance(changes[0].old, float)  # numbers come back as JSON numbers
    assert value_as_of(78, changes, changes[1].at) == 77
    assert value_as_of(78, changes, changes[0].at) == seeded


def test_history_values_cannot_be_filtered_but_can_be_sorted(sdk):
    sf = sdk
    with pytest.raises(SalesforceMalformedRequest) as raised:
        sf.query("SELECT Id FROM LeadHistory WHERE NewValue = '10'")
    assert raised.value.content[0]["errorCode"] == "INVALID_FIELD"
    assert "can not be filtered" in raised.value.content[0]["message"]
    rows = sf.query("SELECT NewValue FROM LeadHistory WHERE Field = 'Duration__c' "
                    "ORDER BY NewValue DESC LIMIT 3")["records"]
    assert [r["NewValue"] for r in rows] == sorted((r["NewValue"] for r in rows),
                                                   key=str, reverse=True)


def test_at_most_20_tracked_fields(box, sdk):
    sf = sdk
    tracked = len(box.salesforce.field_history.tracked)
    for n in range(20 - tracked):
        sf.toolingexecute("sobjects/CustomField", method="POST", data={
            "FullName": f"Lead.Tracked_{n}__c",
            "Metadata": {"type": "Text", "label": f"Tracked {n}", "length": 20,
                         "trackHistory": True}})
    with pytest.raises(SalesforceMalformedRequest) as raised:
        sf.toolingexecute("sobjects/CustomField", method="POST", data={
            "FullName": "Lead.One_Too_Many__c",
            "Metadata": {"type": "Text", "label": "One too many", "length": 20,
                         "trackHistory": True}})
    assert raised.value.content[0]["errorCode"] == "LIMIT_EXCEEDED"
    assert "up to 20 fields" in raised.value.content[0]["message"]
    assert "One_Too_Many__c" not in box.salesforce.objects["Lead"].fields  # nothing created
    assert len(box.salesforce.field_history.tracked) == 20


def test_hubspot_history_reads_50_records_a_call_and_rebuilds_values(box, hs_crm):
    ids = [str(1001 + i) for i in range(120)]
    before = hs_crm.usage().calls
    history = hs_crm.field_history(ids, ["bank_duration", "lifecyclestage"])
    assert hs_crm.usage().calls - before == 3 and len(history) == 120
    first = history["1001"]
    duration = [c for c in first if c.field == "bank_duration"]
    assert [(c.old, c.new) for c in duration] == [(None, "10")]
    assert duration[0].at == close_time(_seed().rows[0])
    assert value_as_of("10", duration, duration[0].at) is None

    info = box.info["hubspot"]
    client = HubSpot(access_token=info["access_token"], host=info["base_url"])
    with pytest.raises(ApiException) as raised:
        client.crm.contacts.batch_api.read(BatchReadInputSimplePublicObjectId(
            inputs=[{"id": i} for i in [str(1001 + n) for n in range(51)]],
            properties=["email"], properties_with_history=["bank_duration"]))
    assert raised.value.status == 400 and "property histories is 50" in raised.value.body


@pytest.fixture(scope="module")
def sdk(box):
    """simple-salesforce on a session of its own (closed at the end: idle keep-alive
    connections would stall the sandbox's shutdown)."""
    info = box.info["salesforce"]
    session = requests.Session()
    session.verify, session.trust_env = info["ca_file"], False
    token = session.post(info["token_url"], data={
        "grant_type": "password", "client_id": info["consumer_key"],
        "client_secret": info["consumer_secret"], "username": info["username"],
        "password": info["password"] + info["security_token"]}, timeout=10).json()
    yield Salesforce(instance_url=token["instance_url"], session_id=token["access_token"],
                     session=session)
    session.close()
    gc.collect()

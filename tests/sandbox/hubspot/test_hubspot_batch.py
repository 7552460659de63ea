"""Batch read, update and create: caps, 207 multi-status, whole-batch validation errors."""

from __future__ import annotations

import time

import pytest
from hubspot.crm.contacts import (
    BatchInputSimplePublicObjectBatchInput, BatchInputSimplePublicObjectBatchInputForCreate,
    BatchReadInputSimplePublicObjectId, BatchResponseSimplePublicObject,
    BatchResponseSimplePublicObjectWithErrors)
from hubspot.crm.contacts import ApiException as ContactsError
from hubspot.crm.objects import BatchReadInputSimplePublicObjectId as ObjectsRead

MISSING = "Could not get some CONTACT objects, they may be deleted or not exist."


def read(client, ids, properties=("email",), history=()):
    """Batch-read contacts through the SDK."""
    return client.crm.contacts.batch_api.read(BatchReadInputSimplePublicObjectId(
        inputs=[{"id": i} for i in ids], properties=list(properties),
        properties_with_history=list(history)))


def update(client, changes: dict[str, dict]):
    """Batch-update contacts through the SDK."""
    return client.crm.contacts.batch_api.update(BatchInputSimplePublicObjectBatchInput(
        inputs=[{"id": i, "properties": p} for i, p in changes.items()]))


def test_batch_read_returns_the_records_asked_for(client):
    answer = read(client, ["1003", "1004", "1003"], properties=["email", "bank_age"])
    assert isinstance(answer, BatchResponseSimplePublicObject)
    assert answer.status == "COMPLETE" and answer.started_at <= answer.completed_at
    assert [r.id for r in answer.results] == ["1003", "1004"]
    assert set(answer.results[0].properties) == {"email", "bank_age", "createdate",
                                                 "hs_object_id", "lastmodifieddate"}


def test_batch_read_of_missing_ids_is_a_207_listing_them(client, http, base_url):
    answer = read(client, ["1005", "424242424", "abc"])
    assert isinstance(answer, BatchResponseSimplePublicObjectWithErrors)
    assert [r.id for r in answer.results] == ["1005"] and answer.num_errors == 1
    raw = http.post(f"{base_url}/crm/v3/objects/contacts/batch/read?archived=false",
                    json={"inputs": [{"id": "1005"}, {"id": "424242424"}],
                          "properties": ["email"], "propertiesWithHistory": []})
    assert raw.status_code == 207
    assert raw.json()["errors"] == [{
        "status": "error", "category": "OBJECT_NOT_FOUND", "message": MISSING,
        "context": {"ids": ["424242424"]}, "links": {}, "errors": []}]


def test_batch_read_of_leads_through_the_generic_objects_api(client, http, base_url):
    answer = client.crm.objects.batch_api.read("leads", ObjectsRead(
        inputs=[{"id": "1"}], properties=["hs_lead_name"], properties_with_history=[]))
    assert answer.errors[0].message.startswith("Could not get some LEAD objects")


def test_batches_over_100_inputs_fail_whole_with_hubspots_message(http, base_url):
    for action in ("read", "update", "create"):
        inputs = [{"id": str(1001 + i), "properties": {}} for i in range(101)]
        answer = http.post(f"{base_url}/crm/v3/objects/contacts/batch/{action}",
                           json={"inputs": inputs, "properties": [],
                                 "propertiesWithHistory": []})
        assert answer.status_code == 400, action
        assert answer.json()["category"] == "VALIDATION_ERROR"
        assert answer.json()["message"] == ("The maximum number of inputs supported in a batch "
                                            "is 100. Please reduce the number of items and try "
                                            "again")


def test_exactly_100_inputs_are_accepted(client):
    answer = read(client, [str(1001 + i) for i in range(100)])
    assert len(answer.results) == 100


def test_history_reads_are_capped_at_50_and_list_changes_newest_first(client, http, base_url):
    too_many = http.post(f"{base_url}/crm/v3/objects/contacts/batch/read", json={
        "inputs": [{"id": str(1001 + i)} for i in range(51)], "properties": [],
        "propertiesWithHistory": ["email"]})
    assert too_many.status_code == 400
    assert "property histories is 50" in too_many.json()["message"]
    update(client, {"1010": {"jobtitle": "Clerk"}})
    update(client, {"1010": {"jobtitle": "Chief"}})
    history = read(client, ["1010"], history=["jobtitle", "bank_age"]).results[0]
    assert [h.value for h in history.properties_with_history["jobtitle"]] == ["Chief", "Clerk"]
    assert history.properties_with_history["bank_age"][0].source_type == "IMPORT"


def test_batch_update_writes_and_moves_the_stamps(client, portal):
    before = read(client, ["1020", "1021"], properties=["bank_age"]).results
    stats = portal.stats()
    answer = update(client, {"1020": {"bank_age": "77"}, "1021": {"bank_age": "78"}})
    assert [r.properties["bank_age"] for r in answer.results] == ["77", "78"]
    after = read(client, ["1020", "1021"], properties=["bank_age"]).results
    for old, new in zip(before, after):
        assert new.properties["lastmodifieddate"] > old.properties["lastmodifieddate"]
        assert new.updated_at > old.updated_at
    now = portal.stats()
    assert now["records_written"] - stats["records_written"] == 2
    assert now["write_requests"] - stats["write_requests"] == 1


def test_batch_update_of_missing_ids_is_a_207_and_still_writes_the_others(client):
    answer = update(client, {"1030": {"jobtitle": "Found"}, "424242424": {"jobtitle": "Lost"}})
    assert isinstance(answer, BatchResponseSimplePublicObjectWithErrors)
    assert [r.id for r in answer.results] == ["1030"]
    assert answer.errors[0].category == "OBJECT_NOT_FOUND"
    assert answer.errors[0].context == {"ids": ["424242424"]}


@pytest.mark.parametrize("bad, error", [
    ({"no_such_property": "1"}, "PROPERTY_DOESNT_EXIST"),
    ({"bank_age": "forty"}, "INVALID_NUMBER"),
    ({"bank_age": " 40"}, "INVALID_NUMBER"),
    ({"lifecyclestage": "Customer"}, "INVALID_OPTION"),
    ({"hs_lead_status": "DONE"}, "INVALID_OPTION"),
    ({"email": "not-an-address"}, "INVALID_EMAIL"),
])
def test_one_invalid_value_fails_the_whole_batch_naming_the_property(client, bad, error):
    good_before = read(client, ["1040"], properties=["jobtitle"]).results[0]
    with pytest.raises(ContactsError) as caught:
        update(client, {"1040": {"jobtitle": f"Never {time.time_ns()}"}, "1041": bad})
    assert caught.value.status == 400
    body = caught.value.body
    assert '"category":"VALIDATION_ERROR"' in body
    assert "Property values were not valid: " in body and error in body
    assert f'\\"name\\":\\"{next(iter(bad))}\\"' in body
    good_after = read(client, ["1040"], properties=["jobtitle"]).results[0]
    assert good_after.properties == good_before.properties


def test_duplicate_ids_in_a_batch_update_are_refused(http, base_url):
    answer = http.post(f"{base_url}/crm/v3/objects/contacts/batch/update", json={"inputs": [
        {"id": "1050", "properties": {"jobtitle": "A"}},
        {"id": "1050", "properties": {"jobtitle": "B"}}]})
    assert answer.status_code == 400
    assert answer.json()["message"] == ("Duplicate IDs found in batch input: [1050]. "
                                        "IDs must be unique")


def test_update_by_a_non_unique_id_property_is_refused(http, base_url):
    answer = http.post(f"{base_url}/crm/v3/objects/contacts/batch/update", json={"inputs": [
        {"id": "x@example.com", "idProperty": "email", "properties": {"jobtitle": "A"}}]})
    assert answer.status_code == 400
    assert "Unable to perform update/upsert by non-unique 0-1 property email" in \
        answer.json()["message"]


def test_batch_create_makes_records_and_echoes_trace_ids(client, portal):
    stamp = time.time_ns()
    answer = client.crm.contacts.batch_api.create(BatchInputSimplePublicObjectBatchInputForCreate(
        inputs=[{"properties": {"email": f"batch-{stamp}-{i}@example.org", "bank_age": str(30 + i)},
                 "associations": [], "objectWriteTraceId": f"trace-{i}"} for i in range(3)]))
    assert len(answer.results) == 3 and answer.status == "COMPLETE"
    assert [r.object_write_trace_id for r in answer.results] == ["trace-0", "trace-1", "trace-2"]
    stored = read(client, [r.id for r in answer.results], properties=["bank_age"]).results
    assert [r.properties["bank_age"] for r in stored] == ["30", "31", "32"]


def test_batch_create_with_a_taken_email_is_a_conflict(http, base_url, client):
    taken = client.crm.contacts.basic_api.get_by_id("1060").properties["email"]
    answer = http.post(f"{base_url}/crm/v3/objects/contacts/batch/create", json={"inputs": [
        {"properties": {"email": taken}, "associations": []}]})
    assert answer.status_code == 409 and answer.json()["category"] == "CONFLICT"


@pytest.mark.parametrize("body", [
    {}, {"inputs": "nope"}, {"inputs": [1, 2]}, {"inputs": [{"properties": {}}]},
    {"inputs": [{"id": "1001", "properties": []}]}, {"inputs": [{"id": True, "properties": {}}]},
    {"inputs": [{"id": "1001", "properties": {}, "idProperty": 5}]},
])
def test_malformed_batch_bodies_are_validation_errors(http, base_url, body):
    answer = http.post(f"{base_url}/crm/v3/objects/contacts/batch/update", json=body)
    assert answer.status_code == 400
    assert answer.json()["category"] == "VALIDATION_ERROR" and answer.json()["correlationId"]

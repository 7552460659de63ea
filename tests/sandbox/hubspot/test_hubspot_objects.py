"""Auth, list, get, create and update through the unmodified SDK (contacts, leads, companies)."""

from __future__ import annotations

import itertools
import time

import pytest
from hubspot.crm.contacts import ApiException as ContactsError
from hubspot.crm.contacts import SimplePublicObjectInput, SimplePublicObjectInputForCreate
from hubspot.crm.objects import ApiException as ObjectsError
from hubspot.crm.objects import SimplePublicObjectInputForCreate as ObjectCreate

_unique = itertools.count(1)


def new_email() -> str:
    """An address no other test uses."""
    return f"objects-{time.time_ns()}-{next(_unique)}@example.org"


def test_requests_without_a_valid_token_get_hubspots_401(http, base_url, client):
    for headers in ({"Authorization": ""}, {"Authorization": "Bearer pat-na1-wrong"}):
        answer = http.get(f"{base_url}/crm/v3/objects/contacts", headers=headers)
        assert answer.status_code == 401
        body = answer.json()
        assert body["category"] == "INVALID_AUTHENTICATION"
        assert body["status"] == "error" and body["correlationId"]
        assert body["message"].startswith("Authentication credentials not found.")
        assert answer.headers["X-HubSpot-Auth-Failure"] == "401 Unauthorized"
        assert "X-HubSpot-RateLimit-Remaining" not in answer.headers
    from hubspot import HubSpot
    stranger = HubSpot(access_token="pat-na1-wrong", host=base_url)
    with pytest.raises(ContactsError) as caught:
        stranger.crm.contacts.basic_api.get_page()
    assert caught.value.status == 401


def test_list_defaults_to_ten_contacts_with_the_default_properties(client):
    page = client.crm.contacts.basic_api.get_page()
    assert len(page.results) == 10
    first = page.results[0]
    assert set(first.properties) == {"createdate", "email", "firstname", "hs_object_id",
                                     "lastmodifieddate", "lastname"}
    assert first.id == first.properties["hs_object_id"] and first.id.isdigit()
    assert page.paging.next.after == str(int(page.results[-1].id) + 1)


def test_list_pages_across_boundaries_without_gaps_or_repeats(client):
    seen, after = [], None
    for _ in range(3):
        page = client.crm.contacts.basic_api.get_page(limit=100, after=after, properties=["email"])
        seen.extend(r.id for r in page.results)
        after = page.paging.next.after
    assert len(seen) == len(set(seen)) == 300
    assert [int(i) for i in seen] == sorted(int(i) for i in seen)


def test_list_ends_without_paging_on_the_last_page(client):
    created = [client.crm.objects.basic_api.create(
        "companies", ObjectCreate(properties={"name": f"Last page {i}"}, associations=[]))
        for i in range(3)]
    page = client.crm.objects.basic_api.get_page("companies", limit=100, after=created[0].id,
                                                 properties=["name"])
    assert [r.id for r in page.results][-3:] == [c.id for c in created]
    assert page.paging is None


def test_list_accepts_repeated_and_comma_properties_and_any_case_booleans(http, base_url):
    url = f"{base_url}/crm/v3/objects/contacts"
    repeated = http.get(url, params=[("properties", "email"), ("properties", "bank_age"),
                                     ("archived", "False"), ("limit", "2")]).json()
    comma = http.get(url, params={"properties": "email,bank_age", "archived": "FALSE",
                                  "limit": "2"}).json()
    assert repeated["results"] == comma["results"]
    assert {"email", "bank_age", "hs_object_id"} <= set(repeated["results"][0]["properties"])
    assert "firstname" not in repeated["results"][0]["properties"]
    assert repeated["paging"]["next"]["link"].startswith(base_url)


@pytest.mark.parametrize("query", ["limit=101", "limit=0", "limit=ten", "archived=maybe",
                                   "after=abc"])
def test_bad_list_parameters_are_validation_errors(http, base_url, query):
    answer = http.get(f"{base_url}/crm/v3/objects/contacts?{query}")
    assert answer.status_code == 400
    assert answer.json()["category"] == "VALIDATION_ERROR"


def test_unknown_property_names_are_ignored_and_unset_ones_come_back_null(client):
    page = client.crm.contacts.basic_api.get_page(limit=1, properties=["phone", "no_such_prop"])
    assert page.results[0].properties["phone"] is None
    assert "no_such_prop" not in page.results[0].properties


def test_get_by_id_and_the_404s(client, http, base_url):
    contact = client.crm.contacts.basic_api.get_by_id("1001", properties=["bank_job"])
    assert contact.properties["bank_job"] == "housemaid"
    for missing, message in (("999999999", "resource not found"),
                             ("abc", "Object not found.  objectId are usually numeric.")):
        answer = http.get(f"{base_url}/crm/v3/objects/contacts/{missing}")
        assert answer.status_code == 404
        assert answer.json()["category"] == "OBJECT_NOT_FOUND"
        assert answer.json()["message"] == message
    with pytest.raises(ContactsError) as caught:
        client.crm.contacts.basic_api.get_by_id("999999999")
    assert caught.value.status == 404


def test_get_by_email_as_id_property(client):
    by_id = client.crm.contacts.basic_api.get_by_id("1002")
    by_email = client.crm.contacts.basic_api.get_by_id(by_id.properties["email"].upper(),
                                                       id_property="email")
    assert by_email.id == "1002"


def test_unknown_object_types_are_validation_errors(http, base_url):
    answer = http.get(f"{base_url}/crm/v3/objects/widgets")
    assert answer.status_code == 400
    assert answer.json()["message"] == "Unable to infer object type from: widgets"


def test_create_sets_the_server_stamps(client, portal):
    before = portal.stats()["records_created"]
    email = new_email()
    created = client.crm.contacts.basic_api.create(SimplePublicObjectInputForCreate(
        properties={"email": email, "firstname": "Ada", "lifecyclestage": "lead"},
        associations=[]))
    props = created.properties
    assert props["email"] == email and props["hs_object_id"] == created.id
    assert props["createdate"] == props["lastmodifieddate"]
    assert props["createdate"].endswith("Z") and len(props["createdate"]) == 24
    assert created.created_at == created.updated_at
    assert portal.stats()["records_created"] == before + 1


def test_creating_a_second_contact_with_the_same_email_is_a_conflict(client, http, base_url):
    email = new_email()
    first = client.crm.contacts.basic_api.create(SimplePublicObjectInputForCreate(
        properties={"email": email}, associations=[]))
    answer = http.post(f"{base_url}/crm/v3/objects/contacts",
                       json={"properties": {"email": email.upper()}, "associations": []})
    assert answer.status_code == 409
    assert answer.json()["category"] == "CONFLICT"
    assert answer.json()["message"] == f"Contact already exists. Existing ID: {first.id}"


def test_update_moves_the_stamps_only_when_a_value_changes(client, portal):
    contact = client.crm.contacts.basic_api.create(SimplePublicObjectInputForCreate(
        properties={"email": new_email(), "jobtitle": "Analyst"}, associations=[]))
    time.sleep(0.005)
    same = client.crm.contacts.basic_api.update(
        contact.id, SimplePublicObjectInput(properties={"jobtitle": "Analyst"}))
    assert same.properties["lastmodifieddate"] == contact.properties["lastmodifieddate"]
    changed = client.crm.contacts.basic_api.update(
        contact.id, SimplePublicObjectInput(properties={"jobtitle": "Manager"}))
    assert changed.properties["lastmodifieddate"] > contact.properties["lastmodifieddate"]
    assert changed.updated_at > contact.updated_at
    stored = client.crm.contacts.basic_api.get_by_id(
        contact.id, properties=["hs_lastmodifieddate", "jobtitle"]).properties
    assert stored["hs_lastmodifieddate"] == stored["lastmodifieddate"]
    portal.bump_on_every_write = True
    time.sleep(0.005)
    bumped = client.crm.contacts.basic_api.update(
        contact.id, SimplePublicObjectInput(properties={"jobtitle": "Manager"}))
    assert bumped.properties["lastmodifieddate"] > changed.properties["lastmodifieddate"]


def test_update_of_a_missing_contact_is_404(http, base_url):
    answer = http.patch(f"{base_url}/crm/v3/objects/contacts/999999999",
                        json={"properties": {"firstname": "X"}})
    assert answer.status_code == 404 and answer.json()["category"] == "OBJECT_NOT_FOUND"


def test_single_write_of_an_invalid_value_names_the_property(http, base_url):
    answer = http.patch(f"{base_url}/crm/v3/objects/contacts/1001",
                        json={"properties": {"bank_age": "old"}})
    assert answer.status_code == 400
    body = answer.json()
    assert body["category"] == "VALIDATION_ERROR"
    assert body["message"].startswith("Property values were not valid: ")
    assert '"name":"bank_age"' in body["message"] and "INVALID_NUMBER" in body["message"]


def test_server_stamps_cannot_be_written(http, base_url):
    answer = http.patch(f"{base_url}/crm/v3/objects/contacts/1001",
                        json={"properties": {"lastmodifieddate": "2020-01-01T00:00:00Z"}})
    assert answer.status_code == 400 and "READ_ONLY_VALUE" in answer.json()["message"]


def test_leads_are_generic_objects_tied_to_a_contact(client, http, base_url):
    contact = client.crm.contacts.basic_api.create(SimplePublicObjectInputForCreate(
        properties={"email": new_email()}, associations=[]))
    association = [{"to": {"id": contact.id}, "types": [
        {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 578}]}]
    lead = client.crm.objects.basic_api.create("leads", ObjectCreate(
        properties={"hs_lead_name": "Ada's lead", "hs_lead_label": "WARM"},
        associations=association))
    assert set(lead.properties) >= {"hs_createdate", "hs_lastmodifieddate", "hs_object_id"}
    assert "lastmodifieddate" not in lead.properties
    same = client.crm.objects.basic_api.get_by_id("0-136", lead.id, properties=["hs_lead_label"])
    assert same.properties["hs_lead_label"] == "WARM"
    orphan = http.post(f"{base_url}/crm/v3/objects/leads",
                       json={"properties": {"hs_lead_name": "No contact"}, "associations": []})
    assert orphan.status_code == 400 and orphan.json()["category"] == "VALIDATION_ERROR"
    with pytest.raises(ObjectsError) as caught:
        client.crm.objects.basic_api.create("leads", ObjectCreate(
            properties={"hs_lead_name": "Bad label", "hs_lead_label": "warm"},
            associations=association))
    assert caught.value.status == 400 and "INVALID_OPTION" in caught.value.body


def test_unknown_routes_and_methods_answer_in_hubspot_json(http, base_url):
    missing = http.get(f"{base_url}/crm/v3/nothing-here")
    assert missing.status_code == 404 and missing.json()["status"] == "error"
    wrong = http.delete(f"{base_url}/crm/v3/objects/contacts")
    assert wrong.status_code == 405 and wrong.json()["correlationId"]


def test_malformed_json_is_a_validation_error_with_a_position(http, base_url):
    answer = http.post(f"{base_url}/crm/v3/objects/contacts/search", data='{"limit": 2,,}',
                       headers={"Content-Type": "application/json"})
    body = answer.json()
    assert answer.status_code == 400 and body["category"] == "VALIDATION_ERROR"
    assert body["message"].startswith("Invalid input JSON on line 1, column 13")

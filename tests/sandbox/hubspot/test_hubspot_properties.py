"""The properties API: list, get, create (409 on an existing name) and property groups."""

from __future__ import annotations

import time

import pytest
from hubspot.crm.contacts import BatchInputSimplePublicObjectBatchInput
from hubspot.crm.contacts import ApiException as ContactsError
from hubspot.crm.properties import ApiException as PropertiesError
from hubspot.crm.properties import PropertyCreate, PropertyGroupCreate


def unique(prefix: str) -> str:
    """A property or group name no other test uses."""
    return f"{prefix}_{time.time_ns()}"


def test_default_contact_properties_are_listed_with_their_types(client):
    listed = {p.name: p for p in client.crm.properties.core_api.get_all("contacts").results}
    for name in ("firstname", "lastname", "email", "phone", "company", "jobtitle",
                 "createdate", "lastmodifieddate", "hs_object_id", "hs_lastmodifieddate"):
        assert listed[name].hubspot_defined is True, name
    stages = [o.value for o in listed["lifecyclestage"].options]
    assert stages == ["subscriber", "lead", "marketingqualifiedlead", "salesqualifiedlead",
                      "opportunity", "customer", "evangelist", "other"]
    assert [o.value for o in listed["hs_lead_status"].options] == [
        "NEW", "OPEN", "IN_PROGRESS", "OPEN_DEAL", "UNQUALIFIED", "ATTEMPTED_TO_CONTACT",
        "CONNECTED", "BAD_TIMING"]
    assert listed["lastmodifieddate"].type == "datetime"
    assert listed["lastmodifieddate"].modification_metadata.read_only_value is True
    assert listed["bank_age"].type == "number" and listed["bank_age"].group_name == "bank_marketing"
    assert listed["bank_job"].type == "string"


def test_each_object_type_has_its_own_modification_property(client):
    leads = {p.name for p in client.crm.properties.core_api.get_all("leads").results}
    companies = {p.name for p in client.crm.properties.core_api.get_all("0-2").results}
    assert "hs_lastmodifieddate" in leads and "lastmodifieddate" not in leads
    assert "hs_lastmodifieddate" in companies and "lastmodifieddate" not in companies


def test_get_one_property_and_the_404(client):
    prop = client.crm.properties.core_api.get_by_name("contacts", "hs_lead_status")
    assert prop.type == "enumeration" and prop.group_name == "sales_properties"
    with pytest.raises(PropertiesError) as caught:
        client.crm.properties.core_api.get_by_name("contacts", "nope_nothing")
    assert caught.value.status == 404 and '"category":"OBJECT_NOT_FOUND"' in caught.value.body


def test_create_group_and_property_then_write_it(client):
    group = unique("leadscore")
    made = client.crm.properties.groups_api.create("contacts", PropertyGroupCreate(
        name=group, label="Lead scoring", display_order=-1))
    assert (made.name, made.archived, made.display_order) == (group, False, -1)
    assert group in {g.name for g in client.crm.properties.groups_api.get_all("contacts").results}
    assert client.crm.properties.groups_api.get_by_name("contacts", group).label == "Lead scoring"
    score, tier = unique("ls_score"), unique("ls_tier")
    created = client.crm.properties.core_api.create("contacts", PropertyCreate(
        name=score, label="Lead score", type="number", field_type="number", group_name=group,
        description="", options=[]))
    assert (created.name, created.type, created.field_type, created.hubspot_defined) == (
        score, "number", "number", None)
    client.crm.properties.core_api.create("contacts", PropertyCreate(
        name=tier, label="Tier", type="enumeration", field_type="select", group_name=group,
        options=[{"label": t, "value": t.lower(), "hidden": False} for t in ("Hot", "Cold")]))
    written = client.crm.contacts.batch_api.update(BatchInputSimplePublicObjectBatchInput(
        inputs=[{"id": "1101", "properties": {score: "42", tier: "hot"}}]))
    assert written.results[0].properties[score] == "42"
    with pytest.raises(ContactsError) as caught:
        client.crm.contacts.batch_api.update(BatchInputSimplePublicObjectBatchInput(
            inputs=[{"id": "1101", "properties": {tier: "Warm"}}]))
    assert "INVALID_OPTION" in caught.value.body


def test_existing_names_are_conflicts(client):
    with pytest.raises(PropertiesError) as caught:
        client.crm.properties.core_api.create("contacts", PropertyCreate(
            name="email", label="Email", type="string", field_type="text",
            group_name="contactinformation"))
    assert caught.value.status == 409
    with pytest.raises(PropertiesError) as caught:
        client.crm.properties.groups_api.create("contacts", PropertyGroupCreate(
            name="bank_marketing", label="Again"))
    assert caught.value.status == 409


@pytest.mark.parametrize("body, fragment", [
    ({"label": "x", "type": "string", "fieldType": "text", "groupName": "contactinformation"},
     "Some required fields were not set: [name]"),
    ({"name": "bad_pair", "label": "x", "type": "number", "fieldType": "select",
      "groupName": "contactinformation"}, "not compatible"),
    ({"name": "Bad-Name", "label": "x", "type": "string", "fieldType": "text",
      "groupName": "contactinformation"}, "is not valid"),
    ({"name": "no_group", "label": "x", "type": "string", "fieldType": "text",
      "groupName": "missing_group"}, "does not exist"),
    ({"name": "bad_type", "label": "x", "type": "text", "fieldType": "text",
      "groupName": "contactinformation"}, "Cannot deserialize"),
    ({"name": "no_options", "label": "x", "type": "enumeration", "fieldType": "select",
      "groupName": "contactinformation"}, "at least one option"),
])
def test_invalid_property_definitions_are_validation_errors(http, base_url, body, fragment):
    answer = http.post(f"{base_url}/crm/v3/properties/contacts", json=body)
    assert answer.status_code == 400
    assert answer.json()["category"] == "VALIDATION_ERROR" and fragment in answer.json()["message"]

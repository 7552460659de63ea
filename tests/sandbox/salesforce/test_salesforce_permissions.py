"""Field-level security as a real org applies it, and sObject Collections reads.

A FieldPermissions row grants nothing by itself: its permission set must apply to the user,
either as the user's profile's own set (found through ``User.ProfileId``) or through a
``PermissionSetAssignment`` (crm-api-notes-2 section 5).
"""

import pytest
from simple_salesforce.exceptions import SalesforceError, SalesforceMalformedRequest


def me(sf, new_token) -> str:
    """The API user's id: the last part of the token answer's identity URL."""
    return new_token()["id"].rsplit("/", 1)[1]


def create_field(sf, name: str) -> None:
    sf.restful("tooling/sobjects/CustomField", method="POST", json={
        "FullName": f"Lead.{name}", "Metadata": {"label": name[:-3], "type": "Text", "length": 20}})


def grant(sf, parent: str, name: str) -> dict:
    return sf.restful("sobjects/FieldPermissions", method="POST", json={
        "ParentId": parent, "SobjectType": "Lead", "Field": f"Lead.{name}",
        "PermissionsRead": True, "PermissionsEdit": True})


def visible(sf, name: str) -> bool:
    return name in {f["name"] for f in sf.Lead.describe()["fields"]}


def error_of(call) -> dict:
    with pytest.raises(SalesforceError) as caught:
        call()
    return caught.value.content[0]


def test_the_user_finds_its_profile_and_the_profile_s_permission_set(sf, new_token):
    user = me(sf, new_token)
    profile = sf.query(f"SELECT Id, ProfileId FROM User WHERE Id = '{user}'")["records"][0]["ProfileId"]
    assert profile.startswith("00e")
    assert sf.query(f"SELECT Name FROM Profile WHERE Id = '{profile}'")["records"][0]["Name"] \
        == "System Administrator"
    owned = sf.query("SELECT Id FROM PermissionSet WHERE IsOwnedByProfile = true "
                     f"AND ProfileId = '{profile}'")["records"]
    assert len(owned) == 1
    # As in a real org, the user is listed against its profile's own permission set.
    assigned = sf.query(f"SELECT PermissionSetId FROM PermissionSetAssignment WHERE AssigneeId = '{user}'")
    assert [r["PermissionSetId"] for r in assigned["records"]] == [owned[0]["Id"]]
    create_field(sf, "Profile_Grant__c")
    assert not visible(sf, "Profile_Grant__c")
    assert grant(sf, owned[0]["Id"], "Profile_Grant__c")["success"] is True
    assert visible(sf, "Profile_Grant__c")
    # The profile's set cannot be assigned or unassigned by hand, nor deleted.
    assert error_of(lambda: sf.PermissionSetAssignment.create(
        {"AssigneeId": user, "PermissionSetId": owned[0]["Id"]}))["errorCode"] == "FIELD_INTEGRITY_EXCEPTION"
    own_assignment = sf.query(f"SELECT Id FROM PermissionSetAssignment WHERE AssigneeId = '{user}'")
    assert error_of(lambda: sf.PermissionSetAssignment.delete(own_assignment["records"][0]["Id"])
                    )["errorCode"] == "INSUFFICIENT_ACCESS_OR_READONLY"
    assert error_of(lambda: sf.PermissionSet.delete(owned[0]["Id"]))["errorCode"] \
        == "INSUFFICIENT_ACCESS_OR_READONLY"


def test_a_standalone_permission_set_grants_only_once_assigned(sf, new_token):
    user = me(sf, new_token)
    create_field(sf, "Standalone__c")
    permission_set = sf.PermissionSet.create({"Name": "Leadscore_Writer", "Label": "Leadscore writer"})
    assert grant(sf, permission_set["id"], "Standalone__c")["success"] is True
    assert not visible(sf, "Standalone__c")  # granted, but the set does not reach the user yet
    with pytest.raises(SalesforceMalformedRequest):
        sf.query("SELECT Standalone__c FROM Lead LIMIT 1")

    assignment = sf.PermissionSetAssignment.create(
        {"AssigneeId": user, "PermissionSetId": permission_set["id"]})
    assert assignment["success"] is True and assignment["id"].startswith("0Pa")
    assert visible(sf, "Standalone__c")
    assert sf.query("SELECT Standalone__c FROM Lead LIMIT 1")["totalSize"] == 1

    duplicate = error_of(lambda: sf.PermissionSetAssignment.create(
        {"AssigneeId": user, "PermissionSetId": permission_set["id"]}))
    assert duplicate["errorCode"] == "DUPLICATE_VALUE"
    nobody = error_of(lambda: sf.PermissionSetAssignment.create(
        {"AssigneeId": "005Dn0000000ZZZZZZ", "PermissionSetId": permission_set["id"]}))
    assert nobody["errorCode"] == "INVALID_CROSS_REFERENCE_KEY" and nobody["fields"] == ["AssigneeId"]
    # An assignment is changed by deleting it: the access goes with it.
    assert sf.PermissionSetAssignment.delete(assignment["id"]) == 204
    assert not visible(sf, "Standalone__c")
    sf.PermissionSet.delete(permission_set["id"])


def test_deleting_a_permission_set_takes_its_grants_and_assignments_along(sf, new_token):
    user = me(sf, new_token)
    create_field(sf, "Cascade__c")
    permission_set = sf.PermissionSet.create({"Name": "Leadscore_Cascade", "Label": "Cascade"})
    grant(sf, permission_set["id"], "Cascade__c")
    sf.PermissionSetAssignment.create({"AssigneeId": user, "PermissionSetId": permission_set["id"]})
    assert visible(sf, "Cascade__c")
    sf.PermissionSet.delete(permission_set["id"])
    assert not visible(sf, "Cascade__c")
    for child, key in (("PermissionSetAssignment", "PermissionSetId"), ("FieldPermissions", "ParentId")):
        left = sf.query(f"SELECT Id FROM {child} WHERE {key} = '{permission_set['id']}'")
        assert left["totalSize"] == 0, child


def test_collection_read_answers_in_id_order_with_null_for_missing_ids(sf, org):
    leads = sf.query("SELECT Id, LastName, Age__c FROM Lead ORDER BY CreatedDate LIMIT 3")["records"]
    gone = sf.Lead.create({"LastName": "Gone", "Company": "Acme"})["id"]
    sf.Lead.delete(gone)
    ids = [leads[2]["Id"], "00QDn0000000ZZZZZZ", leads[0]["Id"][:15], "not-an-id", gone,
           leads[1]["Id"]]
    before = org.stats()["api_usage_used"]
    answer = sf.restful("composite/sobjects/Lead", method="POST",
                        json={"ids": ids, "fields": ["id", "lastname", "Age__c"]})
    assert org.stats()["api_usage_used"] == before + 1  # one call for the whole list
    assert len(answer) == len(ids)
    assert [a is None for a in answer] == [False, True, False, True, True, False]
    first = answer[0]
    assert first == {"attributes": {"type": "Lead", "url": f"/services/data/v59.0/sobjects/Lead/{leads[2]['Id']}"},
                     "Id": leads[2]["Id"], "LastName": leads[2]["LastName"], "Age__c": leads[2]["Age__c"]}
    assert answer[2]["Id"] == leads[0]["Id"]  # a 15-character id finds its record
    # The GET form reads the same way.
    got = sf.restful("composite/sobjects/Lead", params={"ids": ",".join(ids[:2]), "fields": "Id"})
    assert got == [{"attributes": first["attributes"], "Id": leads[2]["Id"]}, None]


def test_collection_read_limits_and_errors(sf, make_client):
    lead = sf.query("SELECT Id FROM Lead LIMIT 1")["records"][0]["Id"]
    create_field(sf, "Not_Granted__c")
    at_limit = sf.restful("composite/sobjects/Lead", method="POST",
                          json={"ids": [lead] * 2000, "fields": ["Id"]})
    assert len(at_limit) == 2000
    over = error_of(lambda: sf.restful("composite/sobjects/Lead", method="POST",
                                       json={"ids": [lead] * 2001, "fields": ["Id"]}))
    assert over["errorCode"] == "EXCEEDED_ID_LIMIT"
    for fields in (["Id", "No_Such__c"], ["Id", "Not_Granted__c"]):  # unknown, or hidden by FLS
        bad = error_of(lambda fields=fields: sf.restful(
            "composite/sobjects/Lead", method="POST", json={"ids": [lead], "fields": fields}))
        assert bad["errorCode"] == "INVALID_FIELD"
    for body in ({"ids": [lead]}, {"ids": [], "fields": ["Id"]}):
        assert error_of(lambda body=body: sf.restful(
            "composite/sobjects/Lead", method="POST", json=body))["errorCode"] == "MISSING_ARGUMENT"
    old = make_client(version="41.0")  # sObject Collections came with API 42.0
    assert error_of(lambda: old.restful("composite/sobjects/Lead", method="POST",
                                        json={"ids": [lead], "fields": ["Id"]}))["errorCode"] == "NOT_FOUND"

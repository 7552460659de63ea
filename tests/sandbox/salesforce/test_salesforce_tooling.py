"""Custom fields through the Tooling API and the field-level security step before they are usable."""

import pytest
from simple_salesforce.exceptions import SalesforceMalformedRequest

KINDS = {
    "Num_Kind__c": ({"type": "Number", "precision": 3, "scale": 0}, "double", 7),
    "Text_Kind__c": ({"type": "Text", "length": 20}, "string", "short"),
    "Long_Kind__c": ({"type": "LongTextArea", "length": 1000, "visibleLines": 3}, "textarea", "x" * 900),
    "Pick_Kind__c": ({"type": "Picklist", "valueSet": {"restricted": True, "valueSetDefinition": {
        "value": [{"fullName": "Hot", "default": False}, {"fullName": "Cold"}]}}}, "picklist", "Hot"),
    "Flag_Kind__c": ({"type": "Checkbox", "defaultValue": "false"}, "boolean", True),
    "Day_Kind__c": ({"type": "Date"}, "date", "2024-05-01"),
    "When_Kind__c": ({"type": "DateTime"}, "datetime", "2024-05-01T10:00:00Z"),
}


def create_field(sf, name: str, metadata: dict):
    return sf.restful("tooling/sobjects/CustomField", method="POST", json={
        "FullName": f"Lead.{name}", "Metadata": {"label": name[:-3].replace("_", " "), **metadata}})


def grant(sf, name: str, *, edit: bool = True):
    parent = sf.query("SELECT Id FROM PermissionSet WHERE IsOwnedByProfile = true")["records"][0]["Id"]
    return sf.restful("sobjects/FieldPermissions", method="POST", json={
        "ParentId": parent, "SobjectType": "Lead", "Field": f"Lead.{name}",
        "PermissionsRead": True, "PermissionsEdit": edit})


def test_every_kind_is_hidden_until_granted_then_describable_and_writable(sf):
    lead = sf.query("SELECT Id FROM Lead WHERE IsConverted = false LIMIT 1")["records"][0]["Id"]
    for name, (metadata, describe_type, value) in KINDS.items():
        created = create_field(sf, name, metadata)
        assert created["id"].startswith("00N") and created["success"] is True
        assert created["errors"] == created["warnings"] == created["infos"] == []
        assert name not in {f["name"] for f in sf.Lead.describe()["fields"]}
        with pytest.raises(SalesforceMalformedRequest) as caught:
            sf.query(f"SELECT {name} FROM Lead LIMIT 1")
        assert caught.value.content[0]["errorCode"] == "INVALID_FIELD"
        assert grant(sf, name)["success"] is True
        described = {f["name"]: f for f in sf.Lead.describe()["fields"]}[name]
        assert described["type"] == describe_type and described["custom"] is True
        sf.Lead.update(lead, {name: value})
    record = sf.Lead.get(lead)
    assert record["Num_Kind__c"] == 7.0 and record["Flag_Kind__c"] is True
    assert record["When_Kind__c"] == "2024-05-01T10:00:00.000+0000" and record["Day_Kind__c"] == "2024-05-01"
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.Lead.update(lead, {"Pick_Kind__c": "Lukewarm"})
    assert caught.value.content[0]["errorCode"] == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    # Number(3,0) holds 999: Salesforce's "<label>: value outside of valid range on numeric
    # field: <value>", naming the field; a value rounded past the limit fails the same way.
    for value in (1234, 999.5):
        with pytest.raises(SalesforceMalformedRequest) as caught:
            sf.Lead.update(lead, {"Num_Kind__c": value})
        assert caught.value.content == [{
            "message": f"Num Kind: value outside of valid range on numeric field: {value}",
            "errorCode": "NUMBER_OUTSIDE_VALID_RANGE", "fields": ["Num_Kind__c"]}]
    sf.Lead.update(lead, {"Num_Kind__c": 998.6})  # decimals beyond the scale are rounded
    assert sf.Lead.get(lead)["Num_Kind__c"] == 999.0
    # A checkbox is never null: the per-record type error, naming the field.
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.Lead.update(lead, {"Flag_Kind__c": None})
    assert caught.value.content == [{"message": "Flag Kind: value not of required type: ",
                                     "errorCode": "INVALID_TYPE_ON_FIELD_IN_RECORD",
                                     "fields": ["Flag_Kind__c"]}]
    # A value of the wrong JSON type never reaches the record: the body fails to deserialize.
    for name, value, kind, token in (("Flag_Kind__c", "maybe", "boolean", "VALUE_STRING"),
                                     ("Day_Kind__c", "2024-13-45", "date", "VALUE_STRING"),
                                     ("When_Kind__c", 1714557600, "datetime", "VALUE_NUMBER_INT")):
        with pytest.raises(SalesforceMalformedRequest) as caught:
            sf.Lead.update(lead, {name: value})
        (error,) = caught.value.content
        assert error["errorCode"] == "JSON_PARSER_ERROR" and "fields" not in error
        assert error["message"].startswith(f"Cannot deserialize instance of {kind} from {token} "
                                           f"value {value} or request may be missing a required "
                                           "field at [line:1, column:")
    assert sf.Lead.get(lead)["Flag_Kind__c"] is True


def test_read_only_grant_refuses_writes(sf):
    create_field(sf, "Read_Only__c", {"type": "Number", "precision": 5, "scale": 2})
    grant(sf, "Read_Only__c", edit=False)
    lead = sf.query("SELECT Id, Read_Only__c FROM Lead WHERE IsConverted = false LIMIT 1")["records"][0]
    results = sf.restful("composite/sobjects", method="PATCH", json={"records": [
        {"attributes": {"type": "Lead"}, "id": lead["Id"], "Read_Only__c": 1.25}]})
    error = results[0]["errors"][0]
    assert error["statusCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE" and error["fields"] == ["Read_Only__c"]
    assert error["message"].startswith("Unable to create/update fields: Read_Only__c.")


def test_duplicates_and_bad_definitions_are_400_lists(sf):
    create_field(sf, "Dup_Field__c", {"type": "Text", "length": 10})
    for name in ("Dup_Field__c", "dup_field__c"):  # developer names compare case-insensitively
        with pytest.raises(SalesforceMalformedRequest) as caught:
            create_field(sf, name, {"type": "Text", "length": 10})
        assert caught.value.content == [{
            "message": f"There is already a field named {name[:-3]} on Lead.",
            "errorCode": "DUPLICATE_DEVELOPER_NAME", "fields": []}]
    for metadata in ({"type": "Number", "precision": 30, "scale": 0}, {"type": "Text"}):
        with pytest.raises(SalesforceMalformedRequest) as caught:
            create_field(sf, "Bad_Field__c", metadata)
        assert caught.value.content[0]["errorCode"] == "FIELD_INTEGRITY_EXCEPTION"
    # An unknown Metadata.type is not a value of the type enumeration: the body fails to parse.
    with pytest.raises(SalesforceMalformedRequest) as caught:
        create_field(sf, "Bad_Field__c", {"type": "Long Text Area"})
    (error,) = caught.value.content
    assert error["errorCode"] == "JSON_PARSER_ERROR" and "fields" not in error
    assert error["message"].startswith("Cannot deserialize instance of complexvalue from "
                                       "VALUE_STRING value Long Text Area or request may be "
                                       "missing a required field at [line:1, column:")
    with pytest.raises(SalesforceMalformedRequest):
        grant(sf, "No_Such_Field__c")


def test_tooling_query_lists_custom_fields(sf):
    create_field(sf, "Listed__c", {"type": "Checkbox", "defaultValue": "false"})
    result = sf.toolingexecute("query/?q=SELECT+Id,DeveloperName+FROM+CustomField+WHERE+TableEnumOrId='Lead'")
    assert {"size", "totalSize", "done", "queryLocator", "entityTypeName", "records"} <= set(result)
    names = {r["DeveloperName"] for r in result["records"]}
    assert {"Listed", "Age", "Job"} <= names
    record = result["records"][0]
    assert record["attributes"]["url"].startswith("/services/data/v59.0/tooling/sobjects/CustomField/00N")


def test_field_security_toggle(org, sf):
    org.enforce_field_security = False
    try:
        create_field(sf, "Open_Field__c", {"type": "Text", "length": 5})
        assert sf.query("SELECT Open_Field__c FROM Lead LIMIT 1")["totalSize"] == 1
    finally:
        org.enforce_field_security = True
    with pytest.raises(SalesforceMalformedRequest):
        sf.query("SELECT Open_Field__c FROM Lead LIMIT 1")

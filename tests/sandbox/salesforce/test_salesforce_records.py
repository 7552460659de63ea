"""Describe, single-record CRUD and composite/sobjects collections through simple-salesforce."""

import json
import time

import pytest
from simple_salesforce.exceptions import SalesforceMalformedRequest, SalesforceResourceNotFound

NOT_FOUND = [{"message": "The requested resource does not exist", "errorCode": "NOT_FOUND"}]


def lead_ids(sf, where: str, limit: int) -> list[str]:
    soql = f"SELECT Id FROM Lead WHERE {where} ORDER BY Id LIMIT {limit}"
    return [r["Id"] for r in sf.query(soql)["records"]]


def test_global_and_lead_describe(sf):
    everything = sf.describe()
    assert everything["encoding"] == "UTF-8" and everything["maxBatchSize"] == 200
    lead = next(o for o in everything["sobjects"] if o["name"] == "Lead")
    assert lead["keyPrefix"] == "00Q"
    assert lead["urls"]["describe"] == "/services/data/v59.0/sobjects/Lead/describe"
    described = sf.Lead.describe()
    fields = {f["name"]: f for f in described["fields"]}
    assert {"Id", "LastName", "Company", "Status", "IsConverted", "ConvertedDate", "CreatedDate",
            "LastModifiedDate", "SystemModstamp", "IsDeleted", "OwnerId", "Age__c", "Job__c"} <= set(fields)
    status = fields["Status"]
    assert status["type"] == "picklist" and not status["nillable"]
    assert [v["value"] for v in status["picklistValues"]] == [
        "Open - Not Contacted", "Working - Contacted", "Closed - Converted", "Closed - Not Converted"]
    assert {"label", "active", "defaultValue", "value"} <= set(status["picklistValues"][0])
    assert fields["Age__c"]["type"] == "double"
    age = fields["Age__c"]
    assert (age["precision"], age["scale"], age["custom"]) == (18, 0, True)
    assert (fields["Job__c"]["type"], fields["Job__c"]["length"]) == ("string", 255)
    assert not fields["SystemModstamp"]["updateable"] and not fields["IsConverted"]["updateable"]
    assert {"Industry", "LeadSource"} <= {n for n, f in fields.items() if f["picklistValues"]}


def test_single_record_lifecycle_and_stamps(sf, org):
    created = sf.Lead.create({"LastName": "Lovelace", "FirstName": "Ada", "Company": "Engines",
                              "Age__c": "36", "Email": "ada@example.com"})
    assert created == {"id": created["id"], "success": True, "errors": []}
    record = sf.Lead.get(created["id"])
    assert (record["Name"], record["Age__c"]) == ("Ada Lovelace", 36.0)
    assert record["Status"] == "Open - Not Contacted"
    assert record["CreatedDate"] == record["SystemModstamp"] == record["LastModifiedDate"]
    time.sleep(0.01)
    assert sf.Lead.update(created["id"], {"Age__c": 36}) == 204  # same value: stamps still move
    after = sf.Lead.get(created["id"])
    assert after["SystemModstamp"] > record["SystemModstamp"]
    assert after["LastModifiedDate"] > record["LastModifiedDate"]
    assert after["CreatedDate"] == record["CreatedDate"]
    partial = sf.restful(f"sobjects/Lead/{created['id']}", params={"fields": "Id,Age__c"})
    assert list(partial) == ["attributes", "Id", "Age__c"]
    assert sf.Lead.delete(created["id"]) == 204
    with pytest.raises(SalesforceResourceNotFound) as caught:
        sf.Lead.get(created["id"])
    assert caught.value.content[0]["errorCode"] == "ENTITY_IS_DELETED"


@pytest.mark.parametrize("values, code, fields", [
    ({"LastName": "X", "Company": "Y", "Nope__c": 1}, "INVALID_FIELD", []),
    ({"LastName": "X" * 81, "Company": "Y"}, "STRING_TOO_LONG", ["LastName"]),
    ({"Company": "Y"}, "REQUIRED_FIELD_MISSING", ["LastName"]),
    ({"LastName": "X", "Company": "Y", "SystemModstamp": "2024-01-01T00:00:00Z"},
     "INVALID_FIELD_FOR_INSERT_UPDATE", ["SystemModstamp"]),
    ({"LastName": "X", "Company": "Y", "Email": "not-an-email"}, "INVALID_EMAIL_ADDRESS", ["Email"]),
])
def test_single_create_errors(sf, values, code, fields):
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.Lead.create(values)
    (error,) = caught.value.content
    assert error["errorCode"] == code and error["fields"] == fields and error["message"]


@pytest.mark.parametrize("value, expected", [
    ("old", "Cannot deserialize instance of double from VALUE_STRING value old"),
    (True, "Cannot deserialize instance of double from VALUE_TRUE value true"),
    ({"n": 1}, "Cannot deserialize instance of double from START_OBJECT value {"),
])
def test_a_value_of_the_wrong_json_type_fails_the_whole_request(sf, value, expected):
    """Salesforce reads the body before any record check: a JSON_PARSER_ERROR with no fields."""
    before = sf.query("SELECT COUNT() FROM Lead")["totalSize"]
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.Lead.create({"LastName": "X", "Company": "Y", "Age__c": value})
    (error,) = caught.value.content
    assert set(error) == {"message", "errorCode"} and error["errorCode"] == "JSON_PARSER_ERROR"
    assert error["message"].startswith(expected + " or request may be missing a required field "
                                       "at [line:1, column:")
    assert sf.query("SELECT COUNT() FROM Lead")["totalSize"] == before
    assert sf.Lead.create({"LastName": "X", "Company": "Y", "Age__c": "41"})["success"]


def test_single_record_not_found_and_bad_json(sf, http, info):
    with pytest.raises(SalesforceResourceNotFound) as caught:
        sf.Lead.update("00QDn0000000ZZZZZZ", {"LastName": "X"})
    assert caught.value.content == NOT_FOUND
    headers = {"Authorization": f"Bearer {sf.session_id}", "Content-Type": "application/json"}
    response = http.post(f"{info['instance_url']}/services/data/v59.0/sobjects/Lead", data="{oops",
                         headers=headers)
    assert response.status_code == 400 and response.json()[0]["errorCode"] == "JSON_PARSER_ERROR"
    response = http.put(f"{info['instance_url']}/services/data/v59.0/sobjects/Lead/x", headers=headers)
    assert response.status_code == 405 and response.json()[0]["errorCode"] == "METHOD_NOT_ALLOWED"


def test_collection_create_and_update_in_request_order(sf, org):
    body = {"allOrNone": False, "records": [
        {"attributes": {"type": "Lead"}, "LastName": f"Batch {i}", "Company": "C"} for i in range(3)]}
    created = sf.restful("composite/sobjects", method="POST", json=body)
    assert [r["success"] for r in created] == [True] * 3 and all(r["errors"] == [] for r in created)
    open_ids = lead_ids(sf, "IsConverted = false", 2)
    converted = lead_ids(sf, "IsConverted = true", 1)
    updates = [
        {"attributes": {"type": "Lead"}, "id": created[0]["id"], "Age__c": 40},
        {"attributes": {"type": "Lead"}, "id": "bad-id", "Age__c": 1},
        {"attributes": {"type": "Lead"}, "id": "00QDn0000000ZZZZZZ", "Age__c": 1},
        {"attributes": {"type": "Lead"}, "id": open_ids[0], "Nope__c": 1},
        {"attributes": {"type": "Lead"}, "id": open_ids[1], "Age__c": 1e20},
        {"attributes": {"type": "Lead"}, "id": converted[0], "Age__c": 3},
        {"attributes": {"type": "Lead"}, "id": created[1]["id"], "Company": "C" * 256},
        {"attributes": {"type": "Lead"}, "id": created[2]["id"], "IsConverted": True},
        {"attributes": {"type": "Lead"}, "Age__c": 3},
        {"id": created[2]["id"], "Age__c": 3},
    ]
    results = sf.restful("composite/sobjects", method="PATCH", json={"allOrNone": False, "records": updates})
    assert results[0] == {"id": created[0]["id"], "success": True, "errors": []}
    codes = [r["errors"][0]["statusCode"] if r["errors"] else None for r in results]
    assert codes == [None, "MALFORMED_ID", "INVALID_CROSS_REFERENCE_KEY", "INVALID_FIELD",
                     "NUMBER_OUTSIDE_VALID_RANGE", "CANNOT_UPDATE_CONVERTED_LEAD", "STRING_TOO_LONG",
                     "INVALID_FIELD_FOR_INSERT_UPDATE", "MISSING_ARGUMENT", "INVALID_TYPE"]
    assert all(set(r) == {"success", "errors"} for r in results[1:])
    assert sf.Lead.get(created[0]["id"])["Age__c"] == 40.0


def test_one_wrong_json_type_fails_the_whole_collection(sf):
    ids = lead_ids(sf, "IsConverted = false", 3)
    before = [sf.Lead.get(i)["SystemModstamp"] for i in ids]
    records = [{"attributes": {"type": "Lead"}, "id": i, "Age__c": 30} for i in ids]
    records[2]["Age__c"] = "thirty"
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.restful("composite/sobjects", method="PATCH", json={"records": records})
    (error,) = caught.value.content
    assert error["errorCode"] == "JSON_PARSER_ERROR"
    assert error["message"].startswith("Cannot deserialize instance of double from VALUE_STRING "
                                       "value thirty or request may be missing a required field")
    # The location points past the third record's value, not the first one's.
    column = int(error["message"].rsplit("column:", 1)[1].rstrip("]"))
    assert column > len(json.dumps({"records": records[:2]}))
    assert [sf.Lead.get(i)["SystemModstamp"] for i in ids] == before


def test_all_or_none_rolls_everything_back(sf):
    ids = lead_ids(sf, "IsConverted = false", 2)
    before = sf.Lead.get(ids[0])
    body = {"allOrNone": True, "records": [
        {"attributes": {"type": "Lead"}, "id": ids[0], "Age__c": 99},
        {"attributes": {"type": "Lead"}, "id": ids[1], "Company": "C" * 256}]}
    first, second = sf.restful("composite/sobjects", method="PATCH", json=body)
    assert first == {"id": ids[0], "success": False, "errors": [{
        "statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK",
        "message": "Record rolled back because not all records were valid and the request was "
                   "using AllOrNone header",
        "fields": []}]}
    assert second["errors"][0]["statusCode"] == "STRING_TOO_LONG"
    after = sf.Lead.get(ids[0])
    assert (after["Age__c"], after["SystemModstamp"]) == (before["Age__c"], before["SystemModstamp"])


def test_collection_cap_of_200(sf):
    ids = lead_ids(sf, "IsConverted = false", 200)
    ok = sf.restful("composite/sobjects", method="PATCH", json={"records": [
        {"attributes": {"type": "Lead"}, "id": i, "Score__c": 1.5} for i in ids]})
    assert len(ok) == 200 and all(r["success"] for r in ok)
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.restful("composite/sobjects", method="PATCH", json={"records": [
            {"attributes": {"type": "Lead"}, "id": i, "Score__c": 1} for i in ids + ids[:1]]})
    assert caught.value.content == [{
        "message": "record limit reached. cannot submit more than 200 records into this call",
        "errorCode": "EXCEEDED_ID_LIMIT"}]

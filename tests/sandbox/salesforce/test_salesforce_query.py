"""query / queryAll through simple-salesforce: pages, locators, values and error bodies."""

import pytest
from simple_salesforce.exceptions import SalesforceMalformedRequest

ROWS = 2500  # leads seeded by conftest.small_seed

INCREMENTAL = ("SELECT Id, Age__c, SystemModstamp FROM Lead WHERE SystemModstamp >= "
               "2000-01-01T00:00:00Z ORDER BY SystemModstamp, Id")


def test_first_page_shape_and_paging_across_the_2000_boundary(sf):
    first = sf.query(INCREMENTAL)
    assert list(first) == ["totalSize", "done", "nextRecordsUrl", "records"]
    assert first["totalSize"] >= ROWS and first["done"] is False and len(first["records"]) == 2000
    assert first["nextRecordsUrl"].startswith("/services/data/v59.0/query/01g")
    assert first["nextRecordsUrl"].endswith("-2000")
    record = first["records"][0]
    assert list(record) == ["attributes", "Id", "Age__c", "SystemModstamp"]
    assert record["attributes"] == {"type": "Lead", "url": f"/services/data/v59.0/sobjects/Lead/{record['Id']}"}
    assert len(record["Id"]) == 18 and record["Id"].startswith("00Q")
    assert record["SystemModstamp"].endswith("+0000") and isinstance(record["Age__c"], float)
    second = sf.query_more(first["nextRecordsUrl"], identifier_is_url=True)
    assert second["done"] is True and "nextRecordsUrl" not in second
    everything = first["records"] + second["records"]
    assert len(everything) == first["totalSize"]
    stamps = [(r["SystemModstamp"], r["Id"]) for r in everything]
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)


def test_query_all_iter_and_batch_size_header(sf, org):
    before = org.stats()["api_calls"]
    records = list(sf.query_all_iter(INCREMENTAL, headers={"Sforce-Query-Options": "batchSize=500"}))
    assert len(records) >= ROWS
    assert org.stats()["api_calls"] - before == -(-len(records) // 500)
    page = sf.query(INCREMENTAL, headers={"Sforce-Query-Options": "batchSize=50"})
    assert len(page["records"]) == 200  # clamped to the minimum of 200


def test_locator_by_id_and_an_invalid_locator(sf):
    first = sf.query(INCREMENTAL)
    locator = first["nextRecordsUrl"].rsplit("/", 1)[1]
    assert sf.query_more(locator)["done"] is True
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.query_more(locator)  # the cursor closed after its last page
    assert caught.value.content == [{"message": "invalid query locator", "errorCode": "INVALID_QUERY_LOCATOR"}]


def test_where_limit_count_and_value_forms(sf):
    rows = sf.query("SELECT Id, Job__c, Score__c, Status, IsConverted, ConvertedDate, CreatedDate "
                    "FROM Lead WHERE Status = 'Closed - Converted' ORDER BY CreatedDate LIMIT 3")["records"]
    assert [r["IsConverted"] for r in rows] == [True] * 3
    assert len(rows[0]["ConvertedDate"]) == 10 and rows[0]["CreatedDate"] == "2024-01-01T00:00:00.000+0000"
    assert sf.query("SELECT COUNT() FROM Lead WHERE Job__c = null") == {
        "totalSize": ROWS // 3, "done": True, "records": []}
    opened = sf.query("SELECT Id FROM Lead WHERE Status IN ('Open - Not Contacted', 'Working - Contacted')")
    assert opened["totalSize"] == 500


def test_query_all_includes_deleted_records(sf):
    created = sf.Lead.create({"LastName": "Gone", "Company": "Acme"})
    sf.Lead.delete(created["id"])
    soql = f"SELECT Id, IsDeleted FROM Lead WHERE Id = '{created['id']}'"
    assert sf.query(soql)["totalSize"] == 0
    assert sf.query_all(soql, include_deleted=True)["records"][0]["IsDeleted"] is True


@pytest.mark.parametrize("soql, code, fragment", [
    ("SELECT Id FROM Lead WHERE", "MALFORMED_QUERY", "unexpected token: '<EOF>'"),
    ("SELECT Id, Bogus__c FROM Lead", "INVALID_FIELD", "No such column 'Bogus__c' on entity 'Lead'"),
    ("SELECT Id FROM Leed", "INVALID_TYPE", "sObject type 'Leed' is not supported."),
    ("SELECT Id FROM Lead WHERE Age__c = 'old'", "INVALID_FIELD", "must be of type double"),
])
def test_error_bodies(sf, soql, code, fragment):
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.query(soql)
    (error,) = caught.value.content
    assert error["errorCode"] == code and fragment in error["message"]
    assert set(error) == {"message", "errorCode"}


def test_other_api_versions_and_trailing_slashes(make_client, http, info):
    sf = make_client(version="62.0")
    page = sf.query("SELECT Id FROM Lead LIMIT 1")
    assert page["records"][0]["attributes"]["url"].startswith("/services/data/v62.0/")
    headers = {"Authorization": f"Bearer {sf.session_id}"}
    for path in ("/services/data/v60.0/query?q=SELECT+Id+FROM+Lead+LIMIT+1",
                 "/services/data/v60.0/query/?q=SELECT+Id+FROM+Lead+LIMIT+1"):
        assert http.get(info["instance_url"] + path, headers=headers).status_code == 200
    response = http.get(info["instance_url"] + "/services/data/v99.0/limits", headers=headers)
    assert response.status_code == 404
    assert response.json() == [{"message": "The requested resource does not exist", "errorCode": "NOT_FOUND"}]

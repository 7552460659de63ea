"""Salesforce-only behaviour: the three OAuth flows, session renewal, query paging, per-record
save results, the daily API budget, and re-sending records that were locked."""

from __future__ import annotations

import math

import pytest

from connector.crm import open_crm, write_all
from connector.errors import ApiBudgetError, ConfigError, CredentialsError
from connector.records import FieldSpec, RecordWrite


@pytest.mark.parametrize("flow", ["password", "client_credentials", "jwt"])
def test_every_oauth_flow_authenticates(salesforce, flow):
    crm = salesforce.connect(auth=flow)
    assert crm.describe()["LastName"].kind == "string"
    assert crm.usage().daily_max == 100_000  # read from /limits at connect


@pytest.mark.parametrize("flow, variable", [
    ("client_credentials", "SALESFORCE_CONSUMER_SECRET"),
    ("jwt", "SALESFORCE_USERNAME"),
])
def test_a_refused_flow_names_its_variables(salesforce, flow, variable):
    environ = {**salesforce.environ, variable: "someone-else"}
    with pytest.raises(CredentialsError) as raised:
        open_crm(salesforce.connection(auth=flow), environ=environ)
    assert f"{flow} flow" in str(raised.value) and variable in str(raised.value)


def test_a_jwt_key_that_is_not_a_key_is_named(salesforce, tmp_path):
    bogus = tmp_path / "key.pem"
    bogus.write_text("not a key")
    environ = {**salesforce.environ, "SALESFORCE_PRIVATE_KEY_FILE": str(bogus)}
    with pytest.raises(CredentialsError, match="SALESFORCE_PRIVATE_KEY_FILE"):
        open_crm(salesforce.connection(auth="jwt"), environ=environ)


def test_an_expired_session_is_renewed_and_the_call_repeated(salesforce):
    ids = salesforce.admin.create(10)
    crm = salesforce.connect()
    salesforce.sandbox.salesforce.expire_sessions()
    pages = list(crm.pull_changed(None, ["LastName"]))
    assert sorted(r.id for p in pages for r in p.records) == sorted(ids)
    salesforce.sandbox.salesforce.expire_sessions()
    assert all(r.ok for r in crm.write([RecordWrite(i, {"Title": "CTO"}) for i in ids]))
    assert salesforce.admin.stats()["http_401"] == 2


def test_more_than_2000_leads_arrive_in_pages_ordered_by_stamp(salesforce):
    ids = salesforce.admin.create(2_500)
    crm = salesforce.connect()
    pages = list(crm.pull_changed(None, ["LastName"]))
    records = [r for p in pages for r in p.records]
    assert len(pages) == 2 and len(pages[0].records) == 2_000  # one query, one nextRecordsUrl
    assert sorted(r.id for r in records) == sorted(ids)
    keys = [(r.stamp, r.id) for r in records]
    assert keys == sorted(keys)
    assert pages[0].cursor.stamp <= pages[1].cursor.stamp


def test_a_dropped_query_locator_is_queried_again_without_loss(salesforce):
    ids = salesforce.admin.create(4_500)
    crm = salesforce.connect()
    pages = crm.pull_changed(None, ["LastName"])
    delivered = [r.id for r in next(pages).records]
    for _ in range(10):  # ten more open queries: Salesforce drops the oldest locator, ours
        assert not salesforce.admin.sf.query("SELECT Id FROM Lead")["done"]
    queries = salesforce.admin.stats()["queries"]
    delivered += [r.id for page in pages for r in page.records]
    assert len(delivered) == len(set(delivered)) == 4_500 and set(delivered) == set(ids)
    assert salesforce.admin.stats()["queries"] == queries + 1  # asked again once


def test_records_the_org_refuses_are_reported_and_the_rest_saved(salesforce):
    crm = salesforce.connect()
    ids = salesforce.admin.create(200)
    salesforce.admin.delete(ids[10])
    bad = {ids[10], "00QDn000000ZZZZMAU", "not-an-id"}
    batch = [RecordWrite(i, {"Title": "VP"})
             for i in ids[:198] + ["00QDn000000ZZZZMAU", "not-an-id"]]
    crm.describe()
    calls = crm.usage().calls

    results = crm.write(batch)

    assert crm.usage().calls - calls == 1
    failed = {r.record_id: r for r in results if not r.ok}
    assert set(failed) == bad
    assert all(r.sent and r.code and r.reason for r in failed.values())
    assert sum(r.ok for r in results) == 197
    assert failed[ids[10]].code == "ENTITY_IS_DELETED"
    assert {failed["not-an-id"].code, failed["00QDn000000ZZZZMAU"].code} <= {
        "MALFORMED_ID", "INVALID_CROSS_REFERENCE_KEY"}


def test_a_number_too_large_for_its_field_is_refused_before_sending(salesforce):
    """An admin made the score field Number(2,0): 100 cannot go (Salesforce would answer
    NUMBER_OUTSIDE_VALID_RANGE); the rest of the batch is written in one request."""
    crm = salesforce.connect()
    crm.ensure_fields([FieldSpec("LS_Score__c", "Lead score", "number", precision=2, scale=0)])
    salesforce.admin.grant(["LS_Score__c"])
    ids = salesforce.admin.create(6)
    scores = dict(zip(ids, [0, 42, 99, 100, 99.4, 7]))
    assert crm.describe(refresh=True)["LS_Score__c"].capacity == "Number(2,0)"
    before = salesforce.admin.stats()

    results = crm.write([RecordWrite(i, {"LS_Score__c": s}) for i, s in scores.items()])

    stats = salesforce.admin.stats()
    failed = [r for r in results if not r.ok]
    assert [(r.record_id, r.field, r.code, r.sent) for r in failed] == [
        (ids[3], "LS_Score__c", "NUMBER_OUTSIDE_VALID_RANGE", False)]
    assert failed[0].reason == "LS_Score__c holds numbers up to 99 (Number(2,0)); got 100"
    assert stats["write_requests"] - before["write_requests"] == 1
    assert stats["records_written"] - before["records_written"] == 5
    assert stats["records_failed"] == before["records_failed"]  # the 100 never reached the org
    stored = salesforce.admin.read(ids, ["LS_Score__c"])
    assert [stored[i]["LS_Score__c"] for i in ids] == [0, 42, 99, None, 99, 7]
    # What the pre-check lets through the org takes: 99.4 is stored rounded to 99.
    # Without the pre-check the org itself refuses the value, with its own code and message.
    raw = salesforce.admin.sf.restful("composite/sobjects", method="PATCH", json={
        "allOrNone": False, "records": [{"attributes": {"type": "Lead"}, "id": ids[3],
                                         "LS_Score__c": 100}]})
    assert raw[0]["errors"] == [{"statusCode": "NUMBER_OUTSIDE_VALID_RANGE",
                                 "message": "Lead score: value outside of valid range on "
                                            "numeric field: 100", "fields": ["LS_Score__c"]}]


def test_locked_records_are_sent_again_once(salesforce):
    ids = salesforce.admin.create(200)
    crm = salesforce.connect()
    before = salesforce.admin.stats()
    salesforce.sandbox.set_faults("record:0.1,seed:3")
    results = crm.write([RecordWrite(i, {"Title": "Lead"}) for i in ids])
    stats = salesforce.admin.stats()
    assert stats["records_rejected_by_fault"] > 0
    # the batch, then its locked records once more
    assert stats["write_requests"] - before["write_requests"] == 2
    still_locked = [r for r in results if not r.ok]
    assert all(r.transient and r.code == "UNABLE_TO_LOCK_ROW" for r in still_locked)
    assert sum(r.ok for r in results) == stats["records_written"] - before["records_written"]


def test_the_budget_guard_stops_before_the_reserve_and_loses_nothing(start_case):
    case = start_case("salesforce", daily_api_limit=1_000)
    ids = case.admin.create(1_000)
    crm = case.connect()
    reserve = math.ceil(0.2 * 1_000)
    # room for three calls: describe, the query, one write of 200; the second write must wait
    case.sandbox.salesforce.set_remaining_api_calls(reserve + 3)
    recorded = []

    with pytest.raises(ApiBudgetError) as raised:
        for page in crm.pull_changed(None, ["Title"]):
            writes = [RecordWrite(r.id, {"Title": "Scored"}) for r in page.records]
            for results in write_all(crm, writes):
                recorded += results

    assert "reserve" in str(raised.value) and "\n" not in str(raised.value)
    remaining = case.sandbox.salesforce.limits()["DailyApiRequests"]["Remaining"]
    assert remaining == reserve  # stopped before touching the reserve
    assert len(recorded) == 200 and all(r.ok for r in recorded)
    titles = case.admin.read(ids, ["Title"])
    written = {i for i, row in titles.items() if row["Title"] == "Scored"}
    assert written == {r.record_id for r in recorded}  # nothing written goes unrecorded


def test_grant_through_the_profile_s_own_permission_set_and_upgrade_a_read_only_grant(salesforce):
    """``--grant`` with the integration user's profile's own set: no assignment is needed (the
    profile's set reaches its users); a grant that allowed Read only is raised to Edit."""
    crm = salesforce.connect()
    sf = salesforce.admin.sf
    profile_set = sf.query("SELECT Name FROM PermissionSet WHERE IsOwnedByProfile = true")["records"][0]["Name"]
    specs = [FieldSpec("LS_Score__c", "Lead score", "number", precision=3, scale=0),
             FieldSpec("LS_Tier__c", "Lead tier", "string", length=20)]
    crm.ensure_fields(specs)
    parent = sf.query(f"SELECT Id FROM PermissionSet WHERE Name = '{profile_set}'")["records"][0]["Id"]
    sf.restful("sobjects/FieldPermissions", method="POST", json={
        "ParentId": parent, "SobjectType": "Lead", "Field": "Lead.LS_Tier__c",
        "PermissionsRead": True, "PermissionsEdit": False})
    assert not crm.describe(refresh=True)["LS_Tier__c"].updateable

    report = crm.ensure_fields(specs, grant=profile_set)

    assert report.access == (
        f"granted Read and Edit on LS_Score__c, LS_Tier__c in permission set {profile_set}",
        f"permission set {profile_set} is the integration user's profile's own")
    assert report.manual_steps == ()
    catalog = crm.describe(refresh=True)
    assert catalog["LS_Score__c"].updateable and catalog["LS_Tier__c"].updateable
    assigned = sf.query("SELECT Id FROM PermissionSetAssignment")["totalSize"]
    assert assigned == 1  # only the profile's own, made with the org


def test_grant_refuses_a_name_that_cannot_be_a_permission_set(salesforce):
    crm = salesforce.connect()
    specs = [FieldSpec("LS_Score__c", "Lead score", "number", precision=3, scale=0)]
    for name in ("Lead Score", "x' OR Name != '", "Double__Underscore", "a" * 81):
        with pytest.raises(ConfigError, match="not a permission set API name"):
            crm.ensure_fields(specs, grant=name)
    sf = salesforce.admin.sf  # nothing was made: no field, no permission set
    made = sf.toolingexecute("query/?q=SELECT+Id+FROM+CustomField+WHERE+DeveloperName='LS_Score'")
    assert made["totalSize"] == 0
    assert sf.query("SELECT Id FROM PermissionSet")["totalSize"] == 1

"""The recycle bin, getDeleted, merge and undelete of the Salesforce emulator, through the
unmodified simple-salesforce client (notes-2 §2)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from simple_salesforce.exceptions import SalesforceMalformedRequest, SalesforceResourceNotFound


def _leads(sf, count: int) -> list[str]:
    records = [{"attributes": {"type": "Lead"}, "LastName": f"Recycle {n}", "Company": "Acme"}
               for n in range(count)]
    return [save["id"] for save in sf.restful("composite/sobjects", method="POST",
                                              json={"allOrNone": True, "records": records})]


def _deleted(sf, start: datetime, end: datetime) -> dict:
    return sf.restful("sobjects/Lead/deleted/", params={"start": start.isoformat(),
                                                        "end": end.isoformat()})


def test_a_deleted_lead_is_in_the_recycle_bin_and_the_delete_log(sf):
    start = datetime.now(UTC) - timedelta(minutes=5)
    gone, kept = _leads(sf, 2)
    sf.restful(f"sobjects/Lead/{gone}", method="DELETE")
    assert sf.query(f"SELECT Id FROM Lead WHERE Id = '{gone}'")["totalSize"] == 0
    row = sf.query_all(f"SELECT Id, IsDeleted FROM Lead WHERE Id = '{gone}'",
                       include_deleted=True)["records"][0]
    assert row["IsDeleted"] is True
    answer = _deleted(sf, start, datetime.now(UTC) + timedelta(minutes=2))
    assert gone in {r["id"] for r in answer["deletedRecords"]}
    assert kept not in {r["id"] for r in answer["deletedRecords"]}
    assert set(answer) == {"deletedRecords", "earliestDateAvailable", "latestDateCovered"}
    assert answer["deletedRecords"][0]["deletedDate"].endswith("+0000")
    with pytest.raises(SalesforceResourceNotFound) as raised:
        sf.restful(f"sobjects/Lead/{gone}", method="PATCH", json={"Title": "x"})
    assert raised.value.content[0]["errorCode"] == "ENTITY_IS_DELETED"
    saves = sf.restful("composite/sobjects", method="PATCH", json={"allOrNone": False, "records": [
        {"attributes": {"type": "Lead"}, "id": gone, "Title": "x"}]})
    assert saves[0]["errors"][0]["statusCode"] == "ENTITY_IS_DELETED"


@pytest.mark.parametrize("start, end", [
    (timedelta(days=16), timedelta(0)),  # past the 15-day look-back
    (timedelta(seconds=30), timedelta(0)),  # a window of a minute or less
])
def test_get_deleted_refuses_a_window_it_cannot_answer(sf, start, end):
    now = datetime.now(UTC)
    with pytest.raises(SalesforceMalformedRequest) as raised:
        _deleted(sf, now - start, now - end)
    assert raised.value.status == 400
    assert raised.value.content[0]["errorCode"] == "INVALID_REPLICATION_DATE"


def test_merge_deletes_the_losers_with_their_master_and_undelete_restores(sf, org):
    master, loser = _leads(sf, 2)
    before = sf.query(f"SELECT SystemModstamp FROM Lead WHERE Id = '{master}'")["records"][0]
    org.merge(master, [loser])
    rows = sf.query_all(f"SELECT Id, IsDeleted, MasterRecordId, SystemModstamp FROM Lead "
                        f"WHERE Id IN ('{master}', '{loser}')", include_deleted=True)["records"]
    by_id = {row["Id"]: row for row in rows}
    assert by_id[loser]["IsDeleted"] and by_id[loser]["MasterRecordId"] == master
    assert not by_id[master]["IsDeleted"]
    assert by_id[master]["SystemModstamp"] >= before["SystemModstamp"]
    org.undelete([loser])
    assert sf.query(f"SELECT Id FROM Lead WHERE Id = '{loser}'")["totalSize"] == 1


def test_an_emptied_recycle_bin_keeps_the_log_until_it_is_purged(sf, org):
    start = datetime.now(UTC) - timedelta(minutes=5)
    (gone,) = _leads(sf, 1)
    sf.restful(f"sobjects/Lead/{gone}", method="DELETE")
    org.empty_recycle_bin()
    assert sf.query_all(f"SELECT Id FROM Lead WHERE Id = '{gone}'",
                        include_deleted=True)["totalSize"] == 0
    end = datetime.now(UTC) + timedelta(minutes=2)
    assert gone in {r["id"] for r in _deleted(sf, start, end)["deletedRecords"]}
    org.purge_delete_log(datetime.now(UTC))
    with pytest.raises(SalesforceMalformedRequest):
        _deleted(sf, start, end)
    org.purge_delete_log(datetime(2000, 1, 1, tzinfo=UTC))  # the shared org's log opens again


def test_the_recycle_bin_keeps_a_deleted_lead_15_days():
    from connector.sandbox import Sandbox
    from tests.crm.conftest import SalesforceAdmin

    with Sandbox(crms=("salesforce",), session_lifetime_s=40 * 86400) as box:
        admin = SalesforceAdmin(box)
        (gone,) = admin.create(1)
        admin.delete(gone)
        org, real = box.salesforce, box.salesforce.clock
        soql = f"SELECT Id FROM Lead WHERE Id = '{gone}'"
        try:
            org.clock = lambda: real() + 14 * 86400
            assert admin.sf.query_all(soql, include_deleted=True)["totalSize"] == 1
            org.clock = lambda: real() + 16 * 86400  # the org's own time, past the bin's 15 days
            assert admin.sf.query_all(soql, include_deleted=True)["totalSize"] == 0
        finally:
            org.clock = real
            admin.close()

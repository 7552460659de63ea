"""Bulk API 2.0 in the sandbox, driven by simple-salesforce's unmodified ``bulk2`` over HTTP."""

from __future__ import annotations

import csv
import io
import time
from pathlib import Path

import pytest
from simple_salesforce.bulk2 import Operation
from simple_salesforce.exceptions import SalesforceError, SalesforceOperationError

from tests.sandbox.salesforce.conftest import ROWS

QUERY = "SELECT Id, Age__c, Score__c, Job__c, SystemModstamp FROM Lead"


def rows_of(text: str, delimiter: str = ",") -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))


@pytest.fixture
def slow_jobs(org):
    """Jobs take 0.4 s to process, so their intermediate states can be seen."""
    org.bulk.processing_s = 0.4
    yield
    org.bulk.processing_s = 0.0


def test_query_results_are_paged_by_locator_and_max_records(sf, tmp_path: Path):
    sets = sf.bulk2.Lead.download(QUERY, str(tmp_path), max_records=1000, wait=0)
    assert [s["number_of_records"] for s in sets] == [1000, 1000, ROWS - 2000]
    assert sets[-1]["locator"] == "" and all(s["locator"] for s in sets[:-1])
    ids = []
    for found in sets:
        lines = Path(found["file"]).read_text(encoding="utf-8").splitlines()
        assert lines[0] == '"Id","Age__c","Score__c","Job__c","SystemModstamp"'  # every set
        ids += [row[0] for row in rows_of("\n".join(lines[1:]))]
    rest = {r["Id"] for r in sf.query_all("SELECT Id FROM Lead")["records"]}
    assert len(ids) == ROWS and set(ids) == rest


def test_a_result_set_streams_in_blocks_with_one_header(sf, org):
    org.bulk.stream_rows = 700  # the 2,000-record set goes out in three blocks
    client = sf.bulk2.Lead._client
    job = client.create_job(Operation.query, QUERY)
    client.wait_for_job(job["id"], True, 0)
    streamed = client.get_query_results(job["id"], "", 2000)
    org.bulk.stream_rows = 5_000
    whole = client.get_query_results(job["id"], "", 2000)
    assert streamed["records"] == whole["records"] and streamed["number_of_records"] == 2000
    rows = rows_of(streamed["records"])
    assert rows[0] == ["Id", "Age__c", "Score__c", "Job__c", "SystemModstamp"]
    assert len(rows) == 2001 and rows.count(rows[0]) == 1


@pytest.mark.parametrize("value", ["0", "-5", "many"])
def test_max_records_must_be_a_positive_integer(sf, http, value):
    client = sf.bulk2.Lead._client
    job = client.create_job(Operation.query, QUERY)
    client.wait_for_job(job["id"], True, 0)
    answer = http.get(f"{sf.bulk2_url}query/{job['id']}/results", params={"maxRecords": value},
                      headers={"Authorization": f"Bearer {sf.session_id}"})
    assert answer.status_code == 400 and answer.json()[0]["errorCode"] == "INVALIDPARAMETER"
    # Without maxRecords the server picks the size of a set (the 2,500 rows fit in one).
    default = http.get(f"{sf.bulk2_url}query/{job['id']}/results",
                       headers={"Authorization": f"Bearer {sf.session_id}"})
    assert default.headers["Sforce-NumberOfRecords"] == str(ROWS)
    assert default.headers["Sforce-Locator"] == "null"


def test_a_locator_rereads_the_same_set(sf, info, http):
    client = sf.bulk2.Lead._client
    job = client.create_job(Operation.query, QUERY)
    client.wait_for_job(job["id"], True, 0)
    first = client.get_query_results(job["id"], "", 1000)
    second = client.get_query_results(job["id"], first["locator"], 1000)
    again = client.get_query_results(job["id"], first["locator"], 1000)
    assert second["records"] == again["records"] and second["records"] != first["records"]
    # Results must be read with the API version the job was created with.
    other = sf.bulk2_url.replace(f"v{sf.sf_version}", "v58.0")
    answer = http.get(f"{other}query/{job['id']}/results",
                      headers={"Authorization": f"Bearer {sf.session_id}"})
    assert answer.status_code == 409


def test_query_dialect_options(sf):
    sets = list(sf.bulk2.Lead.query("SELECT Id, Job__c FROM Lead WHERE Age__c = 20",
                                    column_delimiter="PIPE", line_ending="CRLF", wait=0))
    text = "".join(sets)
    assert "\r\n" in text and text.startswith('"Id"|"Job__c"\r\n')
    body = rows_of(text, "|")[1:]
    assert len(body) == ROWS // 50 and all(row[0].startswith("00Q") for row in body)


def test_query_job_states_and_early_results(sf, slow_jobs):
    client = sf.bulk2.Lead._client
    job = client.create_job(Operation.query, QUERY)
    assert job["state"] == "UploadComplete" and job["id"].startswith("750")
    with pytest.raises(SalesforceError):  # not JobComplete yet
        client.get_query_results(job["id"], "", 10)
    seen = []
    while not seen or seen[-1] != "JobComplete":
        seen.append(client.get_job(job["id"], True)["state"])
        time.sleep(0.05)
    assert "InProgress" in seen
    assert client.get_query_results(job["id"], "", 10)["number_of_records"] == 10


def test_unsupported_soql_and_failed_query_job(sf, sandbox):
    with pytest.raises(SalesforceError):
        list(sf.bulk2.Lead.query("SELECT COUNT() FROM Lead", wait=0))
    sandbox.set_faults("salesforce.bulk:jobfail:1")
    with pytest.raises(SalesforceOperationError, match="Job failure"):
        list(sf.bulk2.Lead.query(QUERY, wait=0))


def _open_ids(sf, count: int) -> list[str]:
    rows = sf.query(f"SELECT Id FROM Lead WHERE IsConverted = false ORDER BY Id LIMIT {count}")
    return [r["Id"] for r in rows["records"]]


def test_ingest_update_reports_successes_and_failures(sf, org):
    ids = _open_ids(sf, 5)
    missing = ids[0][:-6] + "zzzzzz"
    records = [{"Id": i, "Title": "bulk-updated"} for i in ids[:3]]
    records += [{"Id": ids[3], "AnnualRevenue": "not a number"}, {"Id": missing, "Title": "x"}]
    before = org.limits()["DailyBulkApiBatches"]["Remaining"]
    [result] = sf.bulk2.Lead.update(records=records, wait=0)
    assert (result["numberRecordsProcessed"], result["numberRecordsFailed"]) == (5, 2)
    assert org.limits()["DailyBulkApiBatches"]["Remaining"] == before - 1
    failed = {row["sf__Id"]: row["sf__Error"] for row in
              csv.DictReader(io.StringIO(sf.bulk2.Lead.get_failed_records(result["job_id"])))}
    assert failed[ids[3]].startswith("INVALID_TYPE_ON_FIELD_IN_RECORD:")
    assert failed[missing].startswith("INVALID_CROSS_REFERENCE_KEY:")
    done = list(csv.DictReader(io.StringIO(sf.bulk2.Lead.get_successful_records(
        result["job_id"]))))
    assert {r["sf__Id"] for r in done} == set(ids[:3]) and {r["sf__Created"] for r in done} == {
        "false"}
    assert {v["Title"] for v in org.peek(ids[:3], ["Title"]).values()} == {"bulk-updated"}
    unprocessed = rows_of(sf.bulk2.Lead.get_unprocessed_records(result["job_id"]))
    assert len(unprocessed) == 1 and set(unprocessed[0]) == {"Id", "Title", "AnnualRevenue"}


def test_failed_ingest_job_leaves_unprocessed_records(sf, sandbox, http):
    ids = _open_ids(sf, 4)
    client = sf.bulk2.Lead._client
    sandbox.set_faults("salesforce.bulk:jobfail:1")
    job = client.create_job(Operation.update)
    assert job["state"] == "Open" and job["contentUrl"].endswith(f"{job['id']}/batches")
    client.upload_job_data(job["id"], "Id,Title\n" + "".join(f"{i},failing\n" for i in ids))
    client.close_job(job["id"])
    info = client.get_job(job["id"], False)
    assert info["state"] == "Failed" and info["errorMessage"]
    assert info["numberRecordsProcessed"] == 2
    unprocessed = rows_of(client.get_ingest_results(job["id"], "unprocessedRecords"))[1:]
    assert sorted(r[0] for r in unprocessed) == sorted(ids[2:])
    # The documented lower-case path serves the same set.
    lower = http.get(f"{sf.bulk2_url}ingest/{job['id']}/unprocessedrecords",
                     headers={"Authorization": f"Bearer {sf.session_id}"})
    assert rows_of(lower.text)[1:] == unprocessed


def test_ingest_limits(sf, org):
    ids = _open_ids(sf, 3)
    client = sf.bulk2.Lead._client
    org.bulk.max_upload_base64 = 64
    try:
        job = client.create_job(Operation.update)
        with pytest.raises(SalesforceError, match="LIMIT_EXCEEDED"):
            client.upload_job_data(job["id"], "Id,Title\n" + "".join(f"{i},x\n" for i in ids))
    finally:
        org.bulk.max_upload_base64 = 150 * 1024 * 1024
    used, limit = org.bulk.records.used(), org.bulk.records.limit
    org.bulk.records.limit = used + 2  # the rolling daily record allocation is nearly spent
    try:
        job = client.create_job(Operation.update)
        client.upload_job_data(job["id"], "Id,Title\n" + "".join(f"{i},x\n" for i in ids))
        with pytest.raises(SalesforceError, match="LIMIT_EXCEEDED"):
            client.close_job(job["id"])
    finally:
        org.bulk.records.limit = limit


def test_bulk_calls_count_against_the_daily_allowance(sf, org):
    before = org.stats()["api_usage_used"]
    list(sf.bulk2.Lead.query("SELECT Id FROM Lead", max_records=1000, wait=0))
    # create + at least one poll + three result sets
    assert org.stats()["api_usage_used"] - before >= 5


def test_one_upload_per_ingest_job(sf):
    ids = _open_ids(sf, 2)
    client = sf.bulk2.Lead._client
    job = client.create_job(Operation.update)
    for record_id in ids:
        client.upload_job_data(job["id"], f"Id,Title\n{record_id},twice\n")
    with pytest.raises(SalesforceError, match="INVALIDJOB"):
        client.close_job(job["id"])
    assert client.abort_job(job["id"], False)["state"] == "Aborted"

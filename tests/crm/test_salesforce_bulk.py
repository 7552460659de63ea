"""The Salesforce adapter's Bulk API 2.0 path, over HTTP against the sandbox: the threshold
switch, query paging and resuming, ingest with failed and unprocessed records, job failures,
and the daily Bulk allocations."""

from __future__ import annotations

import csv
import time
from datetime import UTC, datetime, timedelta

import pytest

from connector.crm.salesforce_bulk_csv import read_rows, text_lines, write_sets
from connector.errors import CRMUnavailableError
from connector.records import Cursor, RecordWrite

BULK = {"bulk_query_threshold": 1_000, "bulk_write_threshold": 300, "bulk_page_records": 1_000}
SETS = {**BULK, "bulk_result_records": 1_000}  # result sets as small as pages


def test_a_large_full_pull_reads_result_sets_of_max_records(salesforce):
    ids = salesforce.admin.create(2_500, NumberOfEmployees=12)
    crm = salesforce.connect(**SETS)
    before = salesforce.admin.stats()
    pages = list(crm.pull_changed(None, ["LastName", "NumberOfEmployees", "IsConverted",
                                         "Title"]))
    stats = salesforce.admin.stats()
    assert [len(p.records) for p in pages] == [1_000, 1_000, 500]
    assert sorted(r.id for p in pages for r in p.records) == sorted(ids)
    assert stats["bulk_query_jobs"] - before.get("bulk_query_jobs", 0) == 1
    # describe, REST's first page (it tells the total), the job, one poll, three result sets
    assert stats["api_calls"] - before["api_calls"] == 7
    record = pages[0].records[0]
    assert dict(record.values) == {"LastName": record.values["LastName"],
                                   "NumberOfEmployees": 12.0, "IsConverted": False,
                                   "Title": None}  # the REST forms of the values
    assert [p.cursor.resume["mode"] for p in pages[:2]] == ["bulk", "bulk"]
    final = pages[-1].cursor
    assert final.resume is None and final.stamp <= datetime.now(UTC)
    assert final.stamp >= max(r.stamp for p in pages for r in p.records) - timedelta(seconds=2)


def test_result_sets_stream_into_pages_that_span_them(salesforce):
    ids = salesforce.admin.create(3_500)
    crm = salesforce.connect(**{**SETS, "bulk_page_records": 1_500})
    before = salesforce.admin.stats()
    pages = list(crm.pull_changed(None, ["LastName"]))
    calls = salesforce.admin.stats()["api_calls"] - before["api_calls"]
    assert [len(p.records) for p in pages] == [1_500, 1_500, 500]
    delivered = [r.id for p in pages for r in p.records]
    assert len(set(delivered)) == 3_500 and set(delivered) == set(ids)
    assert calls == 8  # describe, REST's first page, the job, one poll, four result sets
    # Each mid-sweep cursor names the set it stopped in and the rows of it delivered.
    first, second = (p.cursor.resume for p in pages[:2])
    assert first["job"] == second["job"] and first["locator"] and first["skip"] == 500
    assert second["locator"] not in ("", first["locator"]) and second["skip"] == 1_000
    assert crm.bulk.stats["records_read"] == 3_500


def test_a_pull_resumed_inside_a_result_set_reads_on_past_what_was_delivered(salesforce):
    ids = salesforce.admin.create(3_500)
    options = {**SETS, "bulk_page_records": 1_500}
    page = next(salesforce.connect(**options).pull_changed(None, ["LastName"]))
    stored = Cursor.from_json(page.cursor.to_json())  # locator of the second set, 500 read
    again = salesforce.connect(**options)
    before = salesforce.admin.stats()
    rest = list(again.pull_changed(stored, ["LastName"]))
    calls = salesforce.admin.stats()["api_calls"] - before["api_calls"]
    delivered = [r.id for r in page.records] + [r.id for p in rest for r in p.records]
    assert len(delivered) == len(set(delivered)) == 3_500 and set(delivered) == set(ids)
    assert [len(p.records) for p in rest] == [1_500, 500]
    assert calls == 5  # describe, the job's state, the second set again, the third, the fourth
    assert salesforce.admin.stats()["bulk_query_jobs"] == 1


def test_a_result_set_cut_off_mid_download_is_read_on_past_what_came(salesforce):
    ids = salesforce.admin.create(2_500)
    crm = salesforce.connect(**SETS)
    salesforce.sandbox.set_faults("salesforce.bulk.query.results:cut:0.5,seed:3")
    before = salesforce.admin.stats()["api_calls"]
    pages = list(crm.pull_changed(None, ["LastName"]))
    calls = salesforce.admin.stats()["api_calls"] - before
    delivered = [r.id for p in pages for r in p.records]
    assert len(delivered) == len(set(delivered)) == 2_500 and set(delivered) == set(ids)
    assert [len(p.records) for p in pages] == [1_000, 1_000, 500]
    assert calls - 4 > 3  # describe, REST, the job, a poll, and more than the three sets


def test_a_result_set_cut_off_again_and_again_stops_the_pull_and_the_next_reads_on(salesforce):
    ids = salesforce.admin.create(2_500)
    pages = salesforce.connect(**SETS).pull_changed(None, ["LastName"])
    first = next(pages)  # the first set, whole
    salesforce.sandbox.set_faults("salesforce.bulk.query.results:cut:1")
    with pytest.raises(CRMUnavailableError, match="cut off 3 times in a row"):
        next(pages)  # the second set's connection drops halfway through its body, each time
    salesforce.sandbox.set_faults("")
    stored = Cursor.from_json(first.cursor.to_json())
    rest = list(salesforce.connect(**SETS).pull_changed(stored, ["LastName"]))
    delivered = [r.id for r in first.records] + [r.id for p in rest for r in p.records]
    assert len(delivered) == len(set(delivered)) == 2_500 and set(delivered) == set(ids)
    assert salesforce.admin.stats()["bulk_query_jobs"] == 1


def test_job_polls_back_off_doubling(salesforce):
    ids = salesforce.admin.create(400)
    crm = salesforce.connect(**{**BULK, "bulk_write_threshold": 100})
    delays: list[float] = []

    def sleep(seconds: float) -> None:  # a real sleep, recorded: the job runs on the clock
        delays.append(seconds)
        time.sleep(seconds)

    crm.bulk.sleep, crm.bulk.poll_first_s = sleep, 0.05
    salesforce.sandbox.salesforce.bulk.processing_s = 0.5
    before = salesforce.admin.stats()["api_calls"]
    results = crm.write_many([RecordWrite(i, {"Title": "Polled"}) for i in ids])
    assert all(r.ok for r in results)
    # 0.05, 0.1, 0.2, 0.4 s reach the 0.5 s the job takes (a slow machine only needs fewer):
    # one poll per doubling, not one per 0.05 s.
    assert 2 <= len(delays) <= 4 and delays == [0.05 * 2 ** n for n in range(len(delays))]
    calls = salesforce.admin.stats()["api_calls"] - before
    assert calls == 4 + len(delays)  # describe, create, upload, close, the polls


def test_below_the_threshold_and_incremental_pulls_stay_on_rest(salesforce):
    salesforce.admin.create(2_500)
    crm = salesforce.connect(**{**BULK, "bulk_query_threshold": 3_000})
    pages = list(crm.pull_changed(None, ["LastName"]))
    assert [len(p.records) for p in pages] == [2_000, 500]
    bulk = salesforce.connect(**BULK)
    # The overlap re-reads every record through REST, each delivered before: nothing new.
    assert not [r for p in bulk.pull_changed(pages[-1].cursor, ["LastName"]) for r in p.records]
    assert salesforce.admin.stats().get("bulk_query_jobs", 0) == 0
    assert bulk.bulk.stats["query_jobs"] == 0


def test_an_interrupted_bulk_pull_resumes_from_its_locator(salesforce):
    ids = salesforce.admin.create(2_500)
    first = salesforce.connect(**BULK)
    page = next(first.pull_changed(None, ["LastName"]))
    stored = Cursor.from_json(page.cursor.to_json())  # as the state store keeps it
    again = salesforce.connect(**BULK)
    rest = list(again.pull_changed(stored, ["LastName"]))
    delivered = [r.id for r in page.records] + [r.id for p in rest for r in p.records]
    assert len(delivered) == len(set(delivered)) == 2_500 and set(delivered) == set(ids)
    assert salesforce.admin.stats()["bulk_query_jobs"] == 1  # the same job, read on


def test_a_failed_query_job_falls_back_to_rest(salesforce):
    ids = salesforce.admin.create(1_200)
    crm = salesforce.connect(**BULK)
    salesforce.sandbox.set_faults("salesforce.bulk.query:jobfail:1")
    pages = list(crm.pull_changed(None, ["LastName"]))
    assert sorted(r.id for p in pages for r in p.records) == sorted(ids)
    assert crm.bulk.stats["fallbacks"] == 1 and [len(p.records) for p in pages] == [1_200]


def test_ingest_reports_failures_like_rest_and_resends_locked_records(salesforce):
    ids = salesforce.admin.create(400)
    salesforce.admin.delete(ids[7])
    crm = salesforce.connect(**BULK)
    writes = [RecordWrite(i, {"Title": "Bulk"}) for i in ids]
    writes[3] = RecordWrite(ids[3], {"NoSuchField__c": "x"})  # refused before sending
    salesforce.sandbox.set_faults("salesforce.bulk:record:0.05,seed:4")
    before = salesforce.admin.stats()

    results = crm.write_many(writes)

    stats = salesforce.admin.stats()
    assert [r.record_id for r in results] == ids
    failed = {r.record_id: r for r in results if not r.ok}
    assert set(failed) == {ids[3], ids[7]}
    assert (failed[ids[3]].code, failed[ids[3]].sent) == ("UNKNOWN_FIELD", False)
    assert failed[ids[7]].code == "ENTITY_IS_DELETED" and not failed[ids[7]].transient
    locked = stats["records_rejected_by_fault"] - before["records_rejected_by_fault"]
    assert locked > 0  # refused by the job, then written by one REST re-send
    assert stats["bulk_ingest_jobs"] - before.get("bulk_ingest_jobs", 0) == 1
    assert stats["write_requests"] - before["write_requests"] == 1
    titles = salesforce.admin.read(ids, ["Title"])
    assert {i for i, row in titles.items() if row["Title"] == "Bulk"} == set(ids) - {ids[3],
                                                                                     ids[7]}


def test_a_failed_ingest_job_leaves_its_unprocessed_records_for_the_next_run(salesforce):
    ids = salesforce.admin.create(400)
    crm = salesforce.connect(**{**BULK, "bulk_write_threshold": 100})
    salesforce.sandbox.set_faults("salesforce.bulk.ingest:jobfail:1")
    results = crm.write_many([RecordWrite(i, {"Title": "Half"}) for i in ids])
    # Each job fails halfway: 200 written, the other 200 re-sent once (another job), 100 more
    # written, 100 left for the next run as transient failures.
    failed = [r for r in results if not r.ok]
    assert len(failed) == 100 and all(r.transient and r.code == "BULK_UNPROCESSED"
                                      for r in failed)
    assert all("retried more than" in r.reason for r in failed)
    titles = salesforce.admin.read(ids, ["Title"])
    assert {i for i, row in titles.items() if row["Title"] == "Half"} == {
        r.record_id for r in results if r.ok}


def test_small_sets_and_a_spent_allocation_go_through_rest(salesforce):
    ids = salesforce.admin.create(400)
    crm = salesforce.connect(**BULK)
    assert crm.write_many([RecordWrite(i, {"Title": "x"}) for i in ids[:299]]) is None
    salesforce.sandbox.salesforce.bulk.batches.limit = 2_000  # below the 20% reserve of 15,000
    spent = salesforce.connect(**BULK)
    assert spent.write_many([RecordWrite(i, {"Title": "x"}) for i in ids]) is None
    assert salesforce.admin.stats().get("bulk_ingest_jobs", 0) == 0


def test_streamed_csv_lines_keep_quoted_breaks_and_split_characters():
    text = 'Id,Title\n"00Q1","caf\u00e9\nbar"\r\n"00Q2","a\u2028b"\n"00Q3","x"'
    data = text.encode()
    at = data.index("\u00e9".encode()) + 1  # cut inside the two bytes of the accent
    chunks = [data[:at], data[at:at + 7] + b"\x00", data[at + 7:]]
    rows = list(csv.reader(text_lines(chunks)))
    assert rows == [["Id", "Title"], ["00Q1", "caf\u00e9\nbar"], ["00Q2", "a\u2028b"],
                    ["00Q3", "x"]]


def test_write_sets_split_at_the_upload_limit_and_mark_clears_and_gaps():
    stamp = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    writes = [RecordWrite(f"00Q{i:015d}", {"LS_Score__c": i, "LS_Scored_At__c": stamp})
              for i in range(10)] + [RecordWrite("00Q000000000000099", {"LS_Tier__c": None})]
    sets = list(write_sets(writes, limit=200))
    assert len(sets) > 1 and [w for chunk, _ in sets for w in chunk] == writes
    rows = [row for _, text in sets for row in read_rows(text)]
    assert all(text.startswith("Id,LS_Score__c,LS_Scored_At__c,LS_Tier__c\n") for _, text in sets)
    assert rows[0] == {"Id": writes[0].record_id, "LS_Score__c": "0",
                       "LS_Scored_At__c": "2026-01-02T03:04:05.000Z", "LS_Tier__c": ""}
    assert rows[-1]["LS_Tier__c"] == "#N/A" and rows[-1]["LS_Score__c"] == ""  # clear / keep

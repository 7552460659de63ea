"""The sync engine over Salesforce's Bulk API 2.0 path: a first sync and a full rescan through
query and ingest jobs, per-record failures retried next run as on the REST path."""

from __future__ import annotations

import pytest
from sync_support import NAMES, prepare, small_bank, trained_model, wrong_values

from connector.sandbox import Sandbox
from connector.state import StateStore
from connector.sync.engine import run_sync

LEADS = 1500
BULK = {"bulk_query_threshold": 1_000, "bulk_write_threshold": 100, "bulk_page_records": 1_000}


@pytest.fixture
def setup(tmp_path_factory, tmp_path):
    model = trained_model("salesforce", LEADS, tmp_path_factory.mktemp("models"))
    with Sandbox(crms=("salesforce",), seed=small_bank(LEADS)) as box:
        yield prepare(box, "salesforce", tmp_path / "m", trained=model, **BULK)


def sync(setup, state, **options):
    crm = setup.open()
    try:
        summary = run_sync(setup.connection, crm, setup.model(), setup.mapping, state, **options)
        return summary, dict(crm.bulk.stats)
    finally:
        crm.close()


def test_first_sync_and_full_rescan_go_through_bulk_jobs(setup, tmp_path):
    org = setup.store()
    with StateStore(tmp_path / "state.sqlite") as state:
        first, bulk = sync(setup, state)
        assert first.outcome == "ok" and first.counts.pulled == LEADS
        # The 300 open leads (the newest) all come in the second page: one ingest job.
        assert bulk["query_jobs"] == 1 and bulk["ingest_jobs"] == 1
        assert first.counts.written == bulk["records_written"] > 0
        assert wrong_values(setup) == []
        assert first.api_calls < 20
        written = org.stats()["records_written"]
        rescan, bulk = sync(setup, state, full=True)
        assert rescan.outcome == "ok" and bulk["query_jobs"] == 1 and bulk["ingest_jobs"] == 0
        assert rescan.counts.written == 0 and org.stats()["records_written"] == written


def test_records_a_bulk_job_refuses_are_retried_next_run(setup, tmp_path):
    setup.sandbox.set_faults("salesforce.bulk:record:0.2,salesforce.composite:record:1,seed:5")
    with StateStore(tmp_path / "state.sqlite") as state:
        first, _ = sync(setup, state)
        failures = state.failure_count(NAMES["salesforce"])
        assert first.counts.failed == failures > 0  # locked twice: the job, then the re-send
        setup.sandbox.set_faults("")
        second, _ = sync(setup, state)
        assert state.failure_count(NAMES["salesforce"]) == 0
        assert second.counts.written == failures
    assert wrong_values(setup) == []

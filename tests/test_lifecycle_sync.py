"""Record lifecycle through the sync, over HTTP against the sandbox on both CRMs: the review's
cursor scenario, deleted/merged/archived/GDPR-deleted records, and failures that end.

Every CRM action is a user's (tests/lifecycle_support.py): the SDKs on the real routes.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from lifecycle_support import User
from sync_support import NAMES, prepare, small_bank, sync, trained_model

from connector.sandbox import Sandbox
from connector.state import StateStore, schema
from connector.sync.lifecycle import MAX_RETRY_ATTEMPTS
from connector.sync.maintenance import run_maintenance

CRMS = ["salesforce", "hubspot"]
REMOVED_AS = {"salesforce": "deleted", "hubspot": "archived"}


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    directory = tmp_path_factory.mktemp("models")
    return {crm: trained_model(crm, 1500, directory) for crm in CRMS}


@pytest.fixture(params=CRMS)
def setup(request, models, tmp_path):
    with Sandbox(crms=(request.param,), seed=small_bank(300, open_share=1.0)) as box:
        yield prepare(box, request.param, tmp_path / "m", trained=models[request.param])


@pytest.fixture
def state(tmp_path):
    with StateStore(tmp_path / "state.sqlite") as opened:
        yield opened


def test_a_failed_lead_deleted_and_another_closed_do_not_hold_the_cursor(setup, state):
    """The review's scenario: 300 leads, 30% record faults on the first sync, then one failed
    lead deleted and another closed. Before the fix every later sync re-read ~300 records."""
    name = NAMES[setup.crm_name]
    setup.sandbox.set_faults("record:0.3,seed:5")
    first = sync(setup, state)
    failed = [f.record_id for f in state.failures(name)]
    assert first.counts.pulled == 300 and first.counts.failed == len(failed) >= 10  # re-sent once: ~9%
    setup.sandbox.set_faults("")
    user = User(setup.sandbox, setup.crm_name)
    gone, closed = failed[0], failed[1]
    user.delete(gone)
    user.close(closed)

    clean = sync(setup, state)
    assert clean.outcome == "ok" and clean.counts.failed == 0
    assert clean.counts.written == len(failed) - 2  # the retried ones, not the gone or closed
    assert state.failure_count(name) == 0
    assert state.record_states(name, [gone]) == {}
    assert [event for event, _ in state.removal_events(name, gone)] == [REMOVED_AS[
        setup.crm_name]]
    echo = sync(setup, state)  # the clean sync's own writes come back once, and are skipped
    assert echo.counts.pulled == clean.counts.written and echo.counts.written == 0
    for _ in range(2):
        later = sync(setup, state)
        assert later.counts.pulled == 0 and later.counts.written == 0 and later.outcome == "ok"


def _text_cells(state: StateStore) -> set[str]:
    """Every text value in the state database (ids are text; HubSpot's are digits, so a
    row number like 1001 must not count)."""
    with state.engine.connect() as conn:
        return {cell for table in schema.metadata.sorted_tables
                for row in conn.execute(table.select()) for cell in row
                if isinstance(cell, str)}


def test_deleted_and_merged_records_leave_the_state_and_the_survivor_is_rescored_once(
        setup, state):
    name = NAMES[setup.crm_name]
    assert sync(setup, state).counts.failed == 0
    ids = state.record_ids(name)
    removed, primary, other = ids[0], ids[1], ids[2]
    user = User(setup.sandbox, setup.crm_name)
    user.delete(removed)
    survivor = user.merge(primary, other)
    merged_away = {other} | ({primary} if survivor != primary else set())

    after = sync(setup, state)
    assert after.outcome == "ok" and after.counts.failed == 0  # nothing sent to a removed id
    assert after.counts.scored == 1  # the survivor, once; our own writes came back unchanged
    assert state.record_states(name, [removed, *merged_away]) == {}
    assert state.record_states(name, [survivor])
    assert [e for e, _ in state.removal_events(name, removed)] == [REMOVED_AS[setup.crm_name]]
    for record_id in merged_away:
        assert [e for e, _ in state.removal_events(name, record_id)] == ["merged"]
        assert not state.audit(name, record_id=record_id)
    cells = _text_cells(state)
    assert removed not in cells and other not in cells  # the removal rows hold hashes only
    again = sync(setup, state)
    assert again.counts.scored == 0 and again.counts.written == 0


def test_a_first_sync_asks_for_no_removals_and_dates_the_next_look_from_its_start(
        models, tmp_path, state):
    """Nothing known can have left before a first sync: it skips the look (here the CRM's
    delete log refuses every call, and the first sync still succeeds), and the next sync looks
    from the first one's start."""
    with Sandbox(crms=("salesforce",), seed=small_bank(300, open_share=1.0)) as box:
        setup = prepare(box, "salesforce", tmp_path / "m", trained=models["salesforce"])
        name = NAMES["salesforce"]
        box.set_faults("salesforce.deleted:429:1,retryafter:1000")  # beyond any retry wait
        began = datetime.now(UTC)
        first = sync(setup, state)
        assert first.outcome == "ok" and first.counts.pulled == 300
        look = datetime.fromisoformat(state.get_cursor(name, "removed"))
        assert began <= look == first.started_at
        assert sync(setup, state).outcome == "failed"  # the second sync does look
        box.set_faults("")
        gone = state.record_ids(name)[0]
        User(box, "salesforce").delete(gone)
        assert sync(setup, state).outcome == "ok"
        assert [e for e, _ in state.removal_events(name, gone)] == ["deleted"]


def test_a_first_sync_cut_short_dates_the_look_at_its_start_all_the_same(setup, state):
    """Whatever becomes of a first sync (here a record limit cuts it), every record the state
    holds was read after it started: a record deleted afterwards is found by the next look."""
    name = NAMES[setup.crm_name]
    partial = sync(setup, state, limit=100)
    assert 0 < partial.counts.pulled < 300
    assert datetime.fromisoformat(state.get_cursor(name, "removed")) == partial.started_at
    gone = state.record_ids(name)[0]
    User(setup.sandbox, setup.crm_name).delete(gone)
    assert sync(setup, state).outcome == "ok"
    assert state.record_states(name, [gone]) == {}
    assert [e for e, _ in state.removal_events(name, gone)] == [REMOVED_AS[setup.crm_name]]


def test_records_gone_without_a_trace_leave_at_the_daily_maintenance(setup, state):
    """HubSpot's GDPR delete (and a Salesforce record purged past the delete log) shows in no
    listing: the daily reconciliation finds it missing."""
    name = NAMES[setup.crm_name]
    sync(setup, state)
    gone = state.record_ids(name)[5]
    user = User(setup.sandbox, setup.crm_name)
    if setup.crm_name == "hubspot":
        user.gdpr_delete(setup.sandbox.hubspot.values("contacts", gone)["email"])
    else:
        user.delete(gone)
        org = setup.sandbox.salesforce
        org.empty_recycle_bin()
        org.purge_delete_log(datetime.now(UTC) + timedelta(minutes=5))
    assert sync(setup, state).outcome == "ok"
    if setup.crm_name == "hubspot":
        assert state.record_states(name, [gone])  # no listing shows a GDPR delete
    crm = setup.open()
    try:
        report = run_maintenance(name, crm, state, retention_days=30)
    finally:
        crm.close()
    assert report.checked == 300 and report.gone == 1
    assert report.api_calls <= -(-300 // crm.write_batch_size) + 1  # a read per batch, describe
    assert state.record_states(name, [gone]) == {}
    assert [e for e, _ in state.removal_events(name, gone)] in (["gone"], ["deleted", "gone"])
    assert state.last_runs(name, kinds=["maintenance"])[0].outcome == "ok"


def test_a_failure_that_never_succeeds_stops_rewinding_and_shows_in_status(models, tmp_path,
                                                                            state):
    with Sandbox(crms=("salesforce",), seed=small_bank(60, open_share=1.0)) as box:
        setup = prepare(box, "salesforce", tmp_path, trained=models["salesforce"])
        box.set_faults("record:1,seed:3")  # every write refused, every time
        pulls = [sync(setup, state).counts.pulled for _ in range(MAX_RETRY_ATTEMPTS + 1)]
        assert pulls[:MAX_RETRY_ATTEMPTS] == [60] * MAX_RETRY_ATTEMPTS  # each run retries
        assert pulls[-1] == 0  # out of attempts: the cursor is no longer held back
        assert state.exhausted_count("sf", MAX_RETRY_ATTEMPTS) == state.failure_count("sf") == 60
        assert {f.attempts for f in state.failures("sf")} == {MAX_RETRY_ATTEMPTS}

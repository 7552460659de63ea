"""The state store: schema and migrations, cursors, record states, staged changes and audit,
failures, runs, and the one-worker-per-connection lock.

Every test runs on SQLite; on PostgreSQL too when ``LEADSCORE_TEST_POSTGRES_URL`` names a
database the tests may wipe (e.g. ``postgresql+psycopg://leadscore:leadscore@127.0.0.1/leadscore_test``).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import inspect, text

from connector.errors import ConnectionLockedError, StateStoreError
from connector.state import (
    SCHEMA_VERSION, Change, Failure, PageRecord, RecordState, RunCounts, StateStore,
)
from connector.state import schema
from connector.state.lock import advisory_key

POSTGRES_URL = os.environ.get("LEADSCORE_TEST_POSTGRES_URL")
T0 = datetime(2024, 5, 1, 10, 0, tzinfo=timezone.utc)


class Clock:
    """A settable clock shared by stores in one test."""

    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def _wipe_postgres(url: str) -> None:
    engine = schema.make_engine(url)
    with engine.begin() as conn:
        schema.metadata.drop_all(conn)
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def state_url(request, tmp_path) -> str:
    """A fresh, empty state database URL on each backend."""
    if request.param == "sqlite":
        return str(tmp_path / "state" / "leadscore.sqlite")
    if not POSTGRES_URL:
        pytest.skip("set LEADSCORE_TEST_POSTGRES_URL to run the state tests on PostgreSQL")
    _wipe_postgres(POSTGRES_URL)
    return POSTGRES_URL


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(state_url, clock):
    with StateStore(state_url, clock=clock) as opened:
        opened.ensure_connection("sf", "salesforce")
        yield opened


def _version(store: StateStore) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(text(
            "SELECT value FROM leadscore_meta WHERE key = 'schema_version'")).scalar())


# -- schema and migrations ---------------------------------------------------------------------


def test_fresh_database_is_stamped_with_the_current_version(store, state_url):
    assert store.schema_version == SCHEMA_VERSION == _version(store)
    with StateStore(state_url) as again:  # reopening is a no-op
        assert again.schema_version == SCHEMA_VERSION
        assert again.connection_names() == ["sf"]


def test_an_older_database_is_migrated_step_by_step(state_url, monkeypatch):
    StateStore(state_url).close()  # a database at version 1

    def add_column(conn):
        conn.execute(text("ALTER TABLE runs ADD COLUMN note_count INTEGER DEFAULT 0"))

    monkeypatch.setattr(schema, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
    monkeypatch.setattr(schema, "MIGRATIONS", {SCHEMA_VERSION + 1: add_column})
    with StateStore(state_url) as upgraded:
        assert upgraded.schema_version == SCHEMA_VERSION + 1 == _version(upgraded)
        columns = {c["name"] for c in inspect(upgraded.engine).get_columns("runs")}
        assert "note_count" in columns


def test_a_database_newer_than_the_code_is_refused(state_url, monkeypatch):
    with StateStore(state_url) as opened, opened.engine.begin() as conn:
        conn.execute(text("UPDATE leadscore_meta SET value = '99' WHERE key = 'schema_version'"))
    with pytest.raises(StateStoreError, match="schema version 99, newer"):
        StateStore(state_url)


def test_a_missing_migration_step_is_an_error(state_url, monkeypatch):
    StateStore(state_url).close()
    monkeypatch.setattr(schema, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
    monkeypatch.setattr(schema, "MIGRATIONS", {})
    with pytest.raises(StateStoreError, match="no migration step"):
        StateStore(state_url)


def test_bad_urls_are_config_errors(tmp_path):
    with pytest.raises(StateStoreError, match="state store URL"):
        StateStore("nosuchdialect://x/y")
    with pytest.raises(StateStoreError, match="cannot open"):
        StateStore(f"sqlite:///{tmp_path}/missing-dir/x.sqlite")
    assert StateStore(tmp_path / "new" / "dir" / "s.db").schema_version == SCHEMA_VERSION


def test_timestamps_must_be_timezone_aware(state_url):
    with pytest.raises(Exception, match="timezone-aware"):
        StateStore(state_url, clock=lambda: datetime(2024, 1, 1)).ensure_connection("x", "y")


# -- connections, cursors, record states ---------------------------------------------------------


def test_cursors_are_per_connection_and_stream(store, clock):
    store.ensure_connection("hs", "hubspot")
    store.ensure_connection("sf", "salesforce")  # idempotent
    assert store.get_cursor("sf") is None
    store.set_cursor("sf", "changed", "2024-05-01T10:00:00Z")
    clock.advance(60)
    store.set_cursor("sf", "changed", "2024-05-01T11:00:00Z")
    store.set_cursor("sf", "created", "A")
    store.set_cursor("hs", "changed", "B")
    assert store.get_cursor("sf") == "2024-05-01T11:00:00Z"
    assert store.cursors("sf") == {"changed": ("2024-05-01T11:00:00Z", clock.now),
                                   "created": ("A", clock.now)}
    store.set_cursor("sf", "created", None)
    assert store.get_cursor("sf", "created") is None and store.get_cursor("hs") == "B"


def test_model_version_of_a_connection(store):
    assert store.model_version("sf") is None
    store.set_model_version("sf", "m-2")
    assert store.model_version("sf") == "m-2"


def test_record_states_round_trip_in_bulk(store):
    run = store.start_run("sf", "sync")
    states = [RecordState(f"00Q{i:015d}", f"fp{i}", "m-1", {"score": i % 100, "tier": "Hot"})
              for i in range(1200)]
    store.record_page("sf", run, PageRecord(states=states))
    ids = [s.record_id for s in states[::7]] + ["unknown"]
    found = store.record_states("sf", ids)
    assert len(found) == len(ids) - 1 and found[states[7].record_id] == states[7]
    store.record_page("sf", run, PageRecord(states=[RecordState(states[0].record_id, "new", "m-2",
                                                                {"score": 1})]))
    assert store.record_states("sf", [states[0].record_id])[states[0].record_id].fingerprint == "new"
    assert store.record_count("sf") == 1200 and store.record_count("sf", model_version="m-2") == 1


# -- staged changes, audit, crash safety -----------------------------------------------------------


def test_a_page_turns_confirmed_changes_into_audit_rows(store, clock):
    run = store.start_run("sf", "sync")
    changes = [Change("r1", "score", 10, 42), Change("r1", "tier", "Cold", "Warm"),
               Change("r2", "score", None, 7)]
    store.stage_changes("sf", run, changes)
    assert set(store.pending("sf", ["r1", "r2"])) == {c.key for c in changes}
    clock.advance(5)
    store.record_page("sf", run, PageRecord(
        states=[RecordState("r1", "f1", "m-1", {"score": 42, "tier": "Warm"})],
        confirmed=[("r1", "score"), ("r1", "tier")],
        failures=[Failure("r2", "validation failed", "FIELD_CUSTOM_VALIDATION_EXCEPTION")],
        counts=RunCounts(pulled=2, scored=2, written=1, failed=1), cursor=("changed", "c1"),
        api_calls=4))
    audit = store.audit("sf")
    assert [(a.record_id, a.field, a.old, a.new, a.run_id, a.at) for a in audit] == [
        ("r1", "score", 10, 42, run, clock.now), ("r1", "tier", "Cold", "Warm", run, clock.now)]
    assert store.pending("sf", ["r1", "r2"]) == {}  # r2's change did not land: dropped
    assert store.get_cursor("sf") == "c1"
    info = store.finish_run(run, "ok")
    assert info.counts == RunCounts(pulled=2, scored=2, written=1, failed=1)
    assert info.api_calls == 4 and info.outcome == "ok" and info.ended_at == clock.now


def test_a_rerun_after_a_crash_mid_write_never_duplicates_audit_rows(store):
    crashed = store.start_run("sf", "sync")
    store.stage_changes("sf", crashed, [Change("r1", "score", 10, 42), Change("r2", "score", 5, 9)])
    # kill -9 here: r1's write reached the CRM, r2's did not, nothing was recorded.
    rerun = store.start_run("sf", "sync")
    assert store.run(crashed).outcome == "crashed"
    pending = store.pending("sf", ["r1", "r2"])
    assert pending[("r1", "score")].new == 42
    # The rerun sees r1 already holds 42 (landed) and stages r2 again.
    store.stage_changes("sf", rerun, [Change("r2", "score", 5, 9)], landed=[("r1", "score")])
    store.stage_changes("sf", rerun, [], landed=[("r1", "score")])  # confirming twice is harmless
    store.record_page("sf", rerun, PageRecord(
        states=[RecordState("r1", "f", "m", {"score": 42}), RecordState("r2", "f", "m", {"score": 9})],
        confirmed=[("r2", "score"), ("r1", "score")]))
    audit = store.audit("sf")
    assert sorted((a.record_id, a.old, a.new, a.run_id) for a in audit) == [
        ("r1", 10, 42, crashed), ("r2", 5, 9, rerun)]
    assert store.audit("sf", record_id="r2")[0].run_id == rerun


def test_restaging_replaces_a_change_that_did_not_land(store):
    run = store.start_run("sf", "sync")
    store.stage_changes("sf", run, [Change("r1", "score", 10, 42)])
    store.stage_changes("sf", run, [Change("r1", "score", 10, 50)])
    assert store.pending("sf", ["r1"]) == {("r1", "score"): Change("r1", "score", 10, 50)}


# -- failures and runs ---------------------------------------------------------------------------


def test_failures_count_attempts_and_clear_on_success(store, clock):
    run = store.start_run("sf", "sync")
    store.record_page("sf", run, PageRecord(failures=[Failure("r1", "locked", "UNABLE_TO_LOCK_ROW"),
                                                      Failure("r2", "deleted")]))
    store.record_page("sf", run, PageRecord(failures=[Failure("r1", "locked in the same run")]))
    assert store.failures("sf")[0].attempts == 1  # one attempt per run
    clock.advance(3600)
    run = store.start_run("sf", "sync")
    store.record_page("sf", run, PageRecord(failures=[Failure("r1", "locked again")]))
    failures = {f.record_id: f for f in store.failures("sf")}
    assert failures["r1"].attempts == 2 and failures["r1"].reason == "locked again"
    assert failures["r1"].last_at == clock.now and failures["r2"].attempts == 1
    store.record_page("sf", run, PageRecord(states=[RecordState("r1", "f", "m", {})]))
    assert [f.record_id for f in store.failures("sf")] == ["r2"] and store.failure_count("sf") == 1


def test_runs_accumulate_counts_and_list_newest_first(store, clock):
    first = store.start_run("sf", "sync", model_version="m-1")
    store.add_counts(first, RunCounts(pulled=3, unchanged=3), api_calls=2)
    store.add_counts(first, RunCounts(pulled=2, written=2), api_calls=5)
    store.finish_run(first, "ok", message="done")
    clock.advance(60)
    second = store.start_run("sf", "new_leads", dry_run=True)
    store.finish_run(second, "stopped", message="API reserve reached", api_calls=1)
    runs = store.last_runs("sf")
    assert [r.id for r in runs] == [second, first]
    assert runs[1].counts == RunCounts(pulled=5, written=2, unchanged=3) and runs[1].api_calls == 5
    assert runs[0].dry_run and runs[0].message == "API reserve reached"
    assert [r.id for r in store.last_runs("sf", kinds=["sync"])] == [first]


def test_concurrent_writers_wait_instead_of_failing(store, state_url):
    errors: list[BaseException] = []

    def worker(name: str) -> None:
        try:
            with StateStore(state_url) as own:
                own.ensure_connection(name, "hubspot")
                run = own.start_run(name, "sync")
                for page in range(15):
                    own.record_page(name, run, PageRecord(
                        states=[RecordState(f"{page}-{i}", "f", "m", {"score": i})
                                for i in range(50)],
                        counts=RunCounts(pulled=50), cursor=("changed", str(page))))
        except BaseException as error:  # noqa: BLE001 - reported by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(f"c{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert [store.record_count(f"c{i}") for i in range(4)] == [750] * 4


# -- the per-connection lock ---------------------------------------------------------------------


def test_a_second_worker_is_refused_with_a_clear_message(store):
    with store.lock("sf", owner="worker-A"):
        with pytest.raises(ConnectionLockedError, match="'sf' is being synced by another worker"
                                                        r".*worker-A"):
            store.lock("sf", owner="worker-B").acquire()
        with store.lock("other", owner="worker-B"):  # other connections are independent
            pass
        assert store.lock_holder("sf")[0] == "worker-A"
    assert store.lock_holder("sf") is None
    with store.lock("sf", owner="worker-B") as lock:
        lock.renew()


HOLD_LOCK = textwrap.dedent("""
    import sys, time
    from connector.state import StateStore
    store = StateStore(sys.argv[1])
    lock = store.lock("sf", owner="doomed", lease_s=float(sys.argv[2])).acquire()
    print("locked", flush=True)
    time.sleep(600)
""")


def _doomed_worker(state_url: str, lease_s: float) -> subprocess.Popen:
    process = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, state_url, str(lease_s)],
                               stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "locked"
    return process


def _wait_until_server_dropped_the_advisory_lock(store, connection: str) -> None:
    """PostgreSQL reaps a killed client's session (and its advisory locks) asynchronously;
    pytest's timeout bounds the wait."""
    with store.engine.connect() as probe:
        while True:
            key = {"key": advisory_key(connection)}
            if probe.execute(text("SELECT pg_try_advisory_lock(:key)"), key).scalar():
                probe.execute(text("SELECT pg_advisory_unlock(:key)"), key)
                probe.commit()
                return
            probe.commit()
            time.sleep(0.05)


def test_a_killed_workers_lock_is_freed(store, state_url):
    """kill -9 of a holder: SQLite's file lock goes at once; a PostgreSQL lease runs out."""
    # Long enough that the lease still holds after the server has reaped the dead session; the
    # heir below reads the time from a clock moved past it.
    lease_s = 120.0
    process = _doomed_worker(state_url, lease_s)
    with pytest.raises(ConnectionLockedError, match="doomed"):
        store.lock("sf").acquire()
    process.send_signal(signal.SIGKILL)
    process.wait()
    if store.engine.dialect.name == "postgresql":
        _wait_until_server_dropped_the_advisory_lock(store, "sf")
        with pytest.raises(ConnectionLockedError, match="lease of doomed runs until"):
            store.lock("sf").acquire()
        later = StateStore(state_url, clock=lambda: datetime.now(timezone.utc)
                           + timedelta(seconds=lease_s + 1))
        with later.lock("sf", owner="heir"):
            assert later.lock_holder("sf")[0] == "heir"
        later.close()
    else:
        assert store.lock_holder("sf") is None  # the stale lease row is not reported
        with store.lock("sf", owner="heir"):
            assert store.lock_holder("sf")[0] == "heir"


@pytest.mark.skipif(not POSTGRES_URL, reason="leases decide only on PostgreSQL")
def test_a_worker_that_lost_its_lease_stops_at_the_next_renewal(tmp_path):
    _wipe_postgres(POSTGRES_URL)
    clock = Clock(datetime.now(timezone.utc))
    with StateStore(POSTGRES_URL, clock=clock) as store:
        slow = store.lock("sf", owner="slow", lease_s=60).acquire()
        # The slow worker's database session died (advisory lock gone), its lease ran out.
        slow._drop_os_locks()
        clock.advance(61)
        with store.lock("sf", owner="new", lease_s=60):
            with pytest.raises(ConnectionLockedError, match="lease expired and was taken over"):
                slow.renew()
        slow.held = False


@pytest.mark.skipif(not POSTGRES_URL, reason="advisory locks exist only on PostgreSQL")
def test_releasing_after_the_lock_session_was_dropped_succeeds(tmp_path):
    """An idle timeout or a pooler dropped the lock's session during the run: the server already
    released the advisory lock, so release() must finish quietly and free the connection."""
    _wipe_postgres(POSTGRES_URL)
    with StateStore(POSTGRES_URL) as store:
        lock = store.lock("sf", owner="worker").acquire()
        pid = lock._session.execute(text("SELECT pg_backend_pid()")).scalar()
        lock._session.commit()
        killer = schema.make_engine(POSTGRES_URL)
        with killer.connect() as conn:
            assert conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar()
            for _ in range(100):  # the server reaps the backend asynchronously
                if not conn.execute(text("SELECT 1 FROM pg_stat_activity WHERE pid = :pid"),
                                    {"pid": pid}).first():
                    break
                conn.execute(text("SELECT pg_sleep(0.05)"))
        killer.dispose()
        lock.release()
        assert not lock.held and store.lock_holder("sf") is None
        with store.lock("sf", owner="next"):  # free for the next worker
            assert store.lock_holder("sf")[0] == "next"


def test_audit_rows_survive_pending_ids_being_emptied_and_refilled(store):
    """A staged change's id becomes the audit row's unique change_id: ids must never repeat,
    even after every pending row was deleted (SQLite reuses rowids without AUTOINCREMENT)."""
    run = store.start_run("sf", "sync")
    for page in range(3):
        store.stage_changes("sf", run, [Change(f"r{page}", "score", None, page)])
        store.record_page("sf", run, PageRecord(
            states=[RecordState(f"r{page}", "f", "m", {"score": page})],
            confirmed=[(f"r{page}", "score")]))
    assert [(a.record_id, a.new) for a in store.audit("sf")] == [("r0", 0), ("r1", 1), ("r2", 2)]

"""The state store's lifecycle operations: retry attempts, removed records, forget, retention,
and the schema-2 upgrade of a version-1 database. Runs on SQLite, and on PostgreSQL when
``LEADSCORE_TEST_POSTGRES_URL`` is set (fixtures shared with tests/test_state.py)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import inspect, text
from test_state import Clock, clock, state_url, store  # noqa: F401 (fixtures)

from connector.state import Change, Failure, PageRecord, RecordState, StateStore
from connector.state import schema
from connector.state.pilot import Callback, PilotRow


def _dump(store: StateStore) -> str:
    """Every row of every table, as text (what a person's id must not appear in)."""
    with store.engine.connect() as conn:
        return "\n".join(repr(row) for table in schema.metadata.sorted_tables
                         if inspect(conn).has_table(table.name)
                         for row in conn.execute(table.select()))


def _two_records(store: StateStore) -> int:
    run = store.start_run("sf", "sync")
    store.stage_changes("sf", run, [Change("00Qgone", "score", None, 40),
                                    Change("00Qkeep", "score", None, 50)])
    store.record_page("sf", run, PageRecord(
        states=[RecordState("00Qgone", "f1", "m", {"score": 40}),
                RecordState("00Qkeep", "f2", "m", {"score": 50})],
        confirmed=[("00Qgone", "score"), ("00Qkeep", "score")]))
    store.record_page("sf", run, PageRecord(failures=[Failure("00Qgone", "locked", "X")]))
    return run


def test_a_rewind_counts_one_attempt_per_run(store, clock):
    run = store.start_run("sf", "sync")
    store.record_page("sf", run, PageRecord(failures=[Failure("r1", "locked", "X")]))
    second = store.start_run("sf", "sync")
    store.count_retries("sf", second, ["r1"])
    store.count_retries("sf", second, ["r1"])  # the same run: counted once
    store.record_page("sf", second, PageRecord(failures=[Failure("r1", "locked", "X")]))
    assert store.failures("sf")[0].attempts == 2
    for _ in range(3):
        store.count_retries("sf", store.start_run("sf", "sync"), ["r1"])
    assert store.exhausted_count("sf", 5) == 1


def test_holds_any_sees_a_record_held_only_by_a_failure_and_not_after_forget(store, clock):
    """A first sync skips the removals look only when nothing of any record is held: a write
    refused for every record leaves failures, and no state."""
    run = store.start_run("sf", "sync")
    assert not store.holds_any("sf")
    store.record_page("sf", run, PageRecord(failures=[Failure("00Qrefused", "locked", "X")]))
    assert store.record_count("sf") == 0 and store.holds_any("sf")
    assert not store.holds_any("other")
    store.forget("sf", ["00Qrefused"])
    assert not store.holds_any("sf")


def test_a_rewind_keeps_an_unfinished_sweep_in_place(store, clock):
    """A sweep that has not finished may still have to read records older than a failure (a
    HubSpot sweep goes by id): the rewind keeps its place, and rewinds once it completes."""
    from connector.records import Cursor
    from connector.sync.lifecycle import Lifecycle

    run = store.start_run("sf", "sync")
    failed_at = clock.now - timedelta(days=3)
    store.record_page("sf", run, PageRecord(failures=[Failure("r1", "locked", "X",
                                                              stamp=failed_at)]))
    life = Lifecycle(store, "sf", store.start_run("sf", "sync"), mapping=None)
    sweeping = Cursor(stamp=None, resume={"after": "500"})
    assert life.rewind(sweeping, count=True) == sweeping
    resumed = Cursor(stamp=clock.now - timedelta(days=1), resume={"after": "500"})
    assert life.rewind(resumed, count=True) == resumed
    assert store.failures("sf")[0].attempts == 1  # no attempt spent while the sweep runs
    done = Cursor(stamp=clock.now)
    assert life.rewind(done, count=True) == Cursor(stamp=failed_at)
    assert store.failures("sf")[0].attempts == 2


def test_removed_records_leave_one_erasure_safe_row(store):
    run = _two_records(store)
    assert store.remove_records("sf", [("00Qgone", "deleted"), ("00Qnever", "deleted")],
                                run_id=run) == 1
    assert store.remove_records("sf", [("00Qgone", "deleted")]) == 0  # idempotent
    assert "00Qgone" not in _dump(store) and "00Qnever" not in _dump(store)
    assert [e for e, _ in store.removal_events("sf", "00Qgone")] == ["deleted"]
    assert store.record_states("sf", ["00Qkeep"]) and store.audit("sf", record_id="00Qkeep")
    assert store.failure_count("sf") == 0


def test_forget_reports_what_it_removed(store, clock):
    _two_records(store)
    store.feature_log.add("sf", ["Age__c"], [("00Qgone", {"Age__c": 41}),
                                             ("00Qkeep", {"Age__c": 52})], clock.now,
                          retention_days=400)
    store.pilot.save_scores("sf", [PilotRow("00Qgone", "control", 71, "Hot"),
                                   PilotRow("00Qkeep", "scored", 12, "Cold")])
    store.pilot.stage_callbacks("sf", 1, [Callback(
        "00Qgone", "new", "ref-1", "Hot", None, 71, None, "Call back", clock.now)])
    (callback,) = store.pilot.callbacks("sf")
    store.pilot.enqueue_webhooks("sf", [(callback.id, {"lead": "00Qgone"})])
    counts = store.forget("sf", ["00Qgone"])
    assert counts == {"records": 1, "failures": 1, "pending_changes": 0, "audit": 1,
                      "feature_log": 1, "pilot_leads": 1, "callback_tasks": 1,
                      "webhook_outbox": 1}
    assert [row.record_id for row in store.pilot.pilot_rows("sf")] == ["00Qkeep"]
    assert list(store.feature_log.entries("sf")) == ["00Qkeep"]
    assert "00Qgone" not in _dump(store)
    assert [e for e, _ in store.removal_events("sf", "00Qgone")] == ["forgotten"]


def test_prune_drops_old_audit_rows_runs_and_removals(store, clock):
    _two_records(store)
    store.remove_records("sf", [("00Qgone", "deleted")])
    clock.advance(40 * 86400)
    fresh = store.start_run("sf", "sync")
    store.finish_run(fresh, "ok")
    counts = store.prune("sf", clock.now - timedelta(days=30))
    assert counts == {"audit": 1, "runs": 1, "removed_records": 1}
    assert [r.id for r in store.last_runs("sf")] == [fresh] and store.audit("sf") == []
    assert store.record_states("sf", ["00Qkeep"])  # state is not history: it stays


def test_a_version_1_database_upgrades_to_2(state_url):  # noqa: F811
    engine = schema.make_engine(state_url)
    with schema.write_tx(engine) as conn:
        schema.metadata.create_all(conn, tables=[
            table for table in schema.metadata.sorted_tables if table not in schema.V2_TABLES])
        conn.execute(schema.meta.insert().values(key="schema_version", value="1"))
    engine.dispose()
    with StateStore(state_url) as upgraded:
        assert upgraded.schema_version == 2
        names = set(inspect(upgraded.engine).get_table_names())
        assert {table.name for table in schema.V2_TABLES} <= names
        with upgraded.engine.connect() as conn:
            assert conn.execute(text("SELECT value FROM leadscore_meta "
                                     "WHERE key = 'schema_version'")).scalar() == "2"

"""Page-sized writes and look-ups of the state store (connector.state.bulk): many rows and ids
in few statements, with the outcome of one statement per row. Runs on SQLite, and on
PostgreSQL when ``LEADSCORE_TEST_POSTGRES_URL`` is set (fixtures shared with
tests/test_state.py)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Text, cast, select
from sqlalchemy.exc import DataError
from test_state import T0, Clock, clock, state_url, store  # noqa: F401 (fixtures)

from connector.errors import StateStoreError
from connector.state import Change, PageRecord, RecordState, StateStore
from connector.state import schema as t
from connector.state.schema import write_tx

FIELDS = ("score", "tier", "reason")
IDS = [f"00Q{i:015d}" for i in range(1200)]  # more than one IN list of ids on SQLite


def _pending_keys(store: StateStore) -> set[tuple[str, str]]:
    return set(store.pending("sf", IDS))


def test_confirming_many_keys_over_several_fields_confirms_exactly_those(store):
    run = store.start_run("sf", "sync")
    store.stage_changes("sf", run, [Change(i, f, None, n) for n, i in enumerate(IDS)
                                    for f in FIELDS])
    landed = [(i, "score") for i in IDS] + [(i, "tier") for i in IDS[::2]]
    store.stage_changes("sf", run, [], landed=landed)
    audit = store.audit("sf")
    assert sorted((a.record_id, a.field) for a in audit) == sorted(landed)
    assert all(a.new == IDS.index(a.record_id) for a in audit)
    # The other fields of the same records, and the odd records' tiers, are still staged.
    assert _pending_keys(store) == ({(i, "reason") for i in IDS} | {(i, "tier") for i in IDS[1::2]})
    # A page confirming the rest drops nothing it did not name, and audits each key once.
    rest = sorted(_pending_keys(store))
    store.record_page("sf", run, PageRecord(confirmed=rest + landed[:10]))
    assert len(store.audit("sf")) == len(IDS) * len(FIELDS) and _pending_keys(store) == set()


def test_staging_a_key_twice_in_one_call_keeps_the_last(store):
    run = store.start_run("sf", "sync")
    store.stage_changes("sf", run, [Change("r1", "score", 1, 2), Change("r2", "score", 1, 5),
                                    Change("r1", "score", 1, 3), Change("r1", "tier", "A", "B")])
    assert store.pending("sf", ["r1", "r2"]) == {
        ("r1", "score"): Change("r1", "score", 1, 3), ("r2", "score"): Change("r2", "score", 1, 5),
        ("r1", "tier"): Change("r1", "tier", "A", "B")}


def test_a_record_twice_in_one_page_keeps_its_last_state(store):
    run = store.start_run("sf", "sync")
    store.record_page("sf", run, PageRecord(states=[
        RecordState(i, "old", "m-1", {"score": 1}) for i in IDS] + [
        RecordState(IDS[0], "new", "m-2", {"score": 2})]))
    found = store.record_states("sf", IDS)
    assert len(found) == len(IDS) and found[IDS[0]] == RecordState(IDS[0], "new", "m-2",
                                                                    {"score": 2})


def test_staged_values_are_stored_as_a_core_insert_stores_them(store, clock):
    """JSON null stays JSON null (not SQL NULL), JSON and timestamps are byte-for-byte what
    SQLAlchemy Core writes for the same values."""
    run = store.start_run("sf", "sync")
    values = [None, 0, "Hot", {"a": [1, None], "é": "x"}, 1.5, True]
    store.stage_changes("sf", run, [Change(f"r{n}", "f", value, value)
                                    for n, value in enumerate(values)])
    with write_tx(store.engine) as conn:
        conn.execute(t.pending_changes.insert(), [
            {"connection": "sf", "record_id": f"core{n}", "field": "f", "old_value": value,
             "new_value": value, "run_id": run, "created_at": clock.now}
            for n, value in enumerate(values)])
    c = t.pending_changes.c
    with store.engine.connect() as conn:
        raw = {row.record_id: row[1:] for row in conn.execute(select(
            c.record_id, cast(c.old_value, Text), cast(c.new_value, Text), c.created_at,
            c.old_value.is_(None)))}
    for n in range(len(values)):
        assert raw[f"r{n}"] == raw[f"core{n}"]
    assert raw["r0"][3] is False  # None went in as JSON null
    assert raw["r0"][2] == clock.now


def test_the_feature_log_keeps_the_first_of_a_record_logged_twice_at_once(store):
    logged = store.feature_log.add("sf", ["a", "b"], [("r1", {"a": 1, "b": None}),
                                                      ("r2", {"a": 2}), ("r1", {"a": 9})],
                                   T0, retention_days=400)
    assert logged == 3 and store.feature_log.count("sf") == 2
    entries = store.feature_log.entries("sf")
    assert [(e.scored_at, e.values) for e in entries["r1"]] == [(T0, {"a": 1, "b": None})]
    store.feature_log.add("sf", ["a"], [(i, {"a": 0}) for i in IDS], T0 + timedelta(days=1),
                          retention_days=400)
    assert store.feature_log.count("sf") == 2 + len(IDS)


def test_postgresql_statements_are_planned_for_their_values(store):
    """psycopg would prepare a statement run five times, and PostgreSQL would then soon plan
    it once for every value; the state store's connections prepare nothing."""
    if store.engine.dialect.name != "postgresql":
        pytest.skip("SQLite plans every statement for its values")
    with store.engine.connect() as conn:
        for _ in range(8):
            conn.execute(select(t.records.c.record_id).where(t.records.c.connection == "sf"))
        prepared = conn.exec_driver_sql("SELECT count(*) FROM pg_prepared_statements").scalar()
    assert prepared == 0


def test_a_value_too_long_for_its_column_is_refused_not_cut(store):
    """The page statements cast to each column's type without its length: a cast to
    VARCHAR(255) would keep the first 255 characters silently."""
    if store.engine.dialect.name != "postgresql":
        pytest.skip("SQLite does not enforce string lengths")
    long_id = "00Q" + "x" * 400
    run = store.start_run("sf", "sync")
    with pytest.raises(DataError, match="too long"):
        store.stage_changes("sf", run, [Change(long_id, "score", None, 1)])
    with pytest.raises(DataError, match="too long"):
        store.record_page("sf", run, PageRecord(
            states=[RecordState(long_id, "f", "m", {"score": 1})]))
    assert store.record_states("sf", [long_id]) == {} and store.pending("sf", [long_id]) == {}


def test_postgresql_is_reached_through_psycopg_3_only():
    with pytest.raises(StateStoreError, match="through psycopg 3, not psycopg2"):
        StateStore("postgresql+psycopg2://leadscore@127.0.0.1:1/nowhere")

"""The feature log: what the sync logs (open leads' mapped inputs, first scoring and changes),
its bounds (feature fields only, retention, erasure) and the schema upgrade that brings it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import inspect
from sync_support import prepare, small_bank, trained_model

from connector.records import RecordWrite
from connector.sandbox import Sandbox
from connector.state import SCHEMA_VERSION, StateStore
from connector.state import schema
from connector.state.schema import make_engine, metadata, migrate, write_tx
from connector.sync.engine import run_sync

LEADS = 1500
T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def state(tmp_path):
    with StateStore(tmp_path / "state.sqlite") as opened:
        opened.ensure_connection("c", "salesforce")
        yield opened


def test_log_keeps_values_in_order_prunes_old_entries_and_forgets_records(state):
    log = state.feature_log
    assert log.add("c", ["a", "b"], [("r1", {"a": 1, "b": "x", "other": "never kept"})], T0,
                   retention_days=400) == 1
    log.add("c", ["a", "b", "z"], [("r1", {"a": 2, "b": None, "z": True}),
                                   ("r2", {"a": 3})], T0 + timedelta(days=1), retention_days=400)
    found = log.entries("c")
    assert [(e.scored_at, e.values) for e in found["r1"]] == [
        (T0, {"a": 1, "b": "x"}), (T0 + timedelta(days=1), {"a": 2, "b": None, "z": True})]
    assert log.entries("c", ["r2"])["r2"][0].values == {"a": 3, "b": None, "z": None}
    # Logging the same record at the same moment twice keeps one entry.
    log.add("c", ["a"], [("r2", {"a": 9})], T0 + timedelta(days=1), retention_days=400)
    assert log.count("c") == 3
    # A year and a half later, with 400 days' retention, the old entries go.
    fresh = StateStore(state.engine.url.render_as_string(hide_password=False))
    fresh.feature_log.add("c", ["a"], [("r3", {"a": 4})], T0 + timedelta(days=500),
                          retention_days=400)
    assert sorted(fresh.feature_log.entries("c")) == ["r3"]
    assert state.forget_logged_inputs("c", ["r3", "nope"]) == 1 and log.count("c") == 0
    fresh.close()


def test_a_version_1_database_gains_the_feature_log(tmp_path):
    engine = make_engine(tmp_path / "v1.sqlite")
    with write_tx(engine) as conn:  # what version 1 created
        metadata.create_all(conn, tables=[table for table in metadata.sorted_tables
                                          if table not in schema.V2_TABLES])
        conn.execute(schema.meta.insert().values(key="schema_version", value="1"))
    assert not inspect(engine).has_table("feature_log")
    assert migrate(engine) == SCHEMA_VERSION == 2
    assert inspect(engine).has_table("feature_log")
    engine.dispose()
    with StateStore(tmp_path / "v1.sqlite") as upgraded:
        upgraded.ensure_connection("c", "hubspot")
        upgraded.feature_log.add("c", ["a"], [("r", {"a": 1})], T0, retention_days=10)
        assert upgraded.feature_log.count("c") == 1


def test_sync_logs_open_leads_once_and_again_when_their_inputs_change(tmp_path, state):
    model_dir = trained_model("salesforce", LEADS, tmp_path / "models")
    with Sandbox(crms=("salesforce",), seed=small_bank(LEADS)) as box:
        setup = prepare(box, "salesforce", tmp_path / "m", trained=model_dir)
        features = [f.field for f in setup.mapping.features]

        def sync():
            crm = setup.open()
            try:
                return run_sync("c", crm, setup.model(), setup.mapping, state)
            finally:
                crm.close()

        first = sync()
        opened = set(box.salesforce.hidden_outcomes())
        logged = state.feature_log.entries("c")
        assert set(logged) == opened and first.counts.scored == len(opened)
        some = sorted(opened)[0]
        (entry,) = logged[some]
        assert list(entry.values) == features  # the feature fields, nothing else
        assert entry.values == box.salesforce.peek([some], features)[some]

        sync()
        assert state.feature_log.count("c") == len(opened)  # nothing changed, nothing logged

        crm = setup.open()
        try:
            (result,) = crm.write([RecordWrite(some, {"Age__c": 99})])
        finally:
            crm.close()
        assert result.ok
        sync()
        again = state.feature_log.entries("c", [some])[some]
        assert [e.values["Age__c"] for e in again] == [entry.values["Age__c"], 99]
        assert state.feature_log.count("c") == len(opened) + 1

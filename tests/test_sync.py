"""The sync engine end to end: real sandbox, real connectors, a model trained on the sandbox.

Covers: both CRMs in one config through the CLI, no write-back loop (second sync writes nothing,
third pulls only the overlap), dry-run writes nothing, rescoring after a promotion, --limit,
per-record failures retried next run, a clean budget stop, and one worker per connection.
"""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
import time

import pytest
from sync_support import (
    NAMES, Setup, crm_values, environ, prepare, small_bank, sync, trained_model, wrong_values,
)

from connector.cli import main
from connector.cli import sync_cmd  # noqa: F401  (registers sync/run/status)
from connector.errors import ApiBudgetError, ConnectionLockedError
from connector.model import train_model
from connector.sandbox import Sandbox
from connector.state import StateStore

LEADS = 1500
CRMS = ["salesforce", "hubspot"]


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    directory = tmp_path_factory.mktemp("models")
    return {crm: trained_model(crm, LEADS, directory) for crm in CRMS}


@pytest.fixture(params=CRMS)
def setup(request, models, tmp_path):
    with Sandbox(crms=(request.param,), seed=small_bank(LEADS)) as box:
        yield prepare(box, request.param, tmp_path / "m", trained=models[request.param])


@pytest.fixture
def state(tmp_path):
    with StateStore(tmp_path / "state.sqlite") as opened:
        yield opened


def open_count(setup: Setup) -> int:
    return sum(1 for v in crm_values(setup).values() if setup.mapping.outcome_of(v) is None)


def test_no_write_back_loop(setup, state):
    store = setup.store()
    first = sync(setup, state)
    opened = open_count(setup)
    assert first.outcome == "ok" and first.counts.pulled == LEADS
    assert first.counts.scored == opened == first.counts.written and first.counts.failed == 0
    assert store.stats()["http_429"] == 0
    assert wrong_values(setup) == []
    fields = len(setup.mapping.output_fields())
    audit = state.audit(NAMES[setup.crm_name])
    assert opened * (fields - 1) <= len(audit) <= opened * fields  # a reason may be empty
    assert len({(a.record_id, a.field) for a in audit}) == len(audit)

    store.reset_stats()
    second = sync(setup, state)
    assert second.counts.written == 0 and second.counts.scored == 0
    assert second.counts.pulled == opened  # our own writes come back once, and are skipped
    assert store.stats()["write_requests"] == 0

    third = sync(setup, state)
    assert third.counts.pulled == 0 and third.counts.written == 0
    # the overlap re-read, and the look for removed records (two calls on either CRM)
    assert third.api_calls <= 1 + opened // 200 + 1 + 2


def test_dry_run_writes_nothing_and_saves_a_preview(setup, state, tmp_path):
    store = setup.store()
    store.reset_stats()
    summary = sync(setup, state, dry_run=True, preview_dir=tmp_path / "out")
    stats = store.stats()
    assert stats["write_requests"] == 0 and stats["records_written"] == 0
    assert summary.outcome == "ok" and summary.dry_run
    with summary.preview_path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == summary.counts.written == open_count(setup) > 0
    assert set(rows[0]) == {"id", "old_score", "new_score", "old_tier", "new_tier", "reason"}
    assert rows[0]["old_score"] == "" and rows[0]["new_score"] != "" and rows[0]["new_tier"]
    name = NAMES[setup.crm_name]
    assert state.get_cursor(name) is None and state.record_count(name) == 0
    assert state.last_runs(name)[0].dry_run


def test_a_promoted_model_rescores_every_open_lead(setup, state):
    sync(setup, state)
    mapping = setup.mapping
    records = [v for v in crm_values(setup).values()]
    result = train_model(records, mapping, model_dir=setup.model_dir, force=True,
                         min_closed=500, min_positive=40)
    try:
        opened = open_count(setup)
        rescored = sync(setup, state)
        assert rescored.model_version == result.version and "promoted" in rescored.message
        assert rescored.counts.scored == opened
        name = NAMES[setup.crm_name]
        assert state.record_count(name, model_version=result.version) == opened
        assert wrong_values(setup) == []
        assert sync(setup, state).counts.written == 0
    finally:
        shutil.rmtree(setup.model_dir / result.version)
        (setup.model_dir / "current").write_text("v0001\n")


def test_limit_stops_after_a_recorded_page_and_the_next_run_goes_on(setup, state):
    first = sync(setup, state, limit=250)
    assert first.outcome == "ok" and first.counts.pulled == 250 and "limit" in first.message
    rest = sync(setup, state)
    assert rest.outcome == "ok"
    assert wrong_values(setup) == []


def test_rejected_records_are_retried_on_the_next_run(setup, state):
    setup.sandbox.set_faults("record:0.3,seed:5")
    first = sync(setup, state)
    name = NAMES[setup.crm_name]
    assert first.counts.failed > 0 and state.failure_count(name) == first.counts.failed
    setup.sandbox.set_faults("")
    second = sync(setup, state)
    assert second.counts.written == first.counts.failed
    assert state.failure_count(name) == 0 and wrong_values(setup) == []


def test_a_budget_stop_is_clean_and_the_next_run_finishes(models, tmp_path, state):
    with Sandbox(crms=("salesforce",), seed=small_bank(LEADS)) as box:
        setup = prepare(box, "salesforce", tmp_path, trained=models["salesforce"],
                        api_reserve=0.5)
        box.salesforce.set_remaining_api_calls(50_003)  # of 100,000: three calls above reserve
        stopped = sync(setup, state)
        assert stopped.outcome == "stopped" and isinstance(stopped.error, ApiBudgetError)
        with pytest.raises(ApiBudgetError):
            stopped.raise_for_outcome()
        assert state.last_runs("sf")[0].outcome == "stopped"
        box.salesforce.set_remaining_api_calls(90_000)
        assert sync(setup, state).outcome == "ok"
        assert wrong_values(setup) == []


def test_both_crms_in_one_config_through_the_cli(models, tmp_path, capsys):
    with Sandbox(seed=small_bank(LEADS)) as box:
        setups = {crm: prepare(box, crm, tmp_path, trained=models[crm]) for crm in CRMS}
        config = write_config(tmp_path, box, setups)
        for crm in CRMS:
            assert main(["sync", "--config", str(config), "-c", NAMES[crm], "--json"]) == 0
            assert json.loads(capsys.readouterr().out)["outcome"] == "ok"
            assert wrong_values(setups[crm]) == []
        assert main(["sync", "--config", str(config), "-c", "hs", "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["counts"]["written"] == 0
        assert main(["status", "--config", str(config), "--json"]) == 0
        status = {entry["connection"]: entry for entry in json.loads(capsys.readouterr().out)}
        assert set(status) == {"sf", "hs"}
        assert [r["kind"] for r in status["hs"]["runs"]] == ["sync", "sync"]
        assert status["sf"]["model"]["version"] == "v0001"
        assert status["sf"]["api"]["daily_max"] == 100_000
        assert status["hs"]["failures"]["waiting"] == 0 and status["sf"]["cursor"]["lag_s"] >= 0
        assert status["hs"]["failures"]["exhausted"] == 0
        assert main(["status", "--config", str(config)]) == 0
        assert "cursor lag" in capsys.readouterr().out


def write_config(tmp_path, box: Sandbox, setups: dict[str, Setup]):
    """A leadscore.toml with both sandbox connections, a .env with their secrets, and the
    trained models where the config says models live."""
    for crm, setup in setups.items():
        shutil.copytree(setup.model_dir, tmp_path / "models" / NAMES[crm])
    sf, hs = box.info["salesforce"], box.info["hubspot"]
    config = tmp_path / "leadscore.toml"
    config.write_text(f"""
state_url = "sqlite:///{tmp_path / 'state.sqlite'}"
model_dir = "models"

[connections.sf]
crm = "salesforce"
mapping = "{setups['salesforce'].connection.mapping}"
auth = "password"
token_url = "{sf['token_url']}"
ca_file = "{sf['ca_file']}"

[connections.hs]
crm = "hubspot"
mapping = "{setups['hubspot'].connection.mapping}"
auth = "private_app"
base_url = "{hs['base_url']}"
""")
    (tmp_path / ".env").write_text("".join(f"{k}={v}\n" for k, v in environ().items()))
    return config


SLOW_SYNC = """
import sys
from connector.cli import main, sync_cmd
sys.exit(main(["sync", "--config", sys.argv[1], "-c", "hs"]))
"""


def test_a_second_worker_on_the_same_connection_exits_clearly(models, tmp_path, capsys):
    with Sandbox(seed=small_bank(LEADS), latency_ms=20) as box:
        setups = {crm: prepare(box, crm, tmp_path, trained=models[crm]) for crm in CRMS}
        config = write_config(tmp_path, box, setups)
        worker = subprocess.Popen([sys.executable, "-c", SLOW_SYNC, str(config)],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        state = StateStore(tmp_path / "state.sqlite")
        while state.lock_holder("hs") is None:  # pytest's timeout bounds the wait
            assert worker.poll() is None, worker.communicate()
            time.sleep(0.05)
        assert main(["sync", "--config", str(config), "-c", "hs"]) == ConnectionLockedError.exit_code
        err = capsys.readouterr().err
        assert "'hs' is being synced by another worker" in err
        assert main(["sync", "--config", str(config), "-c", "sf", "--json"]) == 0  # others go on
        out, err = worker.communicate(timeout=120)
        assert worker.returncode == 0, err
        assert " ok: " in out
        assert wrong_values(setups["hubspot"]) == []
        state.close()

"""The scheduler: jobs rebuilt from config, the new-leads job's cost and effect, one log line
per run, and SIGTERM finishing the batch in flight and exiting 0."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from apscheduler.schedulers.background import BackgroundScheduler
from sync_support import (
    NAMES, crm_values, environ, prepare, small_bank, trained_model, wrong_values)
from test_sync import write_config

from connector.config import load_config
from connector.sandbox import Sandbox
from connector.config import Schedule
from connector.sync.schedule import ConnectionWorker, build, next_runs
from connector.state import StateStore

LEADS = 1500
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    directory = tmp_path_factory.mktemp("models")
    return {crm: trained_model(crm, LEADS, directory) for crm in ("salesforce", "hubspot")}


@pytest.fixture
def both(models, tmp_path):
    with Sandbox(seed=small_bank(LEADS)) as box:
        setups = {crm: prepare(box, crm, tmp_path, trained=models[crm]) for crm in models}
        yield box, setups, write_config(tmp_path, box, setups)


def test_jobs_are_rebuilt_from_the_config(both, tmp_path):
    _, _, config_path = both
    config = load_config(config_path)
    with StateStore(config.state_url) as state:
        scheduler, workers = build(config, state, scheduler=BackgroundScheduler())
        jobs = {job.id: job for job in scheduler.get_jobs()}
    assert set(jobs) == {f"{n}:{j}" for n in ("sf", "hs")
                         for j in ("sync", "new_leads", "retrain", "maintenance")}
    assert jobs["sf:maintenance"].trigger.interval.days == 1
    sync = jobs["sf:sync"]
    assert sync.trigger.interval.total_seconds() == 3600 and sync.trigger.jitter == 180
    assert sync.coalesce and sync.max_instances == 1 and sync.misfire_grace_time == 1800
    assert jobs["hs:new_leads"].trigger.interval.total_seconds() == 120
    assert jobs["hs:retrain"].trigger.interval.days == 7
    assert [w.name for w in workers] == ["sf", "hs"]


@pytest.mark.parametrize("crm", ["salesforce", "hubspot"])
def test_new_leads_job_costs_one_call_when_nothing_is_new_and_scores_new_leads(both, crm,
                                                                              caplog):
    box, setups, config_path = both
    setup = setups[crm]
    config = load_config(config_path)
    caplog.set_level("INFO", logger="leadscore")
    with StateStore(config.state_url) as state:
        worker = ConnectionWorker(config, config.connection(NAMES[crm]), state,
                                  stop=threading.Event())
        assert " ok: " in worker.sync()
        worker.new_leads()  # first look: sets the creation cursor
        store = setup.store()
        store.reset_stats()
        line = worker.new_leads()
        assert store.stats()["api_calls"] == 1 and "pulled=0" in line
        template = next(v for v in crm_values(setup).values()
                        if setup.mapping.outcome_of(v) is None)
        record_id = create_lead(box, crm, template, setup)
        line = worker.new_leads()
        assert "pulled=1 scored=1 written=1" in line
        assert wrong_values(setup) == []
        assert [r.message for r in caplog.records].count(line) == 1  # one log line per run
        worker.close()
    assert record_id


def create_lead(box, crm, template, setup) -> str:
    sys.path.insert(0, str(ROOT / "bench"))
    from bench_clients import hubspot_client, salesforce_client
    inputs = {f.field: template.get(f.field) for f in setup.mapping.features}
    if crm == "salesforce":
        return salesforce_client(box).Lead.create(
            {"LastName": "New", "Company": "New", **inputs})["id"]
    from hubspot.crm.contacts import SimplePublicObjectInputForCreate
    body = SimplePublicObjectInputForCreate(
        properties={k: str(v) for k, v in inputs.items() if v is not None})
    return hubspot_client(box).crm.contacts.basic_api.create(body).id


def test_sigterm_finishes_the_batch_in_flight_and_exits_0(models, tmp_path):
    with Sandbox(seed=small_bank(LEADS), latency_ms=150) as box:
        setups = {crm: prepare(box, crm, tmp_path, trained=models[crm]) for crm in models}
        config = write_config(tmp_path, box, setups)
        process = subprocess.Popen([sys.executable, str(ROOT / "scheduler.py"), "--config",
                                    str(config)], stderr=subprocess.PIPE, text=True, cwd=tmp_path)
        state = StateStore(tmp_path / "state.sqlite")
        while not state.last_runs("hs") or state.last_runs("hs")[0].counts.pulled == 0:
            assert process.poll() is None  # pytest's timeout bounds the wait
            time.sleep(0.1)
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=60)
        assert process.returncode == 0, err
        assert "SIGTERM received" in err and "scheduler stopped" in err
        runs = {name: state.last_runs(name)[0] for name in ("sf", "hs")}
        assert all(r.outcome in ("ok", "interrupted") for r in runs.values()), runs
        assert err.count("sync hs run=") == 1  # one line for the run, whatever its outcome
        state.close()


def test_crontab_schedules_use_cron_weekdays_and_the_configured_zone(both):
    _, _, config_path = both
    text = config_path.read_text() + """
[connections.sf.schedule]
sync_cron = "15 9-17 * * 1-5"
retrain_cron = "0 3 * * 0"
timezone = "Europe/Paris"
"""
    config_path.write_text(text)
    config = load_config(config_path)
    with StateStore(config.state_url) as state:
        scheduler, _ = build(config, state, scheduler=BackgroundScheduler())
        jobs = {job.id: job for job in scheduler.get_jobs()}
    sync, retrain = jobs["sf:sync"], jobs["sf:retrain"]
    monday_evening = datetime(2026, 11, 23, 18, 0, tzinfo=timezone.utc)  # 19:00 in Paris
    paris = ZoneInfo("Europe/Paris")
    # cron's 1-5 is Monday to Friday; APScheduler 3's own parser would have read Tuesday-Saturday
    tuesday_nine_fifteen = datetime(2026, 11, 24, 9, 15, tzinfo=paris)
    assert (tuesday_nine_fifteen <= sync.trigger.get_next_fire_time(None, monday_evening)
            <= tuesday_nine_fifteen + timedelta(seconds=60))  # plus up to a minute of jitter
    # cron's 0 is Sunday (APScheduler 3 would have said Monday)
    assert retrain.trigger.get_next_fire_time(None, monday_evening) == datetime(
        2026, 11, 29, 3, 0, tzinfo=paris)
    assert sync.misfire_grace_time == 30 * 60  # half the shortest gap between two syncs
    assert sync.trigger.jitter == 60
    # the interval connection still runs its first sync at start; the crontab one waits
    assert getattr(sync, "next_run_time", None) is None
    assert jobs["hs:sync"].next_run_time is not None


@pytest.mark.parametrize("crm", ["salesforce", "hubspot"])
def test_retraining_is_a_recorded_run_under_the_connection_lock(both, crm):
    """(A promoted retraining's run row is checked in test_cli_model.)"""
    _, setups, config_path = both
    config = load_config(config_path)
    name = NAMES[crm]
    with StateStore(config.state_url) as state:
        worker = ConnectionWorker(config, config.connection(name), state, stop=threading.Event())
        with state.lock(name, owner="someone-else"):
            line = worker.retrain()
        assert "skipped" in line and "someone-else" in line
        assert state.last_runs(name, kinds=["retrain"]) == []
        live = worker.model().version
        # 1,500 test leads are fewer closed leads than the product demands of a real org
        line = worker.retrain()
        run = state.last_runs(name, kinds=["retrain"])[0]
        assert run.outcome == "stopped" and run.api_calls > 0 and run.model_version is None
        assert "closed" in run.message and line == f"retrain {name} failed: {run.message}"
        assert worker.model().version == live  # the live model stays
        assert state.lock_holder(name) is None
        worker.close()


def test_status_expects_crontab_jobs_at_their_next_match_and_interval_jobs_after_their_last_run():
    now = datetime(2026, 11, 23, 18, 5, tzinfo=timezone.utc)
    schedule = Schedule(sync_cron="15 * * * *")
    last = {"sync": now - timedelta(minutes=50), "new_leads": now - timedelta(minutes=1),
            "retrain": None}
    assert next_runs(schedule, last, now) == {
        "sync": datetime(2026, 11, 23, 18, 15, tzinfo=timezone.utc),
        "new_leads": now + timedelta(minutes=1),
        "retrain": now}  # never trained: due now


def test_sigterm_stops_a_retraining_between_phases_and_exits_0(tmp_path):
    """A retraining (here the first one, due at start as no model exists) stops at the next page
    or fit once SIGTERM arrives, records the run as interrupted and saves no model."""
    with Sandbox(crms=("salesforce",), seed=small_bank(5000), latency_ms=400) as box:
        sf = box.info["salesforce"]
        config = tmp_path / "leadscore.toml"
        config.write_text(f"""
state_url = "sqlite:///{tmp_path / 'state.sqlite'}"
model_dir = "models"

[connections.sf]
crm = "salesforce"
mapping = "{ROOT / 'mappings' / 'bank-demo-salesforce.yaml'}"
auth = "password"
token_url = "{sf['token_url']}"
ca_file = "{sf['ca_file']}"
""")
        env = {**environ(), "PATH": "/usr/bin:/bin"}
        process = subprocess.Popen([sys.executable, "-m", "connector", "run", "--config",
                                    str(config)], stderr=subprocess.PIPE, text=True,
                                   cwd=tmp_path, env=env)
        state = StateStore(tmp_path / "state.sqlite")
        while not state.last_runs("sf", kinds=["retrain"]):
            assert process.poll() is None  # pytest's timeout bounds the wait
            time.sleep(0.05)
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
        run = state.last_runs("sf", kinds=["retrain"])[0]
        assert run.outcome == "interrupted" and run.message.startswith("stop requested"), run
        assert f"retrain sf stopped: {run.message}" in err
        assert not (tmp_path / "models" / "sf").exists() or not any(
            (tmp_path / "models" / "sf").glob("v*"))
        state.close()

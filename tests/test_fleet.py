"""Fleet mode for real: Redis broker, PostgreSQL state, ``leadscore worker`` processes syncing
sandbox orgs; a worker killed with SIGKILL mid-task loses and duplicates nothing.

Needs ``LEADSCORE_TEST_REDIS_URL`` and ``LEADSCORE_TEST_POSTGRES_URL`` (``.ci/run`` starts
both services and sets them); skipped with that reason otherwise.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from sync_support import (
    MAPPINGS, Setup, environ, prepare, reach_toml, small_bank, trained_model, wrong_values,
)

from connector.config import load_config
from connector.sandbox import Sandbox
from connector.state import StateStore

REDIS = os.environ.get("LEADSCORE_TEST_REDIS_URL")
SERVER = os.environ.get("LEADSCORE_TEST_POSTGRES_URL")
SCHEMA = f"fleet_{uuid.uuid4().hex[:8]}"
# The state lives in a schema of its own, made for this module and dropped after it, so the
# workers start from an empty store whatever else uses the test database.
POSTGRES = f"{SERVER}?options=-csearch_path%3D{SCHEMA}" if SERVER else None
pytestmark = pytest.mark.skipif(
    not (REDIS and POSTGRES), reason="fleet tests need LEADSCORE_TEST_REDIS_URL and "
    "LEADSCORE_TEST_POSTGRES_URL (.ci/run starts redis-server and PostgreSQL and sets them)")
LEADS = 1500
ROOT = Path(__file__).resolve().parents[1]


def write_config(tmp: Path, setups: dict[str, Setup], models: dict[str, Path]) -> Path:
    """A leadscore.toml for ``setups`` (connection name -> setup) on the test services."""
    lines = [f'state_url = "{POSTGRES}"', f'model_dir = "{tmp / "models"}"', "",
             "[fleet]", f'broker_url = "{REDIS}"', "lease_seconds = 6",
             "visibility_timeout_seconds = 5", ""]
    for name, setup in setups.items():
        shutil.copytree(models[setup.crm_name], tmp / "models" / name)
        lines += [f"[connections.{name}]", f'crm = "{setup.crm_name}"',
                  f'mapping = "{MAPPINGS[setup.crm_name]}"',
                  reach_toml(setup.sandbox, setup.crm_name), ""]
    path = tmp / "leadscore.toml"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def start_worker(config: Path, log: Path) -> subprocess.Popen:
    """``leadscore worker`` in its own process group (so SIGKILL takes the whole worker)."""
    return subprocess.Popen(
        [sys.executable, "-m", "connector", "worker", "--config", str(config)],
        env={**os.environ, **environ()}, cwd=ROOT, stdout=log.open("ab"),
        stderr=subprocess.STDOUT, start_new_session=True)


def stop(process: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
    if process.poll() is None:
        os.killpg(process.pid, sig)
    process.wait(timeout=60)


def wait_for(check, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def finished_sync(state: StateStore, name: str):
    return next((r for r in state.last_runs(name, kinds=("sync",)) if r.outcome == "ok"), None)


@pytest.fixture(scope="module", autouse=True)
def own_schema():
    from sqlalchemy import create_engine, text
    engine = create_engine(SERVER)
    with engine.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {SCHEMA}"))
    yield
    with engine.begin() as conn:
        conn.execute(text(f"DROP SCHEMA {SCHEMA} CASCADE"))
    engine.dispose()


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    directory = tmp_path_factory.mktemp("models")
    return {crm: trained_model(crm, LEADS, directory) for crm in ("salesforce", "hubspot")}


def test_workers_sync_every_org_from_its_own_queue(models, tmp_path):
    from connector.sync.fleet import Dispatcher, fleet_status

    suffix = uuid.uuid4().hex[:6]
    with Sandbox(seed=small_bank(LEADS)) as box:
        setups = {f"sf{suffix}": prepare(box, "salesforce", tmp_path / "a",
                                         trained=models["salesforce"]),
                  f"hs{suffix}": prepare(box, "hubspot", tmp_path / "b",
                                         trained=models["hubspot"])}
        config = load_config(write_config(tmp_path, setups, models))
        dispatcher = Dispatcher(config)
        for name in setups:
            assert dispatcher.enqueue(name, "sync")
        assert not dispatcher.enqueue(f"sf{suffix}", "sync")  # already waiting: not twice
        waiting = fleet_status(config)
        assert {q["waiting"] for q in waiting["queues"].values()} == {1}
        assert all(q["oldest_waiting_s"] >= 0 for q in waiting["queues"].values())
        worker = start_worker(config.path, tmp_path / "worker.log")
        try:
            with StateStore(POSTGRES) as state:
                for name in setups:
                    wait_for(lambda n=name: finished_sync(state, n), 240, f"{name}'s sync")
            status = fleet_status(config, timeout=3.0)
            assert status["workers"] and {q["waiting"] for q in status["queues"].values()} == {0}
        finally:
            stop(worker)
        for setup in setups.values():
            assert wrong_values(setup) == []


def test_a_worker_killed_mid_task_loses_and_duplicates_nothing(models, tmp_path):
    from connector.sync.fleet import Dispatcher

    name = f"sf{uuid.uuid4().hex[:6]}"
    # 1,350 open leads: seven write batches in two waves of concurrent writes, each answered
    # after 400 ms, so the worker can be killed between the waves.
    with Sandbox(crms=("salesforce",), seed=small_bank(LEADS, open_share=0.9),
                 latency_ms=400) as box:
        setup = prepare(box, "salesforce", tmp_path / "m", trained=models["salesforce"])
        config = load_config(write_config(tmp_path, {name: setup}, models))
        org = box.salesforce
        opened = sum(1 for v in org.hidden_outcomes())
        Dispatcher(config).enqueue(name, "sync")
        first = start_worker(config.path, tmp_path / "worker.log")
        try:
            wait_for(lambda: org.stats()["records_written"] > 0, 240, "the first writes")
            os.killpg(first.pid, signal.SIGKILL)  # the whole worker, mid-task
            first.wait(timeout=30)
        finally:
            stop(first, signal.SIGKILL)
        written_before = org.stats()["records_written"]
        assert 0 < written_before < opened  # it really died in the middle
        second = start_worker(config.path, tmp_path / "worker.log")
        try:
            with StateStore(POSTGRES) as state:
                run = wait_for(lambda: finished_sync(state, name), 240, "the redelivered sync")
        finally:
            stop(second)
        assert run.counts.failed == 0
        assert wrong_values(setup) == []  # nothing lost
        assert org.stats()["records_written"] == opened  # every open lead written once


def test_the_fleet_scheduler_enqueues_and_status_shows_the_queue(models, tmp_path):
    name = f"sf{uuid.uuid4().hex[:6]}"
    with Sandbox(crms=("salesforce",), seed=small_bank(LEADS)) as box:
        setup = prepare(box, "salesforce", tmp_path / "m", trained=models["salesforce"])
        config = write_config(tmp_path, {name: setup}, models)
        command = [sys.executable, "-m", "connector"]
        scheduler = subprocess.Popen([*command, "run", "--fleet", "--config", str(config)],
                                     env={**os.environ, **environ()}, cwd=ROOT,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        try:
            from connector.sync.fleet import fleet_status
            settings = load_config(config)
            # An interval sync is due at start: enqueued, not run (no worker is up).
            wait_for(lambda: fleet_status(settings, timeout=0.2)["queues"][name]["waiting"],
                     60, "the enqueued sync")
            shown = subprocess.run([*command, "status", "--fleet", "--config", str(config)],
                                   env={**os.environ, **environ()}, cwd=ROOT,
                                   capture_output=True, text=True, timeout=120)
            assert shown.returncode == 0, shown.stderr
            assert f"queue {name}: 1 waiting, oldest" in shown.stdout
            assert "fleet: broker redis://127.0.0.1" in shown.stdout and "workers:" in shown.stdout
        finally:
            os.killpg(scheduler.pid, signal.SIGTERM)
            output = scheduler.communicate(timeout=60)[0].decode()
        assert scheduler.returncode == 0, output
        assert "fleet scheduler started: 1 connection(s)" in output
        with StateStore(POSTGRES) as state:
            assert not state.last_runs(name)  # the scheduler ran nothing itself
        import redis
        redis.Redis.from_url(REDIS).delete(f"leadscore.{name}")  # no worker will take it

"""Fleet benchmark: many sandbox orgs synced by 1, 2 and 4 ``leadscore worker`` processes.

    python bench/fleet.py [--orgs 20] [--leads 5000] [--latency-ms 100] [--workers 1,2,4]
                          [--broker-url redis://...] [--state-url postgresql+psycopg://...]

Half the orgs are Salesforce, half HubSpot (each sandbox serves one of each), seeded with the
bank data (20% open). For every worker count the orgs are freshly seeded, one sync per org is
enqueued at once, and the wall time runs until every org's sync is recorded in the shared
PostgreSQL state (a schema of its own per round, dropped afterwards, so no round writes into
what earlier ones left). Prints one JSON object: per worker count the wall time and leads synced
per second, and the speed-up over one worker. The work is I/O bound (100 ms per call), so the goal
is at least 3x at 4 workers; on a shared 2-core machine the scoring and the emulators' own CPU
cap it. Needs a Redis broker and PostgreSQL (defaults: ``LEADSCORE_TEST_REDIS_URL`` and
``LEADSCORE_TEST_POSTGRES_URL``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from sync_support import (  # noqa: E402
    MAPPINGS, environ, prepare, reach_toml, small_bank, trained_model,
)

from sqlalchemy import create_engine, make_url  # noqa: E402

from connector.config import load_config  # noqa: E402
from connector.sandbox import Sandbox  # noqa: E402
from connector.state import StateStore  # noqa: E402
from connector.sync.fleet import Dispatcher, fleet_status  # noqa: E402


def write_config(folder: Path, orgs: dict, models: dict, broker: str, state: str) -> Path:
    """A leadscore.toml with one connection per org (``name -> (crm, sandbox)``)."""
    lines = [f'state_url = "{state}"', f'model_dir = "{folder / "models"}"', "", "[fleet]",
             f'broker_url = "{broker}"', ""]
    for name, (crm, box) in orgs.items():
        shutil.copytree(models[crm], folder / "models" / name)
        lines += [f"[connections.{name}]", f'crm = "{crm}"', f'mapping = "{MAPPINGS[crm]}"',
                  reach_toml(box, crm), ""]
    path = folder / "leadscore.toml"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


@contextmanager
def fresh_schema(state_url: str, name: str) -> Iterator[str]:
    """The state URL with its own PostgreSQL schema ``name``, dropped afterwards: every round
    starts on an empty state store, as a new fleet does, whatever earlier runs left."""
    admin = create_engine(state_url)
    with admin.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {name}")
    try:
        yield make_url(state_url).update_query_dict(
            {"options": f"-csearch_path={name}"}).render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA {name} CASCADE")
        admin.dispose()


def one_round(workers: int, args, models: dict, folder: Path) -> dict:
    """Seed the orgs, enqueue one sync each, run ``workers`` worker processes until done."""
    tag = uuid.uuid4().hex[:6]
    with ExitStack() as stack:
        state_url = stack.enter_context(fresh_schema(args.state_url, f"bench_fleet_{tag}"))
        orgs = {}
        for index in range(args.orgs // 2):
            box = stack.enter_context(Sandbox(seed=small_bank(args.leads),
                                              latency_ms=args.latency_ms))
            for crm in ("salesforce", "hubspot"):
                prepare(box, crm, folder / "unused", trained=models[crm])
                orgs[f"{crm[:2]}{index}x{tag}"] = (crm, box)
        config = load_config(write_config(folder / tag, orgs, models, args.broker_url,
                                          state_url))
        processes = []
        log = (folder / f"workers-{tag}.log").open("ab")
        for _ in range(workers):
            processes.append(subprocess.Popen(
                [sys.executable, "-m", "connector", "worker", "--config", str(config.path)],
                env={**os.environ, **environ()}, cwd=ROOT, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True))
        try:
            # The clock starts once every worker answers: boot time is not sync throughput.
            deadline = time.monotonic() + 300
            while (len(fleet_status(config, timeout=1.0)["workers"]) < workers
                   and time.monotonic() < deadline):
                time.sleep(0.5)
            began = time.perf_counter()
            dispatcher = Dispatcher(config)
            for name in orgs:
                dispatcher.enqueue(name, "sync")
            with StateStore(state_url) as state:
                pending = set(orgs)
                while pending and time.perf_counter() - began < args.timeout_s:
                    pending = {n for n in pending if not any(
                        r.outcome == "ok" for r in state.last_runs(n, kinds=("sync",)))}
                    time.sleep(0.2)
            wall = time.perf_counter() - began
        finally:
            for process in processes:
                os.killpg(process.pid, signal.SIGTERM)
            for process in processes:
                process.wait(timeout=120)
    synced = (len(orgs) - len(pending)) * args.leads
    return {"workers": workers, "wall_s": round(wall, 1), "orgs_done": len(orgs) - len(pending),
            "leads_per_s": round(synced / wall, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orgs", type=int, default=20)
    parser.add_argument("--leads", type=int, default=5_000)
    parser.add_argument("--latency-ms", type=float, default=100.0)
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--broker-url", default=os.environ.get("LEADSCORE_TEST_REDIS_URL",
                                                               "redis://127.0.0.1:6379/0"))
    parser.add_argument("--state-url", default=os.environ.get("LEADSCORE_TEST_POSTGRES_URL"))
    parser.add_argument("--timeout-s", type=float, default=1800.0)
    args = parser.parse_args()
    if not args.state_url:
        parser.error("--state-url (PostgreSQL) is required: every worker shares the state")
    folder = Path(tempfile.mkdtemp(prefix="leadscore-bench-fleet-"))
    models = {crm: trained_model(crm, args.leads, folder / "trained")
              for crm in ("salesforce", "hubspot")}
    rounds = [one_round(int(n), args, models, folder) for n in args.workers.split(",")]
    base = rounds[0]["leads_per_s"]
    for entry in rounds:
        entry["speedup"] = round(entry["leads_per_s"] / base, 2) if base else None
    print(json.dumps({"orgs": args.orgs, "leads_per_org": args.leads,
                      "latency_ms": args.latency_ms, "cores": os.cpu_count(),
                      "load_average_at_end": [round(x, 1) for x in os.getloadavg()],
                      "rounds": rounds}))


if __name__ == "__main__":
    main()

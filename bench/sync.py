"""Sync benchmark against the sandbox: first-sync cost against the API's limits, no-loop checks,
new-lead latency under the default schedule, (``--memory``) peak RSS of a big first sync, and
(``--bulk-compare``) Salesforce's REST and Bulk API 2.0 paths side by side.

    python bench/sync.py [--crm salesforce|hubspot] [--leads 20000] [--faults SPEC]
                         [--latency-ms 100] [--new-leads 20] [--memory] [--bulk-compare]

Prints one JSON object. ``api_calls_min`` is the fewest calls the APIs allow: the read pages at
the largest page size any read endpoint offers (Salesforce SOQL 2,000; HubSpot search 200),
the writes in the largest batches (200 / 100), plus one describe. ``bound_s`` is the fastest
plan the documented limits allow, whatever its number of calls. ``new_lead_task_latency_p95_s``
is the time from a lead's creation to its callback task (the new leads copy an open Hot lead's
inputs, and the new-leads job runs with callback tasks for Hot leads switched on), against the
2-minute goal (``task_latency_ratio``):

* HubSpot: list pages (100 a call) share the 10-second bucket with the writes (190 / 10 s =
  19 a second at Professional, crm-api-notes 2.7) while searches (200 a call) use their own
  bucket (5 a second, notes 2.3 and 2.7), so the fastest plan reads through both at once. Two
  limits bound it, and ``bound_s`` is the larger:

  - the buckets: ``(contacts + 100 * (writes + 1)) / (100 * 19 + 200 * 5)`` seconds
    (``bucket_bound_s``);
  - the list API's cursor: ``after`` is opaque, only ever handed back (crm-api-notes-2 section
    8: "`after` is opaque (don't synthesize)"), so the list pages are one chain, each sent when
    the one before has answered: at most one list page per round trip of ``latency``, however
    much of the bucket is left. With searches at their 5 a second:
    ``contacts / (100 / latency + 200 * 5)`` seconds (``list_chain_bound_s``; at 100 ms the
    chain reads 10 pages a second, not the 19 the bucket would allow).

  ``list_only_bound_s`` is the list-API-only plan for reference
  (``(list pages + writes + 1) / 19``, the bucket alone).
* Salesforce (no short-window limit): the REST plan's calls one at a time at the sandbox
  latency, ``(pulls + writes + 1) * latency``; concurrency within Salesforce's limits shows as
  a ``wall_ratio`` below 1.

The first sync is timed in a process of its own (the emulator, in the bench's process, stands
for a remote CRM: its work must not take the connector's interpreter lock), which also reports
``connector_cpu_s``, the connector's CPU seconds. ``plan_ran`` says which plan the first sync
really ran (HubSpot: list pages and searches, and
``pacer_wait_s``, the seconds its calls waited for room in each rate bucket; Salesforce: REST or
Bulk API 2.0 jobs). With ``--faults`` the first sync runs under those
faults and ``wrong_values`` counts open leads whose CRM values differ from a clean run's.
``--memory`` runs a 100,000-lead first sync at zero latency in a child process and reports its
``peak_rss_mb``. ``--bulk-compare`` (Salesforce, zero latency) runs a first sync and a full
rescan of ``--leads`` leads through REST (Bulk switched off) and through Bulk API 2.0, each on
a freshly seeded sandbox in a child process, and reports calls, wall time, the connector's CPU
seconds (the sandbox runs in this process) and peak RSS side by side, with Bulk's calls as a
share of REST's and the load average at the start and the end (the machine may be shared).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

from apscheduler.schedulers.background import BackgroundScheduler  # noqa: E402
from pilot_support import pilot_setup  # noqa: E402
from sync_support import (  # noqa: E402
    NAMES, crm_values, environ, prepare, small_bank, wrong_values,
)

from connector.config import Config  # noqa: E402
from connector.sandbox import Sandbox  # noqa: E402
from connector.sandbox.seeding import SeedData, load_bank  # noqa: E402
from connector.sync.schedule import ConnectionWorker  # noqa: E402
from connector.state import StateStore  # noqa: E402
from connector.sync.engine import run_sync  # noqa: E402

PAGE = {"salesforce": 2000, "hubspot": 200}   # largest read page: SOQL batch / search
LIST_PAGE = 100                               # HubSpot's list API
BATCH = {"salesforce": 200, "hubspot": 100}
HUBSPOT_PER_10S, SEARCH_PER_S = 190, 5        # Professional
TASK_GOAL_S = 120.0  # a Hot new lead's callback task within 2 minutes (issue 13)


def seed(leads: int) -> SeedData:
    """``leads`` bank rows (cycled past 41,188), the newest 20% open."""
    if leads <= 41_188:
        return small_bank(leads)
    bank = load_bank()
    rows = [bank.rows[i % len(bank.rows)] for i in range(leads)]
    start, step = bank.rows[0].created_at, (bank.rows[-1].created_at - bank.rows[0].created_at) / leads
    first_open = leads - leads // 5
    import dataclasses
    return dataclasses.replace(bank, rows=tuple(
        dataclasses.replace(row, index=i, created_at=start + step * i, is_open=i >= first_open)
        for i, row in enumerate(rows)))


def minimum(crm: str, leads: int, opened: int, latency_s: float) -> dict:
    """The bound of a first sync: ``bound_s`` (unrounded) of the fastest plan the documented
    limits allow, its calls (``api_calls_min`` is the fewest calls of any plan), the plan and
    formula (see the module docstring)."""
    pages, writes = math.ceil(leads / PAGE[crm]), math.ceil(opened / BATCH[crm])
    if crm == "salesforce":
        calls = pages + writes + 1
        return {"api_calls_min": calls, "bound_s": calls * latency_s,
                "bound_plan": f"{pages} SOQL pages of {PAGE[crm]} + {writes} composite writes "
                              f"of {BATCH[crm]} + 1 describe",
                "bound_formula": f"(pulls + writes + 1) * latency = ({pages} + {writes} + 1) * "
                                 f"{latency_s:g} s, one call at a time"}
    rate = HUBSPOT_PER_10S / 10
    searched = PAGE[crm] * SEARCH_PER_S  # contacts a second through the search bucket
    # Reads on both buckets at once: list pages of 100 share the 10-second bucket with the
    # writes, searches of 200 have their own. In T seconds: (rate * T - writes - 1) list pages
    # and SEARCH_PER_S * T searches, together covering every contact.
    bucket_s = (leads + LIST_PAGE * (writes + 1)) / (LIST_PAGE * rate + searched)
    # The list pages are one chain (opaque `after`): at most T / latency of them in T seconds.
    chain_s = leads / (LIST_PAGE / latency_s + searched) if latency_s else 0.0
    list_only_s = (math.ceil(leads / LIST_PAGE) + writes + 1) / rate
    chain = f"{leads} / {LIST_PAGE / latency_s + searched:g}" if latency_s else "0"
    return {"api_calls_min": pages + writes + 1, "bound_s": max(bucket_s, chain_s),
            "bound_plan": "list pages of 100 (10-second bucket, with the writes; one chain of "
                          "opaque cursors) and searches of 200 (search bucket) at once, plus "
                          f"{writes} batch updates of {BATCH[crm]} + 1 describe",
            "bound_formula": f"max(buckets: (contacts + 100 * (writes + 1)) / (100 * {rate:g} + "
                             f"{PAGE[crm]} * {SEARCH_PER_S}), list chain: contacts / (100 / "
                             f"latency + {PAGE[crm]} * {SEARCH_PER_S})) = max("
                             f"{leads + LIST_PAGE * (writes + 1)} / {LIST_PAGE * rate + searched:g}"
                             f", {chain}) s",
            "bucket_bound_s": round(bucket_s, 2), "list_chain_bound_s": round(chain_s, 2),
            "list_only_bound_s": round(list_only_s, 2),
            "list_only_formula": f"(list pages + writes + 1) / ten_second_rate = "
                                 f"({math.ceil(leads / LIST_PAGE)} + {writes + 1}) / {rate:g} s"}


def plan_ran(crm: str, stats: dict) -> dict:
    """Which plan the first sync ran, from the sandbox's counters."""
    if crm == "hubspot":
        searches = stats["search_calls"]
        lists = stats["api_calls"] - searches - stats["write_requests"]
        return {"plan_ran": f"{lists} list pages + {searches} searches + "
                            f"{stats['write_requests']} batch updates (and describe)"}
    jobs = (stats.get("bulk_query_jobs", 0), stats.get("bulk_ingest_jobs", 0))
    if any(jobs):
        return {"plan_ran": f"Bulk API 2.0: {jobs[0]} query job(s), {jobs[1]} ingest job(s)"}
    return {"plan_ran": f"REST: {stats['queries']} SOQL queries (+ query_more pages), "
                        f"{stats['write_requests']} composite writes"}


FIRST_CHILD = """
import json, sys, time
sys.path.insert(0, sys.argv[1])
from sync_support import environ
from connector.config import ConnectionConfig
from connector.crm import open_crm
from connector.mapping import load_mapping
from connector.model import load_model
from connector.state import StateStore
from connector.sync.engine import run_sync
connection = ConnectionConfig.model_validate_json(sys.argv[2])
model, mapping = load_model(sys.argv[3]), load_mapping(connection.mapping)
with StateStore(sys.argv[4]) as state:
    crm = open_crm(connection, environ=environ())
    pacers = [getattr(crm, name, None) for name in ("pacer", "search_pacer")]
    waited = [p.waited if p else 0.0 for p in pacers]
    began, cpu = time.perf_counter(), time.process_time()
    summary = run_sync(connection, crm, model, mapping, state)
    out = {"wall_s": round(time.perf_counter() - began, 2),
           "connector_cpu_s": round(time.process_time() - cpu, 2), "outcome": summary.outcome}
    if any(pacers):
        out["pacer_wait_s"] = dict(zip(("ten_secondly", "search"), (
            round(p.waited - w, 2) for p, w in zip(pacers, waited) if p)))
    crm.close()
print(json.dumps(out))
"""


def first_syncs(setup, state, state_path: Path, faults: str) -> dict:
    """The first sync, timed in a process of its own (as the connector runs against a remote
    CRM: the emulator's work, in this process, must not hold the connector's interpreter
    lock), then, here, its retries under ``faults`` and the no-loop second and third runs."""
    store = setup.store()
    if faults:
        setup.sandbox.set_faults(faults)
    store.reset_stats()
    child = subprocess.run(
        [sys.executable, "-c", FIRST_CHILD, str(ROOT / "tests"),
         setup.connection.model_dump_json(), str(setup.model_dir), str(state_path)],
        capture_output=True, text=True)
    if child.returncode:
        sys.exit(f"the first sync's process failed:\n{child.stderr}")
    timed = json.loads(child.stdout.strip().splitlines()[-1])
    stats = store.stats()
    setup.sandbox.set_faults("")
    crm = setup.open()
    outcome = timed["outcome"]
    while outcome != "ok" or state.failure_count(NAMES[setup.crm_name]):  # retries
        outcome = run_sync(setup.connection, crm, setup.model(), setup.mapping, state).outcome
    store.reset_stats()
    second = run_sync(setup.connection, crm, setup.model(), setup.mapping, state)
    second_writes = store.stats()["records_written"]
    third = run_sync(setup.connection, crm, setup.model(), setup.mapping, state)
    crm.close()
    return {**plan_ran(setup.crm_name, stats), "wall_s": timed["wall_s"],
            "connector_cpu_s": timed["connector_cpu_s"],
            **({"pacer_wait_s": timed["pacer_wait_s"]} if "pacer_wait_s" in timed else {}),
            "api_calls": stats["api_calls"],
            "http_429": stats["http_429"], "second_run_writes": second_writes,
            "second_run_calls": second.api_calls, "third_run_pulled": third.counts.pulled,
            "third_run_calls": third.api_calls}


def create_lead(setup, template: dict) -> str:
    """Create one open lead through the CRM's own API (as a web form would)."""
    if setup.crm_name == "salesforce":
        from bench_clients import salesforce_client
        return salesforce_client(setup.sandbox).Lead.create(
            {"LastName": "Bench", "Company": "Bench", "Status": "Open - Not Contacted",
             **template})["id"]
    from bench_clients import hubspot_client
    from hubspot.crm.contacts import SimplePublicObjectInputForCreate
    body = SimplePublicObjectInputForCreate(properties={k: str(v) for k, v in template.items()
                                                        if v is not None})
    return hubspot_client(setup.sandbox).crm.contacts.basic_api.create(body).id


def scored(setup, record_id: str) -> bool:
    field = setup.mapping.outputs.score.field
    if setup.crm_name == "salesforce":
        from bench_clients import salesforce_client
        return salesforce_client(setup.sandbox).Lead.get(record_id).get(field) is not None
    from bench_clients import hubspot_client
    obj = hubspot_client(setup.sandbox).crm.contacts.basic_api.get_by_id(record_id,
                                                                         properties=[field])
    return bool(obj.properties.get(field))


def hot_inputs(setup) -> dict:
    """The mapped inputs of one open lead the model puts in the Hot tier (new leads copy them,
    so each of them earns a callback task)."""
    tier = setup.mapping.outputs.tier.field
    hot = next(v for v in crm_values(setup).values()
               if setup.mapping.outcome_of(v) is None and v.get(tier) == "Hot")
    return {f.field: hot[f.field] for f in setup.mapping.features if hot.get(f.field) is not None}


def tasked(setup, record_id: str) -> bool:
    """Whether the lead has its callback task (read from the sandbox, not over the API)."""
    return bool(setup.store().tasks_of(record_id))


def new_lead_latency(setup, state, count: int, window_s: float
                     ) -> tuple[list[float], list[float]]:
    """Seconds from creation to score, and to callback task, for ``count`` Hot leads created
    over ``window_s`` while the default jobs run."""
    config = Config(model_dir=setup.model_dir.parent, connections={})
    worker = ConnectionWorker(config, setup.connection, state, stop=threading.Event(),
                              environ=environ())
    worker.model_dir = setup.model_dir
    scheduler = BackgroundScheduler(timezone=UTC)
    from connector.sync.schedule import add_jobs
    add_jobs(scheduler, worker, now=datetime.now(UTC))
    scheduler.start()
    template = hot_inputs(setup)
    created: dict[str, float] = {}
    awaiting_task: dict[str, float] = {}
    latencies: list[float] = []
    task_latencies: list[float] = []
    try:
        for i in range(count):
            time.sleep(window_s / count)
            record_id = create_lead(setup, template)
            created[record_id] = awaiting_task[record_id] = time.time()
        deadline = time.time() + 600
        while (created or awaiting_task) and time.time() < deadline:
            for record_id in [r for r in created if scored(setup, r)]:
                latencies.append(time.time() - created.pop(record_id))
            for record_id in [r for r in awaiting_task if tasked(setup, r)]:
                task_latencies.append(time.time() - awaiting_task.pop(record_id))
            time.sleep(1.0)
    finally:
        scheduler.shutdown(wait=True)
        worker.close()
    return (latencies + [float("inf")] * len(created),
            task_latencies + [float("inf")] * len(awaiting_task))


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, math.ceil(share * len(ordered)) - 1)], 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--crm", choices=("salesforce", "hubspot"), default="salesforce")
    parser.add_argument("--leads", type=int, default=20_000)
    parser.add_argument("--faults", default="")
    parser.add_argument("--latency-ms", type=float, default=100.0)
    parser.add_argument("--new-leads", type=int, default=20)
    parser.add_argument("--new-lead-window-s", type=float, default=120.0)
    parser.add_argument("--memory", action="store_true",
                        help="only the 100,000-lead zero-latency first sync, for peak RSS")
    parser.add_argument("--bulk-compare", action="store_true",
                        help="Salesforce REST vs Bulk API 2.0: first sync and full rescan")
    parser.add_argument("--paths", default="rest,bulk",
                        help="with --bulk-compare: which paths to run (rest, bulk or both)")
    args = parser.parse_args()
    if args.bulk_compare:
        print(json.dumps(bulk_compare(args.leads, args.paths.split(","))))
        return
    if args.memory:
        print(json.dumps(memory_run(args.crm, 100_000)))
        return
    tmp = Path(tempfile.mkdtemp(prefix="leadscore-bench-"))
    with Sandbox(crms=(args.crm,), seed=seed(args.leads), latency_ms=args.latency_ms,
                 hubspot_tier="professional") as box:
        setup = prepare(box, args.crm, tmp / "models")
        opened = sum(1 for v in box_values(setup) if setup.mapping.outcome_of(v) is None)
        plan = minimum(args.crm, args.leads, opened, args.latency_ms / 1000)
        with StateStore(tmp / "state.sqlite") as state:
            result = {"crm": args.crm, "leads": args.leads, "open_leads": opened,
                      **plan, "bound_s": round(plan["bound_s"], 2),
                      **first_syncs(setup, state, tmp / "state.sqlite", args.faults)}
            if args.faults:
                result["faults"] = args.faults
                result["wrong_values"] = len(wrong_values(setup))
            if args.new_leads:
                latencies, to_task = new_lead_latency(
                    pilot_setup(setup, tmp, share=None), state, args.new_leads,
                    args.new_lead_window_s)
                result.update(new_lead_latency_p50_s=percentile(latencies, 0.5),
                              new_lead_latency_p95_s=percentile(latencies, 0.95),
                              new_lead_latency_mean_s=round(statistics.fmean(latencies), 1),
                              new_lead_task_latency_p50_s=percentile(to_task, 0.5),
                              new_lead_task_latency_p95_s=percentile(to_task, 0.95),
                              task_latency_goal_s=TASK_GOAL_S,
                              task_latency_ratio=round(percentile(to_task, 0.95)
                                                       / TASK_GOAL_S, 3))
    result["api_calls_ratio"] = round(result["api_calls"] / result["api_calls_min"], 3)
    result["wall_ratio"] = round(result["wall_s"] / result["bound_s"], 3)
    print(json.dumps(result))


def box_values(setup) -> list[dict]:
    from sync_support import crm_values
    return list(crm_values(setup).values())


MEMORY_CHILD = """
import json, sys
sys.path.insert(0, sys.argv[1])
from sync_support import Setup, connection_config, environ
from connector.crm import open_crm
from connector.mapping import load_mapping
from connector.model import load_model
from connector.state import StateStore
from connector.sync.engine import run_sync
from connector.config import ConnectionConfig
connection = ConnectionConfig.model_validate_json(sys.argv[2])
crm = open_crm(connection, environ=environ())
summary = run_sync(connection, crm, load_model(sys.argv[3]), load_mapping(connection.mapping),
                   StateStore(sys.argv[4]))
# VmHWM: this process's own peak (ru_maxrss can carry the parent's peak across fork+exec).
peak_kb = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM"))
print(json.dumps({"pulled": summary.counts.pulled, "written": summary.counts.written,
                  "outcome": summary.outcome, "peak_rss_mb": round(peak_kb / 1024, 1)}))
"""


def memory_run(crm: str, leads: int) -> dict:
    """A ``leads``-lead first sync at zero latency in a child process; its peak RSS."""
    tmp = Path(tempfile.mkdtemp(prefix="leadscore-bench-mem-"))
    with Sandbox(crms=(crm,), seed=seed(leads)) as box:
        setup = prepare(box, crm, tmp / "models")
        began = time.perf_counter()
        child = subprocess.run(
            [sys.executable, "-c", MEMORY_CHILD, str(ROOT / "tests"),
             setup.connection.model_dump_json(), str(setup.model_dir), str(tmp / "state.sqlite")],
            capture_output=True, text=True, check=True)
        result = json.loads(child.stdout.strip().splitlines()[-1])
    return {"crm": crm, "leads": leads, "wall_s": round(time.perf_counter() - began, 1),
            **result, "bench_process_rss_mb":
            round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}


COMPARE_CHILD = """
import json, sys, time
sys.path.insert(0, sys.argv[1])
from sync_support import environ
from connector.config import ConnectionConfig
from connector.crm import open_crm
from connector.mapping import load_mapping
from connector.model import load_model
from connector.state import StateStore
from connector.sync.engine import run_sync
connection = ConnectionConfig.model_validate_json(sys.argv[2])
model, mapping = load_model(sys.argv[3]), load_mapping(connection.mapping)
out = {}
with StateStore(sys.argv[4]) as state:
    for run, full in (("first_sync", False), ("full_rescan", True)):
        crm = open_crm(connection, environ=environ())
        connect_calls = crm.usage().calls
        began, cpu = time.perf_counter(), time.process_time()
        summary = run_sync(connection, crm, model, mapping, state, full=full)
        out[run] = {"wall_s": round(time.perf_counter() - began, 1),
                    "connector_cpu_s": round(time.process_time() - cpu, 1),
                    "outcome": summary.outcome,
                    "api_calls": summary.api_calls + connect_calls, "run_calls": summary.api_calls,
                    "pulled": summary.counts.pulled, "written": summary.counts.written,
                    "failed": summary.counts.failed, "bulk": dict(crm.bulk.stats)}
        crm.close()
peak_kb = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM"))
out["peak_rss_mb"] = round(peak_kb / 1024, 1)
print(json.dumps(out))
"""
REST_ONLY = {"bulk_query_threshold": 0, "bulk_write_threshold": 0}


def bulk_compare(leads: int, paths: list[str]) -> dict:
    """Salesforce REST vs Bulk API 2.0 on ``leads`` leads at zero latency (module docstring)."""
    from sync_support import trained_model
    tmp = Path(tempfile.mkdtemp(prefix="leadscore-bench-bulk-"))
    model_dir = trained_model("salesforce", 20_000, tmp / "models")
    result: dict = {"crm": "salesforce", "leads": leads, "latency_ms": 0,
                    "load_avg_at_start": [round(v, 2) for v in os.getloadavg()]}
    for path, overrides in (("rest", REST_ONLY), ("bulk", {})):
        if path not in paths:
            continue
        with Sandbox(crms=("salesforce",), seed=seed(leads), daily_api_limit=1_000_000) as box:
            setup = prepare(box, "salesforce", tmp / "unused", trained=model_dir, **overrides)
            child = subprocess.run(
                [sys.executable, "-c", COMPARE_CHILD, str(ROOT / "tests"),
                 setup.connection.model_dump_json(), str(model_dir), str(tmp / f"{path}.sqlite")],
                capture_output=True, text=True, check=True)
            result[path] = json.loads(child.stdout.strip().splitlines()[-1])
            result[path]["sandbox_api_calls"] = box.salesforce.stats()["api_calls"]
    for run in ("first_sync", "full_rescan"):
        if "rest" not in result or "bulk" not in result:
            break
        rest, bulk = result["rest"][run]["api_calls"], result["bulk"][run]["api_calls"]
        result[f"{run}_bulk_share_of_rest_calls"] = round(bulk / rest, 4)
        result[f"{run}_bulk_wall_ratio"] = round(result["bulk"][run]["wall_s"]
                                                 / max(result["rest"][run]["wall_s"], 0.1), 3)
    result["load_avg_at_end"] = [round(v, 2) for v in os.getloadavg()]
    result["bench_process_rss_mb"] = round(
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return result


if __name__ == "__main__":
    main()

"""Feature log cost: its size in SQLite for 100,000 leads scored and 10 hourly syncs with 1% of
them changing, and the time it adds to a sync.

    python bench/feature_log.py [--leads 100000] [--syncs 10] [--changing 0.01]
                                [--sync-leads 20000]

Prints one JSON object:

* ``size``: the bank demo mapping's 14 feature fields of ``--leads`` leads logged at their first
  scoring (pages of 2,000, as the sync logs them), then ``--syncs`` hourly rounds in which
  ``--changing`` of the leads change one input and are logged again; the SQLite file (after a
  WAL checkpoint) against the goal of 50 MB, as a ratio.
* ``sync_time``: a first sync of ``--sync-leads`` bank leads (half of them open, so every second
  lead is scored and logged) against the Salesforce sandbox, run twice on fresh sandboxes and
  state stores: with the feature log, and with the engine's logging call replaced by a no-op.
  ``log_share`` is the time spent inside the logging calls over the logged sync's wall time
  (robust under machine load); ``ab_added`` compares the two wall times (noisier). Goal: under 5%.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

from sync_support import MAPPINGS, prepare, small_bank, trained_model  # noqa: E402

from connector.mapping import load_mapping  # noqa: E402
from connector.sandbox import Sandbox  # noqa: E402
from connector.sandbox.seeding import load_bank  # noqa: E402
from connector.state import StateStore  # noqa: E402
from connector.sync import engine  # noqa: E402

SIZE_GOAL_MB, TIME_GOAL = 50.0, 0.05
PAGE = 2000


def log_size(leads: int, syncs: int, changing: float) -> dict:
    mapping = load_mapping(MAPPINGS["salesforce"])
    fields = [f.field for f in mapping.features]
    bank = load_bank()
    names = {c.name: c.sf_field for c in bank.columns}
    values = [{names[k]: v for k, v in bank.rows[i % len(bank.rows)].values.items()
               if names[k] in fields} for i in range(leads)]
    ids = [f"00QDn00000{i:08d}" for i in range(leads)]
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "state.db"
        started = time.perf_counter()
        with StateStore(path) as state:
            state.ensure_connection("bench", "salesforce")
            for start in range(0, leads, PAGE):
                state.feature_log.add("bench", fields, zip(ids[start:start + PAGE],
                                                           values[start:start + PAGE]),
                                      t0, retention_days=400)
            changed = max(int(leads * changing), 1)
            for hour in range(1, syncs + 1):
                picked = range((hour * 7919) % leads, (hour * 7919) % leads + changed)
                batch = []
                for i in picked:
                    record = dict(values[i % leads])
                    record["Campaign__c"] = (record.get("Campaign__c") or 0) + hour
                    batch.append((ids[i % leads], record))
                state.feature_log.add("bench", fields, batch, t0 + timedelta(hours=hour),
                                      retention_days=400)
            entries = state.feature_log.count("bench")
        seconds = time.perf_counter() - started
        with sqlite3.connect(path) as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        size = sum(p.stat().st_size for p in Path(folder).glob("state.db*"))
    mb = size / 1e6
    return {"leads": leads, "hourly_syncs": syncs, "changing_share": changing,
            "entries": entries, "sqlite_mb": round(mb, 2), "bytes_per_entry": round(size / entries),
            "goal_mb": SIZE_GOAL_MB, "ratio_to_goal": round(mb / SIZE_GOAL_MB, 3),
            "write_s": round(seconds, 2)}


def one_sync(leads: int, model_dir: Path, logging: bool) -> dict:
    spent = [0.0]
    real = engine.log_inputs

    def timed(*args, **kwargs):
        started = time.perf_counter()
        try:
            return real(*args, **kwargs) if logging else 0
        finally:
            spent[0] += time.perf_counter() - started

    engine.log_inputs = timed  # the benchmark's switch; the product always logs
    try:
        with tempfile.TemporaryDirectory() as folder, \
                Sandbox(crms=("salesforce",), seed=small_bank(leads, open_share=0.5)) as box:
            setup = prepare(box, "salesforce", Path(folder) / "m", trained=model_dir)
            with StateStore(Path(folder) / "state.db") as state:
                crm = setup.open()
                try:
                    started = time.perf_counter()
                    summary = engine.run_sync("bench", crm, setup.model(), setup.mapping, state)
                    wall = time.perf_counter() - started
                finally:
                    crm.close()
                logged = state.feature_log.count("bench")
    finally:
        engine.log_inputs = real
    return {"wall_s": round(wall, 2), "log_s": round(spent[0], 3), "scored": summary.counts.scored,
            "logged": logged}


def sync_time(leads: int) -> dict:
    with tempfile.TemporaryDirectory() as folder:
        model_dir = trained_model("salesforce", leads, Path(folder))
        without = one_sync(leads, model_dir, logging=False)
        with_log = one_sync(leads, model_dir, logging=True)
    share = with_log["log_s"] / with_log["wall_s"]
    added = (with_log["wall_s"] - without["wall_s"]) / without["wall_s"]
    return {"leads": leads, "with_log": with_log, "without_log": without,
            "log_share": round(share, 4), "ab_added": round(added, 4), "goal": TIME_GOAL,
            "ratio_to_goal": round(share / TIME_GOAL, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument("--syncs", type=int, default=10)
    parser.add_argument("--changing", type=float, default=0.01)
    parser.add_argument("--sync-leads", type=int, default=20_000)
    args = parser.parse_args()
    print(json.dumps({"size": log_size(args.leads, args.syncs, args.changing),
                      "sync_time": sync_time(args.sync_leads)}, indent=2))


if __name__ == "__main__":
    main()

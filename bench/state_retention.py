"""State database size after 30 days of a 100,000-lead org, with and without retention.

**Simulated directly against the state store API, without HTTP or a CRM**: the point is the
database's growth, not the sync's speed. The workload is what the sync records for such an org:

* day 0: a first sync of 100,000 leads (one state each, 4 audit rows each: score, tier,
  probability, scored_at);
* then every hour a sync in which 1% of the leads (1,000) changed: their states are rewritten,
  3 audit rows each (score, probability, scored_at; the tier seldom moves), and their inputs go
  to the feature log; a new-leads run every 2 minutes (a run row each, 720 a day);
* once a simulated day, the maintenance job prunes with ``retention_days`` (the "with" variant).

Sizes are SQLite's after a WAL checkpoint: the file (SQLite reuses freed pages but does not
shrink the file without VACUUM) and the live pages (file minus free pages), plus row counts.
Prints one JSON object.

Run: ``.venv/bin/python bench/state_retention.py [--days 30] [--leads 100000] [--retention 7]``
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import func, select, text  # noqa: E402

from connector.state import Change, PageRecord, RecordState, RunCounts, StateStore  # noqa: E402
from connector.state import schema  # noqa: E402

T0 = datetime(2026, 1, 1, tzinfo=UTC)
FIELDS = ["LS_Score__c", "LS_Tier__c", "LS_Probability__c", "LS_Scored_At__c"]
INPUTS = ["Age__c", "Job__c", "Marital__c", "Education__c", "Default__c", "Housing__c",
          "Loan__c", "Contact__c", "Month__c", "Day_Of_Week__c", "Campaign__c", "Pdays__c",
          "Previous__c", "Poutcome__c"]
PAGE = 2_000


class Clock:
    """The simulated time."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def _lead_id(n: int) -> str:
    return f"00QDn{n:013d}"


def _write(store: StateStore, run: int, ids: list[str], fields: list[str], now: datetime,
           rng: random.Random) -> None:
    """One page as the sync records it: staged changes, then states and confirmations."""
    values = {record_id: {"LS_Score__c": rng.randint(0, 99), "LS_Tier__c": "Warm",
                          "LS_Probability__c": round(rng.random(), 3),
                          "LS_Scored_At__c": now.isoformat()} for record_id in ids}
    store.stage_changes("sf", run, [Change(i, f, None, values[i][f]) for i in ids for f in fields])
    store.record_page("sf", run, PageRecord(
        states=[RecordState(i, f"{rng.getrandbits(64):016x}", "v0001", values[i]) for i in ids],
        confirmed=[(i, f) for i in ids for f in fields],
        counts=RunCounts(pulled=len(ids), scored=len(ids), written=len(ids))))
    store.feature_log.add("sf", INPUTS, [(i, {f: rng.randint(0, 9) for f in INPUTS})
                                         for i in ids], now, retention_days=400)


def _sizes(store: StateStore, path: Path) -> dict:
    with store.engine.connect() as conn:
        conn.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
        page = conn.execute(text("PRAGMA page_size")).scalar()
        free = conn.execute(text("PRAGMA freelist_count")).scalar()
        rows = {table: conn.execute(select(func.count()).select_from(schema.metadata.tables[
            table])).scalar() for table in ("records", "audit", "runs", "feature_log",
                                             "removed_records")}
    size = path.stat().st_size
    return {"file_bytes": size, "live_bytes": size - free * page, "rows": rows}


def simulate(folder: Path, *, days: int, leads: int, retention: int | None) -> dict:
    """One variant: ``retention`` days (None keeps everything)."""
    path = folder / f"state-{retention or 'none'}.sqlite"
    clock, rng = Clock(), random.Random(7)
    started = time.perf_counter()
    with StateStore(path, clock=clock) as store:
        store.ensure_connection("sf", "salesforce")
        ids = [_lead_id(n) for n in range(leads)]
        run = store.start_run("sf", "sync")
        for start in range(0, leads, PAGE):
            _write(store, run, ids[start:start + PAGE], FIELDS, clock.now, rng)
        store.finish_run(run, "ok")
        for day in range(days):
            for hour in range(24):
                clock.now = T0 + timedelta(days=day, hours=hour + 1)
                run = store.start_run("sf", "sync")
                _write(store, run, rng.sample(ids, leads // 100), ["LS_Score__c",
                       "LS_Probability__c", "LS_Scored_At__c"], clock.now, rng)
                store.finish_run(run, "ok")
                for minute in range(0, 60, 2):
                    clock.now = T0 + timedelta(days=day, hours=hour, minutes=minute)
                    store.finish_run(store.start_run("sf", "new_leads"), "ok")
            if retention:
                store.prune("sf", clock.now - timedelta(days=retention))
        sizes = _sizes(store, path)
    return {**sizes, "seconds": round(time.perf_counter() - started, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument("--retention", type=int, default=7)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        without = simulate(Path(folder), days=options.days, leads=options.leads, retention=None)
        within = simulate(Path(folder), days=options.days, leads=options.leads,
                          retention=options.retention)
    print(json.dumps({
        "benchmark": "state_retention",
        "method": "simulated against the state store API (SQLite), no HTTP, no CRM",
        "leads": options.leads, "days": options.days,
        "changing_per_hour": options.leads // 100, "syncs_per_day": 24,
        "new_lead_runs_per_day": 720, "retention_days": options.retention,
        "without_retention": without, "with_retention": within,
        "live_bytes_ratio": round(within["live_bytes"] / without["live_bytes"], 3),
        "file_bytes_ratio": round(within["file_bytes"] / without["file_bytes"], 3),
        "note": ("retention prunes audit rows, runs and removal rows; record states and the "
                 "feature log (its own 400-day retention) stay; SQLite reuses freed pages but "
                 "keeps the file's size without VACUUM"),
    }, indent=1))


if __name__ == "__main__":
    main()

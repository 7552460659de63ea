"""Uplift benchmark on the sandbox: does the control-group report find a seeded effect, and
only when there is one?

    python bench/uplift.py [--crm salesforce|hubspot] [--leads 20000] [--effect 0.10]

Twice, on a fresh sandbox seeded alike: train, sync with a 20% control group and callback
tasks for Hot leads, then close every open lead by its hidden outcome through the sandbox's
time route (``POST /__sandbox/close``), once adding ``--effect`` (+10 points) of conversion to
the leads that got a task and once adding nothing. The report's Hot row (scored vs control,
Newcombe 95% interval of the difference) should cover the effect and exclude 0 in the first
run, and cover 0 in the second. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from pilot_support import pilot_setup  # noqa: E402
from sync_support import NAMES, prepare, small_bank  # noqa: E402

from connector.admin.report.pilot import gather_pilot  # noqa: E402
from connector.sandbox import Sandbox  # noqa: E402
from connector.state import StateStore  # noqa: E402
from connector.sync.engine import run_sync  # noqa: E402

SHARE, TIER = 0.2, "Hot"


def one_pilot(crm: str, leads: int, open_share: float, effect: float, directory: Path) -> dict:
    """Sync with a control group, close every open lead with ``effect``; the Hot row."""
    directory.mkdir(parents=True)
    with Sandbox(crms=(crm,), seed=small_bank(leads, open_share=open_share)) as box:
        setup = pilot_setup(prepare(box, crm, directory / "models"), directory, share=SHARE)
        name = NAMES[crm]
        with StateStore(directory / "state.sqlite") as state:
            client = setup.open()
            began = time.perf_counter()
            synced = run_sync(setup.connection, client, setup.model(), setup.mapping, state)
            sync_s = time.perf_counter() - began
            info = box.info[crm]
            closed = requests.post(f"{info['admin_url']}/close",
                                   json={"share": 1.0, "seed": 11, "task_effect": effect},
                                   verify=info.get("ca_file") or True, timeout=120).json()
            report = gather_pilot(state, client, setup.mapping, name, SHARE)
            tasks = state.pilot.callback_counts(name)
            client.close()
    hot = next(row for row in report.rows if row.tier == TIER)
    d, low, high = hot.difference
    return {"effect": effect, "sync_outcome": synced.outcome, "sync_s": round(sync_s, 1),
            "closed": closed["closed"], "tasks": tasks, "groups": report.groups,
            "hot_scored": list(hot.scored), "hot_control": list(hot.control),
            "hot_scored_rate": round(hot.scored_rate[0], 4),
            "hot_control_rate": round(hot.control_rate[0], 4),
            "difference": round(d, 4), "interval": [round(low, 4), round(high, 4)],
            "covers_effect": low <= effect <= high, "excludes_zero": low > 0 or high < 0,
            "tiers": {row.tier: [row.scored[1], row.control[1]] for row in report.rows},
            "control_auc": report.auc_control[0], "scored_auc": report.auc_scored[0],
            "headline": report.headline}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--crm", choices=("salesforce", "hubspot"), default="salesforce")
    parser.add_argument("--leads", type=int, default=20_000)
    parser.add_argument("--open-share", type=float, default=0.2)
    parser.add_argument("--effect", type=float, default=0.10)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="leadscore-bench-uplift-"))
    seeded = one_pilot(args.crm, args.leads, args.open_share, args.effect, tmp / "effect")
    none = one_pilot(args.crm, args.leads, args.open_share, 0.0, tmp / "none")
    print(json.dumps({
        "crm": args.crm, "leads": args.leads, "control_share": SHARE, "tier": TIER,
        "with_effect": seeded, "no_effect": none,
        "pass": bool(seeded["covers_effect"] and seeded["excludes_zero"]
                     and none["covers_effect"])}))


if __name__ == "__main__":
    main()

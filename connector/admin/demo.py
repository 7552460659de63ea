"""The full cycle on the built-in sandbox: what ``leadscore demo`` (and ``make demo``) runs.

Start the sandbox seeded with the bank-marketing data, write a config pointing at it, then per
CRM: create the output fields (and, as the admin would in Setup, grant Salesforce field access),
train on the closed leads, sync, and write the report. Finally grade what the CRM now holds for
the open leads against the outcomes the sandbox kept hidden: conversion per tier and how much
better the top 10 % by score converts than open leads overall.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from connector.config import load_config
from connector.errors import LeadscoreError
from connector.model import load_model, train_model
from connector.admin.report.build import write_report
from connector.sandbox import SANDBOX_DIR, Sandbox
from connector.admin.starter import sandbox_config, sandbox_env
from connector.sync.engine import run_sync
from connector.sync.training_run import recorded_training
from connector.sync.workspace import Workspace, pull_history
from connector.sync.writeback import output_specs

CONNECTIONS = ("salesforce", "hubspot")
DEMO_PERMISSION_SET = "LeadScore_Integration"  # what the README suggests for `--grant`


@dataclass
class CRMResult:
    """What the demo measured for one CRM."""

    crm: str
    tiers: list[dict] = field(default_factory=list)
    open_leads: int = 0
    open_conversion: float = 0.0
    top_decile_conversion: float = 0.0
    top_decile_conversion_ratio: float = 0.0
    api_calls: int = 0
    model_version: str = ""
    chosen_model: str = ""
    seconds: float = 0.0
    report: str = ""

    def as_dict(self) -> dict:
        """JSON-ready form (``leadscore demo --json``)."""
        return dict(self.__dict__)


def grade(outputs: dict[str, dict], hidden: dict[str, bool], score_field: str, tier_field: str,
          tier_order: list[str]) -> dict:
    """Conversion per tier and of the top decile by score, from the CRM's values (pure).

    ``outputs`` maps each open lead id to the values the CRM holds; ``hidden`` the true
    outcome the sandbox kept out of the CRM.
    """
    scored = [(float(v[score_field]), str(v[tier_field]), hidden[i])
              for i, v in outputs.items() if v.get(score_field) is not None and i in hidden]
    if not scored:
        raise LeadscoreError("no open lead holds a score after the sync; nothing to grade")
    overall = sum(o for _, _, o in scored) / len(scored)
    ranked = sorted(scored, key=lambda row: -row[0])
    top = ranked[:max(len(ranked) // 10, 1)]
    top_rate = sum(o for _, _, o in top) / len(top)
    tiers = []
    for name in tier_order:
        members = [o for _, t, o in scored if t == name]
        tiers.append({"tier": name, "leads": len(members),
                      "conversion": round(sum(members) / len(members), 4) if members else None})
    return {"tiers": tiers, "open_leads": len(scored), "open_conversion": round(overall, 4),
            "top_decile_conversion": round(top_rate, 4),
            "top_decile_conversion_ratio": round(top_rate / overall, 3) if overall else 0.0}


def write_sandbox_config(workdir: Path, sandbox: Sandbox) -> Path:
    """Write `leadscore.toml` and `.env` in ``workdir`` for the running ``sandbox``."""
    sf_port = int(sandbox.info["salesforce"]["instance_url"].rsplit(":", 1)[1])
    hs_port = int(sandbox.info["hubspot"]["base_url"].rsplit(":", 1)[1])
    text = sandbox_config(sf_port, hs_port)
    text = text.replace('mapping = "mappings/', f'mapping = "{_mappings_dir()}/')
    config = workdir / "leadscore.toml"
    config.write_text(text, encoding="utf-8")
    (workdir / ".env").write_text(sandbox_env(), encoding="utf-8")
    return config


def _mappings_dir() -> str:
    from importlib import resources
    return str(resources.files("connector.example_mappings"))


def _run_one(workspace: Workspace, sandbox: Sandbox, say: Callable[[str], None]) -> CRMResult:
    started = time.monotonic()
    name, mapping = workspace.name, workspace.mapping
    result = CRMResult(crm=name)
    crm = workspace.open_crm()
    try:
        say(f"{name}: creating the output fields")
        # Salesforce: field-level security through a permission set, as `fields create --grant`
        crm.ensure_fields(output_specs(mapping),
                          grant=DEMO_PERMISSION_SET if name == "salesforce" else None)
        say(f"{name}: pulling history and training")
        records: list[dict] = []

        def pull_and_train(tally):
            records.extend(pull_history(crm, mapping, workspace.model_dir))
            tally(len(records))
            return train_model(records, mapping, model_dir=workspace.model_dir)

        with workspace.state() as state:
            recorded_training(name, crm, state, pull_and_train)
            model = load_model(workspace.model_dir)
            say(f"{name}: model {model.version} ({model.card.get('chosen')}); syncing")
            summary = run_sync(workspace.connection, crm, model, mapping, state,
                               preview_dir=workspace.config.path.parent / "out")
        summary.raise_for_outcome()
        result.api_calls = crm.usage().calls
    finally:
        crm.close()
    report = write_report(workspace, workspace.config.path.parent / f"report-{name}.html",
                          records=records, demo_data=True)
    store = sandbox.salesforce if name == "salesforce" else sandbox.hubspot
    hidden = store.hidden_outcomes()
    out = mapping.outputs
    held = store.peek(hidden, [out.score.field, out.tier.field])
    graded = grade(held, hidden, out.score.field, out.tier.field,
                   [tier.name for tier in mapping.scoring.tiers])
    result.__dict__.update(graded)
    result.model_version, result.chosen_model = model.version, str(model.card.get("chosen"))
    result.report, result.seconds = str(report), round(time.monotonic() - started, 1)
    return result


def _forget_previous_run(workdir: Path) -> None:
    """Each demo starts a new sandbox, so state and models of an earlier demo in the same folder
    would describe another org: remove what the demo itself wrote there, and nothing else."""
    for name in ("leadscore-state.db", "leadscore-state.db-journal"):
        (workdir / name).unlink(missing_ok=True)
    for name in ("models", "out"):
        shutil.rmtree(workdir / name, ignore_errors=True)
    for report in workdir.glob("report-*.html"):
        report.unlink()


def run_demo(workdir: Path, *, say: Callable[[str], None] = lambda _: None,
             crms: tuple[str, ...] = CONNECTIONS) -> list[CRMResult]:
    """Run the whole cycle in ``workdir`` and return one result per CRM. Leaves nothing running."""
    workdir.mkdir(parents=True, exist_ok=True)
    _forget_previous_run(workdir)
    say("starting the sandbox with the bank-marketing demo data")
    with Sandbox(seed="bank", directory=workdir / SANDBOX_DIR) as sandbox:
        config = load_config(write_sandbox_config(workdir, sandbox))
        return [_run_one(Workspace(config, name), sandbox, say) for name in crms]

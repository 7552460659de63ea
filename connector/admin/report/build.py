"""Gathering what the report shows from the model folder, one CRM pull and the run history.

Drift compares today's open leads with the training profile saved beside the model version
(binned shares only, see :mod:`connector.model.profile`). Versions saved before profiles existed
have none; their report profiles today's closed leads instead and says so, which measures
against today's closed leads rather than those of training day (the same after a retrain).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from connector.mapping import Mapping
from connector.model import load_model
from connector.model.artifacts import load_holdout, load_profile
from connector.model.profile import build_profile, drift
from connector.admin.tier_watch import report_watch
from connector.admin.report.page import ReportInputs, TierRow, plain_label, render_report
from connector.admin.report.pilot import PilotReport, render_pilot
from connector.model.scoring import to_scores
from connector.sync.workspace import Workspace

DEMO_ATTRIBUTION = ("Demo data: UCI Bank Marketing data set, S. Moro, P. Cortez and P. Rita, "
                    "Decision Support Systems 62 (2014) 22-31, licensed CC BY 4.0.")
FALLBACK_NOTE = ("This model was saved without a training profile, so drift compares today's "
                 "open leads with today's closed leads; retrain to measure it against training.")


def _tiers(card: dict) -> list[TierRow]:
    rows = (card.get("holdout") or {}).get("tiers") or []
    return [TierRow(r["tier"], r["leads"], r["predicted"] or 0.0, r["observed"] or 0.0)
            for r in rows]


def drift_rows(score_psi: float | None, field_psi: dict[str, float],
               labels: dict[str, str]) -> list[tuple[str, float]]:
    """The drift table: the score first, then each input by its label, largest PSI first."""
    inputs = sorted(((labels.get(field, field), value) for field, value in field_psi.items()),
                    key=lambda row: -row[1])
    return ([] if score_psi is None else [("Score", score_psi)]) + inputs


def _drift(model, mapping: Mapping, version_dir: Path, closed: Sequence[dict],
           open_: Sequence[dict], open_scores: Sequence[int]) -> tuple[list, str]:
    """(drift rows, one sentence saying what they are measured against)."""
    reference = load_profile(version_dir)
    if reference is None:
        note = FALLBACK_NOTE
        if closed:
            closed_scores = to_scores(model.probabilities(closed), model.scale, model.reference)
            reference = build_profile(model.encoder, closed, closed_scores)
    else:
        note = (f"Current open leads against the {reference['rows']:,} closed leads model "
                f"{model.version} was trained on.")
    if reference is None or not open_:
        return [], note
    score_psi, field_psi = drift(reference, model.encoder, open_, open_scores)
    labels = {f.field: plain_label(f.label, f.field) for f in mapping.features}
    return drift_rows(score_psi, field_psi, labels), note


def _drivers(mapping: Mapping, scores) -> list[tuple[str, float]]:
    totals: dict[str, float] = {}
    for lead in scores:
        for field, value in lead.contributions.items():
            totals[field] = totals.get(field, 0.0) + abs(value)
    labels = {f.field: plain_label(f.label, f.field) for f in mapping.features}
    count = max(len(scores), 1)
    ranked = sorted(totals.items(), key=lambda item: -item[1])[:10]
    return [(labels.get(field, field), total / count) for field, total in ranked]


def build_inputs(*, connection: str, crm: str, model, version_dir: Path, mapping: Mapping,
                 records: Iterable[dict], runs: Sequence[dict], demo_data: bool = False,
                 now: datetime | None = None, config_dir: Path | None = None) -> ReportInputs:
    """Everything :func:`connector.admin.report.page.render_report` needs for one connection
    (``config_dir``: where the config lives, so the card's paths read relative to it)."""
    closed, open_ = [], []
    for record in records:
        (open_ if mapping.outcome_of(record) is None else closed).append(record)
    open_scores = model.score(open_) if open_ else []
    drift_table, drift_note = _drift(model, mapping, version_dir, closed, open_,
                                     [lead.score for lead in open_scores])
    y, p = load_holdout(version_dir)
    shares = report_watch(model, [lead.tier for lead in open_scores])
    return ReportInputs(
        connection=connection, crm=crm, generated_at=now or datetime.now(UTC), card=model.card,
        holdout_y=y, holdout_p=p, tiers=_tiers(model.card),
        current_scores=[lead.score for lead in open_scores],
        drivers=_drivers(mapping, open_scores),
        drift=drift_table, drift_note=drift_note, runs=runs,
        attribution=DEMO_ATTRIBUTION if demo_data else None,
        warnings=shares["warnings"], tier_shares=shares if shares["leads"] else None,
        config_dir=config_dir)


def _run_row(run) -> dict:
    return {"started_at": run.started_at.strftime("%Y-%m-%d %H:%M:%S"),
            "kind": run.kind + (" (dry run)" if run.dry_run else ""), "outcome": run.outcome,
            **run.counts.as_dict(), "api_calls": run.api_calls}


def write_report(workspace: Workspace, out: Path, *, records: Iterable[dict],
                 demo_data: bool = False, pilot: PilotReport | None = None) -> Path:
    """Render ``workspace``'s report to ``out`` from its current model, its run history,
    ``records`` (the connection's records as pulled now) and the control group's comparison
    (:func:`connector.admin.report.pilot.gather_pilot`), if any."""
    model = load_model(workspace.model_dir)
    with workspace.state() as state:
        runs = [_run_row(run) for run in state.last_runs(workspace.name, limit=20)]
    inputs = build_inputs(connection=workspace.name, crm=workspace.connection.crm, model=model,
                          version_dir=workspace.model_dir / model.version,
                          mapping=workspace.mapping, records=records, runs=runs,
                          demo_data=demo_data, now=datetime.now(UTC),
                          config_dir=workspace.config.path.resolve().parent)
    if pilot is not None:
        inputs = dataclasses.replace(inputs, pilot=render_pilot(pilot), headline=pilot.headline,
                                     warnings=[*inputs.warnings, *pilot.warnings])
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_report(inputs), encoding="utf-8")
    return out

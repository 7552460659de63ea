"""Gathering what the report shows from the model folder, one CRM pull and the run history.

Training is compared with today using one pull: closed leads are the population the model was
trained on, open leads the one it scores now. That keeps personal data out of the model folder
(no training sample is stored) at the cost of measuring against today's closed leads rather than
those of training day; after a retrain the two are the same.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from connector.mapping import Mapping, canonical, to_number
from connector.model import load_model
from connector.model.artifacts import load_holdout
from connector.model.metrics import psi
from connector.report.curves import category_psi
from connector.report.page import ReportInputs, TierRow, plain_label, render_report
from connector.workspace import Workspace

DEMO_ATTRIBUTION = ("Demo data: UCI Bank Marketing data set, S. Moro, P. Cortez and P. Rita, "
                    "Decision Support Systems 62 (2014) 22-31, licensed CC BY 4.0.")


def _tiers(card: dict) -> list[TierRow]:
    rows = (card.get("holdout") or {}).get("tiers") or []
    return [TierRow(r["tier"], r["leads"], r["predicted"] or 0.0, r["observed"] or 0.0)
            for r in rows]


def _drift(mapping: Mapping, closed: Sequence[dict], open_: Sequence[dict],
           closed_p: np.ndarray, open_p: np.ndarray) -> list[tuple[str, float]]:
    rows = [("score", psi(closed_p, open_p))] if len(closed_p) and len(open_p) else []
    for feature in mapping.features:
        name = plain_label(feature.label, feature.field)
        if feature.kind == "number":
            before = [v for r in closed if (v := to_number(r.get(feature.field))) is not None]
            now = [v for r in open_ if (v := to_number(r.get(feature.field))) is not None]
            value = psi(np.asarray(before), np.asarray(now)) if before and now else 0.0
        else:
            value = category_psi([str(canonical(r.get(feature.field))) for r in closed],
                                 [str(canonical(r.get(feature.field))) for r in open_])
        rows.append((name, value))
    return rows


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
                 now: datetime | None = None) -> ReportInputs:
    """Everything :func:`connector.report.page.render_report` needs for one connection."""
    closed, open_ = [], []
    for record in records:
        (open_ if mapping.outcome_of(record) is None else closed).append(record)
    open_scores = model.score(open_) if open_ else []
    closed_p = np.asarray(model.probabilities(closed)) if closed else np.asarray([])
    open_p = np.asarray([lead.probability for lead in open_scores])
    y, p = load_holdout(version_dir)
    return ReportInputs(
        connection=connection, crm=crm, generated_at=now or datetime.now(UTC), card=model.card,
        holdout_y=y, holdout_p=p, tiers=_tiers(model.card),
        current_scores=[lead.score for lead in open_scores],
        drivers=_drivers(mapping, open_scores),
        drift=_drift(mapping, closed, open_, closed_p, open_p), runs=runs,
        attribution=DEMO_ATTRIBUTION if demo_data else None)


def _run_row(run) -> dict:
    return {"started_at": run.started_at.strftime("%Y-%m-%d %H:%M:%S"),
            "kind": run.kind + (" (dry run)" if run.dry_run else ""), "outcome": run.outcome,
            **run.counts.as_dict(), "api_calls": run.api_calls}


def write_report(workspace: Workspace, out: Path, *, records: Iterable[dict],
                 demo_data: bool = False) -> Path:
    """Render ``workspace``'s report to ``out`` from its current model, its run history and
    ``records`` (the connection's records as pulled now)."""
    model = load_model(workspace.model_dir)
    with workspace.state() as state:
        runs = [_run_row(run) for run in state.last_runs(workspace.name, limit=20)]
    inputs = build_inputs(connection=workspace.name, crm=workspace.connection.crm, model=model,
                          version_dir=workspace.model_dir / model.version,
                          mapping=workspace.mapping, records=records, runs=runs,
                          demo_data=demo_data, now=datetime.now(UTC))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_report(inputs), encoding="utf-8")
    return out

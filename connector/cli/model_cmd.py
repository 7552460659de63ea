"""``leadscore train``, ``leadscore explain``, ``leadscore report`` and ``leadscore fields create``."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from connector.cli import app
from connector.cli.progress import counted, tracking
from connector.cli.terminal import clean, shown
from connector.errors import ConfigError, LeakageError, RecordRejectedError
from connector.model import load_model, restore_model, train_model
from connector.admin.report.build import write_report
from connector.admin.report.pilot import gather_pilot
from connector.sync.training_inputs import point_in_time_inputs, pull_records
from connector.sync.training_run import recent_volume, recorded_training
from connector.sync.workspace import (Workspace, live_model_fields, open_workspace,
                                      pull_history)
from connector.sync.writeback import output_specs

CONFIG = typer.Option(None, "--config", help="Config file (default: $LEADSCORE_CONFIG or ./leadscore.toml).")
CONNECTION = typer.Option(..., "--connection", "-c", help="Connection name in the config.")

fields_app = typer.Typer(help="Create the CRM fields leadscore writes to.", no_args_is_help=True)
app.add_typer(fields_app, name="fields")


def _pull(workspace: Workspace, crm) -> list[dict]:
    with tracking(f"{workspace.name}: pulling records") as tracker:
        return list(counted(pull_history(crm, workspace.mapping), tracker))


def _pull_all(workspace: Workspace) -> list[dict]:
    crm = workspace.open_crm()
    try:
        return _pull(workspace, crm)
    finally:
        crm.close()


def train_connection(workspace: Workspace, *, force: bool = False, min_closed: int | None = None,
                     min_positive: int | None = None, strict: bool = False):
    """Pull the connection's history and train on point-in-time inputs (promotion is the
    model's decision), recorded as a ``retrain`` run under the connection's lock."""
    crm = workspace.open_crm()
    schedule = workspace.connection.schedule

    def pull_and_train(state, tally):
        also = live_model_fields(crm, workspace.mapping, workspace.model_dir)
        with tracking(f"{workspace.name}: pulling records") as tracker:
            records = list(counted(pull_records(crm, workspace.mapping, also=also), tracker))
        tally(len(records))
        with tracking(f"{workspace.name}: point-in-time inputs"):
            inputs = point_in_time_inputs(crm, workspace.mapping, state, workspace.name,
                                          records)
        with tracking(f"{workspace.name}: training on {len(records):,} records"):
            return train_model(inputs.records, workspace.mapping, model_dir=workspace.model_dir,
                               force=force, min_closed=min_closed, min_positive=min_positive,
                               point_in_time=inputs, strict=strict,
                               volume=recent_volume(state, workspace.name, None if
                                                    schedule.sync_cron else
                                                    schedule.sync_every_minutes))

    try:
        with workspace.state() as state:
            return recorded_training(workspace.name, crm, state,
                                     lambda tally: pull_and_train(state, tally))
    finally:
        crm.close()


@app.command()
def train(connection: str = CONNECTION, config: Path = CONFIG,
          force: bool = typer.Option(False, "--force", help="Promote even if not better."),
          min_closed: int = typer.Option(None, help="Override the minimum of closed leads."),
          min_positive: int = typer.Option(None, help="Override the minimum of conversions."),
          restore: str = typer.Option(None, "--restore", help="Make an earlier VERSION current "
                                      "again instead of training."),
          strict: bool = typer.Option(False, "--strict", help="Refuse to promote a model when a "
                                      "mapped field looks filled during the sales process."),
          as_json: bool = typer.Option(False, "--json", help="Print the result as JSON.")) -> None:
    """Train on the connection's closed leads; promote only a model that is not worse."""
    workspace = open_workspace(config, connection)
    if restore:
        model = restore_model(workspace.model_dir, restore)
        typer.echo(f"{connection}: model {model.version} is current again")
        return
    result = train_connection(workspace, force=force, min_closed=min_closed,
                              min_positive=min_positive, strict=strict)
    if as_json:
        typer.echo(json.dumps({"version": result.version, "promoted": result.promoted,
                               "decision": result.card.get("decision"),
                               "warnings": result.warnings, "metrics": result.metrics},
                              default=str))
        return
    for warning in result.warnings:
        Console(stderr=True).print(f"[yellow]warning:[/] {shown(warning)}", highlight=False)
    if strict and result.card.get("leaks"):
        raise LeakageError(f"{connection}: model {result.version} {result.card['decision']}; "
                           "see the warnings above")
    verdict = "promoted" if result.promoted else "saved but NOT promoted"
    auc = result.metrics.get("roc_auc")
    typer.echo(f"{connection}: model {result.version} {verdict}"
               + (f" (holdout ROC AUC {auc:.3f})" if isinstance(auc, float) else "")
               + f": {result.card.get('decision')}")


@app.command()
def explain(lead_id: str = typer.Argument(..., help="The CRM record id."),
            connection: str = CONNECTION, config: Path = CONFIG) -> None:
    """Print every field's contribution to one lead's score."""
    workspace = open_workspace(config, connection)
    model = load_model(workspace.model_dir)
    crm = workspace.open_crm()
    try:
        found = crm.read([lead_id], workspace.mapping.input_fields())
    finally:
        crm.close()
    if not found:
        raise RecordRejectedError(lead_id, f"not found in {connection}")
    explanation = model.explain(dict(found[0].values))
    table = Table(title=shown(f"{lead_id}: score {explanation.score} ({explanation.tier}), "
                              f"p={explanation.probability:.3f}, model {model.version}"))
    for column in ("field", "value", "contribution", "reads as"):
        table.add_column(column, justify="right" if column == "contribution" else "left")
    for row in explanation.rows:
        table.add_row(shown(row.label), shown(row.value), f"{row.contribution:+.3f}",
                      shown(row.phrase))
    Console().print(table)


@app.command()
def report(connection: str = CONNECTION, config: Path = CONFIG,
           out: Path = typer.Option(Path("report.html"), "--out", help="HTML file to write.")) -> None:
    """Write the model report: one self-contained HTML file."""
    workspace = open_workspace(config, connection)
    crm = workspace.open_crm()
    try:
        records = _pull(workspace, crm)
        with workspace.state() as state:
            control = workspace.connection.control
            pilot = gather_pilot(state, crm, workspace.mapping, workspace.name,
                                 control.share if control else None)
    finally:
        crm.close()
    typer.echo(f"wrote {write_report(workspace, out, records=records, pilot=pilot)}")


@fields_app.command("create")
def fields_create(connection: str = CONNECTION, config: Path = CONFIG,
                  dry_run: bool = typer.Option(False, "--dry-run", help="Only say what would be created."),
                  grant: str = typer.Option(
                      None, "--grant", metavar="PERMISSION_SET",
                      help="Salesforce: give the integration user Read and Edit on the fields "
                           "through this permission set (its API name; created and assigned to "
                           "the integration user when missing). HubSpot: nothing to grant.")
                  ) -> None:
    """Create the score, tier and reason fields (and optional ones) if missing. Idempotent."""
    workspace = open_workspace(config, connection)
    specs = output_specs(workspace.mapping)
    if not specs:
        raise ConfigError(f"{workspace.connection.mapping}: no output fields to create")
    crm = workspace.open_crm()
    try:
        result = crm.ensure_fields(specs, dry_run=dry_run, grant=grant)
    finally:
        crm.close()
    for line in result.lines():
        typer.echo(clean(line))

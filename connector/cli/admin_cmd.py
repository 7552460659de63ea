"""``leadscore check`` and ``leadscore mappings suggest``: the admin's setup commands."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from connector.admin.check import CheckReport, run_check
from connector.cli import app
from connector.cli.terminal import clean, shown
from connector.errors import ConfigError
from connector.mapping import load_mapping
from connector.admin.sampling import SAMPLE_SIZE
from connector.admin.suggest import suggest_for_connection
from connector.sync.workspace import open_workspace

CONFIG = typer.Option(None, "--config", help="Config file (default: $LEADSCORE_CONFIG or ./leadscore.toml).")
CONNECTION = typer.Option(..., "--connection", "-c", help="Connection name in the config.")
SAMPLE = typer.Option(SAMPLE_SIZE, "--sample", min=100, help="Records to profile at most.")

mappings_app = typer.Typer(help="Write and review field mappings.", no_args_is_help=True)
app.add_typer(mappings_app, name="mappings")

_MARKS = {"ok": ("✓", "green"), "warning": ("!", "yellow"), "problem": ("✗", "red")}
STAGES = ("config", "credentials", "fields", "outputs", "data")


@app.command()
def check(connection: str = CONNECTION, config: Path = CONFIG, sample: int = SAMPLE,
          as_json: bool = typer.Option(False, "--json", help="Print the report as JSON.")) -> None:
    """Validate a connection: config, credentials, the mapping against the CRM's live fields,
    and a sample of the data (fill rates, distinct values, class balance, leakage).

    Every problem is one line: what, where and how to fix it. Exit codes: 0 nothing to fix
    (warnings allowed); 3 at least one problem to fix; 75 the CRM was unreachable or rate
    limited (try again later); 1 an unexpected error.
    """
    report = run_check(config, connection, sample_size=sample)
    if as_json:
        typer.echo(json.dumps(report.as_dict()))
    else:
        render(report, Console(highlight=False, soft_wrap=True))
    report.raise_for_problems()


def render(report: CheckReport, console: Console) -> None:
    """Print ``report``: a stage table, the features' data profile, then one line per finding."""
    stages = Table(title=f"leadscore check: connection {shown(report.connection)}", title_justify="left")
    for column in ("stage", "result", "detail"):
        stages.add_column(column)
    for stage in STAGES:
        found = [f for f in report.findings if f.stage == stage]
        if not found:
            continue
        worst = next((s for s in ("problem", "warning") if any(f.severity == s for f in found)),
                     "ok")
        mark, colour = _MARKS[worst]
        counted = [f for f in found if f.severity == worst]
        detail = shown(found[0].message) if worst == "ok" else f"{len(counted)} {worst}(s), see below"
        stages.add_row(stage, Text(f"{mark} {worst}", style=colour), detail)
    console.print(stages)
    if report.features:
        console.print(_feature_table(report))
    if report.outcomes:
        o = report.outcomes
        console.print(f"outcomes in the sample: {o['closed']:,} closed ({o['converted']:,} "
                      f"converted, {o['lost']:,} lost), {o['open']:,} open")
    for finding in report.problems + report.warnings:
        mark, colour = _MARKS[finding.severity]
        console.print(Text.assemble((f"{mark} {finding.severity} ", colour),
                                    clean(f"[{finding.stage}] {finding.line()}")))
    if not report.problems:
        console.print(Text("✓ nothing to fix", style="green"))


def _feature_table(report: CheckReport) -> Table:
    table = Table(title=f"features in {shown(report.sample)}", title_justify="left")
    for column in ("field", "kind", "CRM type", "filled", "distinct"):
        table.add_column(column, justify="right" if column in ("filled", "distinct") else "left")
    for row in report.features:
        distinct = f"{row['distinct']:,}" + ("+" if row["distinct"] >= 1000 else "")
        table.add_row(shown(row["field"]), row["kind"], shown(row["crm_type"]), f"{row['filled']:.0%}",
                      distinct)
    return table


@mappings_app.command("suggest")
def suggest(connection: str = CONNECTION, config: Path = CONFIG,
            out: Path = typer.Option(None, "--out", help="File to write (default: "
                                     "mappings/suggested-CONNECTION.yaml beside the config)."),
            force: bool = typer.Option(False, "--force", help="Overwrite the file."),
            sample: int = SAMPLE) -> None:
    """Profile the object's fields and a sample of records, and write a starting mapping that
    `leadscore check` accepts; every field left out has a comment saying why."""
    workspace = open_workspace(config, connection)
    target = out or workspace.config.path.parent / "mappings" / f"suggested-{connection}.yaml"
    if target.exists() and not force:
        raise ConfigError(f"{target} already exists; not overwriting it",
                          "Pass --force to replace it, or --out to write elsewhere.")
    crm = workspace.open_crm()
    try:
        suggestion = suggest_for_connection(crm, workspace.connection, sample_size=sample)
    finally:
        crm.close()
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(suggestion.yaml, encoding="utf-8")
    load_mapping(target)  # what we wrote must load as is; a failure here is our bug
    typer.echo(f"wrote {target}: {len(suggestion.features)} features from {suggestion.sample}; "
               f"{len(suggestion.left_out)} fields left out (see the comments)")
    typer.echo(f"next: review it, set `mapping = \"{target}\"` for [connections.{connection}], "
               f"then `leadscore check --connection {connection}`")

"""``leadscore demo``: the full cycle on the built-in sandbox, graded against hidden outcomes."""

from __future__ import annotations

import json
import time
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from connector.cli import app
from connector.cli.terminal import shown
from connector.admin.demo import CONNECTIONS, CRMResult, run_demo


def _table(result: CRMResult) -> Table:
    table = Table(title=f"{result.crm}: open leads by tier (model {result.model_version}, "
                        f"{result.chosen_model})", title_justify="left")
    table.add_column("tier")
    table.add_column("open leads", justify="right")
    table.add_column("converted (hidden outcome)", justify="right")
    for row in result.tiers:
        rate = "-" if row["conversion"] is None else f"{row['conversion']:.1%}"
        table.add_row(shown(row["tier"]), f"{row['leads']:,}", rate)
    table.add_row("all open leads", f"{result.open_leads:,}", f"{result.open_conversion:.1%}",
                  style="bold")
    return table


@app.command()
def demo(
    workdir: Path = typer.Option(Path("leadscore-demo"), "--dir",
                                 help="Folder for the demo's config, state, models and reports."),
    crm: list[str] = typer.Option(list(CONNECTIONS), "--crm", help="Which CRM(s) to run."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as one JSON object."),
) -> None:
    """Start the sandbox with demo data, create fields, train, sync, and grade the tiers."""
    unknown = sorted(set(crm) - set(CONNECTIONS))
    if unknown:
        raise typer.BadParameter(f"unknown CRM {', '.join(unknown)}", param_hint="--crm")
    console = Console(stderr=True)
    started = time.monotonic()
    results = run_demo(workdir, crms=tuple(crm),
                       say=lambda line: console.print(f"· {shown(line)}", highlight=False))
    summary = {"crms": {r.crm: r.as_dict() for r in results},
               "seconds": round(time.monotonic() - started, 1),
               "reports": [r.report for r in results]}
    if as_json:
        typer.echo(json.dumps(summary))
        return
    out = Console()
    for result in results:
        out.print(_table(result))
        out.print(f"top 10% of open leads by score convert {result.top_decile_conversion:.1%} vs "
                  f"{result.open_conversion:.1%} overall: {result.top_decile_conversion_ratio:.2f}x"
                  f" · API calls {result.api_calls:,} · report {shown(result.report)}", highlight=False)
    out.print(f"done in {summary['seconds']:.0f} s; the sandbox is stopped. Demo data: UCI Bank "
              "Marketing (Moro, Cortez & Rita, 2014), CC BY 4.0.", highlight=False)

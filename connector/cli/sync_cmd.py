"""``leadscore sync``, ``leadscore run`` and ``leadscore status``."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from connector.cli import app
from connector.cli.progress import Tracker, tracking
from connector.cli.terminal import clean, shown
from connector.config import load_config
from connector.crm import open_crm
from connector.mapping import load_mapping
from connector.model import load_model
from connector.sync.schedule import configure_logging
from connector.sync.schedule import run as run_scheduler
from connector.state import StateStore, utcnow
from connector.admin.status import status as gather_status
from connector.sync.engine import RunSummary, run_sync

CONFIG_HELP = "Config file (default: $LEADSCORE_CONFIG or ./leadscore.toml)."


def _show_on(tracker: Tracker):
    def show(summary: RunSummary) -> None:
        tracker.update(summary.counts.pulled)
    return show


@app.command()
def sync(
    connection: str = typer.Option(..., "--connection", "-c", help="Connection name in the config."),
    dry_run: bool = typer.Option(False, "--dry-run",
                                 help="Write nothing; save a CSV preview of the changes."),
    full: bool = typer.Option(False, "--full", help="Re-read every record and rescore every open lead."),
    limit: int = typer.Option(None, "--limit", min=1, help="Stop after this many records."),
    out: Path = typer.Option(Path("out"), "--out", help="Directory of the dry-run preview."),
    config: Path = typer.Option(None, "--config", help=CONFIG_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print the run summary as JSON."),
) -> None:
    """Pull changed leads, score them, and write back only what changed."""
    settings = load_config(config)
    target = settings.connection(connection)
    mapping = load_mapping(target.mapping)
    model = load_model(settings.model_dir_for(connection))
    with StateStore(settings.state_url) as state, \
            tracking(f"{connection}: records pulled") as tracker:
        crm = open_crm(target)
        try:
            summary = run_sync(target, crm, model, mapping, state, dry_run=dry_run, full=full,
                               limit=limit, preview_dir=out, progress=_show_on(tracker))
        finally:
            crm.close()
    typer.echo(json.dumps(summary.as_dict()) if as_json else clean(summary.line()))
    if summary.preview_path and not as_json:
        typer.echo(f"preview: {summary.preview_path}")
    summary.raise_for_outcome()


@app.command()
def run(config: Path = typer.Option(None, "--config", help=CONFIG_HELP),
        fleet: bool = typer.Option(False, "--fleet", help="Enqueue the jobs for `leadscore "
                                   "worker` processes (Celery, Redis) instead of running them.")
        ) -> None:
    """Run the scheduler: hourly sync, new-leads job and weekly retraining per connection."""
    configure_logging()
    if fleet:
        from connector.sync.fleet import run_scheduler as run_fleet
        run_fleet(config)
        return
    run_scheduler(config)


@app.command()
def worker(config: Path = typer.Option(None, "--config", help=CONFIG_HELP),
           concurrency: int = typer.Option(1, "--concurrency", min=1,
                                           help="Worker processes on this machine.")) -> None:
    """Run fleet workers: the jobs `leadscore run --fleet` enqueues, for every connection."""
    configure_logging()
    from connector.sync.fleet import start_worker
    start_worker(config, concurrency=concurrency)


def _table(entry: dict) -> Table:
    table = Table(title=shown(f"{entry['connection']} ({entry['crm']} {entry['object']})"),
                  show_header=False, title_justify="left")
    table.add_column("what")
    table.add_column("value")
    model = entry["model"]
    holdout = ", ".join(f"{k} {v}" for k, v in (model.get("holdout") or {}).items())
    table.add_row("model", f"{model['version'] or 'none'} {holdout}".strip())
    retrain = entry["last_retrain"]
    if retrain:
        table.add_row("last retrain", shown(f"{retrain['started_at']} {retrain['outcome']}: "
                                            f"{retrain['message']}"))
    cursor = entry["cursor"]
    table.add_row("cursor lag", f"{cursor['lag_s']:,.0f} s" if cursor and cursor["lag_s"]
                  is not None else "never synced")
    failures = entry["failures"]
    table.add_row("failures waiting", f"{failures['waiting']} ({failures['exhausted']} out of "
                                      "retries: retried when their record changes)"
                  if failures["exhausted"] else str(failures["waiting"]))
    api = entry["api"]
    table.add_row("API allowance", "unknown" if api["daily_max"] is None else
                  f"{api['daily_used']:,} used, {api['daily_left']:,} left of "
                  f"{api['daily_max']:,} (reserve {api['reserve']:.0%})")
    pilot = entry["pilot"]
    groups = pilot["groups"]
    if pilot["control_share"] is not None or groups["control"]:
        share = pilot["control_share"]
        table.add_row("control group", f"{groups['control']:,} leads held back, "
                      f"{groups['scored']:,} scored and written"
                      + (f" (share {share:.0%})" if share is not None else " (switched off, "
                         f"{groups['released']:,} since written)"))
    if pilot["callbacks"]:
        table.add_row("callback tasks", ", ".join(f"{n:,} {status}" for status, n in
                                                  sorted(pilot["callbacks"].items())))
    if pilot["webhook"] is not None:
        hook = pilot["webhook"]
        table.add_row("webhook", f"{hook['sent']:,} sent, {hook['pending']:,} pending, "
                      f"{hook['dead']:,} dead letters")
    holder = entry["locked_by"]
    table.add_row("running now", shown(holder["owner"]) if holder else "no")
    for job, at in entry["next_runs"].items():
        table.add_row(f"next {job}", at)
    for run_row in entry["runs"]:
        table.add_row(f"run {run_row['id']} {run_row['kind']}",
                      f"{run_row['started_at']} {run_row['outcome']}: pulled {run_row['pulled']}"
                      f" scored {run_row['scored']} written {run_row['written']} unchanged "
                      f"{run_row['unchanged']} failed {run_row['failed']} api "
                      f"{run_row['api_calls']}")
    return table


@app.command()
def status(
    connection: str = typer.Option(None, "--connection", "-c", help="Only this connection."),
    config: Path = typer.Option(None, "--config", help=CONFIG_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of tables."),
    fleet: bool = typer.Option(False, "--fleet", help="Also the fleet's queues and workers."),
) -> None:
    """Last runs, failures waiting, cursor lag, model, API allowance and next runs."""
    settings = load_config(config)
    if connection:
        settings.connection(connection)  # a clear error for an unknown name
    with StateStore(settings.state_url) as state:
        entries = gather_status(settings, state, utcnow(), connection=connection)
    queues = None
    if fleet:
        from connector.sync.fleet import fleet_status
        queues = fleet_status(settings)
    if as_json:
        typer.echo(json.dumps({"connections": entries, "fleet": queues} if fleet else entries,
                              indent=1))
        return
    if queues is not None:
        workers = ", ".join(queues["workers"]) or "none answering"
        typer.echo(f"fleet: broker {queues['broker']}, workers: {workers}")
        for name, queue in queues["queues"].items():
            age = queue["oldest_waiting_s"]
            typer.echo(f"  queue {name}: {queue['waiting']} waiting"
                       + (f", oldest {age:,.0f} s" if age is not None else ""))
    console = Console()
    for entry in entries:
        console.print(_table(entry))

"""``leadscore sync``, ``leadscore run`` and ``leadscore status``."""

from __future__ import annotations

import json
from datetime import datetime
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
from connector.admin.tier_watch import state_watch
from connector.admin.units import cursor_lag, local_time, whole_units
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
        tiers = state_watch(settings, state, connection)
    if as_json:
        typer.echo(json.dumps({**summary.as_dict(), "tiers": tiers}))
    else:
        typer.echo(clean(summary.line()))
        _warn_tiers(tiers, connection)
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


def _run_line(row: dict, zone: str) -> str:
    started = local_time(row["started_at"], zone)
    if row["kind"] == "retrain":
        return (f"{started} {row['outcome']}: pulled {row['pulled']:,} leads, api "
                f"{row['api_calls']:,}: {row['message'] or ''}").rstrip(": ")
    return (f"{started} {row['outcome']}: pulled {row['pulled']:,} scored {row['scored']:,} "
            f"written {row['written']:,} unchanged {row['unchanged']:,} failed "
            f"{row['failed']:,} api {row['api_calls']:,}")


def _table(entry: dict, now: datetime) -> Table:
    """One connection's status in the admin's units: durations as ``3 min`` or ``16 years``,
    times to the second in the connection's time zone."""
    zone = entry["timezone"]
    table = Table(title=shown(f"{entry['connection']} ({entry['crm']} {entry['object']}, "
                              f"times in {zone})"), show_header=False, title_justify="left")
    table.add_column("what")
    table.add_column("value")
    model = entry["model"]
    holdout = ", ".join(f"{k} {v}" for k, v in (model.get("holdout") or {}).items())
    table.add_row("model", f"{model['version'] or 'none'} {holdout}".strip())
    retrain = entry["last_retrain"]
    if retrain:
        table.add_row("last retrain", shown(_run_line(retrain, zone)))
    cursor = entry["cursor"]
    table.add_row("cursor lag", cursor_lag(cursor["lag_s"], cursor["stamp"], cursor["recorded_at"],
                                           now)
                  if cursor and cursor["lag_s"] is not None else "never synced")
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
    tiers = entry.get("tiers")
    if tiers and tiers["leads"]:
        table.add_row("tiers (now / intended)", ", ".join(
            f"{name} {tiers['current'][name]:.0%} / {share:.0%}"
            for name, share in tiers["intended"].items()) + f" of {tiers['leads']:,} leads")
    holder = entry["locked_by"]
    table.add_row("running now", shown(holder["owner"]) if holder else "no")
    for job, at in entry["next_runs"].items():
        table.add_row(f"next {job}", local_time(at, zone))
    for run_row in entry["runs"]:
        table.add_row(f"run {run_row['id']} {run_row['kind']}", shown(_run_line(run_row, zone)))
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
    now = utcnow()
    with StateStore(settings.state_url) as state:
        entries = gather_status(settings, state, now, connection=connection)
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
                       + (f", oldest {whole_units(age)}" if age is not None else ""))
    console = Console()
    for entry in entries:
        console.print(_table(entry, now))
        _warn_tiers(entry.get("tiers"), entry["connection"])


def _warn_tiers(tiers: dict | None, connection: str) -> None:
    """One warning line on stderr per tier far from its intended share."""
    for line in (tiers or {}).get("warnings", []):
        Console(stderr=True, soft_wrap=True).print(f"[yellow]warning:[/] {shown(connection)}: "
                                                   f"{shown(line)}", highlight=False)

"""``leadscore sandbox``: run the local CRM emulators in the foreground until interrupted."""

from __future__ import annotations

import signal
import threading
import time
from enum import Enum
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from connector.cli import app
from connector.cli.terminal import shown
from connector.errors import ConfigError
from connector.sandbox import SANDBOX_DIR, Sandbox
from connector.sandbox.faults import FaultSpecError
from connector.sandbox.seeding import SeedError, load_bank, load_csv, with_post_outcome_columns


class CRMChoice(str, Enum):
    """Which emulators to start."""

    salesforce = "salesforce"
    hubspot = "hubspot"
    both = "both"


def _seed(seed: str, outcome_column: str, positive: str, open_share: float,
          post_outcome_columns: str = ""):
    if seed == "none":
        return None
    try:
        data = load_bank() if seed == "bank" else load_csv(
            Path(seed), outcome_column=outcome_column, positive=positive, open_share=open_share)
    except SeedError as error:
        raise ConfigError(f"--seed: {error}", "Give `bank`, `none` or a readable CSV file; "
                          "--outcome-column names the column holding the outcome.") from None
    if not post_outcome_columns:
        return data
    try:
        return with_post_outcome_columns(data, post_outcome_columns.split(","))
    except SeedError as error:
        raise ConfigError(f"--post-outcome-columns: {error}",
                          "Name CSV columns of the seed, separated by commas.") from None


def _print_facts(console: Console, sandbox: Sandbox) -> None:
    table = Table(title="leadscore sandbox", show_header=True)
    table.add_column("CRM")
    table.add_column("setting")
    table.add_column("value")
    for crm, facts in sandbox.info.items():
        for key, value in facts.items():
            table.add_row(crm, key, "" if value is None else shown(value))
    console.print(table)
    console.print("Press Ctrl+C to stop.")


@app.command()
def sandbox(
    crm: CRMChoice = typer.Option(CRMChoice.both, "--crm", help="Which emulator(s) to start."),
    port: int = typer.Option(0, "--port", min=0, max=65534,
                             help="Salesforce port (HubSpot uses the next one); 0 picks free ports."),
    seed: str = typer.Option(
        "bank", "--seed",
        help="`bank` (bundled demo data), `none`, or a CSV path (UTF-8, `,` `;` or tab "
             "separated): rows are taken as created in file order, oldest first."),
    outcome_column: str = typer.Option("y", help="With a CSV seed: the column holding the outcome."),
    positive: str = typer.Option("yes", help="With a CSV seed: the outcome value meaning converted."),
    open_share: float = typer.Option(0.2, min=0.0, max=1.0,
                                     help="With a CSV seed: share of newest rows left open."),
    post_outcome_columns: str = typer.Option(
        "", "--post-outcome-columns",
        help="CSV columns known only after the outcome (e.g. `duration`): empty on open leads, "
             "filled when POST /__sandbox/close closes them, in history at the close otherwise."),
    latency_ms: float = typer.Option(0.0, "--latency-ms", min=0.0, help="Delay added to every call."),
    jitter_ms: float = typer.Option(0.0, "--jitter-ms", min=0.0, help="Random extra delay, seeded."),
    faults: str = typer.Option("", "--faults", help="Fault spec, e.g. `429:0.1,503:0.05,seed:7`."),
    hubspot_tier: str = typer.Option("professional", help="HubSpot rate-limit tier."),
    daily_api_limit: int = typer.Option(100_000, min=1, help="Salesforce daily API allowance."),
    session_lifetime_s: float = typer.Option(
        7200.0, min=1.0, help="Salesforce session timeout: seconds of inactivity."),
    hubspot_tls: bool = typer.Option(
        False, "--hubspot-tls",
        help="Serve HubSpot over TLS too, with the Salesforce side's CA (see hubspot.ca_file)."),
    directory: Path = typer.Option(
        Path(SANDBOX_DIR), "--dir",
        help="Where the CA and JWT key are kept across runs (what `init --sandbox` points at)."),
    as_json: bool = typer.Option(False, "--json", help="First stdout line: connection facts as JSON."),
) -> None:
    """Serve local Salesforce and HubSpot emulators on 127.0.0.1 until interrupted."""
    crms = ("salesforce", "hubspot") if crm is CRMChoice.both else (crm.value,)
    started = time.monotonic()
    data = _seed(seed, outcome_column, positive, open_share, post_outcome_columns)
    for note in data.notes if data else ():
        Console(stderr=True, highlight=False, soft_wrap=True).print(f"seed: {shown(note)}")
    try:
        box = Sandbox(crms=crms, port=port, seed=data,
                      latency_ms=latency_ms, jitter_ms=jitter_ms, faults=faults,
                      hubspot_tier=hubspot_tier, daily_api_limit=daily_api_limit,
                      session_lifetime_s=session_lifetime_s, directory=directory,
                      hubspot_tls=hubspot_tls)
    except FaultSpecError as error:
        raise ConfigError(f"--faults: {error}", "See `leadscore sandbox --help`.") from None
    except ValueError as error:  # the only other option checked here: the HubSpot tier
        raise ConfigError(f"--hubspot-tier: {error}") from None
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    try:
        box.start()
    except OSError as error:
        raise ConfigError(f"--port {port}: {error}", "Choose a free port, or 0.") from None
    except ValueError as error:  # an emulator refused a seeded value
        said = str(error)
        raise ConfigError(f"--seed: {said[:300]}{'...' if len(said) > 300 else ''}",
                          "Fix that row or column of the CSV, or drop the column.") from None
    try:
        if as_json:
            typer.echo(box.info_json())
        else:
            _print_facts(Console(), box)
            typer.echo(f"ready in {time.monotonic() - started:.1f} s")
        while not stop.wait(0.5):
            pass
    finally:
        box.stop()

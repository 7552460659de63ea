"""``leadscore forget``: erase what leadscore holds about a person (an erasure request)."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from connector.admin.forget import forget as erase
from connector.cli import app
from connector.config import load_config
from connector.crm import open_crm
from connector.crm.transport import RetryPolicy
from connector.errors import ErasureIncompleteError
from connector.state import StateStore
from connector.sync.lifecycle import FINAL_CODES


# An admin waits at the terminal: a CRM that is down is said within seconds (run again later),
# rather than after the sync's two minutes of backoff.
ERASURE_RETRIES = RetryPolicy(attempts=4)


@app.command()
def forget(
    connection: str = typer.Option(..., "--connection", "-c", help="Connection name in the config."),
    ids: list[str] = typer.Option(None, "--id", help="A CRM record id of the person (repeatable)."),
    email: str = typer.Option(None, "--email", help="The person's email address: their ids are "
                                                    "looked up in the CRM."),
    clear_crm: bool = typer.Option(False, "--clear-crm",
                                   help="Also empty the leadscore fields on the CRM records."),
    out: Path = typer.Option(Path("out"), "--out", help="Directory of the dry-run previews."),
    reports: Path = typer.Option(None, "--reports", help="Directory of the HTML reports "
                                                         "(default: the config file's folder)."),
    config: Path = typer.Option(None, "--config", help="Config file (default: "
                                                       "$LEADSCORE_CONFIG or ./leadscore.toml)."),
    as_json: bool = typer.Option(False, "--json", help="Print what was removed as JSON."),
) -> None:
    """Erase everything leadscore holds about one person: state, audit rows, failures, staged
    changes, dry-run preview rows, reports naming them; the sync never scores them again.

    Exit codes:
    0 erased, or nothing was held;
    2 give --id or --email, not both;
    3 fix the configuration;
    4 another worker is syncing the connection, or a place still holds the person (named);
    75 the CRM was unreachable for --email or --clear-crm (nothing erased yet: run again).
    """
    if bool(ids) == bool(email):
        raise typer.BadParameter("give --id (one or more) or --email, not both",
                                 param_hint="--id / --email")
    settings = load_config(config)
    target = settings.connection(connection)
    with StateStore(settings.state_url) as state:
        report = erase(settings, connection, state, ids=ids or (), email=email,
                       clear_crm=clear_crm, previews=out, reports=reports,
                       open_crm=lambda: open_crm(target, policy=ERASURE_RETRIES))
    typer.echo(json.dumps(report.as_dict()) if as_json else "\n".join(report.lines()))
    refused = [f"CRM record refused the clearing ({reason})"
               for reason in report.crm_refused.values()
               if reason.split(":")[0] not in FINAL_CODES]  # a record gone holds nothing
    if report.problems or refused:
        places = report.problems + refused
        raise ErasureIncompleteError(f"forget {connection}: {len(places)} place(s) still hold "
                                     f"the person: {'; '.join(places)}")

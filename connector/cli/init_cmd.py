"""``leadscore init``: write a commented config (and, for the sandbox, a ``.env``) to start from."""

from __future__ import annotations

from pathlib import Path

import typer

from connector.cli import app
from connector.admin.starter import write_project


@app.command()
def init(
    directory: Path = typer.Option(Path("."), "--dir", help="Folder to write into."),
    sandbox: bool = typer.Option(False, "--sandbox",
                                 help="Point both connections at a local `leadscore sandbox`."),
    port: int = typer.Option(8443, "--port", min=1, max=65534,
                             help="With --sandbox: the sandbox's --port (HubSpot uses the next)."),
    hubspot_tls: bool = typer.Option(False, "--hubspot-tls",
                                     help="With --sandbox: the sandbox serves HubSpot over TLS "
                                          "too (`leadscore sandbox --hubspot-tls`)."),
    force: bool = typer.Option(False, "--force", help="Overwrite existing files."),
) -> None:
    """Write a commented leadscore.toml and the example mappings to start from."""
    written = write_project(directory, sandbox_port=port if sandbox else None, force=force,
                            hubspot_tls=hubspot_tls)
    for path in written:
        typer.echo(f"wrote {path}")
    if sandbox:
        flag = " --hubspot-tls" if hubspot_tls else ""
        typer.echo(f"next: `leadscore sandbox --port {port}{flag}` in {directory}, then "
                   "`leadscore check --connection salesforce`")
    else:
        typer.echo("next: set the variables named in leadscore.toml, edit a mapping, then "
                   "`leadscore check --connection NAME`")

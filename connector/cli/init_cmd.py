"""``leadscore init``: write a commented config (and, for the sandbox, a ``.env``) to start from."""

from __future__ import annotations

from pathlib import Path

import typer

from connector.admin.starter import SandboxTarget, read_sandbox, write_project
from connector.cli import app
from connector.errors import ConfigError
from connector.sandbox import FACTS_FILE, SANDBOX_DIR

DEFAULT_PORT = 8443


def _sandbox_target(directory: Path, sandbox_dir: Path | None, port: int | None,
                    hubspot_tls: bool) -> SandboxTarget:
    """The running sandbox's facts when its folder has them, else the ports from ``--port``."""
    folder = sandbox_dir or directory / SANDBOX_DIR
    running = read_sandbox(folder)
    if running is not None:
        return running
    if port == 0:
        raise ConfigError(
            f"--port 0: no running sandbox in {folder} to read its ports from ({FACTS_FILE})",
            f"Start `leadscore sandbox --port 0 --dir {folder}` first, then run init again; "
            "or give the sandbox's fixed --port.")
    port = port or DEFAULT_PORT
    return SandboxTarget({"salesforce": port, "hubspot": port + 1}, hubspot_tls=hubspot_tls)


@app.command()
def init(
    directory: Path = typer.Option(Path("."), "--dir", help="Folder to write into."),
    sandbox: bool = typer.Option(False, "--sandbox",
                                 help="Point the connections at a local `leadscore sandbox`: "
                                      "the one running with its --dir in SANDBOX_DIR if any "
                                      "(its ports, CA, seed), else the --port given."),
    sandbox_dir: Path = typer.Option(None, "--sandbox-dir",
                                     help=f"With --sandbox: the sandbox's --dir (default: "
                                          f"DIR/{SANDBOX_DIR})."),
    port: int = typer.Option(None, "--port", min=0, max=65534,
                             help=f"With --sandbox and no running sandbox: its --port "
                                  f"(HubSpot uses the next; default {DEFAULT_PORT})."),
    hubspot_tls: bool = typer.Option(False, "--hubspot-tls",
                                     help="With --sandbox and no running sandbox: it will serve "
                                          "HubSpot over TLS too (`sandbox --hubspot-tls`)."),
    force: bool = typer.Option(False, "--force", help="Overwrite existing files."),
) -> None:
    """Write a commented leadscore.toml and the example mappings to start from."""
    target = _sandbox_target(directory, sandbox_dir, port, hubspot_tls) if sandbox else None
    written = write_project(directory, sandbox=target, force=force)
    for path in written:
        typer.echo(f"wrote {path}")
    if target is None:
        typer.echo("next: set the variables named in leadscore.toml, edit a mapping, then "
                   "`leadscore check --connection NAME`")
        return
    first = "salesforce" if "salesforce" in target.ports else "hubspot"
    if target.facts_file is not None:
        typer.echo(f"read the running sandbox's ports and CA from {target.facts_file}")
    if target.suggest_first:
        typer.echo(f"next: the sandbox holds your CSV: `leadscore mappings suggest --connection "
                   f"{first}` in {directory} drafts its mapping, then `leadscore check "
                   f"--connection {first}`")
    elif target.facts_file is not None:
        typer.echo(f"next: `leadscore check --connection {first}` in {directory}")
    else:
        flag = " --hubspot-tls" if target.hubspot_tls else ""
        typer.echo(f"next: `leadscore sandbox --port {target.ports['salesforce']}{flag}` in "
                   f"{directory}, then `leadscore check --connection salesforce`")

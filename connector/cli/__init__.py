"""The ``leadscore`` command line: the one place that turns errors into a line and an exit code.

Commands live in sibling modules and register themselves on :data:`app`; they raise
:class:`connector.errors.LeadscoreError` subclasses and never call ``sys.exit`` themselves.
Exit codes are listed in :mod:`connector.errors`.
"""

from __future__ import annotations

import sys

import typer
from rich.console import Console

from connector.cli.terminal import shown
from connector.errors import LeadscoreError

app = typer.Typer(
    name="leadscore", no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
    help="Predictive lead scores inside Salesforce and HubSpot, trained on your own CRM history.")

_options = {"verbose": False}
stderr = Console(stderr=True, highlight=False, soft_wrap=True)


@app.callback()
def _global(verbose: bool = typer.Option(False, "--verbose", "-v",
                                         help="Show full tracebacks on errors.")) -> None:
    _options["verbose"] = verbose


def _report(error: LeadscoreError) -> int:
    stderr.print(f"[bold red]error:[/] {shown(error.message)}", markup=True, highlight=False)
    if error.hint:
        stderr.print(f"[dim]hint:[/] {shown(error.hint)}", markup=True, highlight=False)
    if _options["verbose"]:
        stderr.print_exception()
    return error.exit_code


def main(argv: list[str] | None = None) -> int:
    """Run the CLI with ``argv`` (default ``sys.argv[1:]``) and return the exit code."""
    from connector.cli import (  # noqa: F401  (each module registers its commands)
        admin_cmd, demo_cmd, forget_cmd, init_cmd, model_cmd, sandbox_cmd, sync_cmd)

    command = typer.main.get_command(app)
    try:
        result = command.main(args=argv if argv is not None else sys.argv[1:],
                              prog_name="leadscore", standalone_mode=False)
    except LeadscoreError as error:
        return _report(error)
    except typer.Exit as done:
        return done.exit_code
    except typer.TyperException as usage:
        # typer >= 0.29 bundles its own click: its usage errors (missing option, unknown
        # command) derive from TyperException, not from the `click` package's classes.
        usage.show()
        return usage.exit_code
    except (typer.Abort, KeyboardInterrupt):
        stderr.print("interrupted")
        return 130
    return result if isinstance(result, int) else 0

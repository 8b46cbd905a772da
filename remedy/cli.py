"""`remedy`: the command line. One clear error line and a non-zero exit, never a traceback.

This module only assembles it: each command module has a typer app of its own, and
their commands are shown by `remedy --help` in the order they are added here. What the
modules share is in remedy/cli_common.py.
"""

from __future__ import annotations

import typer

from remedy import cli_coverage, cli_incident, cli_stack, rehearse
from remedy.settings import SecretSettingError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Remedy: durable, automated incident remediation on Temporal.",
)
# dev, demo, worker, bridge, codec-server, check
app.add_typer(cli_stack.app)
# list, status, report, fire, export, replay, acknowledge, approve, reject
app.add_typer(cli_incident.app)
# rehearse
app.add_typer(rehearse.app)
# coverage
app.add_typer(cli_coverage.app)


def main() -> None:
    try:
        app()
    except SecretSettingError as err:  # a placeholder or short token: one line, no trace
        typer.echo(f"remedy: {err}", err=True)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()

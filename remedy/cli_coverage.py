"""`remedy coverage`: which runbook steps Remedy automates, asks a person for, declares
not applicable -- and which it does not cover. Generated from the runbooks and the
playbooks' `COVERAGE` declarations (remedy/coverage.py), so it cannot drift.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer()


@app.command("coverage")
def coverage(
    runbooks: Annotated[
        list[Path] | None,
        typer.Argument(help="runbook markdown files (default: the two seed runbooks)"),
    ] = None,
    table: Annotated[bool, typer.Option("--table", help="every step, not only counts")] = False,
    fmt: Annotated[
        str, typer.Option("--format", help="text or markdown (markdown: counts and table)")
    ] = "text",
    check: Annotated[
        bool, typer.Option("--check", help="exit 1 if a step is not covered (for CI)")
    ] = False,
) -> None:
    """Runbook coverage per runbook and playbook: automated / asks a person / not
    applicable / not covered, and the deviations from the runbook."""
    from remedy import coverage as cov

    if fmt not in ("text", "markdown"):
        typer.echo(f"remedy: --format must be text or markdown, not {fmt!r}", err=True)
        raise typer.Exit(2)
    try:
        paths = list(runbooks) if runbooks else cov.seed_paths()
        steps = cov.read_steps(paths)
    except OSError as e:
        typer.echo(f"remedy: {e}", err=True)
        raise typer.Exit(2) from None
    rows, stale = cov.join(steps, cov.declarations())
    if fmt == "markdown":
        typer.echo(cov.markdown_report(rows), nl=False)
    else:
        typer.echo(cov.text_report(rows, table=table), nl=False)
    for d in stale:
        typer.echo(
            f"remedy: stale declaration ({d.playbook}): {d.runbook}: {d.section} > {d.step}",
            err=True,
        )
    gaps = [r for r in rows if r.status == cov.NOT_COVERED]
    if check and (gaps or stale):
        typer.echo(f"remedy: {len(gaps)} steps not covered, {len(stale)} stale", err=True)
        raise typer.Exit(1)

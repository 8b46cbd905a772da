"""`remedy`: the command line. One clear error line and a non-zero exit, never a traceback.

Commands that talk to Temporal leave with os._exit after flushing: short-lived
processes holding a Temporal client can crash at interpreter exit (sdk-python#300).
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

from activities.inventory import InventoryError, load_inventory
from remedy.settings import Settings

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Remedy: durable, automated incident remediation on Temporal.",
)
out = Console()
err = Console(stderr=True)
# How a timeline entry's outcome is shown in the terminal (status, demo, rehearse).
OUTCOME_COLORS = {"ok": "green", "failed": "red", "skipped": "yellow", "info": "dim"}
T = TypeVar("T")

DataDir = Annotated[
    Path, typer.Option("--data-dir", help="where the dev server keeps its SQLite file")
]
InventoryOpt = Annotated[Path, typer.Option("--inventory", help="inventory YAML")]


def fail(message: str, code: int = 1) -> None:
    err.print(f"[bold red]remedy:[/] {message}", highlight=False)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def parse_kv(items: list[str], what: str) -> dict[str, str]:
    """`--label k=v` options as a dict; anything else exits 2 naming the option."""
    d: dict[str, str] = {}
    for it in items:
        k, sep, v = it.partition("=")
        if not sep or not k:
            fail(f"--{what} {it!r}: expected key=value", 2)
        d[k] = v
    return d


def run_client(coro: Callable[[], Awaitable[T]]) -> None:
    """Run a client coroutine, turn known failures into one line, exit hard (see module doc)."""
    from temporalio.client import RPCError, WorkflowUpdateFailedError
    from temporalio.service import RPCError as ServiceRPCError

    code = 0
    try:
        asyncio.run(coro())  # type: ignore[arg-type]
    except KeyboardInterrupt:
        code = 130
    except (RPCError, ServiceRPCError) as e:
        msg = str(e)
        if "not found" in msg.lower():
            fail(f"no such incident: {msg}")
        fail(f"Temporal error: {msg}")
    except RuntimeError as e:
        if "connect" in str(e).lower() or "transport" in str(e).lower():
            fail(
                f"cannot reach Temporal at {Settings().temporal_address}: {e}. "
                "Is `remedy dev` (make run) running?"
            )
        fail(str(e))
    except (InventoryError, ValueError) as e:
        fail(str(e), 2)
    except WorkflowUpdateFailedError as e:  # the workflow's validator said no: say why
        fail(f"refused: {getattr(e.cause, 'message', None) or e}")
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _token_file(data_dir: Path) -> Path:
    return data_dir / "bridge-token"


def bridge_token(settings: Settings) -> str:
    """REMEDY_BRIDGE_TOKEN, else the one `remedy dev` generated into the data dir."""
    if settings.bridge_token:
        return settings.bridge_token.get_secret_value()
    f = _token_file(settings.data_dir)
    if f.exists():
        return f.read_text().strip()
    fail(f"no bridge token: set REMEDY_BRIDGE_TOKEN or start `remedy dev` (writes {f})")
    raise AssertionError  # unreachable


# The commands that run Remedy's processes (dev, demo, worker, bridge, codec-server) live
# in their own module; importing it here registers them on `app`, in this place in --help.
from remedy import cli_stack  # noqa: E402,F401


@app.command()
def check(
    inventory: Annotated[Path, typer.Argument(help="inventory YAML")] = Path(
        "examples/inventory.yaml"
    ),
) -> None:
    """Validate an inventory file; print every problem as file: yaml.path: problem."""
    try:
        inv = load_inventory(inventory)
    except InventoryError as e:
        fail(str(e), 2)
    for w in inv.warnings():  # valid, but not usable from here: say so, don't fail
        err.print(f"[yellow]warning:[/] {inventory}: {w}", highlight=False)
    out.print(f"{inventory}: OK — {len(inv.hosts)} hosts, {len(inv.services)} services")


# ---------------------------------------------------------------------------- incidents
@app.command("list")
def list_incidents(
    limit: Annotated[int, typer.Option(help="at most this many")] = 50,
    query: Annotated[
        str, typer.Option(help="extra visibility filter, e.g. RemedyService='x'")
    ] = "",
) -> None:
    """Open and recent incidents (Temporal visibility + Remedy's search attributes)."""
    from rich.table import Table

    from remedy.temporal import connect

    async def go() -> None:
        s = Settings()
        client = await connect(s.temporal_address, s.temporal_namespace)
        q = "RemedyAlertName IS NOT NULL" + (f" AND ({query})" if query else "")
        table = Table()
        table.add_column("incident", no_wrap=True)  # first, as in the rows
        for header in ("playbook", "status", "phase", "severity", "started"):
            table.add_column(header)
        n = 0
        async for wf in client.list_workflows(q, limit=limit):
            sa = wf.search_attributes
            table.add_row(
                wf.id,
                wf.workflow_type,
                wf.status.name if wf.status else "?",
                str((sa.get("RemedyPhase") or ["?"])[0]),
                str((sa.get("RemedySeverity") or ["?"])[0]),
                f"{wf.start_time:%Y-%m-%d %H:%M:%S}",
            )
            n += 1
        out.print(table if n else "no incidents")

    run_client(go)


def _render_status(st: Any, max_rows: int | None = None) -> Any:
    from rich.table import Table

    from remedy.report import countdowns

    t = Table(
        title=f"{st.incident_id} — {st.playbook} — phase {st.phase.value}"
        + (f" — {st.outcome}" if st.outcome else ""),
        title_justify="left",
    )
    t.add_column("time (UTC)")
    t.add_column("phase")
    t.add_column("step")
    t.add_column("outcome")
    t.add_column("detail", overflow="fold")
    rows = st.timeline if max_rows is None else st.timeline[-max_rows:]
    if len(rows) < len(st.timeline):
        t.add_row("…", "", f"{len(st.timeline) - len(rows)} earlier steps", "", "")
    for e in rows:
        t.add_row(
            f"{e.at:%H:%M:%S}",
            e.phase.value,
            e.step,
            f"[{OUTCOME_COLORS[e.outcome]}]{e.outcome}[/]",
            e.detail,
        )
    clocks = countdowns(st, datetime.now(UTC))
    waiting = [f"waiting for approval: {k} ({v})" for k, v in st.pending_approvals.items()]
    if clocks or waiting:
        t.caption = " · ".join([*waiting, *clocks])
    return t


@app.command()
def status(
    incident: Annotated[str, typer.Argument(help="incident (workflow) id")],
    watch: Annotated[
        bool, typer.Option("--watch", help="refresh until the incident closes")
    ] = False,
) -> None:
    """Phase, timeline and next deadline of an incident."""
    from rich.live import Live

    from remedy.temporal import connect
    from workflows.models import IncidentStatus

    async def go() -> None:
        s = Settings()
        client = await connect(s.temporal_address, s.temporal_namespace)
        handle = client.get_workflow_handle(incident)
        st = await handle.query("status", result_type=IncidentStatus)
        if not watch:
            out.print(_render_status(st))
            return
        # Only the latest steps fit a live view: rich crops what exceeds the terminal.
        rows = max(out.size.height - 10, 5)
        with Live(_render_status(st, rows), console=out, refresh_per_second=2) as live:
            while not st.outcome:
                await asyncio.sleep(1)
                st = await handle.query("status", result_type=IncidentStatus)
                live.update(_render_status(st, rows))

    run_client(go)


@app.command()
def report(
    incident: Annotated[str, typer.Argument(help="incident (workflow) id")],
    fmt: Annotated[str, typer.Option("--format", "-f", help="md or html")] = "md",
    template: Annotated[
        str, typer.Option("--template", "-t", help="postmortem, status or notice (user-facing)")
    ] = "postmortem",
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="file (default: stdout)")
    ] = None,
) -> None:
    """Post-incident report, status update or user-facing notice (the seeds' templates,
    rendered from the timeline) as markdown or HTML."""
    from remedy import report as rep
    from remedy.temporal import connect

    if fmt not in ("md", "html"):
        fail(f"--format {fmt!r}: expected md or html", 2)
    if template not in ("postmortem", "status", "notice"):
        fail(f"--template {template!r}: expected postmortem, status or notice", 2)

    async def go() -> None:
        s = Settings()
        client = await connect(s.temporal_address, s.temporal_namespace)
        md = await rep.fetch(client, incident, template)  # type: ignore[arg-type]
        text = rep.render(md, fmt)  # type: ignore[arg-type]
        if output is None:
            sys.stdout.write(text)
        else:
            output.write_text(text)
            err.print(f"{output}: {fmt} report of {incident}", markup=False, highlight=False)

    run_client(go)


@app.command()
def fire(
    alertname: Annotated[str, typer.Argument(help="e.g. GenesisServiceDown")],
    label: Annotated[list[str], typer.Option("--label", "-l", help="k=v, repeatable")] = [],  # noqa: B006
    annotation: Annotated[list[str], typer.Option("--annotation", "-a", help="k=v")] = [],  # noqa: B006
    resolve: Annotated[bool, typer.Option("--resolve", help="send the alert as resolved")] = False,
    url: Annotated[str, typer.Option(help="bridge URL")] = "",
) -> None:
    """Post an Alertmanager-format (webhook v4) alert to the bridge."""
    import hashlib
    import json

    import httpx

    s = Settings()
    labels = {"alertname": alertname} | parse_kv(label, "label")
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    status_ = "resolved" if resolve else "firing"
    fp = hashlib.sha256(json.dumps(labels, sort_keys=True).encode()).hexdigest()[:16]
    alert = {
        "status": status_,
        "labels": labels,
        "annotations": parse_kv(annotation, "annotation"),
        "startsAt": now,
        "endsAt": now if resolve else "0001-01-01T00:00:00Z",
        "generatorURL": "",
        "fingerprint": fp,
    }
    payload = {
        "version": "4",
        "groupKey": f'{{}}:{{alertname="{alertname}"}}',
        "truncatedAlerts": 0,
        "status": status_,
        "receiver": "remedy",
        "groupLabels": {"alertname": alertname},
        "commonLabels": labels,
        "commonAnnotations": alert["annotations"],
        "externalURL": "remedy-cli",
        "alerts": [alert],
    }
    target = url or f"http://127.0.0.1:{s.bridge_port}/alertmanager"
    try:
        r = httpx.post(
            target, json=payload, timeout=30, headers={"Authorization": f"Bearer {bridge_token(s)}"}
        )
    except httpx.HTTPError as e:
        fail(f"cannot reach the bridge at {target}: {e}. Is `remedy dev` running?")
    if r.status_code != 200:
        fail(f"bridge answered {r.status_code}: {r.text[:500]}")
    out.print(f"{status_} {alertname} {labels} -> {r.text[:500]}")


# ---------------------------------------------------------------------------- histories
@app.command()
def export(
    incident: Annotated[str, typer.Argument(help="workflow id (incident or rollback)")],
    run_id: Annotated[str, typer.Option("--run-id", help="default: the latest run")] = "",
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="file (default: stdout)")
    ] = None,
) -> None:
    """Write one run's history as JSON, its run id pinned (input to `remedy replay`)."""
    import json

    from remedy import history
    from remedy.temporal import connect

    async def go() -> None:
        s = Settings()
        client = await connect(s.temporal_address, s.temporal_namespace)
        doc = await history.export(client, incident, run_id or None)
        if output is None:
            sys.stdout.write(json.dumps(doc, indent=1, sort_keys=True) + "\n")
        else:
            history.write(doc, output)
            # Plain text: ids like incident:A:x must not turn into emoji or markup.
            err.print(
                f"{output}: {doc['workflowType']} {incident} run {doc['runId']}",
                markup=False,
                emoji=False,
                highlight=False,
                soft_wrap=True,
            )

    run_client(go)


@app.command()
def replay(
    paths: Annotated[list[Path], typer.Argument(help="history JSON files or directories")],
) -> None:
    """Replay histories against this version's playbooks: non-zero exit if any diverges."""
    from remedy import history

    async def go() -> None:
        report = await history.replay(paths)
        for line in report.lines():
            out.print(line, markup=False, emoji=False, highlight=False, soft_wrap=True)
        n, bad = len(report.outcomes), len(report.failures)
        if bad:
            fail(f"{bad} of {n} histories do not replay: not safe for running incidents")
        out.print(f"{n} histories replay cleanly")

    run_client(go)


# Commands a person uses on a running incident, and `remedy rehearse`, live in their own
# modules; importing them registers them on `app`.
from remedy import cli_incident, rehearse  # noqa: E402,F401


def main() -> None:
    app()


if __name__ == "__main__":
    main()

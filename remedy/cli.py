"""`remedy`: the command line. One clear error line and a non-zero exit, never a traceback.

Commands that talk to Temporal leave with os._exit after flushing: short-lived
processes holding a Temporal client can crash at interpreter exit (sdk-python#300).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from pydantic import SecretStr
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


STOP_GRACE_S = 10.0  # remedy dev: the most a graceful worker shutdown may take on Ctrl-C


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


# ---------------------------------------------------------------------------- run the stack
@app.command()
def dev(
    data_dir: DataDir = Path("data"),
    inventory: InventoryOpt = Path("examples/inventory.yaml"),
    temporal_port: Annotated[int, typer.Option(help="Temporal frontend port")] = 7233,
    ui_port: Annotated[int, typer.Option(help="Temporal Web UI port")] = 8233,
    bridge_port: Annotated[int, typer.Option(help="alert bridge port")] = 8787,
) -> None:
    """The embedded default: Temporal dev server (SQLite) + worker + bridge. Ctrl-C stops all."""
    from remedy.devstack import DevServer, wait_for_frontend

    try:
        inv = load_inventory(inventory)
    except InventoryError as e:
        fail(str(e), 2)
    settings = Settings(
        inventory=inventory,
        data_dir=data_dir,
        bridge_port=bridge_port,
        TEMPORAL_ADDRESS=f"127.0.0.1:{temporal_port}",
    )  # type: ignore[call-arg]
    if not settings.bridge_token:
        tf = _token_file(data_dir)
        data_dir.mkdir(parents=True, exist_ok=True)
        if not tf.exists():
            tf.write_text(secrets.token_urlsafe(32))
            tf.chmod(0o600)
        settings.bridge_token = SecretStr(tf.read_text().strip())
        token_hint = f"generated, in {tf} (or set REMEDY_BRIDGE_TOKEN)"
    else:
        token_hint = "from REMEDY_BRIDGE_TOKEN"
    server = DevServer(data_dir=data_dir, port=temporal_port, ui_port=ui_port)
    out.print(
        f"starting Temporal dev server on {server.address} (data: {data_dir}/temporal.db) ..."
    )

    # Until the stack's loop takes the signals over, SIGTERM ends us like Ctrl-C, so the
    # dev server we start is stopped in `finally` below and never outlives us.
    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)
    try:
        server.start()
    except RuntimeError as e:
        fail(str(e))
    except KeyboardInterrupt:
        server.stop()
        os._exit(130)

    async def stack() -> None:
        from worker import run_worker

        await wait_for_frontend(server.address)
        tasks = [asyncio.create_task(run_worker(settings, inv), name="worker")]
        bridge_url = None
        try:
            from bridge.server import serve
        except ImportError:
            serve = None  # type: ignore[assignment]
        if serve is not None:
            tasks.append(
                asyncio.create_task(serve(settings, inv, "127.0.0.1", bridge_port), name="bridge")
            )
            bridge_url = f"http://127.0.0.1:{bridge_port}/alertmanager"
        out.print(
            f"[bold green]Remedy is running[/] — {len(inv.services)} services from {inventory}"
        )
        out.print(f"  Temporal UI : {server.ui_url}")
        out.print(f"  Temporal    : {server.address}")
        if bridge_url:
            out.print(f"  Bridge      : {bridge_url}  (bearer token {token_hint})")
        out.print(
            "  Try         : remedy fire GenesisServiceDown --label service=genesis-orchestration"
        )
        out.print("Ctrl-C stops everything.")
        # SIGINT/SIGTERM (Ctrl-C, `timeout`, a process manager) stop the stack the same way.
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stopping.set)
        stop_wait = asyncio.create_task(stopping.wait())
        done, _ = await asyncio.wait([*tasks, stop_wait], return_when=asyncio.FIRST_COMPLETED)
        for t in done:
            if t is not stop_wait and t.exception():
                raise t.exception()  # type: ignore[misc]
        out.print("stopping ...")
        # Cancel = graceful worker shutdown. It can wait on long polls or on core retrying a
        # server call, so it gets STOP_GRACE_S and no more: we never wait on it unbounded
        # (that is what once kept Ctrl-C from ending `remedy dev`). Nothing is lost by
        # leaving early: in-flight activities are retried by the server on the next start.
        for t in tasks:
            t.cancel()
        _, pending = await asyncio.wait(tasks, timeout=STOP_GRACE_S)
        if pending:
            err.print(
                f"worker shutdown still waiting after {STOP_GRACE_S:.0f}s; stopping anyway "
                "(unfinished activities are retried on the next start)"
            )

    code = 0
    # Our own loop, not asyncio.run(): asyncio.run would wait, unbounded, for every task
    # still pending to finish cancelling. We exit with os._exit after stopping the server.
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(stack())
    except KeyboardInterrupt:  # a signal before the handlers were installed
        out.print("stopping ...")
    except Exception as e:  # one line, then stop the server we started
        err.print(f"[bold red]remedy:[/] {e}")
        code = 1
    finally:
        server.stop()
    sys.stdout.flush()
    os._exit(code)


@app.command()
def demo(
    unattended: Annotated[
        bool, typer.Option("--unattended", help="exit when done (no hold for the UI)")
    ] = False,
    timeout: Annotated[float, typer.Option(help="give up after this many seconds")] = 600,
    ui_port: Annotated[int, typer.Option(help="Temporal Web UI port")] = 8233,
    keep: Annotated[
        Path | None, typer.Option("--keep", help="work in this dir and keep it (logs, db)")
    ] = None,
) -> None:
    """A real local world (sshd, supervisord, Prometheus, Alertmanager, the dev stack),
    broken twice and healed live. Ctrl-C tears everything down."""
    from remedy.demo import DemoError, run

    code = 0
    try:
        outcomes = run(
            timeout_s=timeout, keep_dir=keep, ui_port=ui_port, hold=not unattended, out=out
        )
        bad = {k: v for k, v in outcomes.items() if v != "resolved"}
        if bad:
            err.print(f"[bold red]remedy demo:[/] not resolved: {bad}", highlight=False)
            code = 1
        else:
            out.print("[bold green]demo: both incidents resolved[/]")
    except KeyboardInterrupt:
        code = 130
    except DemoError as e:
        err.print(f"[bold red]remedy demo:[/] {e}", highlight=False)
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


@app.command()
def worker() -> None:
    """Run the worker (production process; TEMPORAL_ADDRESS, REMEDY_INVENTORY, ...)."""
    from worker import main as worker_main

    worker_main()


@app.command()
def bridge() -> None:
    """Run the alert bridge (production process; REMEDY_BRIDGE_TOKEN, TEMPORAL_ADDRESS, ...)."""
    from bridge.server import main as bridge_main

    bridge_main()


@app.command("codec-server")
def codec_server() -> None:
    """Serve the Temporal UI remote codec (REMEDY_CODEC_KEYS, REMEDY_CODEC_SERVER_TOKEN)."""
    from remedy.codec import CodecKeyError
    from remedy.codec_server import main as codec_main

    try:
        codec_main()
    except CodecKeyError as e:
        fail(str(e), 2)


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
    colors = {"ok": "green", "failed": "red", "skipped": "yellow", "info": "dim"}
    rows = st.timeline if max_rows is None else st.timeline[-max_rows:]
    if len(rows) < len(st.timeline):
        t.add_row("…", "", f"{len(st.timeline) - len(rows)} earlier steps", "", "")
    for e in rows:
        t.add_row(
            f"{e.at:%H:%M:%S}",
            e.phase.value,
            e.step,
            f"[{colors[e.outcome]}]{e.outcome}[/]",
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

    def kv(items: list[str], what: str) -> dict[str, str]:
        d: dict[str, str] = {}
        for it in items:
            k, sep, v = it.partition("=")
            if not sep or not k:
                fail(f"--{what} {it!r}: expected key=value", 2)
            d[k] = v
        return d

    s = Settings()
    labels = {"alertname": alertname} | kv(label, "label")
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    status_ = "resolved" if resolve else "firing"
    fp = hashlib.sha256(json.dumps(labels, sort_keys=True).encode()).hexdigest()[:16]
    alert = {
        "status": status_,
        "labels": labels,
        "annotations": kv(annotation, "annotation"),
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


# Commands a person uses on a running incident live in their own module; importing it
# registers them on `app`.
from remedy import cli_incident  # noqa: E402,F401


def main() -> None:
    app()


if __name__ == "__main__":
    main()

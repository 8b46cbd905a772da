"""`remedy dev|demo|worker|bridge|codec-server|check`: the commands that run Remedy's
processes, and the check of the inventory they run with.

`dev` is the README's main job: a Temporal dev server (SQLite, in the data dir), the
worker and the bridge in one process; Ctrl-C (or SIGTERM) stops all three, in a bounded
time. The production commands run one process each (docker-compose.yml).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import sys
from pathlib import Path
from typing import Annotated

import typer
from pydantic import SecretStr
from rich.markup import escape

from activities.inventory import InventoryError, load_inventory
from remedy.cli_common import DataDir, InventoryOpt, err, fail, out, token_file
from remedy.settings import Settings

app = typer.Typer()

STOP_GRACE_S = 10.0  # remedy dev: the most a graceful worker shutdown may take on Ctrl-C


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
        tf = token_file(data_dir)
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
        err.print(f"[bold red]remedy:[/] {escape(str(e))}")
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
            err.print(
                f"[bold red]remedy demo:[/] not resolved: {escape(str(bad))}", highlight=False
            )
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
    for w in inv.warnings():  # valid, but not usable from here: say so, don't fail
        err.print(f"[yellow]warning:[/] {inventory}: {w}", highlight=False)
    out.print(f"{inventory}: OK — {len(inv.hosts)} hosts, {len(inv.services)} services")

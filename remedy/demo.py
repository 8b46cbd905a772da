"""`remedy demo`: a real local world on loopback, broken twice and healed by Remedy.

    sshd (generated host and client keys; known_hosts written here, never auto-accepted)
    supervisord -> examples/demo/service.py (/health, /metrics, fault injection)
    Prometheus (scrapes it, alert rules) -> Alertmanager (bearer token) -> the bridge
    Temporal dev server + worker + bridge (the `remedy dev` stack, in this process)

Then: inject a high error rate (HighErrorRate: diagnose, LLM-fallback mitigation,
restart, verify sustained), then crash the service (ApplicationDown playbook:
restart, verify healthy). Every timeline step is printed as it happens; at the end the
post-incident reports and the Temporal UI link of each incident. The runbooks' waits are
shortened by examples/demo/inventory.yaml, not by code.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

from pydantic import SecretStr
from rich.console import Console

from remedy.cli_common import OUTCOME_COLORS
from remedy.demo_world import (
    INCIDENTS,
    SERVICE,
    DemoError,
    World,
    free_port,
    missing_packages,
)
from remedy.devstack import DevServer

if TYPE_CHECKING:
    from temporalio.client import Client

    from activities.inventory import Inventory
    from remedy.settings import Settings


# ---------------------------------------------------------------------- the show
def ui_link(ui: str, wid: str, run_id: str = "") -> str:
    base = f"{ui}/namespaces/default/workflows/{quote(wid, safe='')}"
    return f"{base}/{run_id}/history" if run_id else base


async def follow(
    client: Client, wid: str, out: Console, deadline: float, ui: str, since: datetime
) -> tuple[str, str]:
    """Print the incident's timeline as it grows, with its clocks, until it closes.
    Only a run started after `since` counts (a kept data dir holds earlier demos').
    Returns (outcome, run id)."""
    from rich.markup import escape
    from temporalio.service import RPCError

    from remedy.report import countdowns
    from workflows.models import IncidentStatus, PlaybookResult

    shown, last_clock = 0, 0.0
    run_id = ""
    while time.monotonic() < deadline:
        try:
            if not run_id:
                desc = await client.get_workflow_handle(wid).describe()
                if desc.start_time < since:
                    raise LookupError  # an earlier demo's incident: not ours
                run_id = desc.run_id
                handle = client.get_workflow_handle(wid, run_id=run_id, result_type=PlaybookResult)
                out.print(
                    f"[bold]alert arrived[/] via the bridge → incident [cyan]{escape(wid)}[/] "
                    f"({desc.workflow_type})",
                    highlight=False,
                )
                out.print(
                    f"  Temporal UI: {ui_link(ui, wid, run_id)}", highlight=False, soft_wrap=True
                )
            st = await handle.query("status", result_type=IncidentStatus)
        except (RPCError, LookupError):
            await asyncio.sleep(0.5)
            continue
        timeline, outcome = st.timeline, st.outcome
        if outcome:
            # Decided; the run still writes the incident log and the post-mortem.
            left = max(deadline - time.monotonic(), 1)
            res = await asyncio.wait_for(handle.result(), left)
            timeline, outcome = res.timeline, res.outcome
        for e in timeline[shown:]:
            out.print(
                f"  {e.at:%H:%M:%S} [blue]{e.phase.value:<12}[/] {escape(e.step)} "
                f"[{OUTCOME_COLORS[e.outcome]}]{e.outcome}[/] [dim]{escape(e.detail[:110])}[/]",
                highlight=False,
                soft_wrap=True,
            )
        shown = len(timeline)
        if outcome:
            color = "green" if outcome == "resolved" else "red"
            out.print(f"[bold {color}]{escape(wid)}: {outcome}[/]", highlight=False)
            return outcome, run_id
        if time.monotonic() - last_clock > 5:
            clocks = countdowns(st, datetime.now(UTC))
            if st.phase.value == "Verification" and clocks:
                out.print(f"  [yellow]⏱ {' · '.join(clocks)}[/]", highlight=False)
            last_clock = time.monotonic()
        await asyncio.sleep(0.5)
    raise DemoError(f"{wid} did not close within the time limit")


async def show(
    world: World, settings: Settings, inv: Inventory, server: DevServer, timeout_s: float
) -> dict[str, str]:
    from bridge.server import serve
    from remedy import report
    from remedy.devstack import wait_for_frontend
    from remedy.temporal import connect
    from worker import run_worker

    out = world.out
    await wait_for_frontend(server.address)
    tasks = [
        asyncio.create_task(run_worker(settings, inv)),
        asyncio.create_task(serve(settings, inv, "127.0.0.1", world.ports["bridge"])),
    ]
    client = await connect(server.address)
    ui = server.ui_url
    deadline = time.monotonic() + timeout_s
    outcomes: dict[str, str] = {}
    runs: dict[str, str] = {}
    try:
        await asyncio.sleep(3)  # Prometheus has a few healthy samples first
        for fault, alert, wid in INCIDENTS:
            out.rule(f"breaking {SERVICE}: {'high error rate' if fault == 'errors' else 'crash'}")
            since = datetime.now(UTC)
            await asyncio.to_thread(world.inject, fault)
            out.print(f"waiting for Prometheus → Alertmanager → bridge to raise {alert} ...")
            outcomes[wid], runs[wid] = await follow(client, wid, out, deadline, ui, since)
        for _, _, wid in INCIDENTS:
            out.rule(f"post-incident report: {wid}")
            out.print(await report.fetch(client, wid), markup=False, highlight=False)
        out.rule("in the Temporal UI")
        for _, _, wid in INCIDENTS:
            out.print(
                f"{wid}: {outcomes[wid]} — {ui_link(ui, wid, runs[wid])}",
                markup=False,
                highlight=False,
                soft_wrap=True,
            )
        q = quote(f'RemedyService="{SERVICE}"')
        out.print(
            f"list: {ui}/namespaces/default/workflows?query={q}", highlight=False, soft_wrap=True
        )
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return outcomes


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def run(
    *, timeout_s: float, keep_dir: Path | None, ui_port: int, hold: bool, out: Console
) -> dict[str, str]:
    """Bring the world up, run the show, tear everything down (also on Ctrl-C)."""
    from activities.inventory import load_inventory
    from remedy.settings import Settings

    # Ctrl-C, and a plain `kill`, both tear down (SIGINT may arrive ignored when the
    # demo was started in the background by a shell without job control).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _interrupt)
    missing = missing_packages()
    if missing:
        raise DemoError(
            "missing Debian packages; install them with:\n"
            f"  sudo apt-get install -y {' '.join(missing)}"
        )
    if not (Path(sys.executable).parent / "supervisord").exists():
        raise DemoError(
            "supervisord is missing from this environment; install it with:\n"
            f"  {Path(sys.executable).parent / 'pip'} install 'supervisor>=4.2'"
            "   (make run installs it with the dev extra)"
        )
    base = keep_dir or Path(tempfile.mkdtemp(prefix="remedy-demo-"))
    base.mkdir(parents=True, exist_ok=True)
    os.chmod(base, 0o755)
    world = World(base, out)
    world.ports["bridge"] = free_port()
    server = DevServer(data_dir=base / "data", port=free_port(), ui_port=ui_port)
    try:
        out.print(
            f"[bold]remedy demo[/] — everything on 127.0.0.1, files in {base}", highlight=False
        )
        world.sshd()
        out.print(
            f"  sshd          127.0.0.1:{world.ports['ssh']} (known_hosts written by the demo)"
        )
        world.service()
        out.print(f"  {SERVICE}      http://127.0.0.1:{world.ports['service']} under supervisord")
        world.alertmanager()
        world.prometheus()
        out.print(f"  Prometheus    http://127.0.0.1:{world.ports['prometheus']}")
        out.print(
            f"  Alertmanager  http://127.0.0.1:{world.ports['alertmanager']} → bridge (bearer)"
        )
        inv_path = world.inventory()
        inv = load_inventory(inv_path)
        settings = Settings(
            inventory=inv_path,
            data_dir=base / "data",
            bridge_port=world.ports["bridge"],
            prometheus_url=f"http://127.0.0.1:{world.ports['prometheus']}",
            TEMPORAL_ADDRESS=server.address,
        )  # type: ignore[call-arg]
        settings.bridge_token = SecretStr(world.token)
        server.start()
        out.print(f"  Temporal      {server.address}, UI {server.ui_url}")
        outcomes = asyncio.run(show(world, settings, inv, server, timeout_s))
        if hold:
            out.print(f"Temporal UI stays up at {server.ui_url} — Ctrl-C to tear down.")
            with contextlib.suppress(KeyboardInterrupt):
                while True:
                    time.sleep(3600)
        return outcomes
    finally:
        out.print("tearing down ...")
        server.stop()
        world.stop()
        if keep_dir is None:
            shutil.rmtree(base, ignore_errors=True)

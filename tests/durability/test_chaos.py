"""Chaos: kill -9 the worker (a separate `python worker.py`) at several points across
ServiceDown, and the dev server itself once, then start them again. Every incident must
end as its undisturbed twin did, and the target's side-effect log must show each
restart and rollback step exactly as many times as the workflow decided.

Real durations throughout: the runbook's 30 s wait after a restart and the rollback's
10 s wait are not overridden (the whole test takes about 2-3 minutes). A kill during an
activity costs the 30 s heartbeat timeout before Temporal retries it elsewhere.

Cases and kill points are data: a HighErrorRate case is one more CASES entry plus
kill points naming its service (e.g. "inside the 10-minute verification").
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Literal

import pytest
from temporalio.client import Client, WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter

from activities.inventory import load_inventory
from remedy.devstack import DevServer, wait_for_frontend
from tests.durability.stack import (
    ROLLBACK_STEPS,
    STEP_TO_EFFECT,
    Target,
    WorkerProcess,
    dev_server,
    kill9_server,
    write_inventory,
)
from tests.fixtures.sshd import SshServer
from workflows.models import Alert, IncidentInput, IncidentStatus, PlaybookResult

pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class Kind:
    """How the target behaves, and what an undisturbed run must do about it."""

    name: str
    restart_ok: bool
    effects: dict[str, int]


RESTARTS = Kind("restart-works", True, {"restart": 1})
ROLLS_BACK = Kind("restart-fails", False, {"restart": 1} | {s: 1 for s in ROLLBACK_STEPS})
KINDS = [RESTARTS, ROLLS_BACK]


@dataclass(frozen=True)
class KillPoint:
    label: str
    kind: Kind
    victim: Literal["worker", "server"]
    when_effect: str  # kill once this side effect has started on the target ...
    after_s: float = 0.0  # ... and this long after
    delays: dict[str, float] = field(default_factory=dict)  # slow commands (kill mid-SSH)


KILL_POINTS = [
    KillPoint("worker, during the SSH restart", RESTARTS, "worker", "restart", 0.5, {"restart": 4}),
    KillPoint("worker, during the 30 s wait", RESTARTS, "worker", "restart", 4.0),
    KillPoint(
        "worker, during a rollback SSH step",
        ROLLS_BACK,
        "worker",
        "rollback_reset",
        0.5,
        {"rollback_reset": 4},
    ),
    KillPoint("worker, during the rollback's 10 s wait", ROLLS_BACK, "worker", "start", 2.0),
    KillPoint("dev server, during the 30 s wait", RESTARTS, "server", "restart", 4.0),
]


def decided(res: PlaybookResult) -> Counter[str]:
    """Side effects the workflow ran, per its own timeline (one entry per step result)."""
    return Counter(
        STEP_TO_EFFECT[e.step]
        for e in res.timeline
        if e.step in STEP_TO_EFFECT and e.outcome in ("ok", "failed")
    )


async def start(client: Client, service: str) -> WorkflowHandle[object, PlaybookResult]:
    return await client.start_workflow(
        "ServiceDown",
        IncidentInput(alert=Alert(alertname="GenesisServiceDown", service=service)),
        id=f"incident:GenesisServiceDown:{service}",
        task_queue="remedy",
        result_type=PlaybookResult,
        execution_timeout=timedelta(minutes=30),
    )


async def last_step(handle: WorkflowHandle[object, PlaybookResult]) -> str:
    try:
        st = await handle.query(
            "status", result_type=IncidentStatus, rpc_timeout=timedelta(seconds=3)
        )
    except Exception as err:  # noqa: BLE001 -- for the report only
        return f"? ({type(err).__name__})"
    return f"{st.timeline[-1].step} [{st.phase.value}]" if st.timeline else "?"


async def test_kill_nine_worker_and_server(
    sshd: SshServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    t0 = time.monotonic()
    baseline = {k.name: f"base-{i}" for i, k in enumerate(KINDS)}
    chaos = {kp.label: f"chaos-{i}" for i, kp in enumerate(KILL_POINTS)}
    target = Target(tmp_path / "target", [*baseline.values(), *chaos.values()])
    target.dir.mkdir()
    behaviour = {svc: {"restart_ok": k.restart_ok} for k in KINDS for svc in [baseline[k.name]]}
    for kp in KILL_POINTS:
        behaviour[chaos[kp.label]] = {"restart_ok": kp.kind.restart_ok, "delays": kp.delays}
    inv = tmp_path / "inventory.yaml"
    write_inventory(inv, sshd, target, behaviour)
    load_inventory(inv)  # what the worker will load; fail here, readably, if invalid
    target.start()
    server = dev_server(tmp_path / "temporal")
    await asyncio.to_thread(server.start)
    worker = WorkerProcess(server.address, inv, tmp_path)
    try:
        await wait_for_frontend(server.address)
        client = await Client.connect(server.address, data_converter=pydantic_data_converter)
        await asyncio.to_thread(worker.start)

        # ---- undisturbed twins
        handles = {k.name: await start(client, baseline[k.name]) for k in KINDS}
        undisturbed = {name: await asyncio.wait_for(h.result(), 120) for name, h in handles.items()}
        for k in KINDS:
            res = undisturbed[k.name]
            assert target.effects(baseline[k.name]) == Counter(k.effects) == decided(res)

        # ---- chaos: each kill point starts its incident, waits for its moment, kills
        running: dict[str, WorkflowHandle[object, PlaybookResult]] = {}
        killed_at: dict[str, str] = {}
        server_restarts = worker_deaths_in_outage = 0
        for kp in KILL_POINTS:
            svc = chaos[kp.label]
            running[kp.label] = await start(client, svc)
            deadline = time.monotonic() + 120
            while not target.effects(svc)[kp.when_effect]:
                assert time.monotonic() < deadline, f"{kp.label}: {kp.when_effect} never ran"
                await asyncio.sleep(0.1)
            await asyncio.sleep(kp.after_s)
            killed_at[kp.label] = await last_step(running[kp.label])
            if kp.victim == "worker":
                worker.kill9()
                await asyncio.sleep(0.5)
                await asyncio.to_thread(worker.start)
            else:
                kill9_server(server)
                await asyncio.sleep(2)
                server = DevServer(server.data_dir, port=server.port, ui_port=server.ui_port)
                await asyncio.to_thread(server.start)  # same SQLite file, same port
                await wait_for_frontend(server.address)
                server_restarts += 1
                await asyncio.sleep(3)
                if not worker.alive():  # the SDK should ride out a short outage
                    worker_deaths_in_outage += 1
                    await asyncio.to_thread(worker.start)

        results = {label: await asyncio.wait_for(h.result(), 240) for label, h in running.items()}
    finally:
        worker.stop()
        server.stop()
        target.stop()

    lines = []
    for kp in KILL_POINTS:
        res, twin = results[kp.label], undisturbed[kp.kind.name]
        effects = target.effects(chaos[kp.label])
        replayed = sum("not repeated" in e.detail or "(replayed)" in e.detail for e in res.timeline)
        lines.append(
            f"  {kp.label:42} killed at {killed_at[kp.label]!r}: {res.outcome} via {res.action}"
            f" (undisturbed: {twin.outcome} via {twin.action}); effects {dict(effects)}"
            f"; idempotent replays {replayed}"
        )
        assert (res.outcome, res.action) == (twin.outcome, twin.action), kp.label
        assert effects == Counter(kp.kind.effects) == decided(res), (kp.label, res.timeline)
    outcomes = Counter(
        f"{r.outcome} via {r.action}" for r in [*results.values(), *undisturbed.values()]
    )
    workers_killed = sum(kp.victim == "worker" for kp in KILL_POINTS)
    with capsys.disabled():
        print(
            f"\nchaos: {len(KILL_POINTS)} kill points ({workers_killed} worker kill -9, "
            f"{server_restarts} dev-server kill -9 + restart on the same SQLite file; worker "
            f"started {worker.starts} times, died in the outage {worker_deaths_in_outage} "
            f"times), {len(results) + len(undisturbed)} incidents ({len(undisturbed)} "
            f"undisturbed twins), outcomes {dict(outcomes)}, {time.monotonic() - t0:.0f} s\n"
            + "\n".join(lines)
        )

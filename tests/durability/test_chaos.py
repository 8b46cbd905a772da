"""Chaos: kill -9 the worker (a separate `python worker.py`) at several points across
ServiceDown and HighErrorRate, and the dev server itself, then start them again. Every incident must
end as its undisturbed twin did, and the target's side-effect log must show each
restart and rollback step exactly as many times as the workflow decided.

ServiceDown runs at real durations: the runbook's 30 s wait after a restart and the
rollback's 10 s wait are not overridden. A kill during an activity costs the 30 s
heartbeat timeout before Temporal retries it elsewhere.

HighErrorRate runs against a real Prometheus scraping a loopback exporter whose error
ratio is a file on the target: the service's restart and the rollback's start rewrite
it, so the playbook sees its own actions work (or not). Its waits are shortened for
this test only (SHORT_WAITS): the real 30 s / 10-minute / 30-minute durations are
tested on the time-skipping server (tests/workflows/test_high_error_rate.py) and
replayed from tests/histories/HighErrorRate-*.json. Its mitigation is counted on the
target too: the config file gains one "I" per execution of the edit, and the
restart and the rollback's stop append the file as they find it to the effect log.

Kinds and kill points are data: one more case is a KINDS entry plus KILL_POINTS naming it.
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
    PrometheusProcess,
    SliExporter,
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
    playbook: str = "ServiceDown"
    # HighErrorRate: the error ratio at the alert, after the restart, after the rollback.
    ratios: tuple[float, float, float] | None = None


RESTARTS = Kind("restart-works", True, {"restart": 1})
ROLLS_BACK = Kind("restart-fails", False, {"restart": 1} | {s: 1 for s in ROLLBACK_STEPS})
# HighErrorRate, scenario A (LLM errors): the llm_fallback edit, one restart, then the
# verification window. The effect log's "llm_fallback=I" is the config as the restart
# found it (edited exactly once); "llm_fallback=" is the config as the rollback's stop
# found it (the edit undone before the rollback).
GOOD, MID, BAD = 0.0005, 0.005, 0.02  # < 0.1 % SLO, between, > 1 % rollback threshold
MITIGATED = {"restart": 1, "llm_fallback=I": 1}
HER_MITIGATES = Kind("her-mitigates", True, MITIGATED, "HighErrorRate", (MID, GOOD, GOOD))
HER_ROLLS_BACK = Kind(
    "her-rolls-back",
    True,
    MITIGATED | {"llm_fallback=": 1} | {s: 1 for s in ROLLBACK_STEPS},
    "HighErrorRate",
    (MID, BAD, GOOD),  # the restart makes it worse: > 1 % at the first sample -> roll back
)
KINDS = [RESTARTS, ROLLS_BACK, HER_MITIGATES, HER_ROLLS_BACK]

# For these chaos runs only: the real durations (30 s after a restart, 10 s after the
# rollback's start, a 10-minute window sampled every 30 s, rollback at 30 minutes) are
# tested on the time-skipping server; on a dev server they would take the suite 15+
# minutes. rollback_after stays well beyond the run so it never decides anything here.
SHORT_WAITS = {
    "after_restart": 3,
    "after_rollback_start": 3,
    "verify_window": 20,
    "verify_interval": 2,
    "rollback_after": 240,
}


@dataclass(frozen=True)
class KillPoint:
    label: str
    kind: Kind
    victim: Literal["worker", "server"]
    when_effect: str  # kill once this side effect has started on the target ...
    after_s: float = 0.0  # ... and this long after
    delays: dict[str, float] = field(default_factory=dict)  # slow commands (kill mid-SSH)
    in_phase: str = ""  # if set: the incident was in this phase when killed (checked)


KILL_POINTS = [
    KillPoint(
        "worker, during HighErrorRate's rollback SSH step",
        HER_ROLLS_BACK,
        "worker",
        "rollback_reset",
        0.5,
        {"rollback_reset": 4},
    ),
    # restart effect + ~1 s for the restart + 3 s after_restart: 2-3 samples into the window
    KillPoint(
        "worker, inside HighErrorRate's verification",
        HER_MITIGATES,
        "worker",
        "restart",
        8.0,
        in_phase="Verification",
    ),
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
    KillPoint(
        "dev server, inside HighErrorRate's verification",
        HER_MITIGATES,
        "server",
        "restart",
        8.0,
        in_phase="Verification",
    ),
]
# Timeline step (SLI playbooks) -> side-effect log entry.
SLI_STEP_TO_EFFECT = {
    "restart after mitigation": "restart",
    "mitigation: llm_fallback": "llm_fallback=I",
    "restore: llm_fallback": "llm_fallback=",
}


def decided(res: PlaybookResult) -> Counter[str]:
    """Side effects the workflow ran, per its own timeline (one entry per step result)."""
    steps = STEP_TO_EFFECT | SLI_STEP_TO_EFFECT
    return Counter(
        steps[e.step] for e in res.timeline if e.step in steps and e.outcome in ("ok", "failed")
    )


def her_behaviour(
    kind: Kind, svc: str, target: Target, exporter: SliExporter, delays: dict[str, float]
) -> dict[str, object]:
    """A HighErrorRate service: its SLI on the exporter, its commands moving the SLI."""
    assert kind.ratios is not None
    at_alert, after_restart, after_rollback = kind.ratios
    config = target.dir / f"{svc}.llm_fallback"
    config.write_text("llm_fallback=\n")
    exporter.set(svc, at_alert)
    log = target.dir / f"{svc}.effects"
    restart, start = (" ".join(target.ctl(c, svc)) for c in ("restart", "start"))
    return {
        "restart_ok": True,
        "delays": delays,
        "shell": {
            "restart": f"cat {config} >> {log}; {restart} && "
            + exporter.set_cmd(svc, after_restart),
            "stop": f"cat {config} >> {log}",
            "start": f"{start} && {exporter.set_cmd(svc, after_rollback)}",
        },
        "spec": {
            "slis": {
                "error_rate": {
                    "query": f'chaos_error_ratio{{service="{svc}"}}',
                    "comparison": "lt",
                    "threshold": 0.001,
                }
            },
            "diagnostics": {"error_categories_query": f'chaos_errors{{service="{svc}"}}'},
            "mitigations": {
                "llm_fallback": {
                    "path": config.name,  # relative to the rollback repo: the target dir
                    "replace": {"old": "llm_fallback=", "new": "llm_fallback=I"},
                }
            },
            "waits": SHORT_WAITS,
        },
    }


async def prometheus_sees(url: str, n: int) -> None:
    """Every HighErrorRate service's ratio has been scraped."""
    import httpx

    async with httpx.AsyncClient(timeout=2) as http:
        for _ in range(150):
            r = await http.get(f"{url}/api/v1/query", params={"query": "chaos_error_ratio"})
            if len(r.json()["data"]["result"]) == n:
                return
            await asyncio.sleep(0.2)
    raise TimeoutError("prometheus never scraped the exporter")


async def start(client: Client, service: str, kind: Kind) -> WorkflowHandle[object, PlaybookResult]:
    alertname = "GenesisServiceDown" if kind.playbook == "ServiceDown" else kind.playbook
    return await client.start_workflow(
        kind.playbook,
        IncidentInput(alert=Alert(alertname=alertname, service=service)),
        id=f"incident:{alertname}:{service}",
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


# 12 incidents through 8 kill points at the runbooks' real waits (30 s after a restart,
# 10 s in a rollback, heartbeat timeouts before a retry elsewhere): 120-180 s alone,
# more beside two other pytest workers on 2 cores. The suite-wide 180 s guard is for
# tests that should be quick.
@pytest.mark.timeout(480)
async def test_kill_nine_worker_and_server(
    sshd: SshServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    t0 = time.monotonic()
    baseline = {k.name: f"base-{i}" for i, k in enumerate(KINDS)}
    chaos = {kp.label: f"chaos-{i}" for i, kp in enumerate(KILL_POINTS)}
    target = Target(tmp_path / "target", [*baseline.values(), *chaos.values()])
    target.dir.mkdir()
    exporter = SliExporter(tmp_path / "metrics", {"llm_rate_limit": 40, "network": 2})
    exporter.start()
    prometheus = PrometheusProcess(tmp_path / "prometheus", [exporter.target])
    services = [(k, baseline[k.name], {}) for k in KINDS]
    services += [(kp.kind, chaos[kp.label], kp.delays) for kp in KILL_POINTS]
    behaviour: dict[str, dict[str, object]] = {}
    for kind, svc, delays in services:
        behaviour[svc] = (
            her_behaviour(kind, svc, target, exporter, delays)
            if kind.playbook == "HighErrorRate"
            else {"restart_ok": kind.restart_ok, "delays": delays}
        )
    inv = tmp_path / "inventory.yaml"
    write_inventory(inv, sshd, target, behaviour)
    load_inventory(inv)  # what the worker will load; fail here, readably, if invalid
    target.start()
    server = dev_server(tmp_path / "temporal")
    await asyncio.to_thread(server.start)
    worker = WorkerProcess(server.address, inv, tmp_path)
    worker.env["REMEDY_PROMETHEUS_URL"] = prometheus.url
    try:
        await asyncio.to_thread(prometheus.start)
        await prometheus_sees(
            prometheus.url, sum(k.playbook == "HighErrorRate" for k, *_ in services)
        )
        await wait_for_frontend(server.address)
        client = await Client.connect(server.address, data_converter=pydantic_data_converter)
        await asyncio.to_thread(worker.start)

        # ---- undisturbed twins
        handles = {k.name: await start(client, baseline[k.name], k) for k in KINDS}
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
            running[kp.label] = await start(client, svc, kp.kind)
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
        prometheus.stop()
        exporter.stop()

    lines = []
    for kp in KILL_POINTS:
        res, twin = results[kp.label], undisturbed[kp.kind.name]
        effects = target.effects(chaos[kp.label])
        replayed = sum("not repeated" in e.detail or "(replayed)" in e.detail for e in res.timeline)
        lines.append(
            f"  {kp.label:48} killed at {killed_at[kp.label]!r}: {res.outcome} via {res.action}"
            f" (undisturbed: {twin.outcome} via {twin.action}); effects {dict(effects)}"
            f"; idempotent replays {replayed}"
        )
        assert (res.outcome, res.action) == (twin.outcome, twin.action), kp.label
        in_phase = not kp.in_phase or f"[{kp.in_phase}]" in killed_at[kp.label]
        assert in_phase, (kp.label, killed_at[kp.label])
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

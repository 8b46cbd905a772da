"""Record the history of every branch of every playbook, for the replay tests.

    .venv/bin/python -m tests.histories.record            # all branches
    .venv/bin/python -m tests.histories.record -k rollback   # names containing "rollback"
    .venv/bin/python -m tests.histories.record -o DIR        # somewhere else

Each branch runs the production playbook code on a real Temporal server -- the
time-skipping test server, because the branches include the runbooks' 30 s, 5 min,
10 min and 24 h waits -- with the activity fakes of tests/workflows/fakes.py scripting
the service. Each run is then exported with `remedy.history.export` (the same code as
`remedy export`) to tests/histories/<playbook>-<branch>.json; a Rollback child started
by a ServiceDown branch goes to Rollback-child-<branch>.json.

Adding a playbook (HighErrorRate, ...) means adding its branches to SCENARIOS and
running this script; tests/durability/test_replay.py fails until every registered
playbook has a history.
"""

from __future__ import annotations

import argparse
import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from temporalio.client import WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from remedy import history
from remedy.temporal import ensure_search_attributes
from tests.workflows.fakes import World
from workflows.contracts import CommandKind, ServicePolicy
from workflows.models import (
    AckRequest,
    Alert,
    IncidentInput,
    IncidentStatus,
    PlaybookResult,
    RollbackInput,
    RollbackResult,
)
from workflows.registry import PLAYBOOKS

HERE = Path(__file__).parent
SERVICE = "genesis-orchestration"

Drive = Callable[[WorkflowEnvironment, WorkflowHandle[Any, Any]], Awaitable[None]]


def policy(**kw: Any) -> ServicePolicy:
    base: dict[str, Any] = dict(
        service=SERVICE,
        hosts=["genesis-1"],
        severity_default="P0",
        has_rollback=True,
        has_health_url=True,
    )
    return ServicePolicy.model_validate(base | kw)


async def _until(
    env: WorkflowEnvironment,
    handle: WorkflowHandle[Any, Any],
    pred: Callable[[IncidentStatus], bool],
) -> None:
    # Time only skips while a client waits on a result, so move the clock on by hand
    # (in steps shorter than the playbooks' 30 s polls) until the incident gets there.
    for _ in range(400):
        if pred(await handle.query("status", result_type=IncidentStatus)):
            return
        await env.sleep(timedelta(seconds=10))
        await asyncio.sleep(0.02)
    raise TimeoutError(f"{handle.id}: condition not reached")


def _escalated(s: IncidentStatus) -> bool:
    return s.paged and any(e.step == "escalated to a human" for e in s.timeline)


async def ack_when_escalated(env: WorkflowEnvironment, handle: WorkflowHandle[Any, Any]) -> None:
    """An on-call engineer acknowledges the page: the escalated incident closes."""
    await _until(env, handle, _escalated)
    await handle.execute_update("acknowledge", AckRequest(by="oncall"), result_type=IncidentStatus)


async def repeat_then_resolve(env: WorkflowEnvironment, handle: WorkflowHandle[Any, Any]) -> None:
    """Alertmanager repeats the alert (joins), then resolves it (ends the hold)."""
    alert = Alert(alertname="GenesisServiceDown", service=SERVICE, fingerprint="fp1")
    await handle.signal("alert_fired", alert)
    await _until(env, handle, _escalated)
    await handle.signal("alert_resolved", alert)


@dataclass
class Scenario:
    playbook: str
    branch: str
    world: dict[str, Any] = field(default_factory=dict)  # World(...) keyword arguments
    policy: dict[str, Any] = field(default_factory=dict)  # ServicePolicy overrides
    alert: dict[str, Any] = field(default_factory=dict)  # Alert overrides
    flapping: bool = False
    route_reason: str = ""
    drive: Drive | None = None  # signals / updates while it runs
    child: bool = False  # also export the Rollback child
    expect: str = "resolved"  # outcome (Rollback: "succeeded" / "failed"), checked

    @property
    def name(self) -> str:
        return f"{self.playbook}-{self.branch}"


SCENARIOS: list[Scenario] = [
    # ---- ServiceDown: restart, rollback, escalations, flapping, recovered on its own
    Scenario("ServiceDown", "restart-healthy"),
    Scenario("ServiceDown", "rollback-healthy", world={"active_after_restart": False}, child=True),
    Scenario(
        "ServiceDown",
        "rollback-still-down-escalates",
        expect="escalated",
        world={"active_after_restart": False, "active_after_rollback": False},
        child=True,
    ),
    Scenario(
        "ServiceDown",
        "rollback-step-fails-escalates",
        expect="escalated",
        world={"active_after_restart": False, "rollback_fail_step": CommandKind.ROLLBACK_RESET},
        child=True,
    ),
    Scenario(
        "ServiceDown",
        "no-rollback-escalates-acknowledged",
        expect="escalated",
        world={"restart_exit": 1},
        policy={"has_rollback": False},
        drive=ack_when_escalated,
    ),
    Scenario("ServiceDown", "commander-paged-then-healthy", world={"healthy_after_calls": 12}),
    Scenario(
        "ServiceDown",
        "unhealthy-escalates-alert-resolves",
        expect="escalated",
        world={"healthy_after_calls": 10_000},
        drive=repeat_then_resolve,
    ),
    Scenario(
        "ServiceDown",
        "flapping-escalates",
        flapping=True,
        route_reason="flapping: test",
        expect="escalated",
    ),
    Scenario(
        "ServiceDown",
        "resolved-without-action",
        expect="resolved_without_action",
        world={"started_after_rollback": True},  # status says active from the start
        alert={"status": "resolved"},
    ),
    # ---- Rollback on its own (a person runs the procedure)
    Scenario("Rollback", "complete", policy={"has_health_check": True}, expect="succeeded"),
    Scenario(
        "Rollback",
        "step-fails",
        world={"rollback_fail_step": CommandKind.ROLLBACK_CLEAN},
        expect="failed",
    ),
    Scenario(
        "Rollback", "not-active-after", world={"active_after_rollback": False}, expect="failed"
    ),
    # ---- Triage: known service (diagnose, page, wait) and unknown service
    Scenario(
        "Triage",
        "known-service-hold-expires",
        route_reason="no route for SomethingOdd",
        expect="escalated",
    ),
    Scenario(
        "Triage",
        "unknown-service-acknowledged",
        expect="escalated",
        world={"known_service": False},
        alert={"service": "not-in-inventory"},
        drive=ack_when_escalated,
    ),
]


async def run_scenario(env: WorkflowEnvironment, sc: Scenario, out_dir: Path) -> list[Path]:
    client = env.client
    world = World(policy(**sc.policy), **sc.world)
    tq = f"record-{uuid.uuid4()}"
    wid = f"incident:{sc.name}:{uuid.uuid4().hex[:8]}"
    if sc.playbook == "Rollback":
        arg: Any = RollbackInput(service=SERVICE, incident_id="manual", reason="operator request")
        wid = f"rollback:manual:{uuid.uuid4().hex[:8]}"
    else:
        alert = Alert(alertname="GenesisServiceDown", service=SERVICE, fingerprint="fp1")
        arg = IncidentInput(
            alert=alert.model_copy(update=sc.alert),
            flapping=sc.flapping,
            route_reason=sc.route_reason,
        )
    async with Worker(
        client, task_queue=tq, workflows=list(PLAYBOOKS.values()), activities=world.activities()
    ):
        handle = await client.start_workflow(
            sc.playbook,
            arg,
            id=wid,
            task_queue=tq,
            execution_timeout=timedelta(days=3),
            result_type=RollbackResult if sc.playbook == "Rollback" else PlaybookResult,
        )
        if sc.drive:
            await sc.drive(env, handle)
        res = await handle.result()
    got = getattr(res, "outcome", None) or ("succeeded" if res.succeeded else "failed")
    if got != sc.expect:
        raise RuntimeError(f"{sc.name}: expected {sc.expect}, got {got}: {res.timeline}")
    written = [out_dir / f"{sc.name}.json"]
    history.write(await history.export(client, wid, handle.result_run_id), written[0])
    if sc.child:
        child = f"rollback:{wid}:1"
        try:
            doc = await history.export(client, child)
        except RPCError as err:
            raise RuntimeError(f"{sc.name}: expected child {child}: {err}") from err
        written.append(out_dir / f"Rollback-child-{sc.branch}.json")
        history.write(doc, written[-1])
    return written


async def record(out_dir: Path = HERE, match: str = "") -> list[Path]:
    from tests.conftest import venv_binary

    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=pydantic_data_converter,
        test_server_existing_path=venv_binary("temporal-test-server"),
    )
    async with env:
        await ensure_search_attributes(env.client)
        chosen = [s for s in SCENARIOS if match in s.name]
        # Sequential: the time-skipping server skips time for everything at once, and
        # one scenario's drive (waiting for a status) must not be raced by another's timers.
        out: list[Path] = []
        for sc in chosen:
            out += await run_scenario(env, sc, out_dir)
        return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-o", "--out", type=Path, default=HERE)
    ap.add_argument("-k", "--match", default="", help="only scenarios whose name contains this")
    args = ap.parse_args()
    for p in asyncio.run(record(args.out, args.match)):
        print(p)


if __name__ == "__main__":
    main()

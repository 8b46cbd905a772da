"""Triage (no route / unknown service) and ServiceDown's flapping mode."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from tests.workflows.fakes import World
from tests.workflows.test_service_down import policy
from workflows.models import AckRequest, Alert, IncidentInput, IncidentStatus, PlaybookResult
from workflows.registry import PLAYBOOKS


async def start(env: WorkflowEnvironment, world: World, playbook: str, inp: IncidentInput, body):  # type: ignore[no-untyped-def]
    tq = f"tq-{uuid.uuid4()}"
    async with Worker(
        env.client, task_queue=tq, workflows=list(PLAYBOOKS.values()), activities=world.activities()
    ):
        handle = await env.client.start_workflow(
            playbook, inp, id=f"incident:{uuid.uuid4()}", task_queue=tq, result_type=PlaybookResult
        )
        return await body(handle)


async def test_unknown_service_pages_and_waits_for_a_human(time_env: WorkflowEnvironment) -> None:
    world = World(policy(), known_service=False)
    inp = IncidentInput(
        alert=Alert(alertname="GenesisServiceDown", service="x; rm -rf / #"),
        route_reason="service not in inventory",
    )

    async def body(handle):  # type: ignore[no-untyped-def]
        # Wait until the page went out (its activity answered: `paged` is set before
        # it is sent), then acknowledge: the incident closes.
        for _ in range(100):
            st = await handle.query("status", result_type=IncidentStatus)
            if any(e.step == "pagerduty: trigger" for e in st.timeline):
                break
            await asyncio.sleep(0.05)
        await handle.execute_update(
            "acknowledge", AckRequest(by="oncall"), result_type=IncidentStatus
        )
        return await handle.result()

    res = await start(time_env, world, "Triage", inp, body)
    assert res.outcome == "escalated" and res.paged
    assert world.names().count("pagerduty:trigger") == 1
    # Nothing was run against the unknown "service": no commands at all.
    assert not any(n in world.names() for n in ("restart", "status", "logs", "stop"))


async def test_triage_closes_after_hold_when_nobody_answers(time_env: WorkflowEnvironment) -> None:
    world = World(policy())
    inp = IncidentInput(alert=Alert(alertname="SomethingOdd", service="genesis-orchestration"))

    async def body(handle):  # type: ignore[no-untyped-def]
        return await handle.result()

    res = await start(time_env, world, "Triage", inp, body)
    assert res.outcome == "escalated"
    assert res.ended_at - res.detected_at >= timedelta(hours=24)
    assert "status" in world.names() and "logs" in world.names()  # diagnostics, no action
    assert world.restarts == 0


async def test_flapping_service_down_diagnoses_and_pages_instead_of_restarting(
    time_env: WorkflowEnvironment,
) -> None:
    world = World(policy(), active_after_restart=False)
    inp = IncidentInput(
        alert=Alert(alertname="GenesisServiceDown", service="genesis-orchestration"), flapping=True
    )

    async def body(handle):  # type: ignore[no-untyped-def]
        return await handle.result()

    res = await start(time_env, world, "ServiceDown", inp, body)
    assert res.outcome == "escalated" and res.paged
    assert world.restarts == 0 and "stop" not in world.names()
    assert "status" in world.names()


async def test_incident_resolves_only_when_every_instance_resolved(
    time_env: WorkflowEnvironment,
) -> None:
    world = World(policy())
    a = Alert(alertname="Odd", service="genesis-orchestration", fingerprint="aaa")
    b = a.model_copy(update={"fingerprint": "bbb"})

    async def body(handle):  # type: ignore[no-untyped-def]
        await handle.signal("alert_fired", b)
        await handle.signal("alert_resolved", a.model_copy(update={"status": "resolved"}))
        st = await handle.query("status", result_type=IncidentStatus)
        assert st.alert_firing and st.outcome is None  # instance b still fires
        await handle.signal("alert_resolved", b.model_copy(update={"status": "resolved"}))
        return await handle.result()

    res = await start(time_env, world, "Triage", IncidentInput(alert=a), body)
    assert res.outcome == "escalated"
    assert res.ended_at - res.detected_at < timedelta(hours=1)  # closed by the resolution
    assert [e.step for e in res.timeline].count("alert resolved (Alertmanager)") == 1

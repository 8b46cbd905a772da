"""The safety policy on the time-skipping server: approvals before configured step
kinds, dry-run walking the plan without side effects, and the per-service Governor
enforcing its hourly limit across concurrent incidents."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import timedelta

import pytest
import pytest_asyncio
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.governor import GovernorActivities
from remedy.temporal import ensure_search_attributes
from tests.conftest import venv_binary
from tests.workflows.fakes import World
from workflows.contracts.policy import ServicePolicy
from workflows.contracts.safety import (
    GOVERNOR_PERMIT,
    ApproveRequest,
    GovernorInput,
    GovernorStatus,
    PermitDecision,
    PermitRequest,
    RejectRequest,
)
from workflows.models import Alert, IncidentInput, IncidentStatus, PlaybookResult
from workflows.playbooks.service_down import ServiceDown
from workflows.registry import PLAYBOOKS, SUPPORT_WORKFLOWS

WORKFLOWS = [*PLAYBOOKS.values(), *SUPPORT_WORKFLOWS.values()]


async def stop(gov: WorkflowHandle) -> None:
    """Terminate a governor the test leaves behind (its hourly timer would stall time
    skipping for later tests). It may have ended on its own already: an idle hour with
    no live grant ends it, and the time-skipping server can get there first."""
    with contextlib.suppress(RPCError):
        await gov.terminate("test over")


def policy(service: str = "genesis-orchestration", **safety: object) -> ServicePolicy:
    return ServicePolicy.model_validate(
        dict(service=service, hosts=["h"], has_rollback=True, has_health_url=True, safety=safety)
    )


def real_governor(world: World) -> list[Callable[..., object]]:
    fakes = [
        a
        for a in world.activities()
        if getattr(a, "__temporal_activity_definition").name != GOVERNOR_PERMIT.name  # noqa: B009
    ]
    return [*fakes, GovernorActivities().permit]


async def start(env: WorkflowEnvironment, tq: str, service: str) -> WorkflowHandle:
    return await env.client.start_workflow(
        ServiceDown.run,
        IncidentInput(alert=Alert(alertname="GenesisServiceDown", service=service)),
        id=f"incident:GenesisServiceDown:{uuid.uuid4()}",
        task_queue=tq,
        execution_timeout=timedelta(days=2),
    )


async def pending(handle: WorkflowHandle, step: str) -> IncidentStatus:
    for _ in range(200):  # queries do not skip time: poll the wall clock
        st: IncidentStatus = await handle.query("status", result_type=IncidentStatus)
        if step in st.pending_approvals:
            return st
        await asyncio.sleep(0.05)
    raise AssertionError(f"never waited for {step!r}: {st.timeline}")


def steps(res: PlaybookResult, outcome: str | None = None) -> list[str]:
    return [e.step for e in res.timeline if outcome is None or e.outcome == outcome]


async def test_restart_waits_for_approval(time_env: WorkflowEnvironment) -> None:
    world = World(policy(require_approval=["restart"]))
    tq = f"tq-{uuid.uuid4()}"
    async with Worker(
        time_env.client, task_queue=tq, workflows=WORKFLOWS, activities=world.activities()
    ):
        handle = await start(time_env, tq, "genesis-orchestration")
        await pending(handle, "restart")
        assert world.restarts == 0
        # Only the step actually waiting can be approved.
        with pytest.raises(WorkflowUpdateFailedError):
            await handle.execute_update(
                "approve", ApproveRequest(by="alice", step="rollback"), result_type=IncidentStatus
            )
        st = await handle.execute_update(
            "approve", ApproveRequest(by="alice", step="restart"), result_type=IncidentStatus
        )
        assert st.pending_approvals == {}
        res = await handle.result()
    assert res.outcome == "resolved" and res.action == "restart" and world.restarts == 1
    assert "approved: restart" in steps(res) and world.names().count("slack") >= 2
    assert [p.kind for p in world.permits] == ["restart"]  # approval, then the permit


async def test_no_approval_in_time_escalates(time_env: WorkflowEnvironment) -> None:
    world = World(policy(require_approval=["restart"], approval_timeout_s=600))
    tq = f"tq-{uuid.uuid4()}"
    async with Worker(
        time_env.client, task_queue=tq, workflows=WORKFLOWS, activities=world.activities()
    ):
        handle = await start(time_env, tq, "genesis-orchestration")
        res: PlaybookResult = await handle.result()
    assert res.outcome == "escalated" and world.restarts == 0
    assert "approval: restart" in steps(res, "failed")
    waited = next(e.at for e in res.timeline if e.step == "approval: restart")
    asked = next(e.at for e in res.timeline if e.step == "waiting for approval: restart")
    assert timedelta(seconds=600) <= waited - asked < timedelta(seconds=601)
    assert "pagerduty:trigger" in world.names()  # escalation pages the commander
    # A finished incident takes no approval (closed: the server may refuse it outright).
    with pytest.raises((WorkflowUpdateFailedError, RPCError)):
        await handle.execute_update("approve", ApproveRequest(by="bob", step="restart"))


async def test_dry_run_walks_the_plan_and_changes_nothing(time_env: WorkflowEnvironment) -> None:
    world = World(policy(dry_run=True, require_approval=["rollback"]))
    tq = f"tq-{uuid.uuid4()}"
    async with Worker(
        time_env.client, task_queue=tq, workflows=WORKFLOWS, activities=world.activities()
    ):
        res: PlaybookResult = await (await start(time_env, tq, "genesis-orchestration")).result()
    assert world.restarts == 0 and not world.permits  # no real permit used up
    side_effects = [n for n in world.names() if n.startswith("dry-run:")]
    assert side_effects[0] == "dry-run:restart" and "dry-run:stop" in side_effects
    assert "restart" not in world.names() and "stop" not in world.names()
    dry = [e.detail for e in res.timeline if e.detail.startswith("DRY RUN: would")]
    assert any("restart" in d for d in dry) and any("approval" in d for d in dry)
    assert res.outcome == "escalated"  # nothing was really restarted: a human must look


@pytest_asyncio.fixture
async def dev_env() -> AsyncIterator[WorkflowEnvironment]:
    """A real dev server (no time skipping): two incidents race for one permit in real
    time, as they would in production. Time skipping would move the clock under them
    while the permit activity's update is in flight."""
    env = await WorkflowEnvironment.start_local(
        data_converter=pydantic_data_converter,
        dev_server_existing_path=venv_binary("temporal"),
    )
    await ensure_search_attributes(env.client)
    async with env:
        yield env


async def test_governor_limits_concurrent_incidents(dev_env: WorkflowEnvironment) -> None:
    service = f"svc-{uuid.uuid4().hex[:8]}"  # its own governor:<service>
    pol = policy(service, max_actions_per_hour=1, approval_timeout_s=900)
    # Real time here: short waits so the test takes seconds. The waits' real durations
    # are covered on the time-skipping server by the playbook tests.
    pol.waits = pol.waits.model_copy(
        update={
            "after_restart": timedelta(seconds=1),
            "health_retry_interval": timedelta(seconds=1),
        }
    )
    world = World(pol)
    tq = f"tq-{uuid.uuid4()}"
    async with Worker(
        dev_env.client, task_queue=tq, workflows=WORKFLOWS, activities=real_governor(world)
    ):
        a, b = await asyncio.gather(start(dev_env, tq, service), start(dev_env, tq, service))
        # Exactly one of the two gets the hour's single permit; the other is held.
        held = await first_pending([a, b], "over-limit")
        acted = b if held is a else a
        first: PlaybookResult = await acted.result()
        assert first.action == "restart" and first.outcome == "resolved" and world.restarts == 1
        st = await held.query("status", result_type=IncidentStatus)
        denial = next(e.detail for e in st.timeline if e.step == "permit: restart")
        assert "limit 1/h" in denial and first.incident_id in denial
        assert world.restarts == 1  # still: the held incident did not act
        # A human lets the second one over the limit; the governor counts it, by name.
        await held.execute_update("approve", ApproveRequest(by="erin", step="over-limit"))
        second: PlaybookResult = await held.result()
        gov = dev_env.client.get_workflow_handle(f"governor:{service}")
        grants = (await gov.query("status", result_type=GovernorStatus)).grants
        await stop(gov)
    assert second.outcome == "resolved" and world.restarts == 2
    assert [g.approved_by for g in grants] == [None, "erin"]


async def first_pending(handles: list[WorkflowHandle], step: str) -> WorkflowHandle:
    for _ in range(400):
        for h in handles:
            st: IncidentStatus = await h.query("status", result_type=IncidentStatus)
            if step in st.pending_approvals:
                return h
        await asyncio.sleep(0.05)
    raise AssertionError(f"no incident waited for {step!r}")


async def test_governor_window_is_one_hour(time_env: WorkflowEnvironment) -> None:
    service = f"svc-{uuid.uuid4().hex[:8]}"
    tq = f"tq-{uuid.uuid4()}"

    def req(n: int) -> PermitRequest:
        return PermitRequest(
            service=service,
            incident_id=f"i{n}",
            kind="restart",
            key=f"i{n}:restart:1",
            max_per_hour=1,
        )

    async with Worker(time_env.client, task_queue=tq, workflows=WORKFLOWS):
        gov = await time_env.client.start_workflow(
            "Governor", GovernorInput(service=service), id=f"governor:{service}", task_queue=tq
        )
        ask = functools.partial(gov.execute_update, "permit", result_type=PermitDecision)
        assert (await ask(req(1))).granted
        assert (await ask(req(1))).granted  # a retried request: same answer, not counted
        refused = await ask(req(2))
        assert not refused.granted and refused.used == 1 and refused.next_free_at is not None
        await time_env.sleep(timedelta(minutes=59))
        assert not (await ask(req(3))).granted  # still inside the hour
        await time_env.sleep(timedelta(minutes=1, seconds=1))
        assert (await ask(req(4))).granted  # the first grant has aged out
        with pytest.raises(WorkflowUpdateFailedError):  # another service's request
            await ask(req(5).model_copy(update={"service": "other"}))
        await stop(gov)


async def test_over_limit_approved_by_a_human(time_env: WorkflowEnvironment) -> None:
    service = f"svc-{uuid.uuid4().hex[:8]}"
    world = World(policy(service, max_actions_per_hour=0))  # every action needs a human
    tq = f"tq-{uuid.uuid4()}"
    async with Worker(
        time_env.client, task_queue=tq, workflows=WORKFLOWS, activities=real_governor(world)
    ):
        handle = await start(time_env, tq, service)
        await pending(handle, "over-limit")
        await handle.execute_update("approve", ApproveRequest(by="carol", step="over-limit"))
        res: PlaybookResult = await handle.result()
        gov = time_env.client.get_workflow_handle(f"governor:{service}")
        st = await gov.query("status", result_type=GovernorStatus)
        # Left running without its worker, its hourly timer would stall time skipping
        # for the tests after this one on the shared server.
        await stop(gov)
    assert res.outcome == "resolved" and world.restarts == 1
    assert [g.approved_by for g in st.grants] == ["carol"]  # counted, and by whom


async def test_rejection_escalates_and_unknown_step_is_a_clear_error(
    time_env: WorkflowEnvironment,
) -> None:
    world = World(policy(require_approval=["restart"]))
    tq = f"tq-{uuid.uuid4()}"
    async with Worker(
        time_env.client, task_queue=tq, workflows=WORKFLOWS, activities=world.activities()
    ):
        handle = await start(time_env, tq, "genesis-orchestration")
        st = await pending(handle, "restart")
        assert "restart" in st.pending_approvals["restart"]  # says what it would do
        with pytest.raises(WorkflowUpdateFailedError) as err:
            await handle.execute_update(
                "reject", RejectRequest(by="dan", step="reboot", reason="typo")
            )
        assert "waiting for: restart" in str(err.value.cause)
        await handle.execute_update(
            "reject", RejectRequest(by="dan", step="restart", reason="deploy in progress")
        )
        res: PlaybookResult = await handle.result()
    assert res.outcome == "escalated" and world.restarts == 0
    assert "rejected: restart" in steps(res)
    assert "deploy in progress" in res.action  # the escalation says why

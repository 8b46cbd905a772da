"""SecurityIncident on the time-skipping server at the real approval timeout (15 min):
evidence before anything else; containment never runs without a person's approval;
rejection and timeout escalate; approval runs exactly the approved step."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import pytest
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from tests.workflows.security_world import CONTAINMENT, SecurityWorld, security_policy
from workflows.contracts.safety import ApproveRequest, RejectRequest
from workflows.models import Alert, IncidentInput, IncidentStatus, PlaybookResult
from workflows.registry import PLAYBOOKS, SUPPORT_WORKFLOWS

WORKFLOWS = [*PLAYBOOKS.values(), *SUPPORT_WORKFLOWS.values()]
ROTATE, BLOCK, ISOLATE = (f"containment: {n}" for n in CONTAINMENT)


async def run(
    env: WorkflowEnvironment, world: SecurityWorld, drive: object = None
) -> tuple[PlaybookResult, WorkflowHandle]:
    tq = f"tq-{uuid.uuid4()}"
    async with Worker(
        env.client, task_queue=tq, workflows=WORKFLOWS, activities=world.activities()
    ):
        handle = await env.client.start_workflow(
            "SecurityIncident",
            IncidentInput(alert=Alert(alertname="SecurityIncident", service="agent-lab")),
            id=f"incident:SecurityIncident:{uuid.uuid4()}",
            task_queue=tq,
            execution_timeout=timedelta(days=3),
        )
        if drive is not None:
            await drive(handle)  # type: ignore[operator]
        return PlaybookResult.model_validate(await handle.result()), handle


async def waiting_for(handle: WorkflowHandle, n: int) -> IncidentStatus:
    for _ in range(200):  # queries do not skip time: poll the wall clock
        st: IncidentStatus = await handle.query("status", result_type=IncidentStatus)
        if len(st.pending_approvals) == n:
            return st
        await asyncio.sleep(0.05)
    raise AssertionError(f"never waited for {n} approvals")


def approve(step: str, by: str = "alice") -> ApproveRequest:
    return ApproveRequest(by=by, step=step)


def steps(res: PlaybookResult) -> list[str]:
    return [e.step for e in res.timeline]


async def test_nobody_approves_nothing_runs_and_it_escalates(time_env: WorkflowEnvironment) -> None:
    world = SecurityWorld(security_policy())
    res, _ = await run(time_env, world)
    assert world.contained == [] and res.outcome == "escalated"
    # Evidence first: the log analysis and the snapshot ran before anything was asked.
    names, tl = world.names(), steps(res)
    assert names.index("access_log") < names.index("snapshot")
    assert tl.index("forensic snapshot") < tl.index(f"waiting for approval: {ROTATE}")
    assert names.count("pagerduty:trigger") == 1  # paged at once, once
    asked = next(e.at for e in res.timeline if e.step == f"waiting for approval: {ROTATE}")
    expired = [e for e in res.timeline if e.step.startswith("approval: ") and e.outcome == "failed"]
    assert len(expired) == 3  # every step withdrawn, at the 15-minute approval timeout
    assert all(
        timedelta(minutes=15) <= e.at - asked < timedelta(minutes=15, seconds=1) for e in expired
    )
    assert "diagnosis: attack patterns" in tl
    # The seed's human-only steps are on the timeline, so the checklist carries them.
    assert any(s.startswith("to do: Legal compliance") for s in tl)


async def test_approval_runs_exactly_the_approved_step(time_env: WorkflowEnvironment) -> None:
    world = SecurityWorld(security_policy())

    async def drive(h: WorkflowHandle) -> None:
        st = await waiting_for(h, 3)
        assert set(st.pending_approvals) == {ROTATE, BLOCK, ISOLATE}
        await h.execute_update("approve", approve(BLOCK))
        await waiting_for(h, 2)
        assert world.contained == ["block-ip"]  # that one, and only that one
        # The same step cannot be approved twice, nor an unknown one.
        for bad in (BLOCK, "containment: wipe-disk"):
            with pytest.raises(WorkflowUpdateFailedError):
                await h.execute_update("approve", approve(bad))

    res, _ = await run(time_env, world, drive)
    # The other two were never approved: withdrawn at the timeout, escalated, not run.
    assert world.contained == ["block-ip"] and res.outcome == "escalated"
    assert f"approved: {BLOCK}" in steps(res) and BLOCK in steps(res)


async def test_all_approved_run_in_approval_order_then_hand_over(
    time_env: WorkflowEnvironment,
) -> None:
    world = SecurityWorld(security_policy())

    async def drive(h: WorkflowHandle) -> None:
        await waiting_for(h, 3)
        for n, step in enumerate((ISOLATE, ROTATE, BLOCK)):
            await h.execute_update("approve", approve(step, by=f"p{n}"))
        await waiting_for(h, 0)
        # Contained, and held open for a person: acknowledging closes it.
        for _ in range(200):
            if len(world.contained) == 3:
                break
            await asyncio.sleep(0.05)
        await h.execute_update("acknowledge", {"by": "ciso"})

    res, _ = await run(time_env, world, drive)
    assert world.contained == ["isolate", "rotate-credentials", "block-ip"]
    assert res.outcome == "escalated" and "contained" in res.action


async def test_rejection_escalates_and_withdraws_the_rest(time_env: WorkflowEnvironment) -> None:
    world = SecurityWorld(security_policy())

    async def drive(h: WorkflowHandle) -> None:
        await waiting_for(h, 3)
        await h.execute_update("reject", RejectRequest(by="bob", step=ROTATE, reason="no key leak"))
        # A late approval of a withdrawn step is refused: it can never run.
        st = await waiting_for(h, 0)
        assert st.pending_approvals == {}
        with pytest.raises(WorkflowUpdateFailedError):
            await h.execute_update("approve", approve(BLOCK))

    res, _ = await run(time_env, world, drive)
    assert world.contained == [] and res.outcome == "escalated"
    assert "rejected by bob: no key leak" in res.action


async def test_no_snapshot_no_containment(time_env: WorkflowEnvironment) -> None:
    world = SecurityWorld(security_policy(), snapshot_fails=True)
    res, _ = await run(time_env, world)
    assert world.contained == [] and res.outcome == "escalated"
    assert not any(s.startswith("waiting for approval") for s in steps(res))
    assert "no containment without evidence" in res.action


async def test_failed_containment_step_escalates(time_env: WorkflowEnvironment) -> None:
    world = SecurityWorld(security_policy(), failing_step="rotate-credentials")

    async def drive(h: WorkflowHandle) -> None:
        await waiting_for(h, 3)
        await h.execute_update("approve", approve(ROTATE))

    res, _ = await run(time_env, world, drive)
    assert world.contained == ["rotate-credentials"] and res.outcome == "escalated"
    assert "containment step failed" in res.action


async def test_dry_run_asks_nobody_and_describes_every_step(time_env: WorkflowEnvironment) -> None:
    """Nothing would run, so nobody is asked (as safety.clear does for restarts): each
    step is recorded as the approval it would need and the command it would run."""
    from workflows.contracts.safety import SafetyPolicy

    pol = security_policy()
    pol = pol.model_copy(update={"safety": SafetyPolicy(dry_run=True, approval_timeout_s=900)})
    world = SecurityWorld(pol)
    res, _ = await run(time_env, world)
    assert world.contained == [] and "snapshot" not in world.names()
    assert [c.detail for c in world.calls if c.name == "dry-run:contain"] == list(CONTAINMENT)
    tl = steps(res)
    assert not any(s.startswith("waiting for approval") for s in tl)
    for step in (ROTATE, BLOCK, ISOLATE):
        ask = next(e for e in res.timeline if e.step == f"approval: {step}")
        assert ask.outcome == "skipped" and ask.detail.startswith("DRY RUN: would ask")
        assert next(e for e in res.timeline if e.step == step).outcome == "skipped"
    # No 15-minute wait: the steps were described as soon as the evidence was in.
    asked = [e.at for e in res.timeline if e.step.startswith("approval: ")]
    assert asked[-1] - asked[0] < timedelta(seconds=1)
    assert res.outcome == "escalated" and res.action.startswith("escalation (dry run: containment")

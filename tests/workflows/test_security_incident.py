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
from workflows.contracts.policy import ServicePolicy
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


def with_policy(**update: object) -> ServicePolicy:
    return ServicePolicy.model_validate(security_policy().model_dump() | update)


def steps(res: PlaybookResult) -> list[str]:
    return [e.step for e in res.timeline]


async def test_nobody_approves_nothing_runs_and_it_escalates(time_env: WorkflowEnvironment) -> None:
    world = SecurityWorld(security_policy())
    res, _ = await run(time_env, world)
    assert world.contained == [] and res.outcome == "escalated"
    # The runbook's Immediate Actions: every step asked for at minute 0, while the
    # evidence (log analysis, data assessment, snapshot) is collected -- not after it.
    names, tl = world.names(), steps(res)
    assert names.index("access_log") < names.index("data_assessment") < names.index("snapshot")
    assert tl.index(f"waiting for approval: {ROTATE}") < tl.index("forensic snapshot")
    assert names.count("pagerduty:trigger") == 1  # paged at once, once
    asked = next(e.at for e in res.timeline if e.step == f"waiting for approval: {ROTATE}")
    assert asked - res.detected_at < timedelta(seconds=1)
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
    assert "no containment without evidence" in res.action
    # Asked at minute 0, withdrawn when the snapshot failed: a late "yes" runs nothing.
    for step in (ROTATE, BLOCK, ISOLATE):
        e = next(e for e in res.timeline if e.step == f"approval: {step}")
        assert e.outcome == "skipped" and e.detail == "withdrawn: no evidence snapshot"
    assert not any(e.outcome == "failed" and e.step.startswith("approval: ") for e in res.timeline)


async def test_approval_before_the_snapshot_waits_for_it(time_env: WorkflowEnvironment) -> None:
    """Approved while the evidence is still being collected: the step runs only once
    the forensic snapshot is taken."""
    world = SecurityWorld(security_policy(), snapshot_gate=asyncio.Event())

    async def drive(h: WorkflowHandle) -> None:
        await waiting_for(h, 3)  # asked at once, the snapshot still running
        await h.execute_update("approve", approve(ROTATE))
        await asyncio.sleep(0.5)
        assert world.contained == [] and "snapshot" not in world.names()
        assert world.snapshot_gate is not None
        world.snapshot_gate.set()
        for _ in range(200):
            if world.contained:
                break
            await asyncio.sleep(0.05)

    res, _ = await run(time_env, world, drive)
    assert world.contained[0] == "rotate-credentials"
    tl = steps(res)
    assert tl.index("forensic snapshot") < tl.index(ROTATE)


async def test_compromised_data_assessment_in_the_timeline(time_env: WorkflowEnvironment) -> None:
    world = SecurityWorld(security_policy())
    res, _ = await run(time_env, world)
    got = {e.step: e for e in res.timeline}
    sessions = got["diagnosis: session files changed"]
    assert sessions.outcome == "ok"
    assert sessions.detail == "17 under /app/data/sessions in the last 60 min"
    bucket = got["diagnosis: backup bucket"]
    assert bucket.detail.startswith("`aws s3 ls s3://agent-lab-backups/ --recursive`: 2 lines")
    assert bucket.detail.endswith("2026-12-01 backups/s1.json")
    # Investigation order: after the access log, before the snapshot.
    tl = steps(res)
    assert tl.index("diagnosis: attack patterns") < tl.index("diagnosis: backup bucket")
    assert tl.index("diagnosis: backup bucket") < tl.index("forensic snapshot")


async def test_unconfigured_data_assessment_is_left_to_people(
    time_env: WorkflowEnvironment,
) -> None:
    from workflows.contracts.security import DataAssessmentReport

    world = SecurityWorld(security_policy(), assessment=DataAssessmentReport())
    res, _ = await run(time_env, world)
    tl = steps(res)
    assert "to do: review session data access" in tl
    assert "to do: check the backup bucket for exfiltration" in tl
    assert "diagnosis: backup bucket" not in tl and "forensic snapshot" in tl


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


async def test_phase_budgets_are_the_runbooks_and_containment_overruns_at_120_min(
    time_env: WorkflowEnvironment,
) -> None:
    # Approvals given 3 hours: nobody answers, so Containment is still running when its
    # budget (120 minutes from detection) ends -- marked, and said in Slack, at 120 min.
    world = SecurityWorld(with_policy(safety={"approval_timeout_s": 10800}))
    res, _ = await run(time_env, world)
    budgets = {e.step: e.detail for e in res.timeline if e.step.startswith("phase budget")}
    assert budgets == {
        "phase budget: Detection": "Immediate Actions: ends 0:05:00 after detection",
        "phase budget: Assessment": "Investigation: ends 1:00:00 after detection",
        "phase budget: Response": "Containment: ends 2:00:00 after detection",
    }
    over = [e for e in res.timeline if e.step.startswith("phase overrun")]
    assert [e.step for e in over] == ["phase overrun: Response"]  # evidence came in time
    late = over[0].at - res.detected_at
    assert timedelta(minutes=120) <= late < timedelta(minutes=120, seconds=1)
    assert any(m.actions_taken == "Containment over its budget" for m in world.slack_messages)
    assert res.outcome == "escalated" and world.contained == []


async def test_phase_budget_overridable_in_the_inventory(time_env: WorkflowEnvironment) -> None:
    # `agent_lab.budgets.security_incident.Response: 600` -> Containment ends at 10 min;
    # the 15-minute approval timeout then comes after it: overrun at 10 minutes.
    budgets = {"security_incident": {"Response": 600}}
    world = SecurityWorld(with_policy(agent_lab={"budgets": budgets}))
    res, _ = await run(time_env, world)
    over = next(e for e in res.timeline if e.step == "phase overrun: Response")
    assert timedelta(minutes=10) <= over.at - res.detected_at < timedelta(minutes=10, seconds=1)
    detail = next(e.detail for e in res.timeline if e.step == "phase budget: Assessment")
    assert detail == "Investigation: ends 1:00:00 after detection"  # the others kept

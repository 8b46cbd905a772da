"""ServiceDown + Rollback on the time-skipping server, at the runbooks' real durations."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from tests.workflows.fakes import World
from workflows.contracts.policy import ServicePolicy
from workflows.contracts.service import CommandKind
from workflows.models import (
    AckRequest,
    Alert,
    IncidentInput,
    IncidentStatus,
    PlaybookResult,
    RollbackInput,
    RollbackResult,
)
from workflows.playbooks.service_down import ServiceDown
from workflows.registry import PLAYBOOKS


def policy(**kw: object) -> ServicePolicy:
    base: dict[str, object] = dict(
        service="genesis-orchestration",
        hosts=["genesis-1"],
        severity_default="P0",
        has_rollback=True,
        has_health_url=True,
    )
    return ServicePolicy.model_validate(base | kw)


async def run_incident(
    env: WorkflowEnvironment, world: World, wid: str | None = None, status: str = "firing"
) -> tuple[PlaybookResult, WorkflowHandle]:
    tq = f"tq-{uuid.uuid4()}"
    async with Worker(
        env.client, task_queue=tq, workflows=list(PLAYBOOKS.values()), activities=world.activities()
    ):
        handle = await env.client.start_workflow(
            ServiceDown.run,
            IncidentInput(
                alert=Alert(
                    alertname="GenesisServiceDown", service="genesis-orchestration", status=status
                )
            ),
            id=wid or f"incident:GenesisServiceDown:{uuid.uuid4()}",
            task_queue=tq,
            execution_timeout=timedelta(days=2),
        )
        return await handle.result(), handle


ROLLBACK_ORDER = [
    "stop",
    "rollback_fetch",
    "rollback_reset",
    "rollback_clean",
    "rollback_restore_config",
    "start",
]


async def test_healthy_after_restart(time_env: WorkflowEnvironment) -> None:
    world = World(policy())
    res, handle = await run_incident(time_env, world)
    assert res.outcome == "resolved" and res.action == "restart"
    assert world.restarts == 1
    assert not any(n in world.names() for n in ROLLBACK_ORDER)
    # The runbook's "sleep 30" between restart and is-active, at its real length.
    restart_at = world.times("restart")[0]
    checks = [t for t in world.times("status") if t > restart_at]
    assert checks and checks[0] - restart_at >= timedelta(seconds=30)
    assert "pagerduty:trigger" not in world.names()  # resolved well inside 5 minutes
    assert any(
        c.name == "incident_log"
        and c.detail == "Incident: GenesisServiceDown - Resolved via restart"
        for c in world.calls
    )
    # Crash evidence collected once, into crash_<detection time> (one dump per run).
    [stamp] = [c.detail for c in world.calls if c.name == "crash_evidence"]
    assert stamp == f"{res.detected_at:%Y%m%d_%H%M%S}"
    assert "logs" not in world.names()  # the old `logs`-only evidence (pre-patch runs)
    # The restart's idempotency key is the incident *run* + step: stable across retries
    # of this run, new for the next incident of the same alert (tests/workflows/
    # test_recurrence.py runs that one).
    key = f"{res.incident_id}@{handle.first_execution_run_id}:restart"
    assert world.calls[world.names().index("restart")].detail == key


async def test_restart_fails_then_rollback_then_healthy(time_env: WorkflowEnvironment) -> None:
    world = World(policy(), active_after_restart=False)
    res, _ = await run_incident(time_env, world)
    assert res.outcome == "resolved" and res.action == "rollback"
    seq = [n for n in world.names() if n in ROLLBACK_ORDER]
    assert seq == ROLLBACK_ORDER
    start_at = world.times("start")[0]
    verify = [t for t in world.times("status") if t > start_at][0]
    assert verify - start_at >= timedelta(seconds=10)  # rollback script's "sleep 10"
    keys = [c.detail for c in world.calls if c.name in ROLLBACK_ORDER]
    # Keyed on the Rollback child's own run: `rollback:<incident>:<n>@<child run>:<step>`.
    assert all(k.startswith(f"rollback:{res.incident_id}:1@") for k in keys)
    assert len({k.rpartition(":")[0] for k in keys}) == 1  # one child run, six steps
    steps = [e.step for e in res.timeline]
    assert "reset to stable ref" in steps and "rollback complete" in steps


async def test_still_down_after_rollback_escalates(time_env: WorkflowEnvironment) -> None:
    world = World(policy(), active_after_restart=False, active_after_rollback=False)
    res, _ = await run_incident(time_env, world)
    assert res.outcome == "escalated" and res.paged
    assert world.names().count("pagerduty:trigger") == 1
    assert "Escalated" in [c.detail for c in world.calls if c.name == "slack"]
    # Logged at the hand-over, as escalated, never as "resolved via" anything.
    [line] = [c.detail for c in world.calls if c.name == "incident_log"]
    assert line.startswith("Incident: GenesisServiceDown - Escalated to a person")
    assert "Resolved" not in line


async def test_rollback_step_failure_stops_procedure_and_escalates(
    time_env: WorkflowEnvironment,
) -> None:
    world = World(
        policy(), active_after_restart=False, rollback_fail_step=CommandKind.ROLLBACK_RESET
    )
    res, _ = await run_incident(time_env, world)
    assert res.outcome == "escalated"
    assert "rollback_clean" not in world.names() and "start" not in world.names()
    assert any(
        "reset to stable ref" in e.detail for e in res.timeline if e.step == "escalated to a human"
    )


async def test_no_rollback_configured_escalates(time_env: WorkflowEnvironment) -> None:
    world = World(policy(has_rollback=False), restart_exit=1)
    res, _ = await run_incident(time_env, world)
    assert res.outcome == "escalated" and "stop" not in world.names()


async def test_incident_commander_paged_at_five_minutes(time_env: WorkflowEnvironment) -> None:
    # Up after the restart but unhealthy for ~6 minutes (health polled every 30 s).
    world = World(policy(), healthy_after_calls=12)
    res, _ = await run_incident(time_env, world)
    assert res.outcome == "resolved" and res.paged
    [paged_at] = world.times("pagerduty:trigger")
    detected = world.times("slack")[0]
    assert (
        timedelta(minutes=5) - timedelta(seconds=5)
        <= paged_at - detected
        <= timedelta(minutes=5, seconds=5)
    )
    assert "pagerduty:resolve" in world.names()  # the page is closed with the incident


async def test_unhealthy_past_restore_budget_escalates(time_env: WorkflowEnvironment) -> None:
    world = World(policy(), healthy_after_calls=10_000)
    res, _ = await run_incident(time_env, world)
    assert res.outcome == "escalated"
    assert world.names().count("pagerduty:trigger") == 1  # IC page at 5 min, not again
    last_health = world.times("health")[-1]
    assert last_health - world.times("slack")[0] <= timedelta(minutes=10)


async def test_status_query_and_acknowledge(time_env: WorkflowEnvironment) -> None:
    world = World(policy(), healthy_after_calls=10_000)
    tq = f"tq-{uuid.uuid4()}"
    async with Worker(
        time_env.client,
        task_queue=tq,
        workflows=list(PLAYBOOKS.values()),
        activities=world.activities(),
    ):
        handle = await time_env.client.start_workflow(
            ServiceDown.run,
            IncidentInput(
                alert=Alert(alertname="GenesisServiceDown", service="genesis-orchestration")
            ),
            id=f"incident:ack:{uuid.uuid4()}",
            task_queue=tq,
        )
        st = await handle.execute_update(
            "acknowledge", AckRequest(by="alice"), result_type=IncidentStatus
        )
        assert st.acknowledged_by == "alice" and st.service == "genesis-orchestration"
        with pytest.raises(WorkflowUpdateFailedError) as failed:
            await handle.execute_update(
                "acknowledge", AckRequest(by="bob"), result_type=IncidentStatus
            )
        assert "already acknowledged by alice" in str(failed.value.cause)
        await handle.signal(
            "alert_fired", Alert(alertname="GenesisServiceDown", service="genesis-orchestration")
        )
        res = await handle.result()
        assert res.outcome == "escalated"
        st = await handle.query("status", result_type=IncidentStatus)
        assert st.alerts_received == 2 and st.outcome == "escalated"
        assert world.restarts == 1  # the repeat alert joined; it did not restart again


async def test_rollback_started_by_hand_is_refused(time_env: WorkflowEnvironment) -> None:
    """`temporal workflow start --type Rollback` would skip the incident's approvals and
    the governor: the workflow fails at once with RollbackNotAllowed, nothing runs."""
    from temporalio.client import WorkflowFailureError
    from temporalio.exceptions import ApplicationError

    from workflows.models import RollbackInput, RollbackResult

    world = World(policy(has_health_check=True), active_after_restart=False)
    tq = f"tq-{uuid.uuid4()}"
    async with Worker(
        time_env.client,
        task_queue=tq,
        workflows=list(PLAYBOOKS.values()),
        activities=world.activities(),
    ):
        with pytest.raises(WorkflowFailureError) as got:
            await time_env.client.execute_workflow(
                "Rollback",
                RollbackInput(
                    service="genesis-orchestration", incident_id="manual", reason="by hand"
                ),
                id=f"rollback:manual:{uuid.uuid4()}",
                task_queue=tq,
                result_type=RollbackResult,
            )
    cause = got.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == "RollbackNotAllowed"
    assert "only as the child of an incident" in cause.message
    assert world.names() == []  # not even the policy was loaded


async def test_rollback_as_a_child_runs_the_whole_procedure(
    time_env: WorkflowEnvironment,
) -> None:
    world = World(policy(has_health_check=True), active_after_restart=False)
    res = await run_rollback(time_env, world)
    assert res.succeeded and res.failed_step is None
    assert [
        n for n in world.names() if n in ROLLBACK_ORDER + ["status", "health_check"]
    ] == ROLLBACK_ORDER + ["status", "health_check"]


async def test_recovered_on_its_own_resolved_without_action(
    time_env: WorkflowEnvironment,
) -> None:
    # Alertmanager already says resolved and the status command says active: nothing done.
    world = World(policy(), active_from_start=True)
    res, _ = await run_incident(time_env, world, status="resolved")
    assert res.outcome == "resolved_without_action"
    assert res.action == "none (recovered on its own)"
    assert world.restarts == 0 and not any(n in world.names() for n in ROLLBACK_ORDER)
    assert not res.paged and "pagerduty:trigger" not in world.names()
    assert "health" not in world.names()  # no verification of a change never made
    line = "Incident: GenesisServiceDown - Resolved via none (recovered on its own)"
    assert [c.detail for c in world.calls if c.name == "incident_log"] == [line]
    assert [c.detail for c in world.calls if c.name == "slack"][-1] == "Resolved"


async def test_active_but_alert_still_firing_restarts(time_env: WorkflowEnvironment) -> None:
    # "Active" alone is not "recovered": the alert still fires, so the runbook runs.
    world = World(policy(), active_from_start=True)
    res, _ = await run_incident(time_env, world)
    assert res.outcome == "resolved" and res.action == "restart" and world.restarts == 1


async def test_alert_resolved_but_service_down_restarts(time_env: WorkflowEnvironment) -> None:
    # A resolved alert with the service not active is no recovery either.
    world = World(policy())
    res, _ = await run_incident(time_env, world, status="resolved")
    assert res.outcome == "resolved" and res.action == "restart" and world.restarts == 1


async def run_rollback(env: WorkflowEnvironment, world: World) -> RollbackResult:
    """The Rollback procedure alone, as the child of a stand-in incident."""
    from tests.workflows.rollback_parent import RollbackParent

    tq = f"tq-{uuid.uuid4()}"
    async with Worker(
        env.client,
        task_queue=tq,
        workflows=[*PLAYBOOKS.values(), RollbackParent],
        activities=world.activities(),
    ):
        return await env.client.execute_workflow(
            "RollbackParent",
            RollbackInput(
                service="genesis-orchestration", incident_id="manual", reason="operator request"
            ),
            id=f"rollback:manual:{uuid.uuid4()}",
            task_queue=tq,
            result_type=RollbackResult,
        )


async def test_rollback_on_its_own_stops_at_the_failing_step(
    time_env: WorkflowEnvironment,
) -> None:
    world = World(policy(), rollback_fail_step=CommandKind.ROLLBACK_CLEAN)
    res = await run_rollback(time_env, world)
    assert not res.succeeded and res.failed_step == "clean working tree"
    assert [n for n in world.names() if n in ROLLBACK_ORDER] == ROLLBACK_ORDER[:4]


async def test_rollback_on_its_own_fails_when_not_active_after(
    time_env: WorkflowEnvironment,
) -> None:
    world = World(policy(), active_after_rollback=False)
    res = await run_rollback(time_env, world)
    assert not res.succeeded and res.failed_step == "verify active"
    assert [n for n in world.names() if n in ROLLBACK_ORDER] == ROLLBACK_ORDER


# ------------------------------------------------------------------ issue 18
def entries(res: PlaybookResult, step: str) -> list[str]:
    return [f"{e.outcome}: {e.detail}" for e in res.timeline if e.step == step]


@pytest.mark.parametrize(
    ("reason", "said"),
    [
        ("segmentation_fault", "segmentation fault: kernel: app[42]: segfault"),
        ("oom_killer", "out of memory (OOM killer)"),
        ("unknown", "unknown, see crash dump"),
    ],
)
async def test_crash_reason_in_timeline_and_status_update(
    time_env: WorkflowEnvironment, reason: str, said: str
) -> None:
    world = World(policy(), crash_reason=reason)
    res, _ = await run_incident(time_env, world)
    assert res.outcome == "resolved" and res.action == "restart"
    [identified] = entries(res, "identify crash reason")
    assert said in identified
    assert identified.startswith("info:" if reason == "unknown" else "ok:")
    [kept] = entries(res, "collect crash evidence")
    assert "crash dump kept in h:/logs/crash_" in kept
    # The reason rides the next status update (LEAN_HISTORY_2), here "Resolved", with
    # the dump's place; no post of its own.
    assert [m.status for m in world.slack_messages] == ["Active", "Resolved"]
    resolved = world.slack_messages[-1]
    assert f"; crash reason: {said.split(':')[0]} (crash dump h:/logs/crash_" in (
        resolved.actions_taken
    )


async def test_crash_evidence_does_not_hold_up_the_restart(time_env: WorkflowEnvironment) -> None:
    # Background: the restart is scheduled at detection time, not after the evidence.
    world = World(policy())
    await run_incident(time_env, world)
    assert world.times("restart")[0] - world.times("crash_evidence")[0] < timedelta(seconds=5)
    assert world.names().index("restart") > world.names().index("crash_evidence")


async def test_crash_dump_not_kept_in_dry_run(time_env: WorkflowEnvironment) -> None:
    world = World(policy(safety={"dry_run": True}))
    res, _ = await run_incident(time_env, world)
    [kept] = entries(res, "collect crash evidence")
    assert kept.startswith("skipped: DRY RUN: would keep the crash dump in h:/logs/crash_")
    assert entries(res, "identify crash reason")  # still identified: reading is harmless


async def test_smoke_tests_after_health_check_pass_resolves(
    time_env: WorkflowEnvironment,
) -> None:
    # Unhealthy for the first 4 checks (2 minutes at 30 s), then the smoke tests run.
    world = World(policy(release={"has_smoke_test": True}), healthy_after_calls=4)
    res, _ = await run_incident(time_env, world)
    assert res.outcome == "resolved"
    [smoke_at] = world.times("smoke_test")
    assert smoke_at >= world.times("health")[-1]  # after the health check passed
    assert smoke_at - world.times("restart")[0] >= timedelta(seconds=30 + 4 * 30)
    assert entries(res, "smoke tests") == ["ok: exit 0: 1 passed"]


async def test_smoke_tests_fail_escalates(time_env: WorkflowEnvironment) -> None:
    world = World(policy(release={"has_smoke_test": True}), smoke_test_exit=1)
    res, _ = await run_incident(time_env, world)
    assert res.outcome == "escalated" and res.paged
    assert entries(res, "smoke tests") == ["failed: exit 1: 1 failed"]
    assert any(
        "smoke tests fail after restart" in e.detail
        for e in res.timeline
        if e.step == "escalated to a human"
    )


async def test_no_smoke_test_configured_is_skipped(time_env: WorkflowEnvironment) -> None:
    world = World(policy())
    res, _ = await run_incident(time_env, world)
    assert res.outcome == "resolved" and "smoke_test" not in world.names()
    assert entries(res, "smoke tests") == ["skipped: no smoke_test command in the inventory"]

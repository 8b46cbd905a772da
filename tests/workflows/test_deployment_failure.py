"""DeploymentFailure, one test per branch, at the runbook's real durations on the
time-skipping server: health polled every 30 s up to the 90-minute Recovery budget,
the Rollback child's 10 s, the phase budgets (20 / 40 / 90 minutes)."""

from __future__ import annotations

from datetime import timedelta

from temporalio.testing import WorkflowEnvironment

from tests.workflows.agentlab_errors_world import ReleaseWorld, agentlab_policy, run_release
from tests.workflows.sli_harness import steps
from workflows.contracts.policy import ReleasePolicy
from workflows.contracts.service import CommandKind

ROLLBACK = [
    "stop",
    "rollback_fetch",
    "rollback_reset",
    "rollback_clean",
    "rollback_restore_config",
    "start",
]
CI = ReleasePolicy(has_ci_rollback=True, has_source_repo=True, has_smoke_test=True)


def world(policy: dict[str, object] | None = None, **kw: object) -> ReleaseWorld:
    return ReleaseWorld(agentlab_policy(**(policy or {})), **kw)  # type: ignore[arg-type]


async def run(env: WorkflowEnvironment, w: ReleaseWorld):  # type: ignore[no-untyped-def]
    return await run_release(env, w, "DeploymentFailure", "DeploymentFailure")


async def test_git_rollback_healthy_smoke_passes(time_env: WorkflowEnvironment) -> None:
    w = world()
    res = await run(time_env, w)
    assert res.outcome == "resolved" and res.action == "rollback", steps(res)
    order = [
        n
        for n in w.names()
        if n
        in {
            "startup_logs",
            "import_check",
            "git_log",
            "maintenance:enable",
            "stop",
            "start",
            "health",
            "smoke_test",
            "maintenance:disable",
        }
    ]
    assert order == [
        "startup_logs",
        "import_check",
        "git_log",
        "maintenance:enable",
        "stop",
        "start",
        "health",
        "smoke_test",
        "maintenance:disable",
    ]
    assert [c.detail for c in w.calls if c.name == "git_log"] == ["5"]
    assert [n for n in w.names() if n in ROLLBACK] == ROLLBACK
    keys = [c.detail for c in w.calls if c.name.startswith("maintenance:")]
    assert keys == [
        f"{res.run_key}:maintenance:enable",
        f"{res.run_key}:maintenance:disable",
    ]


async def test_ci_rollback_after_import_check_failed(time_env: WorkflowEnvironment) -> None:
    w = world({"release": CI}, import_ok=False)
    res = await run(time_env, w)
    assert res.outcome == "resolved", steps(res)
    assert "diagnosis: import check" in steps(res, "failed")
    assert len(w.dispatches) == 1 and "stop" not in w.names()
    assert w.dispatches[0].reason == "deployment failure (import check failed)"


async def test_rollback_step_fails_escalates_maintenance_left_on(
    time_env: WorkflowEnvironment,
) -> None:
    w = world(rollback_fail_step=CommandKind.ROLLBACK_RESET)
    res = await run(time_env, w)
    assert res.outcome == "escalated" and res.paged
    assert "start" not in w.names() and "maintenance:disable" not in w.names()
    assert any(e.detail == "rollback failed (maintenance mode left on)" for e in res.timeline)


async def test_unhealthy_after_rollback_escalates_at_recovery_budget(
    time_env: WorkflowEnvironment,
) -> None:
    w = world(healthy_after_calls=10_000)
    res = await run(time_env, w)
    assert res.outcome == "escalated"
    detected = w.times("slack")[0]
    paged = w.times("pagerduty:trigger")[0] - detected
    assert timedelta(minutes=89) <= paged <= timedelta(minutes=90), paged
    probes = w.times("health")
    assert all(b - a >= timedelta(seconds=30) for a, b in zip(probes, probes[1:], strict=False))
    assert "smoke_test" not in w.names()
    # Containment overran its 40 minutes? No: Recovery began within it. Recovery did.
    assert "phase overrun: Verification" in steps(res, "failed")
    assert "phase overrun: Response" not in steps(res)


async def test_smoke_tests_failing_escalate(time_env: WorkflowEnvironment) -> None:
    w = world(smoke_exit=1)
    res = await run(time_env, w)
    assert res.outcome == "escalated"
    assert "diagnosis: smoke test" in steps(res, "failed")
    assert "maintenance:disable" not in w.names()


async def test_no_rollback_configured_escalates(time_env: WorkflowEnvironment) -> None:
    w = world({"has_rollback": False})
    res = await run(time_env, w)
    assert res.outcome == "escalated"
    assert not any(n.startswith("maintenance") for n in w.names()) and "stop" not in w.names()
    assert any("no rollback is configured" in e.detail for e in res.timeline)

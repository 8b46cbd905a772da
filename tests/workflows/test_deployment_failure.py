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


# ---------------------------------------------------------------- CI: stop, roll back, follow
CI_DEPLOY = CI.model_copy(update={"has_ci_deploy_workflow": True})


async def test_ci_failed_run_read_deploy_disabled_before_rollback_run_followed(
    time_env: WorkflowEnvironment,
) -> None:
    w = world({"release": CI_DEPLOY})
    res = await run(time_env, w)
    assert res.outcome == "resolved", steps(res)
    names = w.names()
    # Investigation reads the failed run; Containment disables deploy.yml before anything.
    assert names.index("git_log") < names.index("ci_evidence") < names.index("ci_disable")
    assert names.index("ci_disable") < names.index("maintenance:enable")
    assert names.index("ci_disable") < names.index("ci_dispatch")
    assert [d.idempotency_key for d in w.disables] == [f"{res.run_key}:ci:disable"]
    run_log = next(e for e in res.timeline if e.step == "diagnosis: failed deploy run")
    assert "ModuleNotFoundError" in run_log.detail and "deploy" in run_log.detail
    diff = next(e for e in res.timeline if e.step == "diagnosis: deployed diff")
    assert "modified app.py +1 -1" in diff.detail
    # The 204 is not the end: the run is polled every 30 s until it concluded success,
    # and only then does Recovery probe the health endpoint.
    polls = w.times("ci_run")
    assert len(polls) == 3 and polls[0] - w.times("ci_dispatch")[0] >= timedelta(seconds=30)
    gaps = [b - a for a, b in zip(polls, polls[1:], strict=False)]
    assert all(timedelta(seconds=30) <= g < timedelta(seconds=31) for g in gaps), gaps
    assert w.times("health")[0] >= polls[-1]
    assert "CI rollback run" in steps(res, "ok")


async def test_ci_rollback_run_failed_escalates_at_once(time_env: WorkflowEnvironment) -> None:
    w = world({"release": CI_DEPLOY}, ci_runs=[("in_progress", None), ("completed", "failure")])
    res = await run(time_env, w)
    assert res.outcome == "escalated" and res.paged
    # Paged on the poll that saw the failure (a minute), not at Containment's 40 minutes.
    paged = w.times("pagerduty:trigger")[0] - w.times("ci_dispatch")[0]
    assert timedelta(seconds=60) <= paged < timedelta(minutes=2), paged
    assert "CI rollback run" in steps(res, "failed") and "health" not in w.names()
    assert any(e.detail == "rollback failed (maintenance mode left on)" for e in res.timeline)


async def test_ci_rollback_run_cancelled_escalates(time_env: WorkflowEnvironment) -> None:
    w = world({"release": CI}, ci_runs=[("completed", "cancelled")])
    res = await run(time_env, w)
    assert res.outcome == "escalated" and len(w.times("ci_run")) == 1
    assert "ci_disable" not in w.names()  # no deploy workflow configured: a to-do instead
    assert any(
        e.step == "disable deploy workflow" and e.detail.startswith("to do:") for e in res.timeline
    )


async def test_ci_rollback_run_unfinished_escalates_when_containment_ends(
    time_env: WorkflowEnvironment,
) -> None:
    w = world({"release": CI_DEPLOY}, ci_runs=[("in_progress", None)])
    res = await run(time_env, w)
    assert res.outcome == "escalated"
    detected = w.times("slack")[0]
    paged = w.times("pagerduty:trigger")[0] - detected
    # Containment (20-40 minutes) ends 40 minutes after detection: no poll after it.
    assert timedelta(minutes=39) <= paged <= timedelta(minutes=40), paged
    assert w.times("ci_run")[-1] - detected <= timedelta(minutes=40)
    last = next(e for e in reversed(res.timeline) if e.step == "CI rollback run")
    assert last.outcome == "failed" and "in_progress" in last.detail


async def test_disable_refused_by_github_still_rolls_back(time_env: WorkflowEnvironment) -> None:
    w = world({"release": CI_DEPLOY}, disable_error="CiRejected")
    res = await run(time_env, w)
    assert res.outcome == "resolved" and len(w.dispatches) == 1
    assert "disable deploy workflow" in steps(res, "failed")
    assert any("to do: disable the deploy workflow" in e.detail for e in res.timeline)


async def test_disable_waits_for_approval_when_containment_requires_it(
    time_env: WorkflowEnvironment,
) -> None:
    # Nobody approves within the approval timeout: nothing disabled, nothing rolled back.
    safety = {"require_approval": ["containment"], "governor": False}
    w = world({"release": CI_DEPLOY, "safety": safety})
    res = await run(time_env, w)
    assert res.outcome == "escalated"
    assert "ci_disable" not in w.names() and not w.dispatches
    assert "ci_evidence" in w.names()  # reading is not a change: no approval asked

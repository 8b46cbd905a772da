"""TestPassRateLow, one test per scenario branch at the runbook's real durations."""

from __future__ import annotations

from datetime import timedelta

from temporalio.testing import WorkflowEnvironment

from tests.workflows.sli_harness import log_line, near, run_incident, steps
from tests.workflows.sli_world import SliWorld, sli_policy
from workflows.contracts.testsuite import CheckResult, TestRunResult

FLAKY = "tests/test_performance.py::test_halo_routing_performance_large_dag"


def run(passed: int, failing: list[str], **kw: object) -> TestRunResult:
    return TestRunResult.model_validate(
        dict(
            exit_status=1 if failing else 0,
            passed=passed,
            failed=len(failing),
            pass_rate=passed / (passed + len(failing)),
            failing=failing,
            failing_total=len(failing),
            summary="...",
        )
        | kw
    )


def infra(n: int) -> list[str]:
    return [f"tests/test_htdag_planner.py::test_{i}" for i in range(n)]


def world(suite: TestRunResult, **kw: object) -> SliWorld:
    return SliWorld(sli_policy(), suite=[suite], **kw)  # type: ignore[arg-type]


async def test_a_infrastructure_imports_fail_rolls_back(time_env: WorkflowEnvironment) -> None:
    w = world(
        run(600, infra(8), categories={"infrastructure": 8}),
        checks={"imports": CheckResult(ok=False, detail="ModuleNotFoundError: htdag_planner")},
        sli_after_rollback=[0.99],
    )
    res = await run_incident(time_env, w, "TestPassRateLow")
    assert res.outcome == "resolved" and res.action == "rollback"
    assert "scenario: infrastructure" in steps(res)
    assert w.names().index("check:imports") < w.names().index("stop")
    assert log_line(w) == "Incident: TestPassRateLow - Resolved via rollback"


async def test_a_infrastructure_imports_ok_human_then_verify(
    time_env: WorkflowEnvironment,
) -> None:
    w = world(run(600, infra(8), categories={"infrastructure": 8}), sli=[0.99])
    res = await run_incident(time_env, w, "TestPassRateLow")
    assert res.outcome == "resolved" and "stop" not in w.names()
    assert {"check:imports", "check:dependencies"} <= set(w.names()) and res.paged


async def test_b_intermittent_passes_in_isolation_no_rollback(
    time_env: WorkflowEnvironment,
) -> None:
    w = world(run(99, [FLAKY], categories={"performance": 1}), isolated=run(1, []))
    res = await run_incident(time_env, w, "TestPassRateLow")
    assert res.outcome == "resolved"
    assert res.action == "known intermittent test (passed in isolation)"
    assert [c.detail for c in w.calls if c.name == "testsuite"] == ["", FLAKY]
    assert "stop" not in w.names() and "prometheus" not in w.names() and not res.paged


async def test_b_intermittent_fails_in_isolation_checks_resources(
    time_env: WorkflowEnvironment,
) -> None:
    w = world(run(99, [FLAKY]), isolated=run(0, [FLAKY]), sli=[0.99], diag={"node_cpu": 0.97})
    res = await run_incident(time_env, w, "TestPassRateLow")
    assert res.outcome == "resolved" and res.paged
    for what in ("CPU usage", "memory usage", "disk I/O utilization"):
        assert f"diagnosis: {what}" in steps(res)


async def test_c_new_regressions_listed_for_a_human(time_env: WorkflowEnvironment) -> None:
    new = ["tests/test_orchestration.py::test_plan"]
    w = world(run(99, new, new_failures=new), sli=[0.97], sli_after_rollback=[0.99])
    res = await run_incident(time_env, w, "TestPassRateLow")
    asked = next(e for e in res.timeline if e.step == "asked a human")
    assert new[0] in asked.detail
    # Nobody fixed it: rolled back 30 minutes after detection.
    assert res.action == "rollback"
    assert near(w.times("stop")[0] - w.times("slack")[0], timedelta(minutes=30))


async def test_below_95_percent_rolls_back_at_once(time_env: WorkflowEnvironment) -> None:
    w = world(run(90, infra(3) + ["tests/test_darwin.py::t"] * 7), sli_after_rollback=[0.99])
    res = await run_incident(time_env, w, "TestPassRateLow")
    assert res.outcome == "resolved" and res.action == "rollback"
    assert not any(s.startswith("scenario:") for s in steps(res))
    # Rolled back for the pass rate, at assessment -- not by a failed verification.
    why = next(e.detail for e in res.timeline if e.step == "rollback")
    assert why == "pass rate 90.0% < 95%"
    assert w.times("stop")[0] - w.times("slack")[0] < timedelta(minutes=1)
    assert not res.paged and "pagerduty:trigger" not in w.names()
    assert [c for c in w.calls if c.name == "prometheus" and c.at < w.times("stop")[0]] == []


async def test_suite_unreadable_escalates(time_env: WorkflowEnvironment) -> None:
    w = world(TestRunResult(exit_status=4, summary="usage error"))
    res = await run_incident(time_env, w, "TestPassRateLow")
    assert res.outcome == "escalated" and "stop" not in w.names()

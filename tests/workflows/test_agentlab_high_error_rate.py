"""AgentLabHighErrorRate, one test per branch, at the runbook's real durations on the
time-skipping server: 10-minute sustained windows sampled every 30 s, the Recovery
budget's 90 minutes, the phase budgets (15 / 45 / 90 minutes)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from temporalio.testing import WorkflowEnvironment

from tests.histories.record import suite_run
from tests.workflows.agentlab_errors_world import DOWN, ReleaseWorld, agentlab_policy, run_release
from tests.workflows.sli_harness import near, steps
from workflows.contracts.policy import ReleasePolicy

ROLLBACK = [
    "stop",
    "rollback_fetch",
    "rollback_reset",
    "rollback_clean",
    "rollback_restore_config",
    "start",
]
GOOD, BAD = 0.002, 0.03  # the Agent Lab SLO: error rate < 1 %
PASSING = suite_run(40, [])
CI = ReleasePolicy(has_ci_rollback=True, has_upstream_probe=True, has_source_repo=True)


def world(policy: dict[str, object] | None = None, **kw: object) -> ReleaseWorld:
    kw.setdefault("suite", [PASSING])
    return ReleaseWorld(agentlab_policy(**(policy or {})), **kw)  # type: ignore[arg-type]


async def run(env: WorkflowEnvironment, w: ReleaseWorld):  # type: ignore[no-untyped-def]
    return await run_release(env, w, "AgentLabHighErrorRate", "HighErrorRate")


async def test_git_rollback_error_rate_falls_tests_pass(time_env: WorkflowEnvironment) -> None:
    w = world(sli=[BAD], sli_after_rollback=[GOOD])
    res = await run(time_env, w)
    assert res.outcome == "resolved" and res.action == "rollback", steps(res)
    names = w.names()
    # Investigation before containment: grouped errors, 5 upstream probes, git log -10.
    assert names.index("error_groups") < names.index("upstream") < names.index("git_log")
    assert names.index("git_log") < names.index("stop")
    assert [c.detail for c in w.calls if c.name == "git_log"] == ["10"]
    assert [n for n in names if n in ROLLBACK] == ROLLBACK and not w.dispatches
    groups = next(e for e in res.timeline if e.step == "diagnosis: error groups")
    assert "30x OpenRouter timeout after 30s; 12x KeyError" in groups.detail
    # Recovery: a 10-minute window of 30 s samples after the rollback, then the tests.
    samples = [t for t in w.times("prometheus") if t > w.times("start")[0]]
    assert len(samples) == 21 and near(samples[-1] - samples[0], timedelta(minutes=10))
    assert w.times("testsuite")[0] >= samples[-1]
    assert "diagnosis: integration tests" in steps(res, "ok")
    assert not res.paged


async def test_ci_rollback_dispatched_once(time_env: WorkflowEnvironment) -> None:
    w = world({"release": CI}, sli=[BAD], sli_after_rollback=[GOOD])
    res = await run(time_env, w)
    assert res.outcome == "resolved" and res.action == "rollback", steps(res)
    assert len(w.dispatches) == 1 and "stop" not in w.names()  # CI, not the git child
    d = w.dispatches[0]
    assert d.idempotency_key == f"{res.run_key}:ci:1" and "error rate" in d.reason
    assert "dispatch CI rollback workflow" in steps(res, "ok")


async def test_upstream_failing_no_rollback_human_asked(time_env: WorkflowEnvironment) -> None:
    # Upstream API failing: rolling back would not help. A person looks at the circuit
    # breaker; the error rate falls on the third window.
    w = world(upstream=DOWN, sli=[BAD, BAD, GOOD])
    res = await run(time_env, w)
    assert res.outcome == "resolved" and res.action == "none (upstream API failing)"
    assert "stop" not in w.names() and not w.dispatches
    assert res.paged and "asked a human" in steps(res)
    assert "diagnosis: upstream latency" in steps(res, "failed")
    assert len(w.times("prometheus")) == 2 + 21


async def test_error_rate_not_falling_escalates_in_recovery_budget(
    time_env: WorkflowEnvironment,
) -> None:
    w = world(sli=[BAD], sli_after_rollback=[BAD])
    res = await run(time_env, w)
    assert res.outcome == "escalated" and res.paged
    detected = w.times("slack")[0]
    paged = w.times("pagerduty:trigger")[0] - detected
    # No new 10-minute window fits before the 90-minute Recovery budget ends.
    assert timedelta(minutes=80) <= paged <= timedelta(minutes=90), paged
    assert "error_rate fell" in steps(res, "failed") and "testsuite" not in w.names()
    assert w.names().count("stop") == 1  # one rollback, never a second


async def test_integration_tests_failing_escalate(time_env: WorkflowEnvironment) -> None:
    failing = suite_run(38, ["tests/integration/test_agents.py::test_create"])
    w = world(sli=[BAD], sli_after_rollback=[GOOD], suite=[failing])
    res = await run(time_env, w)
    assert res.outcome == "escalated" and res.paged
    assert any("integration tests failing" in e.detail for e in res.timeline)
    [line] = [c.detail for c in w.calls if c.name == "incident_log"]
    assert "Escalated to a person" in line and "integration tests failing" in line


async def test_ci_dispatch_rejected_escalates(time_env: WorkflowEnvironment) -> None:
    w = world({"release": CI}, sli=[BAD], ci_error="CiRejected")
    res = await run(time_env, w)
    assert res.outcome == "escalated" and len(w.dispatches) == 1
    assert "dispatch CI rollback workflow" in steps(res, "failed")
    assert any("rollback failed" in e.detail for e in res.timeline)
    assert "prometheus" not in w.names()  # nothing to validate: straight to a human


def test_agent_lab_routes_high_error_rate_to_its_own_playbook() -> None:
    # The per-service route in examples/inventory.yaml: HighErrorRate on agent-lab runs
    # the Agent Lab runbook; on genesis-orchestration, the Genesis one.
    from activities.inventory import load_inventory
    from bridge.routing import Router

    router = Router(load_inventory("examples/inventory.yaml"))
    lab = router.route({"alertname": "HighErrorRate", "service": "agent-lab"})
    genesis = router.route({"alertname": "HighErrorRate", "service": "genesis-orchestration"})
    deploy = router.route({"alertname": "DeploymentFailure", "service": "agent-lab"})
    assert lab.playbook == "AgentLabHighErrorRate" and genesis.playbook == "HighErrorRate"
    assert deploy.playbook == "DeploymentFailure"
    policy = load_inventory("examples/inventory.yaml").policy("agent-lab")
    assert policy.release.has_ci_rollback and policy.release.has_smoke_test
    assert "GITHUB_TOKEN" not in policy.model_dump_json()  # the env var name stays worker side


# ---------------------------------------------------------------- a recent deployment?
@pytest.mark.parametrize(
    ("ago", "rolled_back"),
    [(timedelta(hours=23, minutes=59), True), (timedelta(hours=24, minutes=1), False)],
)
async def test_rollback_only_after_a_deployment_within_24_hours(
    time_env: WorkflowEnvironment, ago: timedelta, rolled_back: bool
) -> None:
    w = world(sli=[BAD], sli_after_rollback=[GOOD], deployed_ago=ago)
    res = await run(time_env, w)
    assert ("stop" in w.names()) is rolled_back, steps(res)
    seen = next(e for e in res.timeline if e.step == "diagnosis: recent deployment")
    if rolled_back:
        assert res.outcome == "resolved" and seen.outcome == "ok"
        assert "deployed within 24 h: abc0 change 0" in seen.detail
    else:
        # Nothing to roll back: a person gets the evidence at once, in Containment.
        assert res.outcome == "escalated" and res.paged and not w.dispatches
        assert "prometheus" not in w.names()
        [why] = [c.detail for c in w.calls if c.name == "incident_log"]
        assert "no deployment within 24 h: newest abc0 change 0" in why
        assert "30x OpenRouter timeout after 30s" in why and "not rolled back" in why


async def test_no_commit_times_no_rollback(time_env: WorkflowEnvironment) -> None:
    # The host's git log gave no times (or failed): a recent deployment is not shown.
    w = world({"release": CI}, sli=[BAD], deployed_ago=None)
    res = await run(time_env, w)
    assert res.outcome == "escalated" and not w.dispatches and "stop" not in w.names()
    assert "diagnosis: recent deployment" in steps(res, "failed")


async def test_ci_rollback_run_cancelled_escalates_at_once(time_env: WorkflowEnvironment) -> None:
    w = world({"release": CI}, sli=[BAD], ci_runs=[None, ("completed", "cancelled")])
    res = await run(time_env, w)
    assert res.outcome == "escalated" and len(w.dispatches) == 1
    assert len(w.times("ci_run")) == 2 and "prometheus" not in w.names()
    paged = w.times("pagerduty:trigger")[0] - w.times("ci_dispatch")[0]
    assert timedelta(seconds=60) <= paged < timedelta(minutes=2), paged
    assert "CI rollback run" in steps(res, "failed")


async def test_ci_run_not_followable_leaves_it_to_recovery(time_env: WorkflowEnvironment) -> None:
    # No incident_input configured: the run cannot be found; the error-rate SLI judges.
    w = world(
        {"release": CI},
        sli=[BAD],
        sli_after_rollback=[GOOD],
        ci_status_error="CommandNotConfigured",
    )
    res = await run(time_env, w)
    assert res.outcome == "resolved", steps(res)
    assert any("to do: check the rollback run" in e.detail for e in res.timeline)

"""Record the history of every branch of every playbook, for the replay tests.

    .venv/bin/python -m tests.histories.record            # all branches
    .venv/bin/python -m tests.histories.record -k rollback   # names containing "rollback"
    .venv/bin/python -m tests.histories.record -o DIR        # somewhere else

Each branch runs the production playbook code on a real Temporal server -- the
time-skipping test server, because the branches include the runbooks' 30 s, 5 min,
10 min and 24 h waits -- with the activity fakes of tests/workflows/fakes.py scripting
the service (tests/workflows/sli_world.py's SliWorld for the SLI playbooks: scripted SLI
samples, diagnostics, test-suite runs, /health fields, mitigations). Each run is then
exported with `remedy.history.export` (the same code as `remedy export`) to
tests/histories/<playbook>-<branch>.json; a Rollback child started by a ServiceDown
branch goes to Rollback-child-<branch>.json.

Before re-recording after a workflow.patched change, copy the histories that predate
it into a subdirectory (pre-patch/, pre-postincident/, ...): test_replay replays every
subdirectory, so the old runs stay covered.

Adding a playbook means adding its branches to SCENARIOS and
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
from tests.workflows.clock import WorkflowClock
from tests.workflows.fakes import World
from tests.workflows.rollback_parent import RollbackParent
from tests.workflows.sli_world import SliWorld, sli_policy
from workflows.contracts.diagnostics import LogErrorsResult
from workflows.contracts.policy import ServicePolicy
from workflows.contracts.safety import SafetyPolicy
from workflows.contracts.service import CommandKind
from workflows.contracts.testsuite import CheckResult, TestRunResult
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
# Playbooks whose branches run against a SliWorld (alertname = playbook name).
SLI_PLAYBOOKS = {"HighErrorRate", "HighLatencyP95", "TestPassRateLow"}

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


async def ack_at_90s(env: WorkflowEnvironment, handle: WorkflowHandle[Any, Any]) -> None:
    """On-call acknowledges the page at 1:30, inside the 2-minute window."""
    await env.sleep(timedelta(seconds=90))
    await handle.execute_update("acknowledge", AckRequest(by="oncall"), result_type=IncidentStatus)


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

    def make_world(self) -> World:
        if self.playbook in WORLDS:  # playbooks with their own fakes module
            return WORLDS[self.playbook](self)
        if self.playbook in SLI_PLAYBOOKS:
            return SliWorld(sli_policy(**self.policy), **self.world)
        return World(policy(**self.policy), **self.world)


def _security_world(sc: Scenario) -> World:
    from tests.workflows.security_world import SecurityWorld, security_policy

    kw = dict(sc.policy)
    safety = kw.pop("safety", None)  # the rest are `security:` fields
    pol = security_policy(**kw)
    if safety is not None:
        pol = pol.model_copy(update={"safety": safety})
    return SecurityWorld(pol, **sc.world)


# playbook -> its World factory, for playbooks whose fakes live in their own module.
WORLDS: dict[str, Callable[[Scenario], World]] = {"SecurityIncident": _security_world}


async def approve_all_then_ack(env: WorkflowEnvironment, handle: WorkflowHandle[Any, Any]) -> None:
    """SecurityIncident: a person approves every containment step, then acknowledges."""
    from workflows.contracts.safety import ApproveRequest

    await _until(env, handle, lambda s: len(s.pending_approvals) == 3)
    for step in list((await handle.query("status", result_type=IncidentStatus)).pending_approvals):
        await handle.execute_update("approve", ApproveRequest(by="oncall", step=step))
    await ack_when_escalated(env, handle)


async def reject_first(env: WorkflowEnvironment, handle: WorkflowHandle[Any, Any]) -> None:
    from workflows.contracts.safety import RejectRequest

    await _until(env, handle, lambda s: len(s.pending_approvals) == 3)
    step = "containment: rotate-credentials"
    await handle.execute_update("reject", RejectRequest(by="oncall", step=step, reason="no"))


# The SLI playbooks' branches: the same worlds as tests/workflows/test_high_error_rate.py,
# test_high_latency.py and test_test_pass_rate.py, plus the ask-a-human branches those
# tests do not reach.
ERR_GOOD, ERR_MID, ERR_BAD = 0.0005, 0.005, 0.02  # < 0.1 %, between, > 1 %
P95_GOOD, P95_MID, P95_BAD = 0.150, 0.300, 0.800  # < 200 ms, between, > 500 ms
FLAKY = "tests/test_performance.py::test_halo_routing_performance_large_dag"
NEW_FAILURE = "tests/test_orchestration.py::test_plan"


def suite_run(passed: int, failing: list[str], **kw: Any) -> TestRunResult:
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


def her(branch: str, expect: str = "resolved", **world: Any) -> Scenario:
    return Scenario("HighErrorRate", branch, world=world, expect=expect)


def p95(branch: str, expect: str = "resolved", **world: Any) -> Scenario:
    return Scenario("HighLatencyP95", branch, world=world, expect=expect)


def tpr(
    branch: str, suite: TestRunResult | list[TestRunResult], expect: str = "resolved", **world: Any
) -> Scenario:
    """`suite`: the assessment's run, then the verification's re-runs (the last repeated)."""
    runs = suite if isinstance(suite, list) else [suite]
    return Scenario("TestPassRateLow", branch, world={"suite": runs, **world}, expect=expect)


SUITE_OK = suite_run(100, [])


SCENARIOS: list[Scenario] = [
    # ---- ServiceDown: restart, rollback, escalations, flapping, recovered on its own
    Scenario("ServiceDown", "restart-healthy"),
    # The user-facing notice to a status page (`user-notice`): at the first post, at
    # resolution; only a service with `status_page:` schedules them.
    Scenario(
        "ServiceDown",
        "status-page-notices",
        policy={
            "communication": {
                "slack": {"alerts": "SLACK_ALERTS_URL"},
                "status_page": {"url_env": "STATUS_PAGE_URL"},
            }
        },
    ),
    # Paging by severity (steps/paging.py, `people-in-the-loop`): `paging` set, so the
    # runbook's policy applies (the fakes page nobody at detection otherwise).
    Scenario("ServiceDown", "p0-pages-on-call-and-commander-at-detection", policy={"paging": {}}),
    Scenario(
        "ServiceDown",
        "p1-unacknowledged-re-pages-every-2-minutes",
        policy={"paging": {}, "severity_overrides": {"GenesisServiceDown": "P1"}},
        world={"healthy_after_calls": 14},
    ),
    Scenario(
        "ServiceDown",
        "p1-acknowledged-at-90s-stops-the-chain",
        policy={"paging": {}, "severity_overrides": {"GenesisServiceDown": "P1"}},
        world={"healthy_after_calls": 7},
        drive=ack_at_90s,
    ),
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
    # Step 3's smoke tests after the health check (issue 18, service-down-crash-reason).
    Scenario(
        "ServiceDown", "smoke-tests-pass-resolved", policy={"release": {"has_smoke_test": True}}
    ),
    Scenario(
        "ServiceDown",
        "smoke-tests-fail-escalates",
        expect="escalated",
        world={"smoke_test_exit": 1},
        policy={"release": {"has_smoke_test": True}},
        drive=ack_when_escalated,
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
    # ---- SecurityIncident: approvals, rejection, timeout, no evidence
    Scenario(
        "SecurityIncident",
        "all-approved-contained",
        drive=approve_all_then_ack,
        alert={"alertname": "SecurityIncident"},
        expect="escalated",
    ),
    Scenario(
        "SecurityIncident",
        "rejected-escalates",
        drive=reject_first,
        alert={"alertname": "SecurityIncident"},
        expect="escalated",
    ),
    Scenario(
        "SecurityIncident",
        "no-approval-times-out",
        alert={"alertname": "SecurityIncident"},
        expect="escalated",
    ),
    Scenario(
        "SecurityIncident",
        "dry-run-describes-containment",
        policy={"safety": SafetyPolicy(dry_run=True, approval_timeout_s=900)},
        alert={"alertname": "SecurityIncident"},
        expect="escalated",
        drive=ack_when_escalated,
    ),
    Scenario(
        "SecurityIncident",
        "snapshot-fails-escalates",
        world={"snapshot_fails": True},
        alert={"alertname": "SecurityIncident"},
        expect="escalated",
    ),
    Scenario(
        "SecurityIncident",
        "containment-overruns-budget",
        policy={"safety": SafetyPolicy(approval_timeout_s=10800)},
        alert={"alertname": "SecurityIncident"},
        expect="escalated",
    ),
    # ---- HighErrorRate: scenarios A-D, the immediate and the 30-minute rollbacks
    her(
        "llm-fallback-restart-verified",
        sli=[ERR_MID, ERR_GOOD],
        error_samples={"llm_rate_limit": 40, "network": 2},
    ),
    her(
        "network-breaker-open-waits",
        sli=[ERR_MID, ERR_GOOD],
        log_errs=LogErrorsResult(error_lines=9, categories={"network": 9}),
        health_json={"/circuit_breaker": [{"state": "open"}, {"state": "closed"}]},
    ),
    her(
        "network-breaker-closed-asks-human",
        sli=[ERR_MID, ERR_GOOD],
        error_samples={"network_timeout": 5},
        health_json={"/circuit_breaker": ["closed"]},
    ),
    her(
        "memory-exhausted-restarts",
        sli=[ERR_MID, ERR_GOOD],
        error_samples={"resource_memory": 7},
        diag={"MemAvailable": 0.95},
    ),
    her(
        "resource-memory-ok-asks-human",
        sli=[ERR_MID, ERR_GOOD],
        error_samples={"resource_memory": 7},
        diag={"MemAvailable": 0.40},
    ),
    her(
        "validation-relaxed-restart",
        sli=[ERR_MID, ERR_GOOD],
        error_samples={"validation": 12, "llm": 1},
    ),
    her("unidentified-errors-asks-human", sli=[ERR_MID, ERR_GOOD]),
    her(
        "verification-over-1pct-rolls-back",
        sli=[ERR_MID, ERR_BAD],
        sli_after_rollback=[ERR_GOOD],
        error_samples={"llm": 3},
    ),
    her(
        "assessment-over-1pct-rolls-back",
        sli=[ERR_BAD],
        sli_after_rollback=[ERR_GOOD],
        error_samples={"llm": 3},
    ),
    her(
        "unresolved-30min-rolls-back",
        sli=[ERR_MID],
        sli_after_rollback=[ERR_GOOD],
        error_samples={"llm": 3},
    ),
    her(
        "still-bad-after-rollback-escalates",
        "escalated",
        sli=[ERR_MID, ERR_BAD],
        sli_after_rollback=[ERR_MID],
        error_samples={"llm": 3},
    ),
    her(
        "no-data-rolls-back-at-30min",
        sli=[ERR_MID, None],
        sli_after_rollback=[ERR_GOOD],
        error_samples={"llm": 3},
    ),
    # ---- HighLatencyP95: slow component A/B, resources C, rollbacks
    p95(
        "htdag-slow-cache",
        sli=[P95_MID, P95_GOOD],
        diag={"htdag": 0.400, "halo": 0.105, "aop": 0.050},
        llm_latency_s=3.0,  # Scenario A: the LLM API slow -> the cache
    ),
    p95(
        "htdag-slow-llm-fast-asks-human",
        sli=[P95_MID, P95_GOOD],
        diag={"htdag": 0.400, "halo": 0.105, "aop": 0.050},
    ),
    p95(
        "memory-over-80-python-malloc",
        sli=[P95_MID, P95_GOOD],
        diag={"htdag": 0.100, "halo": 0.100, "aop": 0.050, "MemAvailable": 0.93},
    ),
    p95(
        "halo-slow-enables-optimizations",
        sli=[P95_MID, P95_GOOD],
        diag={"htdag": 0.100, "halo": 0.500, "aop": 0.050},
        health_json={"/halo_optimizations": [{"rule_indexing": False, "batch_routing": True}]},
    ),
    p95(
        "halo-slow-optimized-asks-human",
        sli=[P95_MID, P95_GOOD],
        diag={"htdag": 0.100, "halo": 0.500, "aop": 0.050},
        health_json={"/halo_optimizations": [True]},
    ),
    p95(
        "cpu-over-80-concurrency",
        sli=[P95_MID, P95_GOOD],
        diag={"htdag": 0.1, "halo": 0.1, "aop": 0.05, "node_cpu": 0.93},
    ),
    p95("disk-io-verbosity-no-restart", sli=[P95_MID, P95_GOOD], diag={"node_disk_io": 0.97}),
    p95("nothing-slow-asks-human", sli=[P95_MID, P95_GOOD]),
    p95("assessment-over-500ms-rolls-back", sli=[P95_BAD], sli_after_rollback=[P95_GOOD]),
    p95(
        "verification-over-500ms-rolls-back",
        sli=[P95_MID, P95_BAD],
        sli_after_rollback=[P95_GOOD],
        diag={"htdag": 0.4},
        llm_latency_s=3.0,
    ),
    p95(
        "unresolved-30min-rolls-back",
        sli=[P95_MID],
        sli_after_rollback=[P95_GOOD],
        diag={"htdag": 0.4},
        llm_latency_s=3.0,
    ),
    # ---- TestPassRateLow: scenarios A-C, < 95 %, unreadable suite; verified by re-runs
    tpr(
        "infrastructure-imports-fail-rolls-back",
        suite_run(600, infra(8), categories={"infrastructure": 8}),
        checks={"imports": CheckResult(ok=False, detail="ModuleNotFoundError: htdag_planner")},
        suite_after_rollback=[SUITE_OK],
    ),
    tpr(
        "infrastructure-imports-ok-asks-human",
        [
            suite_run(
                600, infra(8), categories={"infrastructure": 8}, patterns={"import error": 8}
            ),
            SUITE_OK,
        ],
        checks={"recent_changes": CheckResult(ok=True, output=["abc123 htdag: new planner"])},
    ),
    tpr(
        "intermittent-passes-in-isolation",
        [
            suite_run(99, [FLAKY], categories={"performance": 1}, non_critical_failing=[FLAKY]),
            SUITE_OK,
        ],
        isolated=suite_run(1, []),
    ),
    tpr(
        "intermittent-passes-in-isolation-not-sustained-rolls-back",
        [suite_run(99, [FLAKY]), suite_run(99, [FLAKY]), suite_run(97, [FLAKY] * 3)],
        isolated=suite_run(1, []),
        suite_after_rollback=[SUITE_OK],
    ),
    tpr(
        "intermittent-fails-in-isolation-checks-resources",
        [suite_run(99, [FLAKY], non_critical_failing=[FLAKY]), SUITE_OK],
        isolated=suite_run(0, [FLAKY]),
        diag={"node_cpu": 0.97},
    ),
    tpr(
        "regressions-asks-human-rolls-back-at-30min",
        [
            suite_run(99, [NEW_FAILURE], new_failures=[NEW_FAILURE]),
            suite_run(97, [NEW_FAILURE] * 3),
        ],
        suite_after_rollback=[SUITE_OK],
    ),
    tpr(
        "verification-suite-unreadable-rolls-back-at-30min",
        [suite_run(99, [NEW_FAILURE]), TestRunResult(exit_status=4, summary="usage error")],
        suite_after_rollback=[SUITE_OK],
    ),
    tpr(
        "below-95-rolls-back",
        suite_run(90, infra(3) + ["tests/test_darwin.py::t"] * 7),
        suite_after_rollback=[SUITE_OK],
    ),
    tpr(
        "still-failing-after-rollback-escalates",
        suite_run(90, infra(10)),
        "escalated",
        suite_after_rollback=[suite_run(96, infra(4))],
    ),
    tpr(
        "suite-unreadable-escalates",
        TestRunResult(exit_status=4, summary="usage error"),
        "escalated",
    ),
]


def _release_world(sc: Scenario) -> World:
    from tests.workflows.agentlab_errors_world import ReleaseWorld, agentlab_policy

    return ReleaseWorld(agentlab_policy(**sc.policy), **sc.world)


def rel(
    playbook: str,
    branch: str,
    expect: str = "resolved",
    policy: dict[str, Any] | None = None,
    **world: Any,
) -> Scenario:
    """Agent Lab HighErrorRate / DeploymentFailure on service agent-lab (their git
    Rollback children are the Rollback workflow already recorded above: not exported)."""
    alertname = "HighErrorRate" if playbook == "AgentLabHighErrorRate" else playbook
    return Scenario(
        playbook,
        branch,
        world=world,
        policy=policy or {},
        expect=expect,
        alert={"alertname": alertname, "service": "agent-lab"},
    )


def _release_scenarios() -> list[Scenario]:
    from tests.workflows.agentlab_errors_world import DOWN
    from workflows.contracts.policy import ReleasePolicy

    ci = {
        "release": ReleasePolicy(
            has_ci_rollback=True, has_upstream_probe=True, has_source_repo=True, has_smoke_test=True
        )
    }
    good, bad, tests_ok = 0.002, 0.03, [suite_run(40, [])]
    her, dep = "AgentLabHighErrorRate", "DeploymentFailure"
    ci_deploy = {"release": ci["release"].model_copy(update={"has_ci_deploy_workflow": True})}
    old_deploy = timedelta(hours=30)  # outside the 24-hour window
    return [
        rel(her, "git-rollback-resolved", sli=[bad], sli_after_rollback=[good], suite=tests_ok),
        rel(
            her,
            "ci-rollback-resolved",
            policy=ci,
            sli=[bad],
            sli_after_rollback=[good],
            suite=tests_ok,
        ),
        rel(
            her, "upstream-failing-asks-human", upstream=DOWN, sli=[bad, bad, good], suite=tests_ok
        ),
        rel(
            her,
            "error-rate-not-falling-escalates",
            "escalated",
            sli=[bad],
            sli_after_rollback=[bad],
        ),
        rel(
            her,
            "integration-tests-fail-escalates",
            "escalated",
            sli=[bad],
            sli_after_rollback=[good],
            suite=[suite_run(38, ["tests/integration/test_a.py::t"])],
        ),
        rel(her, "ci-rejected-escalates", "escalated", policy=ci, sli=[bad], ci_error="CiRejected"),
        rel(dep, "git-rollback-resolved"),
        rel(dep, "ci-rollback-import-failed-resolved", policy=ci, import_ok=False),
        rel(
            dep,
            "rollback-step-fails-escalates",
            "escalated",
            rollback_fail_step=CommandKind.ROLLBACK_RESET,
        ),
        rel(dep, "unhealthy-after-rollback-escalates", "escalated", healthy_after_calls=10_000),
        rel(dep, "smoke-tests-fail-escalates", "escalated", smoke_exit=1),
        rel(dep, "no-rollback-escalates", "escalated", policy={"has_rollback": False}),
        # Issue 18: a recent deployment before a rollback; the CI run followed to its
        # conclusion; the broken deploy's run read and its workflow disabled.
        rel(her, "no-recent-deploy-escalates", "escalated", sli=[bad], deployed_ago=old_deploy),
        rel(
            her,
            "ci-run-cancelled-escalates",
            "escalated",
            policy=ci,
            sli=[bad],
            ci_runs=[None, ("completed", "cancelled")],
        ),
        rel(
            her,
            "ci-run-not-followed-resolved",
            policy=ci,
            sli=[bad],
            sli_after_rollback=[good],
            suite=tests_ok,
            ci_status_error="CommandNotConfigured",
        ),
        rel(dep, "ci-deploy-disabled-run-followed-resolved", policy=ci_deploy),
        rel(
            dep,
            "ci-run-failed-escalates",
            "escalated",
            policy=ci_deploy,
            ci_runs=[("in_progress", None), ("completed", "failure")],
        ),
        rel(
            dep,
            "ci-run-unfinished-escalates",
            "escalated",
            policy=ci_deploy,
            ci_runs=[("in_progress", None)],
        ),
        rel(dep, "disable-refused-rolls-back", policy=ci_deploy, disable_error="CiRejected"),
    ]


WORLDS["AgentLabHighErrorRate"] = WORLDS["DeploymentFailure"] = _release_world
SCENARIOS += _release_scenarios()


def _lab_world(sc: Scenario) -> World:
    from tests.workflows.agentlab_world import LabWorld, lab_policy

    return LabWorld(lab_policy(**sc.policy), **sc.world)


async def approve_containment_late(
    env: WorkflowEnvironment, handle: WorkflowHandle[Any, Any]
) -> None:
    """ApplicationDown: maintenance mode approved 35 minutes in (Containment overruns)."""
    from workflows.contracts.safety import ApproveRequest

    await _until(env, handle, lambda s: "containment" in s.pending_approvals)
    await env.sleep(timedelta(minutes=35))
    await handle.execute_update("approve", ApproveRequest(by="oncall", step="containment"))


def _lab_scenarios() -> list[Scenario]:
    """ApplicationDown, StreamingFailure, PerformanceDegradation on service agent-lab:
    the worlds of tests/workflows/test_application_down.py, test_streaming_failure.py
    and test_performance_degradation.py."""
    from tests.workflows.agentlab_world import lab_policy, load_result, slow_result
    from workflows.contracts.safety import SafetyPolicy

    lab_slis = lab_policy().model_dump()["slis"]
    cpu_sli = dict(name="cpu", query="cpu_busy", comparison="lt", threshold=0.8)

    def lab(playbook: str, branch: str, expect: str = "resolved", **kw: Any) -> Scenario:
        alert = {"alertname": playbook, "service": "agent-lab"} | kw.pop("alert", {})
        return Scenario(playbook, branch, expect=expect, alert=alert, **kw)

    late = {"safety": SafetyPolicy(require_approval=["containment"], approval_timeout_s=3600)}
    first = {"agent_lab": {"maintenance_when": "before_restart"}}  # else only if still down
    return [
        lab("ApplicationDown", "restart-maintenance-verified", policy=first),
        # Issue 18 (application-down-if-needed): no maintenance page when the restart
        # works; the post-recovery log watch clean / seeing a new error; Scale Resources.
        lab("ApplicationDown", "restart-verified-watch-clean"),
        lab(
            "ApplicationDown",
            "new-error-after-recovery-escalates",
            "escalated",
            world={"log_errors": ["ERROR boom", "ERROR boom", "ERROR boom\nERROR new"]},
            drive=ack_when_escalated,
        ),
        lab(
            "ApplicationDown",
            "resource-exhaustion-asks-to-scale",
            world={"exhausted": {"disk": "disk / 98% used"}},
        ),
        lab("ApplicationDown", "commander-paged-then-healthy", world={"healthy_after_calls": 13}),
        lab(
            "ApplicationDown",
            "not-up-rolls-back",
            world={"active_after_restart": False},
            child=True,
        ),
        lab(
            "ApplicationDown",
            "no-rollback-escalates-maintenance-on",
            "escalated",
            world={"restart_exit": 1},
            policy={"has_rollback": False},
            drive=ack_when_escalated,
        ),
        lab(
            "ApplicationDown",
            "smoke-fails-escalates",
            "escalated",
            world={"smoke_ok": False},
            drive=ack_when_escalated,
        ),
        lab(
            "ApplicationDown",
            "flapping-escalates",
            "escalated",
            flapping=True,
            route_reason="flapping: test",
        ),
        lab(
            "ApplicationDown",
            "resolved-without-action",
            "resolved_without_action",
            world={"up_from_start": True},
            alert={"status": "resolved"},
        ),
        lab(
            "ApplicationDown",
            "late-approval-overruns-containment",
            policy=late | first,
            drive=approve_containment_late,
        ),
        lab(
            "StreamingFailure",
            "disabled-recovers-re-enabled",
            world={"stream_ok": [False, False, False, True, True], "sli": [0.995]},
        ),
        lab(
            "StreamingFailure",
            "never-recovers-escalates",
            "escalated",
            world={"stream_ok": [False]},
            drive=ack_when_escalated,
        ),
        lab(
            "StreamingFailure",
            "verify-fails-disables-again",
            "escalated",
            world={"stream_ok": [False, True, True], "sli": [0.5]},
        ),
        lab(
            "StreamingFailure",
            "recovered-without-action",
            "resolved_without_action",
            world={"stream_ok": [True]},
            alert={"status": "resolved"},
        ),
        lab(
            "StreamingFailure",
            "no-endpoint-escalates",
            "escalated",
            policy={"agent_lab": {"has_streaming_probe": False}},
        ),
        lab(
            "StreamingFailure",
            "no-network-target-recovered",
            "resolved_without_action",
            world={"stream_ok": [True]},
            policy={"agent_lab": {"network": []}},
            alert={"status": "resolved"},
        ),
        # Issue 18 (stream-upstream-probe): the upstream's stream probed, then as before.
        lab(
            "StreamingFailure",
            "upstream-stream-probed-recovers",
            world={"stream_ok": [False, True, True], "sli": [0.995]},
            policy={"agent_lab": {"has_upstream_stream": True}},
        ),
        lab("PerformanceDegradation", "mitigated-verified", world={"sli": [0.9, 0.3]}),
        lab(
            "PerformanceDegradation",
            "load-probe-fails-escalates",
            "escalated",
            world={"sli": [0.9], "load": load_result(ok=False, p95=1.2)},
        ),
        lab(
            "PerformanceDegradation",
            "latency-not-sustained-escalates",
            "escalated",
            world={"sli": [0.9, 0.3, 0.3, 0.7]},
        ),
        lab(
            "PerformanceDegradation",
            "nothing-to-verify-escalates",
            "escalated",
            policy={"slis": {}, "agent_lab": {"has_load_probe": False}},
        ),
        # Issue 18 (perf-investigation-decides): CPU over 80 % -> throttle and a person
        # asked to scale; neither load nor repeated slow requests -> nothing applied.
        lab(
            "PerformanceDegradation",
            "load-throttles-asks-to-scale",
            world={"sli": [0.9, 0.95, 0.3], "slow": slow_result(40, [5, 5, 5, 5, 5])},
            policy={"slis": {**lab_slis, "cpu": cpu_sli}},
        ),
        lab(
            "PerformanceDegradation",
            "nothing-pointed-at-escalates",
            "escalated",
            world={"sli": [0.9], "slow": slow_result(3, [1, 1, 1])},
        ),
    ]


for _pb in ("ApplicationDown", "StreamingFailure", "PerformanceDegradation"):
    WORLDS[_pb] = _lab_world
SCENARIOS += _lab_scenarios()


def _data_world(sc: Scenario) -> World:
    from tests.workflows.datafiles_world import DataWorld, data_policy

    return DataWorld(data_policy(**sc.policy), **sc.world)


async def approve_containment_after_70min(
    env: WorkflowEnvironment, handle: WorkflowHandle[Any, Any]
) -> None:
    """DataCorruption: containment approved 70 minutes in (its 60-minute budget overruns)."""
    from workflows.contracts.safety import ApproveRequest

    await _until(env, handle, lambda s: "containment" in s.pending_approvals)
    await env.sleep(timedelta(minutes=70))
    await handle.execute_update("approve", ApproveRequest(by="oncall", step="containment"))


def _data_scenarios() -> list[Scenario]:
    """DataCorruption on agent-lab: the worlds of tests/workflows/test_data_corruption.py."""
    from workflows.contracts.safety import SafetyPolicy

    bad = {"sessions/a.json": True, "sessions/b.json": False, "sessions/c.json": False}
    both = {"sessions/b.json", "sessions/c.json"}
    late = {"safety": SafetyPolicy(require_approval=["containment"], approval_timeout_s=7200)}

    def dc(branch: str, expect: str = "resolved", **kw: Any) -> Scenario:
        alert = {"alertname": "DataCorruption", "service": "agent-lab"}
        return Scenario("DataCorruption", branch, expect=expect, alert=alert, **kw)

    return [
        dc("nothing-corrupt-no-change", "resolved_without_action"),
        dc(
            "backup-restores-all-resolved",
            world={"sessions": dict(bad), "csv_ok": False, "backup": both},
        ),
        dc(
            "no-backup-quarantined-escalates",
            "escalated",
            world={"sessions": dict(bad), "backup": {"sessions/b.json"}},
            drive=ack_when_escalated,
        ),
        dc(
            "validation-failing-escalates",
            "escalated",
            world={"sessions": dict(bad), "backup": both, "stuck": {"sessions/c.json"}},
        ),
        dc(
            "snapshot-fails-escalates",
            "escalated",
            world={"sessions": dict(bad), "backup": both, "snapshot_fails": True},
        ),
        dc(
            "late-approval-overruns-containment",
            policy=late,
            world={"sessions": dict(bad), "backup": both},
            drive=approve_containment_after_70min,
        ),
        dc(
            "offsite-backup-synced-evidence-upload-fails",
            policy={"data_integrity": {"has_backup_sync": True, "has_evidence_upload": True}},
            world={"sessions": dict(bad), "remote": both, "upload_exit": 1},
        ),
    ]


WORLDS["DataCorruption"] = _data_world
SCENARIOS += _data_scenarios()


async def run_scenario(env: WorkflowEnvironment, sc: Scenario, out_dir: Path) -> list[Path]:
    client = env.client
    world = sc.make_world()
    tq = f"record-{uuid.uuid4()}"
    wid = f"incident:{sc.name}:{uuid.uuid4().hex[:8]}"
    start = sc.playbook
    if sc.playbook == "Rollback":
        # Rollback runs only as an incident's child: a stand-in parent starts it, and the
        # child's history is the one recorded (see `recorded` below).
        arg: Any = RollbackInput(service=SERVICE, incident_id="manual", reason="operator request")
        wid = f"rollback-parent:{uuid.uuid4().hex[:8]}"
        start = "RollbackParent"
    else:
        alertname = sc.playbook if sc.playbook in SLI_PLAYBOOKS else "GenesisServiceDown"
        alert = Alert(alertname=alertname, service=SERVICE, fingerprint="fp1")
        arg = IncidentInput(
            alert=alert.model_copy(update=sc.alert),
            flapping=sc.flapping,
            route_reason=sc.route_reason,
        )
    async with Worker(
        client,
        task_queue=tq,
        workflows=[*PLAYBOOKS.values(), RollbackParent],
        activities=world.activities(),
    ):
        handle = await client.start_workflow(
            start,
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
    if sc.playbook == "Rollback":
        history.write(await history.export(client, f"rollback:{wid}:1"), written[0])
    else:
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
        interceptors=[WorkflowClock()],  # workflow time for local activities' fakes
    )
    async with env:
        await ensure_search_attributes(env.client)
        # "ServiceDown" matches names containing it; "^HighErrorRate-" only names
        # starting so (not AgentLabHighErrorRate-...).
        chosen = [
            s
            for s in SCENARIOS
            if (s.name.startswith(match[1:]) if match.startswith("^") else match in s.name)
        ]
        # Sequential: the time-skipping server skips time for everything at once, and
        # one scenario's drive (waiting for a status) must not be raced by another's timers.
        out: list[Path] = []
        for sc in chosen:
            out += await run_scenario(env, sc, out_dir)
        return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-o", "--out", type=Path, default=HERE)
    ap.add_argument("-k", "--match", default="", help="names containing this; ^X: starting X")
    args = ap.parse_args()
    for p in asyncio.run(record(args.out, args.match)):
        print(p)


if __name__ == "__main__":
    main()

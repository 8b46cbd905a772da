"""A world (tests/workflows/sli_world.py's SliWorld) for AgentLabHighErrorRate and
DeploymentFailure: scripted error groups, upstream probes, git log (with commit times
relative to server time), deployment checks, CI dispatches, the dispatched run's status
polls, the failed deploy run's evidence, the deploy workflow's disable and maintenance
mode, at the activity boundary, logged at server time."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from tests.workflows.sli_world import SliWorld
from workflows.contracts.ci import (
    CI_DEPLOY_EVIDENCE,
    CI_DISABLE_WORKFLOW,
    CI_ROLLBACK_DISPATCH,
    CI_RUN_STATUS,
    CiDeployEvidence,
    CiDeployInput,
    CiDisableInput,
    CiDisableResult,
    CiDispatchInput,
    CiDispatchResult,
    CiRunInput,
    CiRunResult,
)
from workflows.contracts.diagnostics import (
    ERROR_GROUPS,
    RECENT_CHANGES,
    ErrorGroup,
    ErrorGroupsInput,
    ErrorGroupsResult,
    RecentChangesInput,
    RecentChangesResult,
)
from workflows.contracts.http import (
    HTTP_PROBE,
    UPSTREAM_PROBE,
    HttpProbeInput,
    HttpProbeResult,
    UpstreamProbeInput,
    UpstreamProbeResult,
    UpstreamSample,
)
from workflows.contracts.policy import AgentLabPolicy, ReleasePolicy, ServicePolicy
from workflows.contracts.service import (
    AGENTLAB_MAINTENANCE,
    DEPLOY_COMMAND,
    DeployCommandInput,
    DeployCommandResult,
    MaintenanceInput,
    MaintenanceResult,
)
from workflows.models import Alert, IncidentInput, PlaybookResult
from workflows.registry import PLAYBOOKS

SERVICE = "agent-lab"
UP = [UpstreamSample(status_code=200, latency_s=0.2)] * 5
DOWN = [UpstreamSample(status_code=503, latency_s=0.1)] * 4 + [UpstreamSample(error="timeout")]


def agentlab_policy(**kw: Any) -> ServicePolicy:
    base: dict[str, Any] = dict(
        service=SERVICE,
        hosts=["agent-lab-prod"],
        severity_default="P1",
        has_rollback=True,
        has_health_url=True,
        slis={
            "error_rate": dict(
                name="error_rate", query="agent_lab_error_ratio", comparison="lt", threshold=0.01
            )
        },
        release=ReleasePolicy(has_upstream_probe=True, has_source_repo=True, has_smoke_test=True),
        agent_lab=AgentLabPolicy(has_maintenance=True),
    )
    return ServicePolicy.model_validate(base | kw)


@dataclass
class ReleaseWorld(SliWorld):
    upstream: list[UpstreamSample] = field(default_factory=lambda: list(UP))
    import_ok: bool = True
    smoke_exit: int = 0
    ci_error: str | None = None  # "CiRejected" / "CiUnavailable": the dispatch raises it
    dispatches: list[CiDispatchInput] = field(default_factory=list)
    # The dispatched run as each poll sees it, (status, conclusion); the last repeats.
    # None: not listed yet.
    ci_runs: list[tuple[str, str | None] | None] = field(
        default_factory=lambda: [None, ("in_progress", None), ("completed", "success")]
    )
    ci_status_error: str | None = None  # the status poll raises it (non-retryable)
    # The newest commit on the host, this long before the `git log` ran; None: no times.
    deployed_ago: timedelta | None = timedelta(hours=2)
    disable_error: str | None = None  # the deploy workflow's disable raises it
    disables: list[CiDisableInput] = field(default_factory=list)

    def activities(self) -> list[Callable[..., object]]:
        world = self
        base = [
            a
            for a in super().activities()
            if getattr(a, "__temporal_activity_definition").name != HTTP_PROBE.name  # noqa: B009
        ]

        @activity.defn(name=HTTP_PROBE.name)
        async def probe(inp: HttpProbeInput) -> HttpProbeResult:
            # The health endpoint: healthy once the rollback started the service again
            # and `healthy_after_calls` probes have failed.
            world.health_calls += 1
            ok = world.health_calls > world.healthy_after_calls and world.active_after_rollback
            world.log("health", "ok" if ok else "fail")
            return HttpProbeResult(url="http://svc/health", ok=ok, status_code=200 if ok else 503)

        @activity.defn(name=ERROR_GROUPS.name)
        async def groups(inp: ErrorGroupsInput) -> ErrorGroupsResult:
            world.log("error_groups")
            return ErrorGroupsResult(
                log_file="agent-lab-prod:/var/log/agent-lab/app.log",
                error_lines=42,
                groups=[
                    ErrorGroup(count=30, message="OpenRouter timeout after 30s"),
                    ErrorGroup(count=12, message="KeyError: 'session_id'"),
                ][: inp.top],
            )

        @activity.defn(name=UPSTREAM_PROBE.name)
        async def upstream(inp: UpstreamProbeInput) -> UpstreamProbeResult:
            world.log("upstream")
            return UpstreamProbeResult(
                url="https://openrouter.ai/api/v1/models", samples=world.upstream
            )

        @activity.defn(name=RECENT_CHANGES.name)
        async def changes(inp: RecentChangesInput) -> RecentChangesResult:
            world.log("git_log", str(inp.count))
            commits = [f"abc{i} change {i}" for i in range(inp.count)]
            now = activity.info().current_attempt_scheduled_time
            times = (
                [now - world.deployed_ago - timedelta(hours=i) for i in range(inp.count)]
                if world.deployed_ago is not None
                else []
            )
            return RecentChangesResult(
                repo="agent-lab-prod:/app", commits=commits, committed_at=times
            )

        @activity.defn(name=DEPLOY_COMMAND.name)
        async def deploy(inp: DeployCommandInput) -> DeployCommandResult:
            world.log(inp.kind)
            code = {
                "import_check": 0 if world.import_ok else 1,
                "smoke_test": world.smoke_exit,
            }.get(inp.kind, 0)
            return DeployCommandResult(kind=inp.kind, exit_status=code, excerpt=["..."])

        @activity.defn(name=CI_ROLLBACK_DISPATCH.name)
        async def dispatch(inp: CiDispatchInput) -> CiDispatchResult:
            world.log("ci_dispatch", inp.idempotency_key)
            world.dispatches.append(inp)
            if world.ci_error:
                raise ApplicationError(
                    "HTTP 422: Unexpected inputs provided", type=world.ci_error, non_retryable=True
                )
            world.started_after_rollback = True  # CI rolled the service back
            return CiDispatchResult(
                repo="your-org/agent-lab",
                workflow="rollback.yml",
                ref="main",
                accepted=True,
                status_code=204,
            )

        @activity.defn(name=CI_RUN_STATUS.name)
        async def run_status(inp: CiRunInput) -> CiRunResult:
            world.log("ci_run", inp.idempotency_key)
            if world.ci_status_error:
                raise ApplicationError(
                    "incident_input unset", type=world.ci_status_error, non_retryable=True
                )
            seen = world._next("ci_run", world.ci_runs)  # type: ignore[arg-type]
            if seen is None:
                return CiRunResult()
            status, conclusion = seen  # type: ignore[misc]
            return CiRunResult(
                found=True,
                run_id=4242,
                status=status,
                conclusion=conclusion,
                url="https://github.com/your-org/agent-lab/actions/runs/4242",
            )

        @activity.defn(name=CI_DEPLOY_EVIDENCE.name)
        async def evidence(inp: CiDeployInput) -> CiDeployEvidence:
            world.log("ci_evidence")
            return CiDeployEvidence(
                repo="your-org/agent-lab",
                workflow="deploy.yml",
                run_id=777,
                run_url="https://github.com/your-org/agent-lab/actions/runs/777",
                head_sha="0123456789abcdef",
                failed_jobs=["deploy"],
                log_tail=["[deploy]", "ModuleNotFoundError: No module named 'nonexistent'"],
                workflow_file=["name: deploy", "on: push"],
                diff=["modified app.py +1 -1", "@@ -1 +1 @@", "+import nonexistent"],
                detail="failed run 777 at 0123456789ab",
            )

        @activity.defn(name=CI_DISABLE_WORKFLOW.name)
        async def disable(inp: CiDisableInput) -> CiDisableResult:
            world.log("ci_disable", inp.idempotency_key)
            world.disables.append(inp)
            if world.disable_error:
                raise ApplicationError("HTTP 403", type=world.disable_error, non_retryable=True)
            dry = world.policy.safety.dry_run
            return CiDisableResult(
                repo="your-org/agent-lab",
                workflow="deploy.yml",
                disabled=not dry,
                dry_run=dry,
                status_code=None if dry else 204,
                detail="DRY RUN: would PUT" if dry else "deploy.yml disabled",
            )

        @activity.defn(name=AGENTLAB_MAINTENANCE.name)
        async def maintenance(inp: MaintenanceInput) -> MaintenanceResult:
            world.log(f"maintenance:{inp.mode}", inp.idempotency_key)
            return MaintenanceResult(mode=inp.mode, ok=True, exit_status=0)

        return [
            *base,
            *(probe, groups, upstream, changes, deploy, dispatch, run_status, evidence),
            *(disable, maintenance),
        ]


async def run_release(
    env: WorkflowEnvironment, world: ReleaseWorld, playbook: str, alertname: str
) -> PlaybookResult:
    tq = f"tq-{uuid.uuid4()}"
    async with Worker(
        env.client, task_queue=tq, workflows=list(PLAYBOOKS.values()), activities=world.activities()
    ):
        return await env.client.execute_workflow(
            playbook,
            IncidentInput(alert=Alert(alertname=alertname, service=SERVICE)),
            id=f"incident:{alertname}:{uuid.uuid4()}",
            task_queue=tq,
            execution_timeout=timedelta(days=2),
            result_type=PlaybookResult,
        )

"""A world (tests/workflows/sli_world.py's SliWorld) for AgentLabHighErrorRate and
DeploymentFailure: scripted error groups, upstream probes, git log, deployment checks,
CI dispatches and maintenance mode, at the activity boundary, logged at server time."""

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
from workflows.contracts.ci import CI_ROLLBACK_DISPATCH, CiDispatchInput, CiDispatchResult
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
            return RecentChangesResult(repo="agent-lab-prod:/app", commits=commits)

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

        @activity.defn(name=AGENTLAB_MAINTENANCE.name)
        async def maintenance(inp: MaintenanceInput) -> MaintenanceResult:
            world.log(f"maintenance:{inp.mode}", inp.idempotency_key)
            return MaintenanceResult(mode=inp.mode, ok=True, exit_status=0)

        return [*base, probe, groups, upstream, changes, deploy, dispatch, maintenance]


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

"""A World for the Agent Lab playbooks (ApplicationDown, StreamingFailure,
PerformanceDegradation): the SliWorld (SLI samples, mitigations, restarts, rollbacks)
plus scripted host diagnostics, maintenance mode, health / detailed health, the smoke
request, streaming probes and the load probe -- at the activity boundary, calls logged
at server time. The real activities are tested in tests/activities/test_agentlab_*.py.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from temporalio import activity
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from tests.workflows.sli_world import SliWorld
from workflows.contracts.diagnostics import (
    AGENTLAB_DIAGNOSE,
    RECENT_CHANGES,
    DiagnoseInput,
    DiagnoseResult,
    RecentChangesInput,
    RecentChangesResult,
)
from workflows.contracts.http import (
    AGENTLAB_LOAD_PROBE,
    AGENTLAB_SMOKE,
    AGENTLAB_STREAM_PROBE,
    AGENTLAB_UPSTREAM,
    AGENTLAB_UPSTREAM_STREAM,
    HTTP_PROBE,
    AgentLabProbeInput,
    HttpProbeInput,
    HttpProbeResult,
    LoadProbeInput,
    LoadProbeResult,
    SmokeResult,
    StreamProbeResult,
)
from workflows.contracts.performance import (
    SLOW_REQUESTS,
    EndpointSlow,
    SlowRequestsInput,
    SlowRequestsResult,
)
from workflows.contracts.policy import AgentLabPolicy, ServicePolicy
from workflows.contracts.service import AGENTLAB_MAINTENANCE, MaintenanceInput, MaintenanceResult
from workflows.models import Alert, IncidentInput, PlaybookResult
from workflows.registry import PLAYBOOKS

SERVICE = "agent-lab"
MITIGATIONS = ["cache", "disable_streaming", "throttle"]
# Mitigations whose config the app reads at start (World.NO_RESTART-style: the others).
NO_RESTART: set[str] = {"cache"}


def lab_policy(**kw: Any) -> ServicePolicy:
    lab = AgentLabPolicy(
        resources=["top", "disk", "memory"],
        network=["ping", "mtr"],
        has_log_grep=True,
        has_data_dir=True,
        port=7860,
        has_upstream=True,
        has_maintenance=True,
        has_smoke=True,
        has_health_detailed=True,
        has_streaming_probe=True,
        has_load_probe=True,
        has_access_log=True,
    )
    base: dict[str, Any] = dict(
        service=SERVICE,
        hosts=["agent-lab-prod"],
        severity_default="P0",
        has_rollback=True,
        has_health_url=True,
        mitigations=MITIGATIONS,
        agent_lab=lab.model_copy(update=kw.pop("agent_lab", {})),
        slis={
            "latency_p95": dict(name="latency_p95", query="p95", comparison="lt", threshold=0.5),
            "streaming_continuity": dict(
                name="streaming_continuity", query="streams_ok", comparison="ge", threshold=0.99
            ),
        },
    )
    return ServicePolicy.model_validate(base | kw)


def load_result(ok: bool = True, p95: float = 0.08, errors: int = 0) -> LoadProbeResult:
    return LoadProbeResult(
        url="http://127.0.0.1:7860/health",
        requested=1000,
        completed=1000,
        errors=errors,
        p50_s=0.02,
        p95_s=p95,
        max_s=p95 * 2,
        duration_s=4.2,
        capped=False,
        status_counts={"200": 1000 - errors, "503": errors},
        ok=ok,
        detail="" if ok else f"p95 {p95 * 1000:.0f} ms > 500 ms",
    )


def slow_result(slow: int = 40, top: list[int] | None = None) -> SlowRequestsResult:
    """PerformanceDegradation's access-log analysis: `slow` slow requests, `top` of them
    on each endpoint, most first (default: three endpoints carry 36 of 40: repeats)."""
    counts = [20, 10, 6, 2, 2] if top is None else top
    return SlowRequestsResult(
        lines=5000,
        timed=5000,
        slow=slow,
        p95_s=1.4,
        top=[
            EndpointSlow(endpoint=f"/api/e{i}", slow=n, worst_s=3.0) for i, n in enumerate(counts)
        ],
    )


@dataclass
class LabWorld(SliWorld):
    up_from_start: bool = False  # /health answers before any restart
    detailed_ok: bool = True
    smoke_ok: bool = True
    port_listening: bool = False
    maintenance_exit: int = 0
    stream_ok: list[bool] = field(default_factory=lambda: [True])  # probe results in order
    upstream_stream_ok: bool = True  # StreamingFailure's probe of the upstream's stream
    # PerformanceDegradation (issue 18): the access log's slow requests; commits on the
    # host this many days before the call.
    slow: SlowRequestsResult = field(default_factory=slow_result)
    commits_days_ago: list[float] = field(default_factory=lambda: [1, 3, 10])
    load: LoadProbeResult = field(default_factory=load_result)
    maintenance_calls: list[str] = field(default_factory=list)
    # ApplicationDown (issue 18): what each resource command shows exhausted, by name;
    # the error grep's output per call, in order (the last one repeats).
    exhausted: dict[str, str] = field(default_factory=dict)
    log_errors: list[str] = field(default_factory=lambda: ["ERROR boom"])

    def up(self) -> bool:
        fixed = (self.restarts > 0 and self.restart_exit == 0 and self.active_after_restart) or (
            self.started_after_rollback and self.active_after_rollback
        )
        return self.up_from_start or fixed

    def step_names(self, res: PlaybookResult, outcome: str | None = None) -> list[str]:
        return [e.step for e in res.timeline if outcome is None or e.outcome == outcome]

    def activities(self) -> list[Callable[..., object]]:
        world = self
        mine = {HTTP_PROBE.name}
        base = [
            a
            for a in super().activities()
            if getattr(a, "__temporal_activity_definition").name not in mine  # noqa: B009
        ]

        @activity.defn(name=HTTP_PROBE.name)
        async def probe(inp: HttpProbeInput) -> HttpProbeResult:
            if inp.target == "health_detailed":
                world.log("health_detailed", str(world.detailed_ok))
                ok = world.detailed_ok and world.up()
                return HttpProbeResult(
                    url="http://lab/health/detailed", ok=ok, status_code=200 if ok else 503
                )
            world.health_calls += 1
            ok = world.up() and world.health_calls > world.healthy_after_calls
            world.log("health", f"{'ok' if ok else 'fail'} timeout={inp.timeout_s:g}")
            return HttpProbeResult(url="http://lab/health", ok=ok, status_code=200 if ok else 503)

        @activity.defn(name=AGENTLAB_DIAGNOSE.name)
        async def diagnose(inp: DiagnoseInput) -> DiagnoseResult:
            world.log(f"diag:{inp.kind}", inp.name)
            if inp.kind == "port":
                return DiagnoseResult(
                    kind="port",
                    ok=world.port_listening,
                    listening=world.port_listening,
                    detail=":7860",
                )
            if inp.kind == "log_errors":
                n = len(world.times("diag:log_errors")) - 1
                out = world.log_errors[min(n, len(world.log_errors) - 1)]
                return DiagnoseResult(kind=inp.kind, ok=True, lines=1, output=out)
            if inp.kind == "resource" and inp.name in world.exhausted:
                return DiagnoseResult(
                    kind=inp.kind, name=inp.name, ok=True, exhausted=world.exhausted[inp.name]
                )
            out = {
                "resource": f"{inp.name} output",
                "log_errors": "ERROR boom",
                "stream_errors": "WARN stream chunk lost; client disconnect",
                "data_dir": "runs.csv: readable",
                "network": f"{inp.name}: 10 packets transmitted, 10 received, 0% packet loss",
            }[inp.kind]
            return DiagnoseResult(kind=inp.kind, name=inp.name, ok=True, lines=1, output=out)

        @activity.defn(name=AGENTLAB_MAINTENANCE.name)
        async def maintenance(inp: MaintenanceInput) -> MaintenanceResult:
            world.log(f"maintenance:{inp.mode}", inp.idempotency_key)
            world.maintenance_calls.append(inp.mode)
            return MaintenanceResult(
                mode=inp.mode, ok=world.maintenance_exit == 0, exit_status=world.maintenance_exit
            )

        @activity.defn(name=AGENTLAB_SMOKE.name)
        async def smoke(inp: AgentLabProbeInput) -> SmokeResult:
            world.log("smoke", str(world.smoke_ok))
            return SmokeResult(
                ok=world.smoke_ok,
                url="http://lab/api/agents",
                status_code=201 if world.smoke_ok else 500,
            )

        @activity.defn(name=AGENTLAB_UPSTREAM.name)
        async def upstream(inp: AgentLabProbeInput) -> SmokeResult:
            world.log("upstream")
            return SmokeResult(ok=True, url="https://openrouter.ai/api/v1/models", status_code=401)

        @activity.defn(name=AGENTLAB_STREAM_PROBE.name)
        async def stream(inp: AgentLabProbeInput) -> StreamProbeResult:
            ok = bool(world._next("stream", world.stream_ok))  # type: ignore[arg-type]
            world.log("stream", str(ok))
            return StreamProbeResult(
                ok=ok,
                url="http://lab/api/stream/test",
                status_code=200,
                chunks=5 if ok else 1,
                bytes=500,
                completed=ok,
                error="" if ok else "RemoteProtocolError: cut off",
            )

        @activity.defn(name=AGENTLAB_UPSTREAM_STREAM.name)
        async def upstream_stream(inp: AgentLabProbeInput) -> StreamProbeResult:
            ok = world.upstream_stream_ok
            world.log("upstream_stream", str(ok))
            return StreamProbeResult(
                ok=ok,
                url="https://openrouter.ai/api/v1/chat/completions",
                status_code=200 if ok else 401,
                chunks=4 if ok else 0,
                completed=True,
                error="" if ok else "unexpected status 401; 0 chunks < 1",
                auth="Bearer key from $OPENROUTER_API_KEY" if ok else "no key: $K not set",
            )

        @activity.defn(name=SLOW_REQUESTS.name)
        async def slow_requests(inp: SlowRequestsInput) -> SlowRequestsResult:
            world.log("slow_requests", f"{inp.slow_s:g}")
            return world.slow

        @activity.defn(name=RECENT_CHANGES.name)
        async def recent_changes(inp: RecentChangesInput) -> RecentChangesResult:
            world.log("git_log", str(inp.count))
            now = activity.info().current_attempt_scheduled_time
            days = world.commits_days_ago
            return RecentChangesResult(
                repo="agent-lab-prod:/app",
                commits=[f"c0ffee{i} change {i}" for i in range(len(days))],
                committed_at=[now - timedelta(days=d) for d in days],
            )

        @activity.defn(name=AGENTLAB_LOAD_PROBE.name)
        async def load(inp: LoadProbeInput) -> LoadProbeResult:
            if world.policy.safety.dry_run:  # as activities/agentlab_probes.py
                world.log("dry-run:load")
                return world.load.model_copy(
                    update={
                        "dry_run": True,
                        "completed": 0,
                        "detail": "DRY RUN: would send 1000 GETs",
                    }
                )
            world.log("load")
            return world.load

        return [
            *base,
            *(probe, diagnose, maintenance, smoke, upstream, stream, upstream_stream, load),
            *(slow_requests, recent_changes),
        ]


async def run_lab(
    env: WorkflowEnvironment, world: LabWorld, playbook: str, **alert: Any
) -> PlaybookResult:
    tq = f"tq-{uuid.uuid4()}"
    a = Alert(alertname=playbook, service=SERVICE).model_copy(update=alert)
    async with Worker(
        env.client, task_queue=tq, workflows=list(PLAYBOOKS.values()), activities=world.activities()
    ):
        return await env.client.execute_workflow(
            playbook,
            IncidentInput(alert=a),
            id=f"incident:{playbook}:{uuid.uuid4()}",
            task_queue=tq,
            execution_timeout=timedelta(days=2),
            result_type=PlaybookResult,
        )

"""Activity fakes for SecurityIncident: a scripted access log, snapshot and containment
commands on top of fakes.World (Slack, PagerDuty, incident log, post-mortem, policy)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from temporalio import activity
from temporalio.exceptions import ApplicationError

from tests.workflows.fakes import World
from workflows.contracts.policy import ServicePolicy
from workflows.contracts.security import (
    SECURITY_ACCESS_LOG,
    SECURITY_CONTAIN,
    SECURITY_DATA_ASSESSMENT,
    SECURITY_SNAPSHOT,
    AccessLogInput,
    AccessLogReport,
    ContainInput,
    ContainResult,
    DataAssessmentInput,
    DataAssessmentReport,
    EvidenceInput,
    EvidenceResult,
    SecurityPolicy,
    SourceCount,
)

CONTAINMENT = {
    "rotate-credentials": "rotate the API key and reload the app",
    "block-ip": "add the top attacking address to the deny list",
    "isolate": "take the host out of the load balancer",
}


def security_policy(**kw: object) -> ServicePolicy:
    sec = SecurityPolicy(configured=True, containment=dict(CONTAINMENT))
    return ServicePolicy.model_validate(
        dict(
            service="agent-lab",
            hosts=["h"],
            severity_default="P0",
            security=sec.model_copy(update=kw),
            safety={"approval_timeout_s": 900},
        )
    )


@dataclass
class SecurityWorld(World):
    snapshot_fails: bool = False
    failing_step: str | None = None
    contained: list[str] = field(default_factory=list)  # containment steps, in run order
    # The data assessment as the activity reports it (default: both parts configured).
    assessment: DataAssessmentReport = field(
        default_factory=lambda: DataAssessmentReport(
            sessions_dir="/app/data/sessions",
            sessions_since="in the last 60 min",
            sessions_changed=17,
            bucket_command="aws s3 ls s3://agent-lab-backups/ --recursive",
            bucket_objects=2,
            bucket_tail=["2026-12-01 backups/runs.csv", "2026-12-01 backups/s1.json"],
        )
    )
    # Set: the snapshot does not finish before the test sets this event.
    snapshot_gate: asyncio.Event | None = None

    def activities(self) -> list[Callable[..., object]]:
        world = self

        @activity.defn(name=SECURITY_ACCESS_LOG.name)
        async def access_log(inp: AccessLogInput) -> AccessLogReport:
            world.log("access_log")
            return AccessLogReport(
                lines=1200,
                suspicious=40,
                top_sources=[SourceCount(source="203.0.113.9", requests=900)],
                attack_hits={"sql": 31, "xss": 0},
                samples=["203.0.113.9 GET /?q=' OR 1=1"],
            )

        @activity.defn(name=SECURITY_DATA_ASSESSMENT.name)
        async def data_assessment(inp: DataAssessmentInput) -> DataAssessmentReport:
            world.log("data_assessment")
            return world.assessment

        @activity.defn(name=SECURITY_SNAPSHOT.name)
        async def snapshot(inp: EvidenceInput) -> EvidenceResult:
            if world.snapshot_gate is not None:
                await world.snapshot_gate.wait()
            if world.policy.safety.dry_run:  # as activities/security.py
                world.log("dry-run:snapshot")
                return EvidenceResult(
                    path="h:/evidence/e.tar.gz", dry_run=True, detail="DRY RUN: would tar /app/data"
                )
            world.log("snapshot")
            if world.snapshot_fails:
                raise ApplicationError("tar: disk full", type="SnapshotFailed", non_retryable=True)
            return EvidenceResult(path="h:/evidence/e.tar.gz", size_bytes=4096, sha256="ab" * 32)

        @activity.defn(name=SECURITY_CONTAIN.name)
        async def contain(inp: ContainInput) -> ContainResult:
            if world.policy.safety.dry_run:  # as activities/security.py
                world.log("dry-run:contain", inp.name)
                return ContainResult(
                    name=inp.name, ok=True, dry_run=True, detail=f"DRY RUN: would run {inp.name}"
                )
            world.log("contain", inp.name)
            world.contained.append(inp.name)
            ok = inp.name != world.failing_step
            return ContainResult(name=inp.name, ok=ok, exit_status=0 if ok else 1)

        return [*super().activities(), access_log, data_assessment, snapshot, contain]

"""Run one SLI playbook incident against a SliWorld on the time-skipping server."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from tests.workflows.sli_world import SliWorld
from workflows.models import Alert, IncidentInput, PlaybookResult
from workflows.registry import PLAYBOOKS


async def run_incident(env: WorkflowEnvironment, world: SliWorld, playbook: str) -> PlaybookResult:
    tq = f"tq-{uuid.uuid4()}"
    async with Worker(
        env.client, task_queue=tq, workflows=list(PLAYBOOKS.values()), activities=world.activities()
    ):
        return await env.client.execute_workflow(
            playbook,
            IncidentInput(alert=Alert(alertname=playbook, service="genesis-orchestration")),
            id=f"incident:{playbook}:{uuid.uuid4()}",
            task_queue=tq,
            execution_timeout=timedelta(days=2),
            result_type=PlaybookResult,
        )


def steps(res: PlaybookResult, outcome: str | None = None) -> list[str]:
    return [e.step for e in res.timeline if outcome is None or e.outcome == outcome]


def at(res: PlaybookResult, step: str) -> datetime:
    return next(e.at for e in res.timeline if e.step == step)


def near(delta: timedelta, expected: timedelta, slack: timedelta = timedelta(seconds=31)) -> bool:
    return expected - timedelta(seconds=1) <= delta <= expected + slack


def log_line(world: SliWorld) -> str:
    return next(c.detail for c in world.calls if c.name == "incident_log")

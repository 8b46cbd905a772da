"""First response first (issue 19; README "First response first"), on a real dev server
started as `remedy dev` starts it (remedy/devstack.py DYNAMIC_CONFIG).

Ten older runs, past their first response (Verification), have each scheduled a Slack
post; then a new run in Detection schedules one. No worker polls activities yet, so all
eleven wait on the task queue. One activity worker with a single slot then takes them
one at a time: the new run's, scheduled last, must start first. With FIFO dispatch (the
classic matcher, `matching.useNewMatcher=false`) it starts last.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from temporalio import activity, workflow
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle
from temporalio.worker import Worker

from remedy.devstack import DevServer, wait_for_frontend
from remedy.temporal import connect
from tests.fixtures.process import free_port
from workflows.contracts.notify import SLACK_POST, NotifyResult, SlackMessageInput
from workflows.incident import FIRST_RESPONSE, Steps
from workflows.models import Phase

TASK_QUEUE = "first-response-test"
OLDER = 10


@workflow.defn(name="FirstResponseProbe", sandboxed=False)
class Probe(Steps):
    """One `act` (a Slack post, never a local activity) in the given phase."""

    @workflow.run
    async def run(self, phase: Phase) -> bool:
        self.phase = phase
        msg = SlackMessageInput(
            incident_id=workflow.info().workflow_id,
            title="probe",
            status="Active",
            impact="-",
            timeline="-",
            actions_taken="-",
            next_steps="-",
        )
        return (await self.act("post", SLACK_POST, msg)).delivered


class Slack:
    def __init__(self) -> None:
        self.order: list[str] = []

    @activity.defn(name=SLACK_POST.name)
    async def post(self, inp: SlackMessageInput) -> NotifyResult:
        self.order.append(inp.incident_id)
        return NotifyResult(channel="slack", delivered=True)


async def scheduled_priority(handle: WorkflowHandle[Probe, bool]) -> int:
    """The priority key on the run's ActivityTaskScheduled event, once it is there."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        async for e in handle.fetch_history_events():
            if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
                return e.activity_task_scheduled_event_attributes.priority.priority_key
        await asyncio.sleep(0.1)
    raise AssertionError(f"{handle.id}: no activity scheduled within 15 s")


@pytest.fixture
def dev_server(tmp_path: Path):
    server = DevServer(tmp_path / "temporal", port=free_port(), ui_port=free_port())
    server.start()
    yield server
    server.stop()


async def test_a_new_incidents_first_action_starts_before_older_queued_work(
    dev_server: DevServer,
) -> None:
    await wait_for_frontend(dev_server.address)
    client: Client = await connect(dev_server.address)
    slack = Slack()
    async with Worker(client, task_queue=TASK_QUEUE, workflows=[Probe]):
        older = [
            await client.start_workflow(
                Probe.run, Phase.VERIFICATION, id=f"older-{i}", task_queue=TASK_QUEUE
            )
            for i in range(OLDER)
        ]
        # Every older post waits on the task queue before the new incident's is scheduled.
        assert [await scheduled_priority(h) for h in older] == [0] * OLDER  # inherited: 3
        new = await client.start_workflow(
            Probe.run, Phase.DETECTION, id="new", task_queue=TASK_QUEUE
        )
        assert await scheduled_priority(new) == FIRST_RESPONSE.priority_key == 1
        async with Worker(
            client, task_queue=TASK_QUEUE, activities=[slack.post], max_concurrent_activities=1
        ):
            async with asyncio.timeout(20):
                await asyncio.gather(new.result(), *(h.result() for h in older))
    assert sorted(slack.order) == sorted(["new", *(h.id for h in older)])
    assert slack.order[0] == "new", slack.order

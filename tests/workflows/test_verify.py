"""The sustained-improvement window at its real 10 minutes on the time-skipping server."""

from __future__ import annotations

import uuid
from datetime import timedelta

from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from tests.workflows.fakes import World
from tests.workflows.verify_harness import VerifyHarness
from workflows.contracts.policy import ServicePolicy, Sli
from workflows.models import Alert, IncidentInput, VerifyResult

ERROR_RATE = Sli(
    name="error_rate", query="rate(genesis_errors_total[5m])", comparison="lt", threshold=0.001
)


async def verify(
    env: WorkflowEnvironment, values: list[float | None]
) -> tuple[VerifyResult, World]:
    world = World(
        ServicePolicy(service="svc", hosts=["h"], slis={"error_rate": ERROR_RATE}),
        prom_values=values,
    )
    tq = f"tq-{uuid.uuid4()}"
    async with Worker(
        env.client, task_queue=tq, workflows=[VerifyHarness], activities=world.activities()
    ):
        res = await env.client.execute_workflow(
            VerifyHarness.run,
            IncidentInput(alert=Alert(alertname="HighErrorRate", service="svc")),
            id=f"verify-{uuid.uuid4()}",
            task_queue=tq,
        )
    return res, world


async def test_window_holds_when_every_sample_holds(time_env: WorkflowEnvironment) -> None:
    res, world = await verify(time_env, [0.0005])
    assert res.held and res.broken_by is None
    times = world.times("prometheus")
    # The whole 10-minute window (activity schedule times lag workflow time by ms).
    assert times[-1] - times[0] >= timedelta(minutes=10) - timedelta(seconds=1)
    assert res.samples == len(times) == 21  # t = 0, 30 s, ..., 10 min
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert all(timedelta(seconds=29) <= g <= timedelta(seconds=31) for g in gaps)


async def test_one_breach_fails_the_window(time_env: WorkflowEnvironment) -> None:
    values: list[float | None] = [0.0005] * 14 + [0.002] + [0.0005] * 10
    res, world = await verify(time_env, values)
    assert not res.held and res.broken_by == "breach" and res.value == 0.002
    assert res.samples == 15  # stops at the sample that broke it
    times = world.times("prometheus")
    assert res.broken_at is not None
    assert res.broken_at - times[0] >= timedelta(minutes=7) - timedelta(seconds=1)  # sample 15


async def test_one_missing_sample_fails_the_window(time_env: WorkflowEnvironment) -> None:
    values: list[float | None] = [0.0005] * 19 + [None] + [0.0005]
    res, _ = await verify(time_env, values)
    assert not res.held and res.broken_by == "missing" and res.samples == 20


async def test_threshold_is_exclusive(time_env: WorkflowEnvironment) -> None:
    # SLO "< 0.1 %": exactly 0.1 % is a breach.
    res, _ = await verify(time_env, [0.001])
    assert not res.held and res.broken_by == "breach" and res.samples == 1

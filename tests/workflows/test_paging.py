"""Paging by severity and the re-page chain (steps/paging.py), on the time-skipping
server at the runbooks' real durations: P0 pages on-call and the incident commander at
detection (GenesisServiceDown's IMMEDIATE); an unacknowledged page pages the next level
after the 2-minute window (Agent Lab: "Confirm alert receipt within 2 minutes"); an
acknowledgement stops the chain and is passed on to PagerDuty."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from tests.workflows.fakes import World
from tests.workflows.test_service_down import policy
from workflows.contracts.paging import PagingPolicy
from workflows.models import AckRequest, Alert, IncidentInput, IncidentStatus, PlaybookResult
from workflows.playbooks.service_down import ServiceDown
from workflows.registry import PLAYBOOKS

LEVELS = ["on-call", "incident-commander", "engineering-lead", "cto"]


def pages(w: World, action: str = "trigger") -> list[tuple[str, datetime]]:
    """(level, when) of each PagerDuty event of that action."""
    at = iter(w.times(f"pagerduty:{action}"))
    return [(e.level, next(at)) for e in w.pd_events if e.action == action]


async def run(
    env: WorkflowEnvironment, w: World, ack_after: timedelta | None = None
) -> tuple[PlaybookResult, WorkflowHandle]:
    tq = f"tq-{uuid.uuid4()}"
    async with Worker(
        env.client, task_queue=tq, workflows=list(PLAYBOOKS.values()), activities=w.activities()
    ):
        handle = await env.client.start_workflow(
            ServiceDown.run,
            IncidentInput(
                alert=Alert(alertname="GenesisServiceDown", service="genesis-orchestration")
            ),
            id=f"incident:GenesisServiceDown:{uuid.uuid4()}",
            task_queue=tq,
            execution_timeout=timedelta(days=2),
        )
        if ack_after is not None:
            await env.sleep(ack_after)
            await handle.execute_update(
                "acknowledge", AckRequest(by="alice"), result_type=IncidentStatus
            )
        return await handle.result(), handle


async def test_p0_pages_on_call_and_commander_at_detection(time_env: WorkflowEnvironment) -> None:
    # severity_default P1 is what the old example inventory said: the runbook wins.
    w = World(policy(severity_default="P1", paging=PagingPolicy()))
    res, _ = await run(time_env, w)
    assert res.outcome == "resolved" and res.severity.value == "P0"
    assert "P0 from the runbook (ServiceDown)" in next(
        e.detail for e in res.timeline if e.step == "severity"
    )
    triggered = pages(w)
    assert [lv for lv, _ in triggered] == ["on-call", "incident-commander"]
    detected = res.detected_at
    assert all(t - detected < timedelta(seconds=1) for _, t in triggered)  # at once
    # One PagerDuty incident per level and run: the run's key, resolved at the close.
    run_key = {e.dedup_key for e in w.pd_events}
    assert len(run_key) == 1 and run_key.pop().startswith(res.incident_id)
    assert [lv for lv, _ in pages(w, "resolve")] == ["on-call", "incident-commander"]
    # The 5-minute "page incident commander" deadline never pages a second time.
    assert len(triggered) == 2


async def test_unacknowledged_p1_re_pages_the_next_level_every_2_minutes(
    time_env: WorkflowEnvironment,
) -> None:
    # An operator's override makes this service's GenesisServiceDown a P1; the health
    # endpoint answers at the 15th try, ~7.5 minutes in: nobody acknowledges meanwhile.
    w = World(
        policy(paging=PagingPolicy(), severity_overrides={"GenesisServiceDown": "P1"}),
        healthy_after_calls=14,
    )
    res, _ = await run(time_env, w)
    assert res.outcome == "resolved" and res.severity.value == "P1"
    triggered = pages(w)
    assert [lv for lv, _ in triggered] == LEVELS
    t0 = triggered[0][1]
    assert t0 - res.detected_at < timedelta(seconds=1)  # on-call at detection
    gaps = [b - a for (_, a), (_, b) in zip(triggered, triggered[1:], strict=False)]
    assert all(timedelta(minutes=2) <= g < timedelta(minutes=2, seconds=1) for g in gaps), gaps
    steps = [e.detail for e in res.timeline if e.step == "pagerduty: trigger engineering-lead"]
    assert steps and "not acknowledged within 2 min" in steps[0]
    assert [lv for lv, _ in pages(w, "resolve")] == LEVELS


async def test_acknowledged_at_1_30_stops_the_chain(time_env: WorkflowEnvironment) -> None:
    # Healthy ~4 minutes in: before ServiceDown's own 5-minute incident-commander page.
    w = World(
        policy(paging=PagingPolicy(), severity_overrides={"GenesisServiceDown": "P1"}),
        healthy_after_calls=7,
    )
    res, _ = await run(time_env, w, ack_after=timedelta(minutes=1, seconds=30))
    assert res.outcome == "resolved"
    assert [lv for lv, _ in pages(w)] == ["on-call"]  # nobody else, ever
    acks = pages(w, "acknowledge")
    assert [lv for lv, _ in acks] == ["on-call"]
    assert timedelta(minutes=1, seconds=29) < acks[0][1] - res.detected_at < timedelta(minutes=2)
    stopped = next(e for e in res.timeline if e.step == "paging: chain stopped")
    assert "acknowledged by alice" in stopped.detail


async def test_p2_pages_nobody_at_detection(time_env: WorkflowEnvironment) -> None:
    w = World(policy(paging=PagingPolicy(), severity_overrides={"GenesisServiceDown": "P2"}))
    res, _ = await run(time_env, w)
    assert res.outcome == "resolved" and res.severity.value == "P2"
    assert w.pd_events == []
    sev = next(e.detail for e in res.timeline if e.step == "severity")
    assert sev == "P2 from the inventory severity_overrides[GenesisServiceDown]"


async def test_escalation_pages_the_commander_once_after_on_call(
    time_env: WorkflowEnvironment,
) -> None:
    """A P1 whose restart fails with no rollback escalates at once: the hand-over pages
    the incident commander; the chain then goes on to the lead, never the IC again."""
    w = World(
        policy(
            paging=PagingPolicy(),
            severity_overrides={"GenesisServiceDown": "P1"},
            has_rollback=False,
        ),
        active_after_restart=False,
    )
    res, _ = await run(time_env, w, ack_after=timedelta(minutes=3))
    assert res.outcome == "escalated"
    levels = [lv for lv, _ in pages(w)]
    assert levels[:2] == ["on-call", "incident-commander"]
    assert levels.count("incident-commander") == 1 and len(levels) == len(set(levels))


async def test_a_page_acknowledged_early_still_holds_the_escalation_for_its_owner(
    time_env: WorkflowEnvironment,
) -> None:
    """On-call acknowledges the page at 1:30; the service never gets healthy, so the
    playbook hands over at 10 minutes. The escalation must not close at once on the
    early acknowledgement: it pages the incident commander and waits for someone to take
    it (repeats of the alert would keep joining it), here at 12 minutes."""
    w = World(
        policy(paging=PagingPolicy(), severity_overrides={"GenesisServiceDown": "P1"}),
        healthy_after_calls=10_000,
    )
    tq = f"tq-{uuid.uuid4()}"
    async with Worker(
        time_env.client,
        task_queue=tq,
        workflows=list(PLAYBOOKS.values()),
        activities=w.activities(),
    ):
        handle = await time_env.client.start_workflow(
            ServiceDown.run,
            IncidentInput(
                alert=Alert(alertname="GenesisServiceDown", service="genesis-orchestration")
            ),
            id=f"incident:GenesisServiceDown:{uuid.uuid4()}",
            task_queue=tq,
            execution_timeout=timedelta(days=2),
        )
        await time_env.sleep(timedelta(minutes=1, seconds=30))
        await handle.execute_update(
            "acknowledge", AckRequest(by="alice"), result_type=IncidentStatus
        )
        await time_env.sleep(timedelta(minutes=10, seconds=30))
        st = await handle.query("status", result_type=IncidentStatus)
        assert st.outcome is None, "closed on the early acknowledgement"
        assert any(e.step == "escalated to a human" for e in st.timeline)
        st = await handle.execute_update(
            "acknowledge", AckRequest(by="bob"), result_type=IncidentStatus
        )
        res = PlaybookResult.model_validate(await handle.result())
    assert res.outcome == "escalated"
    assert res.ended_at - res.detected_at >= timedelta(minutes=12)
    steps = [e.step for e in res.timeline]
    assert "acknowledged" in steps and "acknowledged the escalation" in steps
    # The page chain stopped at 1:30; the hand-over paged the incident commander.
    assert [lv for lv, _ in pages(w)] == ["on-call", "incident-commander"]

"""The fleet-wide guard (workflows/fleet.py) on the time-skipping server, at the real
durations: the storm threshold (more than 20 new incidents within 5 minutes) as a
boundary pair, one storm paging once with the list, later openings not paging, a
person's release, the fleet budget's rolling hour; and an incident whose action the
fleet holds (workflows/steps/safety.py): it waits, asks again every minute, proceeds
after the release, escalates past its bound. Triage's pages coalesce per hour.

The guard is driven exactly as in production: openings through the bridge's
StormReporter (signal-with-start), permits as the permit activity's update.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pytest
import pytest_asyncio
from temporalio import activity, workflow
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.governor import PermitBatcher
from bridge.storm import StormReporter
from tests.workflows.fakes import World
from workflows.contracts.notify import (
    PAGERDUTY_EVENT,
    SLACK_POST,
    NotifyResult,
    PagerDutyInput,
    SlackMessageInput,
)
from workflows.contracts.policy import ServicePolicy
from workflows.contracts.safety import (
    FLEET_BUDGET,
    GOVERNOR_PERMIT,
    ApproveRequest,
    FleetInput,
    FleetPermitRequest,
    FleetStatus,
    PermitDecision,
    PermitRequest,
    ReleaseRequest,
    StormStatus,
    StormThresholds,
    fleet_guard_id,
)
from workflows.models import AckRequest, Alert, IncidentInput, IncidentStatus, PlaybookResult
from workflows.playbooks.service_down import ServiceDown
from workflows.registry import PLAYBOOKS, SUPPORT_WORKFLOWS

WORKFLOWS = [*PLAYBOOKS.values(), *SUPPORT_WORKFLOWS.values()]
THRESHOLDS = StormThresholds()  # the defaults: more than 20 within 5 minutes


@dataclass
class Notifier:
    slack: list[SlackMessageInput] = field(default_factory=list)
    pages: list[PagerDutyInput] = field(default_factory=list)

    def activities(self) -> list[Callable[..., object]]:
        @activity.defn(name=SLACK_POST.name)
        async def slack(inp: SlackMessageInput) -> NotifyResult:
            self.slack.append(inp)
            return NotifyResult(channel="slack", delivered=True)

        @activity.defn(name=PAGERDUTY_EVENT.name)
        async def pagerduty(inp: PagerDutyInput) -> NotifyResult:
            self.pages.append(inp)
            return NotifyResult(channel="pagerduty", delivered=True)

        return [slack, pagerduty]


def permit_request(incident: str, **kw: object) -> PermitRequest:
    return PermitRequest(
        service="svc",
        incident_id=incident,
        kind="restart",
        key=f"{incident}:restart:1",
        max_per_hour=3,
        **kw,  # type: ignore[arg-type]
    )


@dataclass
class Fleet:
    env: WorkflowEnvironment
    tq: str
    notifier: Notifier
    reporter: StormReporter
    n: int = 0
    batcher: PermitBatcher = field(default_factory=PermitBatcher)

    @property
    def guard(self) -> WorkflowHandle:
        return self.env.client.get_workflow_handle(fleet_guard_id(self.tq))

    async def open(self, count: int = 1, every: timedelta = timedelta(0)) -> None:
        """`count` new incidents, `every` apart (the first one now)."""
        for i in range(count):
            if i and every:
                await self.env.sleep(every)
            self.n += 1
            alert = Alert(alertname=f"Odd{self.n}", service="svc")
            wid = f"incident:Odd{self.n}:svc"
            await self.reporter.opened(self.env.client, wid, f"run-{self.n}", "Triage", alert)
        assert self.reporter.failed == 0

    async def status(self) -> FleetStatus:
        st: FleetStatus = await self.guard.query("status", result_type=FleetStatus)
        return st

    async def permit(self, incident: str, budget: int = 30, **kw: object) -> PermitDecision:
        # As the permit activity asks: through the worker process's batcher.
        wid = fleet_guard_id(self.tq)
        return await self.batcher.ask(
            self.env.client, wid, self.tq, permit_request(incident, **kw), budget
        )

    async def permit_one(self, incident: str, budget: int = 30) -> PermitDecision:
        """The single `permit` update, as activities from before the batch asked."""
        with contextlib.suppress(WorkflowAlreadyStartedError):
            await self.env.client.start_workflow(
                "FleetGuard", FleetInput(), id=fleet_guard_id(self.tq), task_queue=self.tq
            )
        req = FleetPermitRequest(request=permit_request(incident), budget=budget)
        d: PermitDecision = await self.guard.execute_update(
            "permit", req, result_type=PermitDecision
        )
        return d

    async def settled(self, check: Callable[[], bool], what: str) -> None:
        for _ in range(200):  # the Storm's activities finish in wall time
            if check():
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"never: {what}")


@pytest_asyncio.fixture
async def fleet(time_env: WorkflowEnvironment) -> AsyncIterator[Fleet]:
    tq = f"fleet-{uuid.uuid4().hex[:8]}"
    notifier = Notifier()
    async with Worker(
        time_env.client, task_queue=tq, workflows=WORKFLOWS, activities=notifier.activities()
    ):
        yield Fleet(time_env, tq, notifier, StormReporter(tq, THRESHOLDS))


async def test_twenty_within_five_minutes_is_no_storm(fleet: Fleet) -> None:
    # 21 openings 15 s apart: the 21st comes 300 s after the first, which has left the
    # 5-minute window by then -- never more than 20 inside it.
    await fleet.open(21, every=timedelta(seconds=15))
    st = await fleet.status()
    assert st.storm is None and len(st.openings_in_window) == 20
    assert (await fleet.permit("i1")).granted
    assert fleet.notifier.pages == [] and fleet.notifier.slack == []


async def test_twenty_one_within_five_minutes_opens_one_storm(fleet: Fleet) -> None:
    # 21 openings 14 s apart: all 21 within 280 s.
    await fleet.open(20, every=timedelta(seconds=14))
    assert (await fleet.status()).storm is None
    assert (await fleet.permit("before")).granted  # 20: business as usual
    await fleet.env.sleep(timedelta(seconds=14))
    await fleet.open(1)
    st = await fleet.status()
    assert st.storm is not None and st.storm.incidents == 21
    sid = st.storm.storm_id
    assert sid.startswith("storm:")
    # Held at once, for every kind and every incident; the held action is listed.
    held = await fleet.permit("during")
    assert not held.granted and held.held_by == sid and "remedy storm release" in held.detail
    assert [h.incident_id for h in (await fleet.status()).held] == ["during"]
    # One page, one Slack post, with the list.
    n = fleet.notifier
    await fleet.settled(lambda: bool(n.pages) and bool(n.slack), "the storm paged and posted")
    (page,) = n.pages
    assert page.action == "trigger" and page.dedup_key == sid
    assert "21 new incidents" in page.summary and "incident:Odd1:svc" in page.summary
    (post,) = n.slack
    assert post.status == "Active" and post.incident_id == sid
    assert all(f"incident:Odd{i}:svc" in post.impact for i in range(1, 22))

    # More openings during the storm: in its timeline, never another page.
    await fleet.open(5, every=timedelta(seconds=10))
    storm = fleet.env.client.get_workflow_handle(sid, result_type=StormStatus)

    async def storm_status() -> StormStatus:
        s: StormStatus = await storm.query("status", result_type=StormStatus)
        return s

    for _ in range(100):
        if (await storm_status()).later_total == 5:
            break
        await asyncio.sleep(0.05)
    sst = await storm_status()
    assert sst.later_total == 5 and [o.incident_id for o in sst.later][-1] == "incident:Odd26:svc"
    assert len(n.pages) == 1 and len(n.slack) == 1
    assert (await fleet.status()).storm.incidents == 26  # type: ignore[union-attr]
    # Still held an hour later: only a person ends it.
    await fleet.env.sleep(timedelta(hours=1))
    assert (await fleet.permit("during")).held_by == sid

    # A person releases it: permits flow again, the storm closes, the page resolves.
    rel = await fleet.guard.execute_update(
        "release",
        ReleaseRequest(by="alice", note="bad deploy of the exporter"),
        result_type=FleetStatus,
    )
    assert rel.storm is None and rel.last_storm is not None
    assert rel.last_storm.released_by == "alice"
    assert (await fleet.permit("during")).granted
    done: StormStatus = await storm.result()
    assert done.released is not None and done.released.by == "alice"
    assert [p.action for p in n.pages] == ["trigger", "resolve"]
    assert [m.status for m in n.slack] == ["Active", "Resolved"]
    assert any(
        e.step == "5 more opened during the storm" or "more opened" in e.step for e in done.timeline
    )
    # Releasing twice is refused, with the reason.
    with pytest.raises(WorkflowUpdateFailedError):
        await fleet.guard.execute_update("release", ReleaseRequest(by="bob"))
    # The count starts afresh: 20 more openings are no storm.
    await fleet.open(20)
    assert (await fleet.status()).storm is None and len(n.pages) == 2


async def test_the_same_opening_from_both_bridges_counts_once(fleet: Fleet) -> None:
    await fleet.open(20)
    other = StormReporter(fleet.tq, THRESHOLDS)  # the second bridge of the pair
    alert = Alert(alertname="Odd20", service="svc")
    await other.opened(fleet.env.client, "incident:Odd20:svc", "run-20", "Triage", alert)
    assert (await fleet.status()).storm is None


async def test_a_burst_of_openings_is_reported_in_few_signals(fleet: Fleet) -> None:
    """25 incidents a bridge starts at once: reported together (one or two signals,
    not 25), every one counted: the storm opens at the 21st and counts all 25."""
    alert = Alert(alertname="Burst", service="svc")
    await asyncio.gather(
        *(
            fleet.reporter.opened(fleet.env.client, f"incident:B{i}:svc", f"r{i}", "Triage", alert)
            for i in range(25)
        )
    )
    assert fleet.reporter.reported == 25 and fleet.reporter.failed == 0
    assert 1 <= fleet.reporter.signals <= 2, fleet.reporter.signals
    st = await fleet.status()
    assert st.storm is not None and st.storm.incidents == 25
    n = fleet.notifier  # let the storm's page and post finish before the worker stops
    await fleet.settled(lambda: bool(n.pages) and bool(n.slack), "the storm paged and posted")
    assert len(n.pages) == 1 and "21 new incidents" in n.pages[0].summary
    # ...and the 4 after the 21st reach the storm's timeline (a signal still in flight
    # when the worker stops would hold the time-skipping server's clock).
    storm = fleet.env.client.get_workflow_handle(st.storm.storm_id, result_type=StormStatus)
    for _ in range(100):
        sst = await storm.query("status", result_type=StormStatus)
        if sst.later_total == 4:
            break
        await asyncio.sleep(0.05)
    assert sst.later_total == 4
    await fleet.guard.execute_update("release", ReleaseRequest(by="alice"), result_type=FleetStatus)
    assert (await storm.result()).released is not None


async def test_fleet_budget_refuses_the_next_action_in_the_hour(fleet: Fleet) -> None:
    budget = 3
    for i in range(budget):
        assert (await fleet.permit(f"i{i}", budget)).granted
    assert (await fleet.permit("i0", budget)).granted  # a retried request: not counted
    over = await fleet.permit("i3", budget)
    assert not over.granted and over.held_by == FLEET_BUDGET and over.next_free_at is not None
    assert over.used == budget
    await fleet.env.sleep(timedelta(minutes=59))
    assert not (await fleet.permit("i3", budget)).granted  # still inside the hour
    await fleet.env.sleep(timedelta(minutes=1, seconds=1))
    assert (await fleet.permit("i3", budget)).granted  # the first grants aged out
    # A person may let one action through the budget, by name; it is counted.
    for i in range(4, 6):
        assert (await fleet.permit(f"i{i}", budget)).granted
    through = await fleet.permit("i6", budget, fleet_approved_by="carol")
    assert through.granted and "carol" in through.detail


async def test_fifty_asking_at_once_go_in_few_updates_and_count_exactly(fleet: Fleet) -> None:
    """Fifty incidents of one worker process ask at once (an alert storm the breaker let
    through): a few `permits` updates, not fifty; the budget of 20 grants exactly the
    first 20 asked and holds the other 30. The second time (their activities retried,
    the same keys): the same answers, nothing counted twice."""
    budget = 20
    got = await asyncio.gather(*(fleet.permit(f"c{i:02}", budget) for i in range(50)))
    assert [d.granted for d in got] == [True] * 20 + [False] * 30
    assert sorted(d.used for d in got[:20]) == list(range(1, 21))
    assert {d.held_by for d in got[20:]} == {FLEET_BUDGET}
    assert fleet.batcher.asked == 50
    assert 1 <= fleet.batcher.batches <= 3, fleet.batcher.batches
    updates = [
        e
        async for e in fleet.guard.fetch_history_events()
        if e.HasField("workflow_execution_update_accepted_event_attributes")
    ]
    assert len(updates) == fleet.batcher.batches
    again = await asyncio.gather(*(fleet.permit(f"c{i:02}", budget) for i in range(50)))
    assert [d.granted for d in again] == [True] * 20 + [False] * 30
    assert {d.detail for d in again[:20]} == {"fleet: already granted"}
    st = await fleet.status()
    assert len(st.grants) == 20 and len(st.held) == 30


async def test_the_single_permit_update_still_answers(fleet: Fleet) -> None:
    """Activities from before the batch (a rolling upgrade) ask one `permit` update
    each; both kinds share one count."""
    assert (await fleet.permit_one("old", budget=2)).granted
    assert (await fleet.permit("new", budget=2)).granted
    assert (await fleet.permit("old", budget=2)).detail == "fleet: already granted"
    over = await fleet.permit_one("third", budget=2)
    assert not over.granted and over.held_by == FLEET_BUDGET


@workflow.defn(name="FleetGuard", sandboxed=False)
class GuardBeforeBatches:
    """A guard run by a worker from before `permits` (a rolling upgrade): `permit` only."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    @workflow.run
    async def run(self, inp: FleetInput) -> None:
        await workflow.wait_condition(lambda: False)

    @workflow.update(name="permit")
    def permit(self, ask: FleetPermitRequest) -> PermitDecision:
        self.asked.append(ask.request.incident_id)
        return PermitDecision(granted=True, used=len(self.asked), limit=ask.budget)


async def test_a_guard_from_before_batches_is_asked_one_by_one(
    time_env: WorkflowEnvironment,
) -> None:
    tq = f"old-fleet-{uuid.uuid4().hex[:8]}"
    batcher = PermitBatcher()
    async with Worker(time_env.client, task_queue=tq, workflows=[GuardBeforeBatches]):
        got = await asyncio.gather(
            *(
                batcher.ask(time_env.client, fleet_guard_id(tq), tq, permit_request(f"o{i}"), 30)
                for i in range(3)
            )
        )
    assert [d.granted for d in got] == [True] * 3
    assert sorted(d.used for d in got) == [1, 2, 3]  # three single updates


# ------------------------------------------------------------------ a held incident
def policy(**safety: object) -> ServicePolicy:
    return ServicePolicy.model_validate(
        dict(
            service="genesis-orchestration",
            hosts=["h"],
            has_rollback=True,
            has_health_url=True,
            safety=safety,
        )
    )


@dataclass
class HeldWorld:
    """A World whose permits the fleet holds while `holding`; when it was asked."""

    world: World
    holding: bool = True
    asked: list[datetime] = field(default_factory=list)
    requests: list[PermitRequest] = field(default_factory=list)

    def activities(self) -> list[Callable[..., object]]:
        fakes = [
            a
            for a in self.world.activities()
            if getattr(a, "__temporal_activity_definition").name != GOVERNOR_PERMIT.name  # noqa: B009
        ]

        @activity.defn(name=GOVERNOR_PERMIT.name)
        async def permit(req: PermitRequest) -> PermitDecision:
            self.asked.append(activity.info().current_attempt_scheduled_time)
            self.requests.append(req)
            if self.holding and not req.fleet_approved_by:
                return PermitDecision(
                    granted=False, used=0, limit=30, held_by="storm:test", detail="held"
                )
            return PermitDecision(granted=True, used=1, limit=30, detail="fleet 1 of 30")

        return [*fakes, permit]


async def pending(handle: WorkflowHandle, step: str) -> IncidentStatus:
    for _ in range(200):  # queries do not skip time: poll the wall clock
        st: IncidentStatus = await handle.query("status", result_type=IncidentStatus)
        if step in st.pending_approvals:
            return st
        await asyncio.sleep(0.05)
    raise AssertionError(f"never waited for {step!r}: {st.timeline}")


async def run_held(
    env: WorkflowEnvironment, hw: HeldWorld, during: Callable[[WorkflowHandle], object]
) -> PlaybookResult:
    tq = f"tq-{uuid.uuid4()}"
    async with Worker(env.client, task_queue=tq, workflows=WORKFLOWS, activities=hw.activities()):
        handle = await env.client.start_workflow(
            ServiceDown.run,
            IncidentInput(
                alert=Alert(alertname="GenesisServiceDown", service="genesis-orchestration")
            ),
            id=f"incident:GenesisServiceDown:{uuid.uuid4()}",
            task_queue=tq,
            execution_timeout=timedelta(days=2),
        )
        st = await pending(handle, "fleet-hold")
        assert hw.world.restarts == 0 and "storm:test" in st.pending_approvals["fleet-hold"]
        await during(handle)  # type: ignore[misc]
        res: PlaybookResult = await handle.result()
        return res


async def test_a_held_restart_waits_and_proceeds_after_the_release(
    time_env: WorkflowEnvironment,
) -> None:
    hw = HeldWorld(World(policy()))

    async def during(handle: WorkflowHandle) -> None:
        await time_env.sleep(timedelta(minutes=10))
        assert hw.world.restarts == 0  # diagnostics ran, the restart did not
        hw.holding = False  # `remedy storm release`

    res = await run_held(time_env, hw, during)
    assert res.outcome == "resolved" and res.action == "restart" and hw.world.restarts == 1
    (held,) = [e for e in res.timeline if e.step == "held by storm:test"]
    granted = [e for e in res.timeline if e.step == "permit: restart" and e.outcome == "ok"]
    assert len(granted) == 1 and "held by storm:test" in granted[0].detail
    # Asked again every minute (not more often), and went ahead within a minute.
    gaps = [b - a for a, b in zip(hw.asked, hw.asked[1:], strict=False)]
    assert gaps and all(timedelta(seconds=59) < g < timedelta(seconds=62) for g in gaps)
    assert timedelta(minutes=10) <= granted[0].at - held.at <= timedelta(minutes=11, seconds=2)
    # The status check, a diagnostic, ran before the hold; nothing waited on it.
    assert "status" in hw.world.names()[: hw.world.names().index("restart")]


async def test_a_hold_past_its_bound_escalates(time_env: WorkflowEnvironment) -> None:
    hw = HeldWorld(World(policy(fleet_hold_timeout_s=3600)))

    async def during(handle: WorkflowHandle) -> None:
        return None

    res = await run_held(time_env, hw, during)
    assert res.outcome == "escalated" and hw.world.restarts == 0
    failed = [e for e in res.timeline if e.step == "permit: restart" and e.outcome == "failed"]
    assert "after 1:00:00" in failed[-1].detail
    held = next(e.at for e in res.timeline if e.step == "held by storm:test")
    assert timedelta(hours=1) <= failed[-1].at - held < timedelta(hours=1, minutes=1)
    assert "pagerduty:trigger" in hw.world.names()


async def test_a_person_lets_one_held_action_through(time_env: WorkflowEnvironment) -> None:
    hw = HeldWorld(World(policy()))

    async def during(handle: WorkflowHandle) -> None:
        await handle.execute_update(
            "approve", ApproveRequest(by="dave", step="fleet-hold"), result_type=IncidentStatus
        )

    res = await run_held(time_env, hw, during)
    assert res.outcome == "resolved" and hw.world.restarts == 1
    assert hw.requests[-1].fleet_approved_by == "dave"
    assert hw.requests[-1].approved_by is None  # not an over-limit approval


async def test_without_the_service_governor_the_fleet_is_asked_alone(
    time_env: WorkflowEnvironment,
) -> None:
    # governor: false, fleet: true -- no per-service governor, the fleet still holds it.
    hw = HeldWorld(World(policy(governor=False, fleet=True)))

    async def during(handle: WorkflowHandle) -> None:
        hw.holding = False

    res = await run_held(time_env, hw, during)
    assert res.outcome == "resolved"
    assert {r.service_governor for r in hw.requests} == {False}


# ------------------------------------------------------------------ Triage pages
async def test_triage_pages_coalesce_into_one_pagerduty_incident_per_hour(
    time_env: WorkflowEnvironment,
) -> None:
    world = World(policy(), known_service=False)
    tq = f"tq-{uuid.uuid4()}"
    async with Worker(
        time_env.client, task_queue=tq, workflows=WORKFLOWS, activities=world.activities()
    ):
        handles = [
            await time_env.client.start_workflow(
                "Triage",
                IncidentInput(alert=Alert(alertname=f"Unrouted{i}", service="nowhere")),
                id=f"incident:Unrouted{i}:{uuid.uuid4().hex[:6]}",
                task_queue=tq,
                result_type=PlaybookResult,
            )
            for i in range(3)
        ]
        for h in handles:
            for _ in range(200):  # the page went out (its activity answered)
                st = await h.query("status", result_type=IncidentStatus)
                if any(e.step == "pagerduty: trigger" for e in st.timeline):
                    break
                await asyncio.sleep(0.05)
            await h.execute_update("acknowledge", AckRequest(by="oncall"))
        results = [await h.result() for h in handles]
    keys = [c.detail for c in world.calls if c.name == "pagerduty:trigger"]
    assert len(keys) == 3 and len(set(keys)) == 1 and keys[0].startswith("triage:")
    for res in results:
        (page,) = [e for e in res.timeline if e.step == "pagerduty: trigger"]
        assert f"coalesced into PagerDuty incident {keys[0]}" in page.detail


async def test_a_service_outside_the_fleet_guard_asks_nothing(
    time_env: WorkflowEnvironment,
) -> None:
    # governor: false and fleet unset: exempt from both blast-radius limits, as before.
    hw = HeldWorld(World(policy(governor=False)))
    tq = f"tq-{uuid.uuid4()}"
    async with Worker(
        time_env.client, task_queue=tq, workflows=WORKFLOWS, activities=hw.activities()
    ):
        res: PlaybookResult = await time_env.client.execute_workflow(
            ServiceDown.run,
            IncidentInput(
                alert=Alert(alertname="GenesisServiceDown", service="genesis-orchestration")
            ),
            id=f"incident:GenesisServiceDown:{uuid.uuid4()}",
            task_queue=tq,
        )
    assert res.outcome == "resolved" and hw.requests == []

"""The fleet-wide guard: a storm breaker and a budget of automated actions, beside the
per-service governor (workflows/governor.py).

Why (Google SRE book ch. 7, "Diskerase"; AWS SSM and Shoreline rate control): one bad
webhook, or one bad change across the fleet, opens hundreds of incidents at once, and
each one acting on its own -- restarting, rolling back, paging -- multiplies the damage.
The per-service governor cannot see that; only a fleet-wide view can.

`FleetGuard` (workflow id `fleet:<task queue>`, see fleet_guard_id) is one durable
workflow per Remedy deployment:

* The bridge signal-with-starts it with `incident_opened` for every *new* incident it
  starts (bridge/storm.py), carrying its thresholds. More than `incidents` openings
  within `window_s` is a storm: the guard holds every automated side effect at once (in
  the signal handler, before anything else can ask) and starts one `Storm` workflow,
  `storm:<time of the first opening>`, which pages a person once and posts Slack once
  with the list. Openings during the storm go to the Storm's timeline, never page.
* Every automated side effect (restart, rollback, mitigation, containment) asks it first,
  through the governor.permit activity (activities/governor.py), in the `permit` update:
  held during a storm, refused past `budget` actions per rolling hour fleet-wide, else
  granted and counted. A held incident waits and asks again (workflows/steps/safety.py);
  diagnostics never ask.
* A person ends the hold: `remedy storm release --by NAME` (the `release` update). The
  window starts afresh, so the openings that made the storm do not make another.

Neither workflow sets a timer: they act only when signalled or asked, so a quiet fleet
costs nothing and the guard simply runs for good (started by the first opening or
permit). Both continue-as-new so their histories stay short however long a storm lasts.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.exceptions import WorkflowAlreadyStartedError

with workflow.unsafe.imports_passed_through():
    from workflows.contracts.notify import (
        PAGERDUTY_EVENT,
        SLACK_POST,
        PagerDutyInput,
        SlackMessageInput,
    )
    from workflows.contracts.safety import (
        FLEET_BUDGET,
        FleetInput,
        FleetPermitBatch,
        FleetPermitRequest,
        FleetStatus,
        Grant,
        HeldAction,
        Opening,
        OpeningSignal,
        OpeningsSignal,
        PermitDecision,
        PermitRequest,
        ReleaseRequest,
        StormInput,
        StormState,
        StormStatus,
        StormThresholds,
    )
    from workflows.incident import Steps
    from workflows.models import Phase

BUDGET_WINDOW = timedelta(hours=1)
# A held request not asked again for this long is gone (its incident escalated/closed).
HELD_FORGOTTEN_AFTER = timedelta(minutes=5)
MAX_EVENTS_PER_RUN = 1000
# What a page, a Slack post and the Storm's carried state list at most.
LIST_MAX = 40
LATER_KEPT = 500
TIMELINE_KEPT = 300


def release_hint(storm_id: str) -> str:
    return f"`remedy storm release --by NAME` ends the hold ({storm_id})"


@workflow.defn(name="FleetGuard")
class FleetGuard:
    @workflow.init
    def __init__(self, inp: FleetInput) -> None:
        self.thresholds = inp.thresholds
        self.openings = list(inp.openings)
        self.grants = list(inp.grants)
        self.storm = inp.storm
        self.last_storm = inp.last_storm
        self.held = {h.incident_id + ":" + h.kind: h for h in inp.held}
        self.budget = inp.budget
        self.forward = list(inp.pending_forward)
        self.release_pending = inp.pending_release
        self.events = 0
        self._storm_input: StormInput | None = None
        # Recent (incident, run) pairs: both bridges of a pair report the same start.
        self._seen: list[tuple[str, str]] = []

    # ------------------------------------------------------------ state
    @property
    def holding(self) -> bool:
        return self.storm is not None and self.storm.released_by is None

    def _window(self, now: datetime) -> list[Opening]:
        cut = now - timedelta(seconds=self.thresholds.window_s)
        self.openings = [o for o in self.openings if o.at > cut]
        return self.openings

    def _live(self, now: datetime) -> list[Grant]:
        self.grants = [g for g in self.grants if g.at + BUDGET_WINDOW > now]
        return self.grants

    def _held(self, now: datetime) -> list[HeldAction]:
        self.held = {
            k: h for k, h in self.held.items() if h.last_asked + HELD_FORGOTTEN_AFTER > now
        }
        return list(self.held.values())

    def _state(self) -> FleetInput:
        now = workflow.now()
        return FleetInput(
            thresholds=self.thresholds,
            openings=self._window(now),
            grants=self._live(now),
            storm=self.storm,
            last_storm=self.last_storm,
            held=self._held(now),
            budget=self.budget,
            pending_forward=self.forward,
            pending_release=self.release_pending,
        )

    # ------------------------------------------------------------ openings
    @workflow.signal(name="incident_opened")
    def incident_opened(self, sig: OpeningSignal) -> None:
        self.events += 1
        self.thresholds = sig.thresholds
        self._opened(sig.opening)

    @workflow.signal(name="openings")
    def openings_batch(self, sig: OpeningsSignal) -> None:
        """What one bridge started within its batch window, in the order it started them."""
        self.events += 1
        self.thresholds = sig.thresholds
        for o in sig.openings:
            self._opened(o)

    def _opened(self, opening: Opening) -> None:
        # The guard's clock, not the bridge's: one clock for both bridges of a pair.
        o = opening.model_copy(update={"at": workflow.now()})
        key = (o.incident_id, o.run_id)
        if key in self._seen:
            return  # the other bridge of the pair reported the same start
        self._seen = [*self._seen[-499:], key]
        if self.holding:
            assert self.storm is not None
            self.storm.incidents += 1
            self.forward.append(o)
            return
        window = self._window(o.at)
        window.append(o)
        if len(window) > self.thresholds.incidents:
            first = window[0].at
            self.storm = StormState(
                storm_id=f"storm:{first:%Y-%m-%dT%H:%M:%SZ}",
                opened_at=o.at,
                incidents=len(window),
            )
            self._storm_input = StormInput(
                storm_id=self.storm.storm_id,
                opened_at=o.at,
                thresholds=self.thresholds,
                incidents=list(window),
            )
            self.openings = []  # the storm has them; after a release the count starts afresh

    # ------------------------------------------------------------ permits
    @workflow.update(name="permit")
    def permit(self, ask: FleetPermitRequest) -> PermitDecision:
        self.events += 1
        return self._decide(ask.request, ask.budget)

    @workflow.update(name="permits")
    def permits(self, batch: FleetPermitBatch) -> list[PermitDecision]:
        """One worker's waiting questions at once, decided in the order asked: the same
        answers as one `permit` update each, for one update's worth of server work."""
        self.events += 1
        return [self._decide(req, batch.budget) for req in batch.requests]

    def _decide(self, req: PermitRequest, budget: int) -> PermitDecision:
        now = workflow.now()
        self.budget = budget
        live = self._live(now)
        held_key = f"{req.incident_id}:{req.kind}"
        if any(g.key == req.key for g in live):  # a retried activity: same answer
            self.held.pop(held_key, None)
            return PermitDecision(
                granted=True, used=len(live), limit=budget, detail="fleet: already granted"
            )
        holder: str | None = None
        detail = ""
        free_at: datetime | None = None
        if req.fleet_approved_by:
            pass  # a person let this one action through the hold, by name
        elif self.holding:
            assert self.storm is not None
            holder = self.storm.storm_id
            detail = (
                f"held by {holder}: {self.storm.incidents} new incidents since "
                f"{self.storm.opened_at:%H:%M:%S} UTC; {release_hint(holder)}"
            )
        elif len(live) >= budget:
            holder = FLEET_BUDGET
            free_at = min(g.at for g in live) + BUDGET_WINDOW if live else None
            detail = f"fleet budget of {budget} automated actions per hour spent" + (
                f"; next free at {free_at:%H:%M:%S} UTC" if free_at else ""
            )
        if holder is not None:
            prev = self.held.get(held_key)
            self.held[held_key] = HeldAction(
                incident_id=req.incident_id,
                kind=req.kind,
                what=req.what,
                held_by=holder,
                since=prev.since if prev else now,
                last_asked=now,
            )
            return PermitDecision(
                granted=False,
                used=len(live),
                limit=budget,
                next_free_at=free_at,
                detail=detail,
                held_by=holder,
            )
        self.held.pop(held_key, None)
        live.append(
            Grant(
                key=req.key,
                incident_id=req.incident_id,
                kind=req.kind,
                at=now,
                approved_by=req.fleet_approved_by,
            )
        )
        through = f", through the hold, approved by {req.fleet_approved_by}"
        return PermitDecision(
            granted=True,
            used=len(live),
            limit=budget,
            detail=f"fleet {len(live)} of {budget} this hour"
            + (through if req.fleet_approved_by else ""),
        )

    # ------------------------------------------------------------ a person
    @workflow.update(name="release")
    def release(self, req: ReleaseRequest) -> FleetStatus:
        self.events += 1
        assert self.storm is not None  # the validator
        self.storm.released_by, self.storm.released_at = req.by, workflow.now()
        self.storm.note = req.note
        self.release_pending = req
        self.last_storm, self.storm = self.storm, None
        self.openings = []
        return self.status()

    @release.validator
    def _validate_release(self, req: ReleaseRequest) -> None:
        if not self.holding:
            last = self.last_storm
            was = f" (last: {last.storm_id}, released by {last.released_by})" if last else ""
            raise ValueError(f"no storm is holding automated actions{was}")

    @workflow.query(name="status")
    def status(self) -> FleetStatus:
        now = workflow.now()
        return FleetStatus(
            thresholds=self.thresholds,
            openings_in_window=list(self._window(now)),
            storm=self.storm,
            last_storm=self.last_storm,
            held=self._held(now),
            grants=list(self._live(now)),
            budget=self.budget,
        )

    # ------------------------------------------------------------ the loop
    def _work(self) -> bool:
        starting = self.storm is not None and not self.storm.started
        return starting or bool(self.forward) or self.release_pending is not None

    async def _do_work(self) -> None:
        """Start the Storm, hand it what opened since, tell it it was released. Signals
        to it by id (not a child handle): the handle does not survive continue-as-new."""
        storm = self.storm
        if storm is not None and not storm.started:
            storm.started = True
            inp = self._storm_input or StormInput(  # carried over continue-as-new unstarted
                storm_id=storm.storm_id,
                opened_at=storm.opened_at,
                thresholds=self.thresholds,
                incidents=[],
            )
            try:
                await workflow.start_child_workflow(
                    "Storm",
                    inp,
                    id=storm.storm_id,
                    # The storm outlives this run (continue-as-new) and the guard.
                    parent_close_policy=workflow.ParentClosePolicy.ABANDON,
                )
            except WorkflowAlreadyStartedError:
                pass
        target = storm.storm_id if storm is not None else None
        if self.forward and target is not None:
            batch, self.forward = self.forward, []
            await self._signal(target, "incidents_opened", batch)
        if self.release_pending is not None and self.last_storm is not None:
            req, self.release_pending = self.release_pending, None
            if self.forward:  # opened just before the release
                batch, self.forward = self.forward, []
                await self._signal(self.last_storm.storm_id, "incidents_opened", batch)
            await self._signal(self.last_storm.storm_id, "released", req)

    async def _signal(self, wid: str, name: str, arg: object) -> None:
        try:
            await workflow.get_external_workflow_handle(wid).signal(name, arg)
        except Exception as err:  # noqa: BLE001 -- a closed storm: its record is final
            workflow.logger.warning("signal %s to %s failed: %s", name, wid, err)

    @workflow.run
    async def run(self, inp: FleetInput) -> int:
        # No timer anywhere: between openings and permits the guard costs nothing, and
        # windows are pruned when it is next asked. It runs for good (one per task queue).
        while True:
            await workflow.wait_condition(
                lambda: (
                    self._work()
                    or self.events >= MAX_EVENTS_PER_RUN
                    or workflow.info().is_continue_as_new_suggested()
                )
            )
            await self._do_work()
            if self.events >= MAX_EVENTS_PER_RUN or workflow.info().is_continue_as_new_suggested():
                await workflow.wait_condition(workflow.all_handlers_finished)
                await self._do_work()
                workflow.continue_as_new(self._state())


@workflow.defn(name="Storm")
class Storm(Steps):
    """One storm incident: pages a person once and posts Slack once with the list, keeps
    what opened during it in its timeline, and ends when a person releases the hold."""

    @workflow.init
    def __init__(self, inp: StormInput) -> None:
        super().__init__()
        self.phase = Phase.RESPONSE
        self.inp = inp
        self.timeline = list(inp.timeline)
        self.later = list(inp.later)
        self.later_total = inp.later_total
        self.released = inp.released
        self.events = 0

    @workflow.signal(name="incidents_opened")
    def incidents_opened(self, batch: list[Opening]) -> None:
        self.events += 1
        self.later_total += len(batch)
        self.later = (self.later + batch)[-LATER_KEPT:]
        names = ", ".join(o.line for o in batch[:LIST_MAX])
        more = f" (+{len(batch) - LIST_MAX})" if len(batch) > LIST_MAX else ""
        self.record(
            f"{len(batch)} more opened during the storm",
            "info",
            f"{names}{more}; not paged again ({self.later_total} since the storm opened)",
        )
        self._trim()

    @workflow.signal(name="released")
    def on_release(self, req: ReleaseRequest) -> None:
        self.events += 1
        if self.released is None:
            self.released = req
            self.record("released", "info", f"by {req.by}" + (f": {req.note}" if req.note else ""))

    @workflow.query(name="status")
    def status(self) -> StormStatus:
        return StormStatus(
            storm_id=self.inp.storm_id,
            opened_at=self.inp.opened_at,
            incidents=self.inp.incidents,
            later=self.later,
            later_total=self.later_total,
            released=self.released,
            timeline=list(self.timeline),
        )

    def _trim(self) -> None:
        if len(self.timeline) > TIMELINE_KEPT:
            self.timeline = self.timeline[:10] + self.timeline[-(TIMELINE_KEPT - 10) :]

    def _summary(self) -> str:
        t = self.inp.thresholds
        n = len(self.inp.incidents)
        return (
            f"Incident storm: {n} new incidents within {t.window_s / 60:g} min "
            f"(threshold {t.incidents}); every automated action is held fleet-wide"
        )

    def _listing(self) -> str:
        shown = [f"{o.incident_id} ({o.playbook or '?'})" for o in self.inp.incidents[:LIST_MAX]]
        more = len(self.inp.incidents) - len(shown)
        return "\n".join(shown) + (f"\n... and {more} more" if more > 0 else "")

    async def _notify(self) -> None:
        sid = self.inp.storm_id
        listing = self._listing()
        self.record("storm opened", "info", f"{self._summary()}:\n{listing}")
        ids = ", ".join(o.incident_id for o in self.inp.incidents)
        page = PagerDutyInput(
            dedup_key=sid,
            action="trigger",
            summary=f"[{sid}] {self._summary()}; {release_hint(sid)}. Incidents: {ids}"[:1024],
            source="remedy",
            severity="critical",
        )
        res = await self.attempt("pagerduty: trigger", PAGERDUTY_EVENT, page)
        if res is not None:
            self.record("pagerduty: trigger", "skipped" if res.skipped else "ok", res.detail)
        msg = SlackMessageInput(
            incident_id=sid,
            title=self._summary(),
            status="Active",
            impact=listing,
            timeline=f"storm opened {self.inp.opened_at:%Y-%m-%d %H:%M:%S} UTC",
            actions_taken="automated restarts, rollbacks, mitigations and containment are "
            "held fleet-wide; diagnostics still run; Triage pages are coalesced",
            next_steps=f"`remedy storm status`; {release_hint(sid)}",
        )
        res = await self.attempt("slack: Active", SLACK_POST, msg)
        if res is not None:
            self.record("slack: Active", "skipped" if res.skipped else "ok", res.detail)

    async def _close(self) -> None:
        sid, req = self.inp.storm_id, self.released
        assert req is not None
        by = f"released by {req.by}" + (f": {req.note}" if req.note else "")
        res = await self.attempt(
            "pagerduty: resolve",
            PAGERDUTY_EVENT,
            PagerDutyInput(dedup_key=sid, action="resolve", summary=by, source="remedy"),
        )
        if res is not None:
            self.record("pagerduty: resolve", "skipped" if res.skipped else "ok", by)
        msg = SlackMessageInput(
            incident_id=sid,
            title=self._summary(),
            status="Resolved",
            impact=f"{len(self.inp.incidents)} incidents opened the storm, "
            f"{self.later_total} more during it",
            timeline=f"storm opened {self.inp.opened_at:%Y-%m-%d %H:%M:%S} UTC, "
            f"{by} at {workflow.now():%H:%M:%S} UTC",
            actions_taken="hold released: held actions proceed as their incidents ask again",
            next_steps="post-incident review of the storm's cause",
        )
        res = await self.attempt("slack: Resolved", SLACK_POST, msg)
        if res is not None:
            self.record("slack: Resolved", "skipped" if res.skipped else "ok", res.detail)

    def _carry(self) -> StormInput:
        return self.inp.model_copy(
            update={
                "later": self.later,
                "later_total": self.later_total,
                "notified": True,
                "released": self.released,
                "timeline": self.timeline,
            }
        )

    @workflow.run
    async def run(self, inp: StormInput) -> StormStatus:
        if not inp.notified:
            await self._notify()
        while self.released is None:
            await workflow.wait_condition(
                lambda: (
                    self.released is not None
                    or self.events >= MAX_EVENTS_PER_RUN
                    or workflow.info().is_continue_as_new_suggested()
                )
            )
            if self.released is None:
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(self._carry())
        await self._close()
        self.record("storm closed", "info", f"{len(inp.incidents) + self.later_total} incidents")
        return self.status()


__all__ = ["FleetGuard", "Storm", "StormThresholds"]

"""The blast-radius governor: one durable workflow per service, `governor:<service>`,
granting at most N restarts/rollbacks per rolling hour across all its incidents.

Why a workflow and how incidents reach it. The count must survive worker restarts and
be shared by every incident of the service, so it lives in this workflow's history,
not in a worker's memory. A workflow cannot start or update another (non-child)
workflow, so the incident asks through an activity (activities/governor.py) that
starts the governor if absent and sends it the `permit` update. The update's handler
decides synchronously -- one decision at a time, in history order -- and its answer is
the activity's result, so no signal has to travel back to the incident.

A denied request is not queued: the incident decides what to do with the denial (wait
for a human's "over-limit" approval, else escalate; workflows/steps/safety.py) and
asks again with the approver's name, which is always granted and counted.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows.contracts.safety import (
        GovernorInput,
        GovernorStatus,
        Grant,
        PermitDecision,
        PermitRequest,
    )

WINDOW = timedelta(hours=1)
# Continue-as-new after this many decisions (or when the server suggests it), carrying
# only the grants still inside the window: the history stays short however long it runs.
MAX_DECISIONS_PER_RUN = 500


@workflow.defn(name="Governor")
class Governor:
    @workflow.init
    def __init__(self, inp: GovernorInput) -> None:
        self.service = inp.service
        self.grants: list[Grant] = list(inp.grants)
        self.decisions = 0

    def _live(self, now: datetime) -> list[Grant]:
        self.grants = [g for g in self.grants if g.at + WINDOW > now]
        return self.grants

    @workflow.update(name="permit")
    def permit(self, req: PermitRequest) -> PermitDecision:
        self.decisions += 1
        now = workflow.now()
        live = self._live(now)
        if any(g.key == req.key for g in live):  # a retried activity: same answer
            return PermitDecision(
                granted=True, used=len(live), limit=req.max_per_hour, detail="already granted"
            )
        if len(live) < req.max_per_hour or req.approved_by:
            live.append(
                Grant(
                    key=req.key,
                    incident_id=req.incident_id,
                    kind=req.kind,
                    at=now,
                    approved_by=req.approved_by,
                )
            )
            over = f", over the limit, approved by {req.approved_by}" if req.approved_by else ""
            return PermitDecision(
                granted=True,
                used=len(live),
                limit=req.max_per_hour,
                detail=f"{len(live)} of {req.max_per_hour} this hour{over}",
            )
        free_at = min(g.at for g in live) + WINDOW if live else None
        holders = ", ".join(f"{g.kind} by {g.incident_id}" for g in live)
        return PermitDecision(
            granted=False,
            used=len(live),
            limit=req.max_per_hour,
            next_free_at=free_at,
            detail=f"limit {req.max_per_hour}/h for {self.service} reached ({holders})"
            + (f"; next permit free at {free_at:%H:%M:%S} UTC" if free_at else ""),
        )

    @permit.validator
    def _validate(self, req: PermitRequest) -> None:
        if req.service != self.service:
            raise ValueError(f"this governor is for {self.service!r}, not {req.service!r}")

    @workflow.query(name="status")
    def status(self) -> GovernorStatus:
        return GovernorStatus(service=self.service, grants=self._live(workflow.now()))

    @workflow.run
    async def run(self, inp: GovernorInput) -> int:
        while True:
            seen = self.decisions
            try:
                await workflow.wait_condition(
                    lambda: (
                        self.decisions >= MAX_DECISIONS_PER_RUN
                        or workflow.info().is_continue_as_new_suggested()
                    ),
                    timeout=WINDOW,
                )
            except TimeoutError:
                # An idle hour forgets every grant: nothing left to remember, so end;
                # the next request starts a fresh governor (activities/governor.py).
                if not self._live(workflow.now()) and self.decisions == seen:
                    return self.decisions
                continue
            await workflow.wait_condition(workflow.all_handlers_finished)
            workflow.continue_as_new(
                GovernorInput(service=self.service, grants=self._live(workflow.now()))
            )

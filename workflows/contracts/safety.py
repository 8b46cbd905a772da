"""Typed contracts of the safety policy: the inventory's `safety:` section, the
`approve` update, the blast-radius governor's permit activity and workflow, and the
fleet-wide guard (workflows/fleet.py): its openings, storms, holds and budget.

Names and numbers only, no secret.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from workflows import policies
from workflows.contracts.approvers import Approvers
from workflows.contracts.base import Activity
from workflows.models import TimelineEntry

# Step kinds a service may put behind a human approval.
ApprovalKind = Literal["rollback", "mitigation", "containment", "restart"]


# Actions the governor counts (the issue: "at most N restarts/rollbacks per hour").
GovernedKind = Literal["restart", "rollback"]


class SafetyPolicy(BaseModel):
    """What a workflow (and the side-effecting activities) obey for one service."""

    dry_run: bool = False
    require_approval: list[ApprovalKind] = Field(default_factory=list)
    max_actions_per_hour: int = Field(default=3, ge=0)
    # False: no per-service governor (no blast-radius limit) for this service.
    governor: bool = True
    # False: this service's actions are outside the fleet guard's storm hold and budget.
    # Unset: as `governor` (a service exempt from blast-radius limits is exempt from both).
    fleet: bool | None = None
    approval_timeout_s: float = Field(default=900.0, gt=0)
    # An action held fleet-wide (a storm, or the fleet budget spent) waits this long for
    # the hold to end, then the incident escalates.
    fleet_hold_timeout_s: float = Field(default=3600.0, gt=0)
    # ... asking again this often (the guard cannot call it back when the hold ends).
    fleet_recheck_s: float = Field(default=60.0, gt=0)
    # Who may answer which kind of step (the inventory's `approvers:`, merged top level
    # then service; workflows/contracts/approvers.py). Empty -- also every policy from
    # before approvers existed -- means anyone, marked "unverified" in the timeline.
    approvers: Approvers = Field(default_factory=dict)


class SafetyOverrides(BaseModel):
    """The inventory's `safety:` section, top level and per service; unset = inherited."""

    model_config = ConfigDict(extra="forbid")

    dry_run: bool | None = None
    require_approval: list[ApprovalKind] | None = None
    max_actions_per_hour: Annotated[int, Field(ge=0)] | None = None
    governor: bool | None = None
    fleet: bool | None = None
    approval_timeout_s: Annotated[float, Field(gt=0)] | None = None
    fleet_hold_timeout_s: Annotated[float, Field(gt=0)] | None = None
    fleet_recheck_s: Annotated[float, Field(gt=0)] | None = None

    def set_fields(self) -> dict[str, Any]:
        return {k: v for k, v in self.model_dump().items() if v is not None}


def merge_safety(*layers: SafetyOverrides) -> SafetyPolicy:
    merged: dict[str, Any] = {}
    for layer in layers:
        merged |= layer.set_fields()
    return SafetyPolicy.model_validate(merged)


class ApproveRequest(BaseModel):
    by: str = Field(min_length=1, max_length=200, description="who approves")
    # A kind above, "over-limit", or a named step (e.g. a SecurityIncident containment
    # step "containment: block-ip"): the workflow's validator checks it is waiting.
    step: str = Field(min_length=1, max_length=200, description="the step waiting")
    note: str = Field(default="", max_length=2000)
    # How the answer came: "slack" (a signed Slack click), "cli", ... for the timeline;
    # who may answer is checked against `by` (workflows/contracts/approvers.py).
    via: str = Field(default="", max_length=100)


class RejectRequest(BaseModel):
    by: str = Field(min_length=1, max_length=200, description="who rejects")
    step: str = Field(min_length=1, max_length=200, description="the step waiting")
    reason: str = Field(min_length=1, max_length=2000, description="why: goes in the timeline")
    via: str = Field(default="", max_length=100)


class Decision(BaseModel):
    """A human's answer to a pending approval."""

    step: str
    approved: bool
    by: str
    text: str = ""


# ---------------------------------------------------------------- governor
class PermitRequest(BaseModel):
    service: str
    incident_id: str
    # restart/rollback for the per-service governor; any ApprovalKind for the fleet guard.
    kind: ApprovalKind
    key: str = Field(description="incident + kind + n: a retried request is answered the same")
    max_per_hour: int
    what: str = ""
    approved_by: str | None = Field(default=None, description="a human allowed it over the limit")
    # False: ask the fleet guard only (a mitigation or containment, or a service with
    # `governor: false`). Requests from before the fleet guard have the default.
    service_governor: bool = True
    fleet: bool = Field(default=True, description="ask the fleet guard first")
    fleet_approved_by: str | None = Field(
        default=None, description="a human let this action through a fleet-wide hold"
    )


class PermitDecision(BaseModel):
    granted: bool
    used: int = Field(description="permits granted in the last hour, this one included")
    limit: int
    next_free_at: datetime | None = None
    detail: str = ""
    # Set when the fleet guard holds the action: the storm's id, or FLEET_BUDGET. None in
    # every decision from before the fleet guard (so their histories still deserialize).
    held_by: str | None = None


class Grant(BaseModel):
    key: str
    incident_id: str
    kind: ApprovalKind
    at: datetime
    approved_by: str | None = None


class GovernorInput(BaseModel):
    service: str
    grants: list[Grant] = Field(default_factory=list, description="carried over continue-as-new")


class GovernorStatus(BaseModel):
    service: str
    grants: list[Grant]


# ---------------------------------------------------------------- fleet guard
FLEET_BUDGET = "fleet budget"  # PermitDecision.held_by when the fleet budget is spent


def fleet_guard_id(task_queue: str) -> str:
    """One fleet guard per task queue: the fleet is what one Remedy deployment's workers
    act on (two deployments sharing a namespace keep separate guards)."""
    return f"fleet:{task_queue}"


class StormThresholds(BaseModel):
    """More than `incidents` new incidents within `window_s` seconds is a storm. Sent by
    the bridge with every opening (its settings), so both bridges of a pair agree."""

    incidents: int = Field(default=20, ge=1)
    window_s: float = Field(default=300.0, gt=0)


class Opening(BaseModel):
    """A new incident the bridge started (not a repeat joining an open one)."""

    incident_id: str
    run_id: str = ""
    alertname: str
    service: str
    playbook: str = ""
    at: datetime = Field(description="the bridge's clock when it started the incident")

    @property
    def line(self) -> str:
        return f"{self.incident_id} ({self.playbook or '?'})"


class OpeningSignal(BaseModel):
    opening: Opening
    thresholds: StormThresholds = Field(default_factory=StormThresholds)


class OpeningsSignal(BaseModel):
    """Several openings in one signal: what one bridge started within its batch window
    (bridge/storm.py). One signal and one workflow task on the guard, however many."""

    openings: list[Opening] = Field(min_length=1)
    thresholds: StormThresholds = Field(default_factory=StormThresholds)


class FleetPermitRequest(BaseModel):
    """The permit activity's question to the fleet guard: `budget` automated actions per
    rolling hour fleet-wide (the worker's setting)."""

    request: PermitRequest
    budget: int = Field(ge=0)


class FleetPermitBatch(BaseModel):
    """Every permit question one worker process has waiting, asked in one update
    (activities/governor.PermitBatcher): decided in order, answered in order. One update
    per batch keeps the guard under the server's in-flight update limit (10 per
    workflow by default) however many incidents act at once."""

    requests: list[PermitRequest] = Field(min_length=1)
    budget: int = Field(ge=0)


class HeldAction(BaseModel):
    incident_id: str
    kind: ApprovalKind
    what: str
    held_by: str
    since: datetime
    last_asked: datetime


class StormState(BaseModel):
    storm_id: str
    opened_at: datetime
    incidents: int = Field(description="new incidents counted in the storm so far")
    started: bool = Field(default=False, description="the Storm workflow was started")
    released_by: str | None = None
    released_at: datetime | None = None
    note: str = ""


class ReleaseRequest(BaseModel):
    by: str = Field(min_length=1, max_length=200, description="who releases the hold")
    note: str = Field(default="", max_length=2000)


class FleetInput(BaseModel):
    """The fleet guard's state, carried over continue-as-new."""

    thresholds: StormThresholds = Field(default_factory=StormThresholds)
    openings: list[Opening] = Field(default_factory=list)
    grants: list[Grant] = Field(default_factory=list)
    storm: StormState | None = None
    last_storm: StormState | None = None
    held: list[HeldAction] = Field(default_factory=list)
    budget: int | None = None
    pending_forward: list[Opening] = Field(default_factory=list)
    pending_release: ReleaseRequest | None = None


class FleetStatus(BaseModel):
    thresholds: StormThresholds
    openings_in_window: list[Opening]
    storm: StormState | None
    last_storm: StormState | None
    held: list[HeldAction]
    grants: list[Grant]
    budget: int | None


class StormInput(BaseModel):
    storm_id: str
    opened_at: datetime
    thresholds: StormThresholds
    incidents: list[Opening] = Field(description="the openings that made the storm")
    later: list[Opening] = Field(default_factory=list, description="opened during it (latest)")
    later_total: int = 0
    notified: bool = False
    released: ReleaseRequest | None = None
    timeline: list[TimelineEntry] = Field(default_factory=list)


class StormStatus(BaseModel):
    storm_id: str
    opened_at: datetime
    incidents: list[Opening]
    later: list[Opening]
    later_total: int
    released: ReleaseRequest | None
    timeline: list[TimelineEntry]


# ---------------------------------------------------------------- activities
GOVERNOR_PERMIT = Activity("governor.permit", PermitRequest, PermitDecision, policies.GOVERNOR)

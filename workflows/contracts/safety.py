"""Typed contracts of the safety policy: the inventory's `safety:` section, the
`approve` update, and the blast-radius governor's permit activity and workflow.

Names and numbers only, no secret.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from workflows import policies
from workflows.contracts.base import Activity

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
    approval_timeout_s: float = Field(default=900.0, gt=0)


class SafetyOverrides(BaseModel):
    """The inventory's `safety:` section, top level and per service; unset = inherited."""

    model_config = ConfigDict(extra="forbid")

    dry_run: bool | None = None
    require_approval: list[ApprovalKind] | None = None
    max_actions_per_hour: Annotated[int, Field(ge=0)] | None = None
    governor: bool | None = None
    approval_timeout_s: Annotated[float, Field(gt=0)] | None = None

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


class RejectRequest(BaseModel):
    by: str = Field(min_length=1, max_length=200, description="who rejects")
    step: str = Field(min_length=1, max_length=200, description="the step waiting")
    reason: str = Field(min_length=1, max_length=2000, description="why: goes in the timeline")


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
    kind: GovernedKind
    key: str = Field(description="incident + kind + n: a retried request is answered the same")
    max_per_hour: int
    what: str = ""
    approved_by: str | None = Field(default=None, description="a human allowed it over the limit")


class PermitDecision(BaseModel):
    granted: bool
    used: int = Field(description="permits granted in the last hour, this one included")
    limit: int
    next_free_at: datetime | None = None
    detail: str = ""


class Grant(BaseModel):
    key: str
    incident_id: str
    kind: GovernedKind
    at: datetime
    approved_by: str | None = None


class GovernorInput(BaseModel):
    service: str
    grants: list[Grant] = Field(default_factory=list, description="carried over continue-as-new")


class GovernorStatus(BaseModel):
    service: str
    grants: list[Grant]


# ---------------------------------------------------------------- activities
GOVERNOR_PERMIT = Activity("governor.permit", PermitRequest, PermitDecision, policies.GOVERNOR)

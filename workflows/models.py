"""Incident-level models: what enters an incident workflow, what it records, what it returns."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, Field


class Severity(StrEnum):
    P0 = "P0"
    P1 = "P1"
    P2 = "P2"
    P3 = "P3"
    P4 = "P4"


class Phase(StrEnum):
    """The Genesis general incident response process."""

    DETECTION = "Detection"
    ASSESSMENT = "Assessment"
    RESPONSE = "Response"
    VERIFICATION = "Verification"
    RESOLUTION = "Resolution"


class Alert(BaseModel):
    """One Alertmanager alert, reduced to what an incident needs.

    Labels and annotations are kept for the record and for *selecting* inventory
    entries; they are never pasted into a command (DESIGN principle 4).
    """

    alertname: str
    service: str
    status: Literal["firing", "resolved"] = "firing"
    severity: Severity | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    starts_at: datetime | None = None
    fingerprint: str = ""


class IncidentInput(BaseModel):
    alert: Alert
    flapping: bool = Field(
        default=False,
        description="set by the bridge when the alert re-fires within the cool-down after "
        "its last incident closed: diagnose and page a human instead of acting again",
    )
    route_reason: str = Field(default="", description="why the bridge chose this playbook")


Outcome = Literal["ok", "failed", "skipped", "info"]


class TimelineEntry(BaseModel):
    at: datetime
    phase: Phase
    step: str
    outcome: Outcome
    detail: str = ""


class AckRequest(BaseModel):
    by: str = Field(min_length=1, description="who acknowledges (on-call engineer)")
    note: str = ""
    via: str = Field(default="", description="slack, pagerduty, cli: for the timeline")


Resolution = Literal["resolved", "escalated", "resolved_without_action"]


class IncidentStatus(BaseModel):
    incident_id: str
    playbook: str
    service: str
    alertname: str
    severity: Severity
    phase: Phase
    acknowledged_by: str | None = None
    alert_firing: bool = True
    alerts_received: int = 1
    detected_at: datetime
    deadline: datetime | None = Field(default=None, description="next escalation deadline")
    paged: bool = False
    outcome: Resolution | None = None
    timeline: list[TimelineEntry] = Field(default_factory=list)
    pending_approvals: dict[str, str] = Field(
        default_factory=dict, description="steps waiting for `approve`/`reject` -> what they do"
    )


class PlaybookResult(BaseModel):
    incident_id: str
    playbook: str
    service: str
    alertname: str
    severity: Severity
    outcome: Resolution
    action: str = Field(description="what resolved it, for the incident log line")
    paged: bool
    detected_at: datetime
    ended_at: datetime
    timeline: list[TimelineEntry]
    run_key: str = Field(
        default="",
        description="the run's side-effect identity "
        "(workflows/incident.Steps.run_key); '' before per-run keys",
    )


# ---------------------------------------------------------------- child workflows
class RollbackInput(BaseModel):
    service: str
    incident_id: str
    reason: str


class RollbackResult(BaseModel):
    service: str
    succeeded: bool
    failed_step: str | None = None
    timeline: list[TimelineEntry]


class VerifyResult(BaseModel):
    """Outcome of a sustained-improvement window."""

    held: bool
    samples: int
    broken_at: datetime | None = None
    broken_by: Literal["breach", "missing"] | None = None
    value: float | None = None
    detail: str = ""

"""What outlives an incident: the incident-log line, the post-mortem file, and the look
back at earlier incidents of the same alert on the same service.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from workflows import policies
from workflows.contracts.base import Activity


# ---------------------------------------------------------------- records
class IncidentLogInput(BaseModel):
    service: str
    alertname: str
    action: str
    # The runbooks log how an incident ended; an escalation is logged when it is handed
    # over ("Escalated: <why>"), a resolution when it closes ("Resolved via <action>").
    escalated: bool = False
    incident_id: str = Field(
        description="the incident run's key (Incident.run_key): one "
        "line per run, however often the activity is retried"
    )


class IncidentLogResult(BaseModel):
    written: bool
    where: str
    line: str
    dry_run: bool = Field(default=False, description="dry-run: nothing appended")


# Earlier incidents of the same alert on the same service: earlier runs of this
# workflow id, read from Temporal visibility by the worker's own client.
class EarlierIncidentsInput(BaseModel):
    incident_id: str = Field(description="the workflow id (alert + service)")
    run_id: str = Field(description="this run: never counted as its own predecessor")
    window_days: float = 14
    limit: int = Field(default=10, description="at most this many listed (newest first)")


class EarlierIncident(BaseModel):
    run_id: str
    started_at: datetime
    closed_at: datetime | None = None
    status: str = Field(description="Temporal's: COMPLETED, FAILED, TERMINATED, ...")
    outcome: str | None = Field(default=None, description="resolved / escalated / ...")
    action: str | None = Field(default=None, description="what resolved it")


class EarlierIncidentsResult(BaseModel):
    available: bool = Field(description="False: this server cannot list (it is not counted)")
    total: int = 0
    incidents: list[EarlierIncident] = Field(default_factory=list)
    detail: str = ""


# ---------------------------------------------------------------- post-incident
class PostmortemInput(BaseModel):
    incident_id: str
    service: str
    markdown: str
    # One file per incident run: `<detected %Y%m%dT%H%M%SZ>-<first execution run id>`,
    # so the next incident of the same alert keeps its own draft. "" (runs from before
    # per-run keys): the one file named after the incident id, as then.
    run: str = ""


class PostmortemResult(BaseModel):
    where: str


# ---------------------------------------------------------------- activities
INCIDENT_LOG = Activity(
    "records.incident_log", IncidentLogInput, IncidentLogResult, policies.LOCAL_CONFIG
)
EARLIER_INCIDENTS = Activity(
    "records.earlier_incidents",
    EarlierIncidentsInput,
    EarlierIncidentsResult,
    policies.EARLIER_INCIDENTS_LOOKUP,
)
POSTMORTEM_WRITE = Activity(
    "records.postmortem", PostmortemInput, PostmortemResult, policies.LOCAL_CONFIG
)

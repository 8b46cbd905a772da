"""Typed contracts of the SecurityIncident playbook (Agent Lab "Security Incident", P0):
evidence first -- access-log analysis and a forensic snapshot -- then containment
steps the inventory defines, each run only after a person approves it.

Names and numbers only: the log lines that reach history are a few clipped samples,
already redacted by the ssh layer.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from workflows import policies
from workflows.contracts.base import Activity

# The seed's attack-vector grep (`grep -i "sql\|xss\|injection"`), plus SQL injection
# and path traversal as they appear in request lines.
DEFAULT_ATTACK_PATTERNS = ["sql", "xss", "injection", r"union\s+select", r"\.\./"]


# The seed's "Post-Incident Actions" and recovery steps that only people can do.
DEFAULT_HUMAN_STEPS = [
    "Forensic analysis: complete the investigation report",
    "Legal compliance: notify authorities if required",
    "Communication: notify users if data was breached",
    "Insurance: file incident reports for coverage",
    "Clean system restoration: rebuild from trusted images, validate integrity",
    "Security hardening: patch dependencies, add monitoring, penetration test",
]


class SecurityPolicy(BaseModel):
    """What the workflow knows of a service's `security:` inventory section."""

    configured: bool = False
    # containment step name -> what it does, in the inventory's order.
    containment: dict[str, str] = Field(default_factory=dict)
    human_steps: list[str] = Field(default_factory=lambda: list(DEFAULT_HUMAN_STEPS))


class SourceCount(BaseModel):
    source: str
    requests: int


class AccessLogInput(BaseModel):
    service: str
    top: int = Field(default=20, ge=1, le=100)
    max_lines: int = Field(default=20_000, ge=1, description="tail of each log analysed")


class AccessLogReport(BaseModel):
    lines: int = Field(description="access-log lines analysed")
    top_sources: list[SourceCount] = Field(default_factory=list)
    suspicious: int = Field(description='access-log lines matching "error|fail|invalid"')
    attack_hits: dict[str, int] = Field(default_factory=dict, description="pattern -> lines")
    samples: list[str] = Field(default_factory=list, description="a few matching lines")


class EvidenceInput(BaseModel):
    service: str
    incident_id: str


class EvidenceResult(BaseModel):
    path: str = ""
    size_bytes: int = 0
    sha256: str = ""
    replayed: bool = False
    dry_run: bool = False
    detail: str = ""


class DataAssessmentInput(BaseModel):
    service: str
    bucket_tail: int = Field(default=50, ge=1, le=200, description="the runbook's `| tail -50`")


class DataAssessmentReport(BaseModel):
    """The runbook's "Compromised Data Assessment": a count of session files changed
    (never their names) and the tail of the backup bucket's listing. An empty dir or
    command means the inventory does not configure it; an error is that part's own."""

    sessions_dir: str = ""
    sessions_since: str = Field(default="", description='"in the last 60 min", "newer than F"')
    sessions_changed: int | None = None
    sessions_error: str = ""
    bucket_command: str = ""
    bucket_objects: int | None = Field(default=None, description="lines the listing printed")
    bucket_tail: list[str] = Field(default_factory=list, description="its last lines, clipped")
    bucket_error: str = ""


class ContainInput(BaseModel):
    service: str
    incident_id: str
    name: str = Field(description="a containment step of the inventory")


class ContainResult(BaseModel):
    name: str
    ok: bool
    exit_status: int = 0
    detail: str = ""
    replayed: bool = False
    dry_run: bool = False


# ---------------------------------------------------------------- activities
SECURITY_ACCESS_LOG = Activity(
    "security.access_log", AccessLogInput, AccessLogReport, policies.DIAGNOSTIC
)
SECURITY_SNAPSHOT = Activity(
    "security.snapshot", EvidenceInput, EvidenceResult, policies.SIDE_EFFECT
)
SECURITY_DATA_ASSESSMENT = Activity(
    "security.data_assessment", DataAssessmentInput, DataAssessmentReport, policies.DIAGNOSTIC
)
SECURITY_CONTAIN = Activity("security.contain", ContainInput, ContainResult, policies.SIDE_EFFECT)

"""Typed contracts between workflows and activities.

Workflows call activities *by name* (the constants below) with these models, so that
no workflow module ever imports an activity module -- and with it paramiko or httpx,
which the workflow sandbox rejects. Activities import this module to type their
signatures, which keeps both sides on one definition.

Nothing here may carry a secret: every field ends up in workflow history.
Hosts, services and commands are *names* resolved by the activity from the
worker-side inventory (DESIGN principle 4 and 5).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, Field

from workflows.agentlab_contracts import AgentLabPolicy
from workflows.agentlab_errors_contracts import ReleasePolicy
from workflows.datafile_contracts import (  # noqa: F401  (re-exported activity names)
    DATAFILES_QUARANTINE,
    DATAFILES_READ_ONLY,
    DATAFILES_REBUILD_CSV,
    DATAFILES_RESTORE,
    DATAFILES_SCAN,
    DATAFILES_SNAPSHOT,
    DATAFILES_VALIDATE,
    DataIntegrityPolicy,
)
from workflows.remediation_contracts import (  # noqa: F401  (re-exported activity names)
    LOG_ERRORS,
    MITIGATION_APPLY,
    MITIGATION_RESTORE,
    POSTMORTEM_WRITE,
    TESTSUITE_CHECK,
    TESTSUITE_RUN,
    DiagnosticsPolicy,
    TestingPolicy,
)
from workflows.safety_contracts import (  # noqa: F401  (re-exported activity name)
    GOVERNOR_PERMIT,
    SafetyPolicy,
)
from workflows.security_contracts import SecurityPolicy

# ---------------------------------------------------------------- activity names
SSH_RUN = "ssh.run"
SERVICE_RUN = "service.run"
SERVICE_RESTART = "service.restart"
SERVICE_POLICY = "inventory.service_policy"
PROMETHEUS_QUERY = "prometheus.query"
HTTP_PROBE = "http.probe"
SLACK_POST = "notify.slack"
PAGERDUTY_EVENT = "notify.pagerduty"
INCIDENT_LOG = "records.incident_log"


# ---------------------------------------------------------------- thresholds
Comparison = Literal["lt", "le", "gt", "ge"]


class Sli(BaseModel):
    """A service level indicator: a PromQL expression and the bound it must hold."""

    name: str
    query: str = Field(description="PromQL instant query returning one number")
    comparison: Comparison = Field(description="value <comparison> threshold means healthy")
    threshold: float

    def holds(self, value: float) -> bool:
        return {
            "lt": value < self.threshold,
            "le": value <= self.threshold,
            "gt": value > self.threshold,
            "ge": value >= self.threshold,
        }[self.comparison]


class Thresholds(BaseModel):
    """The runbooks' numbers. Defaults are the seeds' values; a service may override any."""

    test_pass_rate_slo: float = 0.98  # TestPassRateLow: SLO >= 98 %
    test_pass_rate_rollback: float = 0.95  # rollback when < 95 %
    error_rate_slo: float = 0.001  # HighErrorRate: SLO < 0.1 %
    error_rate_rollback: float = 0.01  # rollback when > 1 %
    latency_p95_slo_s: float = 0.200  # HighLatencyP95: SLO < 200 ms
    latency_p95_rollback_s: float = 0.500  # rollback when > 500 ms (2.5x SLO)


class Waits(BaseModel):
    """The runbooks' waits and phase budgets."""

    after_restart: timedelta = timedelta(seconds=30)  # "sleep 30" after restart
    after_rollback_start: timedelta = timedelta(seconds=10)  # rollback script "sleep 10"
    incident_commander_after: timedelta = timedelta(minutes=5)  # page IC if unresolved
    verify_window: timedelta = timedelta(minutes=10)  # "wait 10 minutes: sustained"
    verify_interval: timedelta = timedelta(seconds=30)  # one SLI sample per interval
    rollback_after: timedelta = timedelta(minutes=30)  # "rollback if unresolved after 30 min"
    restore_budget: timedelta = timedelta(minutes=10)  # ServiceDown step 3: "5-10 minutes"
    health_retry_interval: timedelta = timedelta(seconds=30)
    circuit_breaker_recovery: timedelta = timedelta(seconds=60)  # "if open, wait 60s"
    # Phase budgets (Genesis general process): Detection 0-2, Assessment 2-5, Response 5-30.
    detection_budget: timedelta = timedelta(minutes=2)
    assessment_budget: timedelta = timedelta(minutes=5)
    response_budget: timedelta = timedelta(minutes=30)


class RecurrencePolicy(BaseModel):
    """How far back an incident looks for earlier incidents of the same alert on the same
    service (same workflow id), and when a recurrence becomes a *chronic* problem that
    pages a person even though the playbook runs again (the runbooks' post-incident
    "prevent recurrence"). Inventory `defaults.recurrence`, or per service."""

    model_config = {"extra": "forbid"}

    window_days: float = Field(default=14, gt=0, le=365)
    # Chronic when at least `chronic_count` earlier incidents started within
    # `chronic_window_hours` before this one (default: a 4th incident inside 24 h pages).
    chronic_count: int = Field(default=3, ge=1)
    chronic_window_hours: float = Field(default=24, gt=0)

    @property
    def chronic_window(self) -> timedelta:
        return timedelta(hours=self.chronic_window_hours)


class ServicePolicy(BaseModel):
    """What a workflow may know about a service: names, numbers, SLIs. No addresses, no keys."""

    service: str
    hosts: list[str]
    severity_default: str = "P1"
    has_rollback: bool = False
    has_health_url: bool = False
    has_health_check: bool = False
    slis: dict[str, Sli] = Field(default_factory=dict)
    thresholds: Thresholds = Field(default_factory=Thresholds)
    waits: Waits = Field(default_factory=Waits)
    mitigations: list[str] = Field(default_factory=list, description="inventory names")
    testing: TestingPolicy = Field(default_factory=TestingPolicy)
    diagnostics: DiagnosticsPolicy = Field(default_factory=DiagnosticsPolicy)
    safety: SafetyPolicy = Field(default_factory=SafetyPolicy)
    security: SecurityPolicy = Field(default_factory=SecurityPolicy)
    agent_lab: AgentLabPolicy = Field(default_factory=AgentLabPolicy)
    release: ReleasePolicy = Field(default_factory=ReleasePolicy)
    data_integrity: DataIntegrityPolicy = Field(default_factory=DataIntegrityPolicy)
    recurrence: RecurrencePolicy = Field(default_factory=RecurrencePolicy)


class ServicePolicyInput(BaseModel):
    service: str


# ---------------------------------------------------------------- ssh / service
class SshRunInput(BaseModel):
    """Run an argv on an inventory host. The argv is passed to the remote side quoted,
    one word per element; it never goes through a shell unless `use_shell` and the
    inventory command asked for it."""

    host: str = Field(description="inventory host name")
    argv: list[str] = Field(min_length=1)
    timeout_s: float = 60.0
    max_output_bytes: int = 64 * 1024


class CommandResult(BaseModel):
    host: str
    argv: list[str]
    exit_status: int
    stdout: str = ""
    stderr: str = ""
    truncated: bool = False
    duration_s: float = 0.0

    @property
    def ok(self) -> bool:
        return self.exit_status == 0


class CommandKind(StrEnum):
    """Inventory command slots of a service (plus the rollback steps derived from
    its repo / stable ref / config backup settings)."""

    STATUS = "status"
    START = "start"
    STOP = "stop"
    RESTART = "restart"
    HEALTH_CHECK = "health_check"
    TEST_SUITE = "test_suite"
    LOGS = "logs"  # crash evidence: journal / log tail
    ROLLBACK_FETCH = "rollback_fetch"
    ROLLBACK_RESET = "rollback_reset"
    ROLLBACK_CLEAN = "rollback_clean"
    ROLLBACK_RESTORE_CONFIG = "rollback_restore_config"
    # DataCorruption's off-host copies (the runbook's `aws s3 ...`): bring the backups into
    # data_integrity.backup_dir; send the evidence dir to safe keeping.
    BACKUP_SYNC = "backup_sync"
    EVIDENCE_UPLOAD = "evidence_upload"


class ServiceCommandInput(BaseModel):
    service: str
    command: CommandKind
    host: str | None = Field(default=None, description="default: the service's first host")
    idempotency_key: str | None = Field(
        default=None,
        description="set for side effects (workflow id + step): a retry with the same key "
        "returns the recorded result instead of running the command again",
    )


class ServiceCommandResult(BaseModel):
    service: str
    command: CommandKind
    result: CommandResult
    replayed: bool = Field(
        default=False, description="True when the idempotency key had already run on the target"
    )
    dry_run: bool = Field(
        default=False, description="the service is in dry-run: nothing ran, stdout says what would"
    )


# ---------------------------------------------------------------- prometheus
class PromQueryInput(BaseModel):
    query: str
    timeout_s: float = 10.0


class PromSample(BaseModel):
    labels: dict[str, str]
    value: float


class PromQueryResult(BaseModel):
    """`ok` with samples, `no_data` (query ran, nothing matched), `unreachable`
    (no answer) or `error` (Prometheus refused the query). Only `ok` carries numbers."""

    status: Literal["ok", "no_data", "unreachable", "error"]
    samples: list[PromSample] = Field(default_factory=list)
    detail: str = ""

    def scalar(self) -> float | None:
        return self.samples[0].value if self.status == "ok" and self.samples else None


# ---------------------------------------------------------------- http probe
class HttpProbeInput(BaseModel):
    """Probe a URL. Either a literal `url` (tests, inventory-derived) or a service's
    `health` / `health_detailed` URL resolved from the inventory."""

    url: str | None = None
    service: str | None = None
    target: Literal["health", "health_detailed"] = "health"
    method: Literal["GET", "POST"] = "GET"
    json_body: str | None = None
    expected_status: list[int] = Field(default_factory=lambda: [200])
    timeout_s: float = 10.0
    json_pointer: str | None = Field(
        default=None, description="RFC 6901 pointer into a JSON body, e.g. /circuit_breaker"
    )


class HttpProbeResult(BaseModel):
    url: str
    ok: bool
    status_code: int | None = None
    latency_s: float | None = None
    body_excerpt: str = ""
    error: str = ""
    json_value: str | None = Field(
        default=None, description="the value at json_pointer, JSON-encoded; None if absent"
    )


# ---------------------------------------------------------------- notifications
class SlackMessageInput(BaseModel):
    """The Agent Lab 'Incident Status Update' template, rendered as Block Kit."""

    incident_id: str
    title: str
    status: Literal["Active", "Investigating", "Resolved", "Escalated"]
    impact: str
    timeline: str
    actions_taken: str
    next_steps: str


PagerDutyAction = Literal["trigger", "acknowledge", "resolve"]


class PagerDutyInput(BaseModel):
    dedup_key: str = Field(description="the incident run's key (Incident.run_key)")
    action: PagerDutyAction
    summary: str = ""
    source: str = ""
    severity: Literal["critical", "error", "warning", "info"] = "critical"


class NotifyResult(BaseModel):
    channel: Literal["slack", "pagerduty"]
    delivered: bool
    skipped: bool = Field(default=False, description="channel not configured")
    detail: str = ""


# ---------------------------------------------------------------- records
class IncidentLogInput(BaseModel):
    service: str
    alertname: str
    action: str
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
EARLIER_INCIDENTS = "records.earlier_incidents"


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

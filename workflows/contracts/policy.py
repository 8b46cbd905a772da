"""ServicePolicy: everything a workflow may know of a service -- names, numbers, flags
and PromQL, never a URL, argv, path or secret -- and the inventory sections it derives
from where the two share their defaults (Agent Lab's `agent_lab:`, the phase budgets).

Two levels, on purpose (DESIGN principle 5): `AgentLabSpec` is the inventory section --
it holds URLs, argv lists and request bodies and stays worker side; `AgentLabPolicy` is
what enters workflow history inside ServicePolicy, derived by `AgentLabSpec.policy()`.
`PhaseBudgets` is the one table of every Agent Lab playbook's phase budgets (the end of
each phase counted from detection); the inventory may override any entry.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, field_validator, model_validator

from workflows import policies
from workflows.contracts.base import Activity, Strict
from workflows.contracts.communication import CommunicationPolicy
from workflows.contracts.datafiles import DataIntegrityPolicy
from workflows.contracts.diagnostics import DiagCommand, DiagnosticsPolicy
from workflows.contracts.http import (
    HttpRequestSpec,
    LoadProbeSpec,
    StreamingSpec,
    UpstreamStreamSpec,
)
from workflows.contracts.paging import PagingPolicy
from workflows.contracts.performance import AccessLogFormat, PerformanceTriage
from workflows.contracts.safety import SafetyPolicy
from workflows.contracts.security import SecurityPolicy
from workflows.contracts.service import MaintenanceSpec
from workflows.contracts.testsuite import TestingPolicy
from workflows.models import Phase

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


def network_checks(target: str) -> dict[str, DiagCommand]:
    """Streaming Failure "Network Connectivity", from the host: `ping -c 10 openrouter.ai`
    and `mtr -c 10 openrouter.ai` (`--report`: mtr draws a screen otherwise, and over SSH
    there is none)."""
    return {
        "ping": DiagCommand(argv=["ping", "-c", "10", target], timeout_s=60),
        "mtr": DiagCommand(argv=["mtr", "--report", "-c", "10", target], timeout_s=120),
    }


def _default_resources() -> dict[str, DiagCommand]:
    # The Application Down "Immediate Actions": top -b -n1 | head -20, df -h, free -h.
    return {
        "top": DiagCommand(argv=["top", "-b", "-n1"], head_lines=20),
        "disk": DiagCommand(argv=["df", "-h"]),
        "memory": DiagCommand(argv=["free", "-h"]),
    }


class PhaseBudgets(Strict):
    """Each playbook's phase budgets, as the end of the phase counted from detection (in
    seconds in YAML). Phase names are Remedy's: Detection = the seed's "Immediate
    Actions" / triage, Assessment = Investigation, Response = Containment,
    Verification = Recovery."""

    application_down: dict[Phase, timedelta] = Field(
        default_factory=lambda: {
            Phase.DETECTION: timedelta(minutes=2),  # Immediate Actions (0-2 minutes)
            Phase.ASSESSMENT: timedelta(minutes=10),  # Investigation (2-10 minutes)
            Phase.RESPONSE: timedelta(minutes=30),  # Containment (10-30 minutes)
            Phase.VERIFICATION: timedelta(minutes=60),  # Recovery (30-60 minutes)
        }
    )
    streaming_failure: dict[Phase, timedelta] = Field(
        default_factory=lambda: {
            Phase.DETECTION: timedelta(minutes=5),  # general process, Detection & Triage
            Phase.ASSESSMENT: timedelta(minutes=15),  # Investigation (5-15 minutes)
            Phase.RESPONSE: timedelta(minutes=30),  # Containment (15-30 minutes)
            Phase.VERIFICATION: timedelta(minutes=60),  # Recovery (30-60 minutes)
        }
    )
    performance_degradation: dict[Phase, timedelta] = Field(
        default_factory=lambda: {
            Phase.DETECTION: timedelta(minutes=5),
            Phase.ASSESSMENT: timedelta(minutes=15),  # Investigation (5-15 minutes)
            Phase.RESPONSE: timedelta(minutes=45),  # Containment (15-45 minutes)
            Phase.VERIFICATION: timedelta(minutes=120),  # Recovery (45-120 minutes)
        }
    )
    security_incident: dict[Phase, timedelta] = Field(
        default_factory=lambda: {
            Phase.DETECTION: timedelta(minutes=5),  # Immediate Actions (0-5 minutes)
            Phase.ASSESSMENT: timedelta(minutes=60),  # Investigation (5-60 minutes)
            Phase.RESPONSE: timedelta(minutes=120),  # Containment (60-120 minutes)
            Phase.VERIFICATION: timedelta(minutes=480),  # Recovery (120-480 minutes)
        }
    )

    high_error_rate: dict[Phase, timedelta] = Field(
        default_factory=lambda: {
            Phase.ASSESSMENT: timedelta(minutes=15),  # Investigation (5-15 minutes)
            Phase.RESPONSE: timedelta(minutes=45),  # Containment (15-45 minutes)
            Phase.VERIFICATION: timedelta(minutes=90),  # Recovery (45-90 minutes)
        }
    )
    deployment_failure: dict[Phase, timedelta] = Field(
        default_factory=lambda: {
            Phase.ASSESSMENT: timedelta(minutes=20),  # Investigation (5-20 minutes)
            Phase.RESPONSE: timedelta(minutes=40),  # Containment (20-40 minutes)
            Phase.VERIFICATION: timedelta(minutes=90),  # Recovery (40-90 minutes)
        }
    )

    @model_validator(mode="before")
    @classmethod
    def _merge_defaults(cls, data: Any) -> Any:
        # `{application_down: {Detection: 60}}` changes one phase, keeping the others.
        if not isinstance(data, dict):
            return data
        out = dict(data)
        for name, given in data.items():
            f = cls.model_fields.get(name)
            if f is not None and f.default_factory is not None and isinstance(given, dict):
                base = {k.value: v for k, v in f.default_factory().items()}  # type: ignore[call-arg]
                out[name] = base | given
        return out


class AgentLabSpec(Strict):
    """The inventory's `services.X.agent_lab:` section. Every part is optional; a check
    whose settings are missing is skipped (and says so in the timeline)."""

    resources: dict[str, DiagCommand] = Field(default_factory=_default_resources)
    error_pattern: str = "error"  # grep -i error LOG | tail -20
    error_lines: int = Field(default=20, ge=1, le=200)
    port: int | None = Field(default=None, ge=1, le=65535)
    port_check: DiagCommand = Field(default_factory=lambda: DiagCommand(argv=["ss", "-tln"]))
    upstream_url: str | None = Field(default=None, pattern=r"^https?://")
    # StreamingFailure "Check OpenRouter streaming endpoints": the upstream's streaming
    # request, and the NAME of the worker's environment variable (or NAME_FILE) holding
    # its Bearer key -- the key itself is read only inside the activity.
    upstream_stream: UpstreamStreamSpec | None = None
    upstream_api_key_env: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    data_files: list[str] = Field(default_factory=lambda: ["runs.csv"])  # head -5, in data_dir
    maintenance: MaintenanceSpec | None = None
    smoke: HttpRequestSpec | None = None
    streaming: StreamingSpec | None = None
    streaming_mitigation: str = "disable_streaming"  # a name under the service's mitigations
    stream_error_pattern: str = "stream|chunk|disconnect"
    # StreamingFailure "Network Connectivity" from the host: ping/mtr of this host name
    # (default: upstream_url's), or exactly the commands in `network` when set.
    network_target: str | None = Field(default=None, pattern=r"^[A-Za-z0-9.:-]+$")
    network: dict[str, DiagCommand] | None = None
    # StreamingFailure: retry the streaming probe this often until the Recovery budget ends.
    stream_retry_interval_s: float = Field(default=60.0, gt=0)
    load_probe: LoadProbeSpec = Field(default_factory=LoadProbeSpec)
    performance_mitigations: list[str] = Field(default_factory=lambda: ["throttle", "cache"])
    # PerformanceDegradation "Identify Bottlenecks": the access log's slow requests, and
    # the thresholds that decide throttle (load) and cache (repeated slow requests).
    access_log: AccessLogFormat | None = None
    performance: PerformanceTriage = Field(default_factory=PerformanceTriage)
    budgets: PhaseBudgets = Field(default_factory=PhaseBudgets)
    # High Error Rate's "Rollback (if recent deployment caused issues)": how recent. The
    # runbook names no window; 24 h is the Genesis runbook's `git log --since="24 hours
    # ago"` for the same question.
    recent_deploy_window_s: float = Field(default=24 * 3600.0, gt=0)
    # Application Down "Enable Maintenance Mode (if needed)": `still_down` (default) turns
    # it on only when the application is still down after the restart (before the
    # rollback, or the hand-over to a person); `before_restart` turns it on first.
    maintenance_when: Literal["still_down", "before_restart"] = "still_down"
    # Application Down "Monitor Post-Recovery" (`tail -f app.log`): the error grep every
    # this often, until the Recovery phase's budget (Recovery 30-60 minutes) ends.
    watch_interval_s: float = Field(default=300.0, gt=0)
    # Application Down "Scale Resources (if resource exhaustion)": the resource commands'
    # output shows exhaustion at a filesystem this full (`df`) or this little memory
    # available (`free`), in percent.
    disk_full_pct: float = Field(default=95.0, gt=0, le=100)
    memory_available_pct: float = Field(default=5.0, ge=0, lt=100)

    @model_validator(mode="after")
    def _default_network(self) -> AgentLabSpec:
        if self.network is None:
            target = self.network_target or (
                urlsplit(self.upstream_url).hostname if self.upstream_url else None
            )
            self.network = network_checks(target) if target else {}
        return self

    @field_validator("data_files")
    @classmethod
    def _relative(cls, v: list[str]) -> list[str]:
        for f in v:
            if f.startswith("/") or ".." in f.split("/"):
                raise ValueError(f"data file {f!r} must be relative to data_dir")
        return v

    def policy(
        self, *, has_logs: bool, has_data_dir: bool, has_health_url: bool, has_detailed: bool
    ) -> AgentLabPolicy:
        return AgentLabPolicy(
            resources=list(self.resources),
            network=list(self.network or {}),
            has_log_grep=has_logs,
            has_data_dir=has_data_dir,
            port=self.port,
            has_upstream=self.upstream_url is not None,
            has_maintenance=self.maintenance is not None,
            has_smoke=self.smoke is not None,
            has_health_detailed=has_detailed,
            has_streaming_probe=self.streaming is not None,
            has_upstream_stream=self.upstream_stream is not None,
            streaming_mitigation=self.streaming_mitigation,
            stream_retry_interval=timedelta(seconds=self.stream_retry_interval_s),
            has_load_probe=self.load_probe.url is not None or has_health_url,
            load_max_p95_s=self.load_probe.max_p95_s,
            load_max_error_ratio=self.load_probe.max_error_ratio,
            performance_mitigations=self.performance_mitigations,
            has_access_log=self.access_log is not None,
            performance=self.performance,
            budgets=self.budgets,
            recent_deploy_window=timedelta(seconds=self.recent_deploy_window_s),
            maintenance_when=self.maintenance_when,
            watch_interval=timedelta(seconds=self.watch_interval_s),
        )


# ---------------------------------------------------------------- what a workflow sees
class AgentLabPolicy(BaseModel):
    """Flags, names and numbers from the `agent_lab:` section: no URL, argv or body."""

    resources: list[str] = Field(default_factory=list)
    network: list[str] = Field(default_factory=list, description="network check names")
    has_log_grep: bool = False
    has_data_dir: bool = False
    port: int | None = None
    has_upstream: bool = False
    has_maintenance: bool = False
    has_smoke: bool = False
    has_health_detailed: bool = False
    has_streaming_probe: bool = False
    has_upstream_stream: bool = False
    streaming_mitigation: str = "disable_streaming"
    stream_retry_interval: timedelta = timedelta(seconds=60)
    has_load_probe: bool = False
    load_max_p95_s: float = 0.5
    load_max_error_ratio: float = 0.01
    performance_mitigations: list[str] = Field(default_factory=lambda: ["throttle", "cache"])
    has_access_log: bool = False
    performance: PerformanceTriage = Field(default_factory=PerformanceTriage)
    budgets: PhaseBudgets = Field(default_factory=PhaseBudgets)
    recent_deploy_window: timedelta = timedelta(hours=24)
    maintenance_when: Literal["still_down", "before_restart"] = "still_down"
    watch_interval: timedelta = timedelta(minutes=5)


# ---------------------------------------------------------------- what a workflow sees
class ReleasePolicy(BaseModel):
    """Flags derived from the service's `ci_rollback`, `upstream_probe_url`,
    `source_repo`, `import_check` and `smoke_test` inventory fields: no URL, no argv."""

    has_ci_rollback: bool = False  # roll back by CI workflow dispatch (preferred over git)
    has_upstream_probe: bool = False
    has_source_repo: bool = False  # a checkout on the host to read `git log` from
    has_smoke_test: bool = False
    # `ci_rollback.deploy_workflow`: Deployment Failure reads its failed run and disables it.
    has_ci_deploy_workflow: bool = False
    ci_poll_interval: timedelta = timedelta(seconds=30)  # the dispatched run, until it ends


# ---------------------------------------------------------------- the whole policy
class ServicePolicy(BaseModel):
    """What a workflow may know about a service: names, numbers, SLIs. No addresses, no keys."""

    service: str
    hosts: list[str]
    severity_default: str = "P1"
    # alertname -> P0..P4 over the runbook's severity (workflows/severity.py).
    severity_overrides: dict[str, str] = Field(default_factory=dict)
    # Who is paged when, and who next (workflows/contracts/paging.py, steps/paging.py).
    paging: PagingPolicy = Field(default_factory=PagingPolicy)
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
    # Slack channel per purpose, status page, issue link (contracts/communication.py).
    communication: CommunicationPolicy = Field(default_factory=CommunicationPolicy)


class ServicePolicyInput(BaseModel):
    service: str


# ---------------------------------------------------------------- activities
SERVICE_POLICY = Activity(
    "inventory.service_policy", ServicePolicyInput, ServicePolicy, policies.LOCAL_CONFIG
)

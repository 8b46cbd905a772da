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

from pydantic import BaseModel, Field, field_validator, model_validator

from workflows import policies
from workflows.contracts.base import Activity, Strict
from workflows.contracts.datafiles import DataIntegrityPolicy
from workflows.contracts.diagnostics import DiagCommand, DiagnosticsPolicy
from workflows.contracts.http import HttpRequestSpec, LoadProbeSpec, StreamingSpec
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
    data_files: list[str] = Field(default_factory=lambda: ["runs.csv"])  # head -5, in data_dir
    maintenance: MaintenanceSpec | None = None
    smoke: HttpRequestSpec | None = None
    streaming: StreamingSpec | None = None
    streaming_mitigation: str = "disable_streaming"  # a name under the service's mitigations
    stream_error_pattern: str = "stream|chunk|disconnect"
    # StreamingFailure: retry the streaming probe this often until the Recovery budget ends.
    stream_retry_interval_s: float = Field(default=60.0, gt=0)
    load_probe: LoadProbeSpec = Field(default_factory=LoadProbeSpec)
    performance_mitigations: list[str] = Field(default_factory=lambda: ["throttle", "cache"])
    budgets: PhaseBudgets = Field(default_factory=PhaseBudgets)

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
            has_log_grep=has_logs,
            has_data_dir=has_data_dir,
            port=self.port,
            has_upstream=self.upstream_url is not None,
            has_maintenance=self.maintenance is not None,
            has_smoke=self.smoke is not None,
            has_health_detailed=has_detailed,
            has_streaming_probe=self.streaming is not None,
            streaming_mitigation=self.streaming_mitigation,
            stream_retry_interval=timedelta(seconds=self.stream_retry_interval_s),
            has_load_probe=self.load_probe.url is not None or has_health_url,
            load_max_p95_s=self.load_probe.max_p95_s,
            load_max_error_ratio=self.load_probe.max_error_ratio,
            performance_mitigations=self.performance_mitigations,
            budgets=self.budgets,
        )


# ---------------------------------------------------------------- what a workflow sees
class AgentLabPolicy(BaseModel):
    """Flags, names and numbers from the `agent_lab:` section: no URL, argv or body."""

    resources: list[str] = Field(default_factory=list)
    has_log_grep: bool = False
    has_data_dir: bool = False
    port: int | None = None
    has_upstream: bool = False
    has_maintenance: bool = False
    has_smoke: bool = False
    has_health_detailed: bool = False
    has_streaming_probe: bool = False
    streaming_mitigation: str = "disable_streaming"
    stream_retry_interval: timedelta = timedelta(seconds=60)
    has_load_probe: bool = False
    load_max_p95_s: float = 0.5
    load_max_error_ratio: float = 0.01
    performance_mitigations: list[str] = Field(default_factory=lambda: ["throttle", "cache"])
    budgets: PhaseBudgets = Field(default_factory=PhaseBudgets)


# ---------------------------------------------------------------- what a workflow sees
class ReleasePolicy(BaseModel):
    """Flags derived from the service's `ci_rollback`, `upstream_probe_url`,
    `source_repo`, `import_check` and `smoke_test` inventory fields: no URL, no argv."""

    has_ci_rollback: bool = False  # roll back by CI workflow dispatch (preferred over git)
    has_upstream_probe: bool = False
    has_source_repo: bool = False  # a checkout on the host to read `git log` from
    has_smoke_test: bool = False


# ---------------------------------------------------------------- the whole policy
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


# ---------------------------------------------------------------- activities
SERVICE_POLICY = Activity(
    "inventory.service_policy", ServicePolicyInput, ServicePolicy, policies.LOCAL_CONFIG
)

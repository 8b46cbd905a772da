"""Typed contracts for the Agent Lab playbooks (ApplicationDown, StreamingFailure,
PerformanceDegradation): activity names, inputs/results, the inventory's `agent_lab:`
section and the names-and-numbers part of it a workflow may see.

Two levels, on purpose (DESIGN principle 5): `AgentLabSpec` is the inventory section --
it holds URLs, argv lists and request bodies and stays worker side; `AgentLabPolicy` is
what enters workflow history inside ServicePolicy -- flags, names and numbers only,
derived by `AgentLabSpec.policy()`. Activities get a service *name* and a check *kind*
and resolve the rest from the inventory, so an alert label never shapes a request.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from workflows.models import Phase

AGENTLAB_DIAGNOSE = "agentlab.diagnose"
AGENTLAB_MAINTENANCE = "agentlab.maintenance"
AGENTLAB_SMOKE = "agentlab.smoke"
AGENTLAB_UPSTREAM = "agentlab.upstream"
AGENTLAB_STREAM_PROBE = "agentlab.stream_probe"
AGENTLAB_LOAD_PROBE = "agentlab.load_probe"

# What a diagnostic result may carry into history: the runbook's `| head -20` /
# `| tail -20` are line bounds; this is the byte bound on top of them.
MAX_OUTPUT_CHARS = 2000
# Hard caps on the load probe, whatever the inventory says: it is a check, not a
# load test rig, and must never become a way to flood a service.
LOAD_MAX_REQUESTS = 10_000
LOAD_MAX_CONCURRENCY = 50
LOAD_MAX_DURATION_S = 300.0


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ---------------------------------------------------------------- inventory (worker side)
class DiagCommand(_Strict):
    """A read-only diagnostic argv (no shell). `head_lines` is the runbook's `| head -20`,
    applied worker side so no pipe -- and no shell -- is needed."""

    argv: list[str] = Field(min_length=1)
    timeout_s: float = Field(default=30.0, gt=0)
    head_lines: int | None = Field(default=None, ge=1)

    @model_validator(mode="before")
    @classmethod
    def _from_list(cls, data: Any) -> Any:
        return {"argv": data} if isinstance(data, list) else data


def _default_resources() -> dict[str, DiagCommand]:
    # The Application Down "Immediate Actions": top -b -n1 | head -20, df -h, free -h.
    return {
        "top": DiagCommand(argv=["top", "-b", "-n1"], head_lines=20),
        "disk": DiagCommand(argv=["df", "-h"]),
        "memory": DiagCommand(argv=["free", "-h"]),
    }


class MaintenanceSpec(_Strict):
    """Maintenance mode as two inventory commands (`cp maintenance.html index.html` and
    back). Named enable/disable: YAML 1.1 reads a bare `on:` key as the boolean true."""

    enable: DiagCommand
    disable: DiagCommand


class HttpRequestSpec(_Strict):
    """One configured request: the core-functionality smoke request or the streaming
    test endpoint. Never carries credentials: no header field exists to put them in."""

    url: str = Field(pattern=r"^https?://")
    method: Literal["GET", "POST"] = "GET"
    json_body: dict[str, Any] | None = Field(default=None, alias="json")
    expected_status: list[int] = Field(default_factory=lambda: [200])
    timeout_s: float = Field(default=30.0, gt=0, le=300)

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class StreamingSpec(HttpRequestSpec):
    max_bytes: int = Field(default=64 * 1024, ge=1, le=1024 * 1024)
    min_chunks: int = Field(default=1, ge=1)
    done_marker: str | None = None  # e.g. "[DONE]" for SSE: the stream must end with it


class LoadProbeSpec(_Strict):
    """The runbook's `ab -n 1000 -c 10 .../health`, bounded. Default target: health_url."""

    url: str | None = Field(default=None, pattern=r"^https?://")
    requests: int = Field(default=1000, ge=1, le=LOAD_MAX_REQUESTS)
    concurrency: int = Field(default=10, ge=1, le=LOAD_MAX_CONCURRENCY)
    max_duration_s: float = Field(default=60.0, gt=0, le=LOAD_MAX_DURATION_S)
    request_timeout_s: float = Field(default=10.0, gt=0, le=60)
    max_p95_s: float = Field(default=0.5, gt=0)  # the probe passes at or under this p95
    max_error_ratio: float = Field(default=0.01, ge=0, le=1)  # ... and this share of errors


class PhaseBudgets(_Strict):
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


class AgentLabSpec(_Strict):
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


# ---------------------------------------------------------------- host diagnostics (SSH)
DiagnosticKind = Literal["resource", "log_errors", "stream_errors", "data_dir", "port"]


class DiagnoseInput(BaseModel):
    service: str
    kind: DiagnosticKind
    name: str = Field(default="", description="resource: the inventory resource command name")


class DiagnoseResult(BaseModel):
    kind: DiagnosticKind
    name: str = ""
    ok: bool = Field(description="the check ran and found nothing wrong")
    lines: int = Field(default=0, description="matching lines / output lines seen")
    output: str = Field(default="", description=f"bounded, redacted, <= {MAX_OUTPUT_CHARS} chars")
    truncated: bool = False
    detail: str = ""
    listening: bool | None = Field(default=None, description="port: is anything listening")


class MaintenanceInput(BaseModel):
    service: str
    mode: Literal["enable", "disable"]
    idempotency_key: str


class MaintenanceResult(BaseModel):
    mode: Literal["enable", "disable"]
    ok: bool
    exit_status: int
    replayed: bool = False
    dry_run: bool = False
    detail: str = ""


# ---------------------------------------------------------------- HTTP probes
class AgentLabProbeInput(BaseModel):
    service: str


class SmokeResult(BaseModel):
    """The smoke request or the upstream reachability check."""

    ok: bool
    url: str
    status_code: int | None = None
    latency_s: float | None = None
    error: str = ""


class StreamProbeResult(BaseModel):
    ok: bool
    url: str
    status_code: int | None = None
    chunks: int = 0
    bytes: int = 0
    first_byte_s: float | None = None
    duration_s: float = 0.0
    completed: bool = Field(default=False, description="the stream ended normally")
    capped: bool = Field(default=False, description="stopped reading at max_bytes")
    error: str = ""


class LoadProbeInput(BaseModel):
    service: str
    url: str | None = Field(
        default=None, description="override the target (checked like the inventory's)"
    )


class LoadProbeResult(BaseModel):
    url: str
    requested: int
    completed: int
    errors: int
    p50_s: float | None = None
    p95_s: float | None = None
    max_s: float | None = None
    duration_s: float
    capped: bool = Field(description="the time cap stopped it before all requests ran")
    status_counts: dict[str, int] = Field(default_factory=dict)
    ok: bool = Field(description="p95 and error ratio within the inventory's bounds")
    detail: str = ""
    dry_run: bool = Field(default=False, description="dry-run: no request was sent")

"""Read-only host checks over SSH: resource snapshots, log greps, error groups, recent
changes (`git log`), and the per-service diagnostics settings of the SLI playbooks.
Outputs are bounded (the runbooks' `| head -20`) before they enter history.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator

from workflows import policies
from workflows.contracts.base import Activity, Strict

# Bounds on lists crossing into history: a 2000-test regression must not bloat it.
MAX_IDS = 100


MAX_LINES = 30


class ComponentLatency(Strict):
    query: str  # PromQL, seconds
    baseline_s: float
    mitigation: str | None = None  # inventory mitigation name for "this component is slow"
    # /health JSON pointer saying the component's optimizations are on (HALO).
    optimized_pointer: str | None = None


def _rate(metric: str) -> str:
    return f"rate({metric}_sum[5m]) / rate({metric}_count[5m])"


class DiagnosticsPolicy(Strict):
    """Prometheus queries, baselines and thresholds the SLI playbooks diagnose with."""

    error_categories_query: str = "sum by (category) (increase(genesis_errors_total[5m]))"
    error_category_label: str = "category"
    # Ordered: first matching pattern names the category (Prometheus label or log line).
    error_patterns: dict[str, str] = Field(
        default_factory=lambda: {
            "llm": r"(?i)\bllm\b|rate.?limit|openai|anthropic",
            "network": r"(?i)network|connection|dns|unreachable",
            "resource": r"(?i)resource|memory|\boom\b|cpu exhaust",
            "validation": r"(?i)validation|\baop\b",
            "decomposition": r"(?i)decomposition|htdag",
            "routing": r"(?i)routing|halo",
            "security": r"(?i)security|auth|blocked",
        }
    )
    memory_query: str = "1 - node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes"
    memory_restart_threshold: float = 0.90  # HighErrorRate C: "if memory > 90 %, restart"
    cpu_query: str = '1 - avg(rate(node_cpu_seconds_total{mode="idle"}[5m]))'
    cpu_threshold: float = 0.80  # HighLatencyP95 C: "if CPU > 80 %"
    disk_io_query: str = "max(rate(node_disk_io_time_seconds_total[5m]))"
    disk_io_threshold: float = 0.80  # fraction of time the busiest disk is busy
    components: dict[str, ComponentLatency] = Field(
        default_factory=lambda: {
            "decomposition": ComponentLatency(
                query=_rate("genesis_htdag_decomposition_duration_seconds"),
                baseline_s=0.110,
                mitigation="htdag_cache",
            ),
            "routing": ComponentLatency(
                query=_rate("genesis_halo_routing_duration_seconds"),
                baseline_s=0.110,
                mitigation="halo_perf",
                optimized_pointer="/halo_optimizations",
            ),
            "validation": ComponentLatency(
                query=_rate("genesis_aop_validation_duration_seconds"), baseline_s=0.050
            ),
        }
    )
    slow_factor: float = 1.5  # a component is "slow" above baseline x this
    circuit_breaker_pointer: str = "/circuit_breaker"
    # HighErrorRate B: `curl -I https://api.anthropic.com`, probed from the worker.
    connectivity_urls: list[str] = Field(
        default_factory=lambda: ["https://api.openai.com", "https://api.anthropic.com"]
    )
    # Scenario -> inventory mitigation name (the runbook's config files).
    mitigation_for: dict[str, str] = Field(
        default_factory=lambda: {
            "llm": "llm_fallback",
            "validation": "aop_relaxed",
            "cpu": "concurrency",
            "disk_io": "logging_verbosity",
            "memory": "python_malloc",  # HighLatencyP95 C: PYTHONMALLOC=malloc, restart
        }
    )
    # HighErrorRate A "Check LLM client metrics": genesis_llm_errors_total by its labels.
    llm_errors_query: str = "sum by (type, provider) (increase(genesis_llm_errors_total[5m]))"
    # HighLatencyP95 C: "if memory > 80 %, enable aggressive garbage collection".
    memory_gc_threshold: float = 0.80
    # Checks run ON the service's host over SSH (the runbook's shell lines as argv, no
    # shell; head_lines is its `| head -10`). Written here, so the allowlist admits them.
    host_checks: GenesisHostChecks = Field(default_factory=lambda: GenesisHostChecks())


# ---------------------------------------------------------------- logs
class LogErrorsInput(BaseModel):
    service: str
    patterns: dict[str, str]
    max_lines: int = MAX_LINES


class LogErrorsResult(BaseModel):
    error_lines: int
    categories: dict[str, int] = Field(default_factory=dict)
    last: list[str] = Field(default_factory=list, description="last ERROR lines, clipped")


# What a diagnostic result may carry into history: the runbook's `| head -20` /
# `| tail -20` are line bounds; this is the byte bound on top of them.
MAX_OUTPUT_CHARS = 2000


# ---------------------------------------------------------------- inventory (worker side)
class DiagCommand(Strict):
    """A read-only diagnostic argv (no shell). `head_lines` is the runbook's `| head -20`,
    applied worker side so no pipe -- and no shell -- is needed."""

    argv: list[str] = Field(min_length=1)
    timeout_s: float = Field(default=30.0, gt=0)
    head_lines: int | None = Field(default=None, ge=1)

    @model_validator(mode="before")
    @classmethod
    def _from_list(cls, data: Any) -> Any:
        return {"argv": data} if isinstance(data, list) else data


# ---------------------------------------------------------------- Genesis host checks (SSH)
def _checks(**argvs: list[str]) -> dict[str, DiagCommand]:
    return {k.replace("_", " "): DiagCommand(argv=v) for k, v in argvs.items()}


class GenesisHostChecks(Strict):
    """The Genesis SLI runbooks' shell lines, run on the service's host (not the worker),
    by name. Defaults are the runbook's lines; an inventory overrides them per service."""

    # HighErrorRate B: `ping -c 5 api.openai.com`, `curl -I https://api.anthropic.com`,
    # `nslookup api.openai.com`; any exit 0 = reachable / resolved.
    connectivity: dict[str, DiagCommand] = Field(
        default_factory=lambda: _checks(
            ping=["ping", "-c", "5", "api.openai.com"],
            curl=["curl", "-sS", "-I", "--max-time", "10", "https://api.anthropic.com"],
            nslookup=["nslookup", "api.openai.com"],
        )
    )
    # HighErrorRate C "Identify resource hog": `ps aux --sort=-%mem | head -10`, -%cpu.
    resource_hogs: dict[str, DiagCommand] = Field(
        default_factory=lambda: {
            f"top {k}": DiagCommand(argv=["ps", "aux", f"--sort=-%{k}"], head_lines=10)
            for k in ("mem", "cpu")
        }
    )
    # HighLatencyP95 A "Check LLM API latency": curl's time_total in seconds on the last
    # output line (the runbook's `-w "@curl-format.txt"`); exit 28 = curl's timeout.
    llm_latency: DiagCommand | None = Field(
        default_factory=lambda: DiagCommand(
            argv=[
                *"curl -o /dev/null -sS --max-time 10 -w".split(),
                "%{time_total}\n",
                "https://api.openai.com/v1/chat/completions",
            ],
        )
    )
    llm_slow_s: float = Field(default=1.0, gt=0)  # "LLM slow": the runbook gives no number
    # HighErrorRate D: `grep "AOP" LOG | tail -50` on the service's first log file, then
    # "Identify validation issue": its lines counted per issue (first pattern that matches).
    validation_log_pattern: str = "AOP"
    validation_log_lines: int = Field(default=50, ge=1, le=1000)
    validation_issues: dict[str, str] = Field(
        default_factory=lambda: {
            "solvability": r"(?i)solvab",
            "completeness": r"(?i)complete",
            "redundancy": r"(?i)redundan",
        }
    )


DiagnosticsPolicy.model_rebuild()  # its host_checks field is defined just above

HostCheckKind = Literal["connectivity", "resource_hog", "llm_latency", "validation_log"]


class HostCheckInput(BaseModel):
    service: str
    kind: HostCheckKind
    name: str = Field(default="", description="connectivity / resource_hog: the check's name")


class HostCheckResult(BaseModel):
    kind: HostCheckKind
    name: str = ""
    host: str
    ok: bool = Field(description="exit 0")
    exit_status: int
    output: str = Field(default="", description=f"bounded, redacted, <= {MAX_OUTPUT_CHARS} chars")
    truncated: bool = False
    lines: int = 0
    counts: dict[str, int] = Field(default_factory=dict, description="validation_log: per issue")
    seconds: float | None = Field(default=None, description="llm_latency: curl's time_total")


# ---------------------------------------------------------------- host diagnostics (SSH)
DiagnosticKind = Literal["resource", "log_errors", "stream_errors", "data_dir", "port", "network"]


class DiagnoseInput(BaseModel):
    service: str
    kind: DiagnosticKind
    name: str = Field(default="", description="resource / network: the inventory command's name")


class DiagnoseResult(BaseModel):
    kind: DiagnosticKind
    name: str = ""
    ok: bool = Field(description="the check ran and found nothing wrong")
    lines: int = Field(default=0, description="matching lines / output lines seen")
    output: str = Field(default="", description=f"bounded, redacted, <= {MAX_OUTPUT_CHARS} chars")
    truncated: bool = False
    detail: str = ""
    listening: bool | None = Field(default=None, description="port: is anything listening")
    exhausted: str | None = Field(
        default=None,
        description="resource: what the output shows exhausted (a full disk, memory all "
        "but used up), read against the agent_lab thresholds; None: nothing",
    )


# The runbook's numbers. "top N" error groups into the timeline; `for i in {1..5}` upstream
# probes; `git log --oneline -10` (High Error Rate) and `-5` (Deployment Failure).
TOP_ERROR_GROUPS = 10


RECENT_COMMITS_ERRORS = 10


RECENT_COMMITS_DEPLOY = 5


_LINE_MAX = 200


# ---------------------------------------------------------------- error groups
class ErrorGroupsInput(BaseModel):
    service: str
    top: int = Field(default=TOP_ERROR_GROUPS, ge=1, le=50)


class ErrorGroup(BaseModel):
    count: int
    message: str = Field(max_length=_LINE_MAX + 1)


class ErrorGroupsResult(BaseModel):
    log_file: str
    error_lines: int
    groups: list[ErrorGroup] = Field(default_factory=list, description="most frequent first")


# ---------------------------------------------------------------- recent changes
class RecentChangesInput(BaseModel):
    service: str
    count: int = Field(default=RECENT_COMMITS_ERRORS, ge=1, le=50)


class RecentChangesResult(BaseModel):
    repo: str
    commits: list[str] = Field(description="`git log --oneline` lines, newest first")
    committed_at: list[datetime] = Field(
        default_factory=list, description="each commit's committer time, as `commits`"
    )


def clip(line: str) -> str:
    return line if len(line) <= _LINE_MAX else line[:_LINE_MAX] + "…"


# ---------------------------------------------------------------- activities
LOG_ERRORS = Activity(
    "diagnostics.log_errors", LogErrorsInput, LogErrorsResult, policies.DIAGNOSTIC
)
AGENTLAB_DIAGNOSE = Activity(
    "agentlab.diagnose", DiagnoseInput, DiagnoseResult, policies.DIAGNOSTIC
)
ERROR_GROUPS = Activity(
    "agentlab.error_groups", ErrorGroupsInput, ErrorGroupsResult, policies.DIAGNOSTIC
)
RECENT_CHANGES = Activity(
    "agentlab.recent_changes", RecentChangesInput, RecentChangesResult, policies.DIAGNOSTIC
)
HOST_CHECK = Activity(
    "diagnostics.host_check", HostCheckInput, HostCheckResult, policies.DIAGNOSTIC
)


# ---------------------------------------------------------------- crash evidence
# GenesisServiceDown "Identify Crash Reason": the runbook's five reasons, in the order a
# match wins (the most specific first: an OOM kill or a segfault usually leaves a
# traceback-free trail, while a missing module *is* an exception).
CrashReason = Literal[
    "oom_killer",
    "segmentation_fault",
    "dependency_missing",
    "configuration_error",
    "unhandled_exception",
    "unknown",
]
CRASH_REASON_TEXT: dict[str, str] = {
    "oom_killer": "out of memory (OOM killer)",
    "segmentation_fault": "segmentation fault",
    "dependency_missing": "dependency missing",
    "configuration_error": "configuration error",
    "unhandled_exception": "unhandled exception",
    "unknown": "unknown, see crash dump",
}


class CrashEvidenceInput(BaseModel):
    service: str
    # `crash_<stamp>` under the inventory's crash_dump.dir: the workflow passes its
    # detection time (%Y%m%d_%H%M%S), so a retried activity writes the same directory
    # instead of a second one.
    stamp: str = Field(pattern=r"^[0-9]{8}_[0-9]{6}$")


class CrashSource(BaseModel):
    name: str = Field(description="file name in the dump dir, e.g. service.log")
    ok: bool
    lines: int = 0
    detail: str = ""


class CrashEvidenceResult(BaseModel):
    reason: CrashReason
    evidence: str = Field(default="", description="the matching line, clipped and redacted")
    dump_dir: str | None = Field(default=None, description="host:path; None when none kept")
    dry_run: bool = False
    sources: list[CrashSource] = Field(default_factory=list)
    detail: str = ""

    @property
    def reason_text(self) -> str:
        return CRASH_REASON_TEXT[self.reason]


CRASH_EVIDENCE = Activity(
    "diagnostics.crash_evidence", CrashEvidenceInput, CrashEvidenceResult, policies.SIDE_EFFECT
)

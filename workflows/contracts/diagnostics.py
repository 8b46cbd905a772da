"""Read-only host checks over SSH: resource snapshots, log greps, error groups, recent
changes (`git log`), and the per-service diagnostics settings of the SLI playbooks.
Outputs are bounded (the runbooks' `| head -20`) before they enter history.
"""

from __future__ import annotations

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
        }
    )


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

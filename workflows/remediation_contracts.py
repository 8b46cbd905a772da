"""Typed contracts for the SLI playbooks (TestPassRateLow, HighErrorRate, HighLatencyP95)
and post-incident: activity names, inputs/results, and the per-service diagnostics,
testing and mitigation settings.

A separate module from workflows/contracts.py only to keep modules small; contracts.py
re-exports the activity names so the worker's registration check covers them.

The *Policy models are both the inventory's YAML sections (strict: unknown keys are
errors) and what a workflow receives in its ServicePolicy, so a default from the runbook
is written once. They hold names, numbers, PromQL and regexes -- never a secret.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

TESTSUITE_RUN = "testsuite.run"
TESTSUITE_CHECK = "testsuite.check"
MITIGATION_APPLY = "mitigation.apply"
MITIGATION_RESTORE = "mitigation.restore"
LOG_ERRORS = "diagnostics.log_errors"
POSTMORTEM_WRITE = "records.postmortem"

# Bounds on lists crossing into history: a 2000-test regression must not bloat it.
MAX_IDS = 100
MAX_LINES = 30


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ---------------------------------------------------------------- settings (inventory)
class TestingPolicy(_Strict):
    """TestPassRateLow: how to run and read the service's test suite (its `test_suite`
    command) and how to sort failures into the runbook's groups."""

    __test__ = False  # not a pytest test class, whatever its name

    # Regexes matched against the test file first, then the whole node id; first hit wins.
    categories: dict[str, list[str]] = Field(
        default_factory=lambda: {
            "infrastructure": [r"test_htdag", r"test_halo", r"test_aop"],
            "agent": [r"test_darwin", r"test_reflection"],
            "integration": [r"test_orchestration"],
            "performance": [r"test_performance"],
        }
    )
    infrastructure_failure_threshold: int = 5  # Scenario A: "> 5 failures"
    known_intermittent: list[str] = Field(
        default_factory=lambda: [
            "tests/test_performance.py::test_halo_routing_performance_large_dag"
        ]
    )
    # Scenario B: `python3 -m pytest <node id> -v`, in the test_suite command's cwd.
    isolate_argv: list[str] = Field(default_factory=lambda: ["python3", "-m", "pytest", "-v"])
    run_log: str = "logs/incident_test_run.log"  # `| tee logs/incident_test_run.log`
    baseline_log: str | None = "logs/deployment_baseline_tests.log"
    # Scenario A checks; unset = skipped (they are specific to a code base).
    import_check: list[str] | None = None
    dependency_list: list[str] = Field(default_factory=lambda: ["python3", "-m", "pip", "list"])
    required_packages: list[str] = Field(default_factory=list)


class ComponentLatency(_Strict):
    query: str  # PromQL, seconds
    baseline_s: float
    mitigation: str | None = None  # inventory mitigation name for "this component is slow"
    # /health JSON pointer saying the component's optimizations are on (HALO).
    optimized_pointer: str | None = None


def _rate(metric: str) -> str:
    return f"rate({metric}_sum[5m]) / rate({metric}_count[5m])"


class DiagnosticsPolicy(_Strict):
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


class TextReplace(_Strict):
    old: str = Field(min_length=1)
    new: str


class MitigationSpec(_Strict):
    """A named config change: write `content` to `path`, or replace text in it (the
    runbook's `sed -i 's/level=DEBUG/level=INFO/'`, literal, no regex). A relative path
    is relative to the service's rollback repo, else the login home."""

    path: str = Field(min_length=1)
    content: str | None = None
    replace: TextReplace | None = None
    restart: bool = True
    description: str = ""

    @model_validator(mode="after")
    def _one_change(self) -> MitigationSpec:
        if (self.content is None) == (self.replace is None):
            raise ValueError("a mitigation has exactly one of `content` or `replace`")
        return self


# ---------------------------------------------------------------- test suite
class TestRunInput(BaseModel):
    __test__ = False  # not a pytest test class, whatever its name
    service: str
    incident_id: str
    # Run only these node ids (Scenario B isolation). The workflow takes them from the
    # policy's known_intermittent list, never from an alert.
    node_ids: list[str] = Field(default_factory=list)


class TestRunResult(BaseModel):
    __test__ = False  # not a pytest test class, whatever its name
    exit_status: int
    passed: int = 0
    failed: int = 0
    errors: int = 0
    skipped: int = 0
    xfailed: int = 0
    xpassed: int = 0
    pass_rate: float | None = Field(default=None, description="passed/(passed+failed+errors)")
    failing: list[str] = Field(default_factory=list, description=f"first {MAX_IDS} ids")
    failing_total: int = 0
    categories: dict[str, int] = Field(default_factory=dict, description="failures per group")
    new_failures: list[str] | None = Field(
        default=None, description="failing now, not failing in the baseline; None: no baseline"
    )
    summary: str = ""
    log_path: str = ""


class CheckInput(BaseModel):
    service: str
    check: str = Field(pattern="^(imports|dependencies)$")


class CheckResult(BaseModel):
    ok: bool
    skipped: bool = False
    detail: str = ""


# ---------------------------------------------------------------- logs
class LogErrorsInput(BaseModel):
    service: str
    patterns: dict[str, str]
    max_lines: int = MAX_LINES


class LogErrorsResult(BaseModel):
    error_lines: int
    categories: dict[str, int] = Field(default_factory=dict)
    last: list[str] = Field(default_factory=list, description="last ERROR lines, clipped")


# ---------------------------------------------------------------- mitigations
class MitigationInput(BaseModel):
    service: str
    name: str = Field(description="inventory mitigation name, chosen by the playbook")
    incident_id: str


class MitigationResult(BaseModel):
    name: str
    path: str
    changed: bool
    restart: bool
    replayed: bool = False
    backup: str = ""
    detail: str = ""
    dry_run: bool = False  # the service is in dry-run: nothing was written, no backup


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

"""The test suite: run it (pass rate from pytest's summary), check one failing test, and
the per-service testing settings.
"""

from __future__ import annotations

import re
from datetime import timedelta

from pydantic import BaseModel, Field, field_validator

from workflows import policies
from workflows.contracts.base import Activity, Strict
from workflows.contracts.diagnostics import MAX_IDS, DiagCommand


# ---------------------------------------------------------------- settings (inventory)
class TestingPolicy(Strict):
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
    # Diagnosis 4, "Check for Common Patterns": `./scripts/health_check.sh`, and Scenario
    # A's `git log --oneline --since="24 hours ago" infrastructure/`, read-only, run in
    # the test_suite command's cwd (the runbook's `cd`); null = skipped. Allowlisted as
    # written (activities/ssh_policy.py reads every command of the service's entry).
    health_check: DiagCommand | None = Field(
        default_factory=lambda: DiagCommand(
            argv=["./scripts/health_check.sh"], timeout_s=120, head_lines=20
        )
    )
    recent_changes: DiagCommand | None = Field(
        default_factory=lambda: DiagCommand(
            argv=["git", "log", "--oneline", "--since=24 hours ago", "--", "infrastructure/"],
            head_lines=30,
        )
    )
    # "Common patterns": each failure's first `E   ` traceback line (--tb=short) matched
    # against these regexes, first hit wins; no hit is `other`.
    failure_patterns: dict[str, list[str]] = Field(
        default_factory=lambda: {
            "import error": [r"ImportError", r"ModuleNotFoundError"],
            "timeout": [r"Timeout", r"TimeoutError", r"timed out"],
            "connection error": [r"ConnectionError", r"Connection(Refused|Reset|Aborted)"],
            "assertion failure": [r"AssertionError", r"^assert\b"],
        }
    )
    # Mitigation "Short-term: disable non-critical failing tests" (xfail): the groups
    # of `categories` that are non-critical (the runbook's P4 performance test).
    non_critical: list[str] = Field(default_factory=lambda: ["performance"])
    # Verification re-runs the whole suite; after a failed attempt, the next one this
    # much later (the runbook sets no cadence; a whole suite run is heavy).
    retest_interval: timedelta = timedelta(minutes=5)

    @field_validator("failure_patterns")
    @classmethod
    def _patterns_compile(cls, v: dict[str, list[str]]) -> dict[str, list[str]]:
        for kind, patterns in v.items():
            for p in patterns:
                try:
                    re.compile(p)
                except re.error as err:
                    raise ValueError(
                        f"failure_patterns.{kind}: invalid regex {p!r}: {err}"
                    ) from None
        return v


# ---------------------------------------------------------------- test suite
class TestRunInput(BaseModel):
    __test__ = False  # not a pytest test class, whatever its name
    service: str
    incident_id: str
    # Run only these node ids (Scenario B isolation). The workflow takes them from the
    # policy's known_intermittent list, never from an alert.
    node_ids: list[str] = Field(default_factory=list)
    # A Verification re-run: its own log (`<run_log>.verify`: the incident's diagnosis
    # log stays as it was), no baseline comparison.
    verification: bool = False


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
    # Failures per kind (TestingPolicy.failure_patterns), from the tracebacks.
    patterns: dict[str, int] = Field(default_factory=dict)
    # Failing ids in the non-critical groups (TestingPolicy.non_critical).
    non_critical_failing: list[str] = Field(default_factory=list)


class CheckInput(BaseModel):
    service: str
    check: str = Field(pattern="^(imports|dependencies|health_check|recent_changes)$")


class CheckResult(BaseModel):
    ok: bool
    skipped: bool = False
    detail: str = ""
    output: list[str] = Field(default_factory=list, description="health_check, recent_changes")


# ---------------------------------------------------------------- activities
TESTSUITE_RUN = Activity("testsuite.run", TestRunInput, TestRunResult, policies.TEST_SUITE)
TESTSUITE_CHECK = Activity("testsuite.check", CheckInput, CheckResult, policies.DIAGNOSTIC)

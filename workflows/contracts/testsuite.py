"""The test suite: run it (pass rate from pytest's summary), check one failing test, and
the per-service testing settings.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from workflows import policies
from workflows.contracts.base import Activity, Strict
from workflows.contracts.diagnostics import MAX_IDS


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


# ---------------------------------------------------------------- activities
TESTSUITE_RUN = Activity("testsuite.run", TestRunInput, TestRunResult, policies.TEST_SUITE)
TESTSUITE_CHECK = Activity("testsuite.check", CheckInput, CheckResult, policies.DIAGNOSTIC)

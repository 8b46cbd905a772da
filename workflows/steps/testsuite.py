"""TestPassRateLow's steps: run the suite (whole, or some tests in isolation), the
Scenario A checks, and the scenario decision -- a pure function of the parsed run."""

from __future__ import annotations

from typing import Literal

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows.contracts.testsuite import (
        TESTSUITE_CHECK,
        TESTSUITE_RUN,
        CheckInput,
        CheckResult,
        TestingPolicy,
        TestRunInput,
        TestRunResult,
    )
    from workflows.incident import Incident

Scenario = Literal["infrastructure", "intermittent", "regression", "unclassified"]


async def run(inc: Incident, step: str, node_ids: list[str] | None = None) -> TestRunResult | None:
    res = await inc.attempt(
        step,
        TESTSUITE_RUN,
        TestRunInput(service=inc.service, incident_id=inc.incident_id, node_ids=node_ids or []),
    )
    if res is None:
        return None
    rate = "n/a" if res.pass_rate is None else f"{res.pass_rate:.1%}"
    cats = ", ".join(f"{k}={v}" for k, v in sorted(res.categories.items()))
    inc.record(
        f"diagnosis: {step}",
        "ok" if res.pass_rate is not None else "failed",
        f"pass rate {rate} ({res.summary}); failing: {cats or 'none'}; log {res.log_path}",
    )
    return res


async def check(inc: Incident, which: Literal["imports", "dependencies"]) -> CheckResult | None:
    step = f"diagnosis: {which} check"
    res = await inc.attempt(
        step,
        TESTSUITE_CHECK,
        CheckInput(service=inc.service, check=which),
    )
    if res is None:
        return None
    inc.record(step, "skipped" if res.skipped else "ok" if res.ok else "failed", res.detail)
    return res


def scenario(t: TestingPolicy, r: TestRunResult) -> Scenario:
    """Scenario A: more than N infrastructure failures. B: the only failures are known
    intermittent tests. C: tests failing now that did not fail in the baseline run."""
    if r.categories.get("infrastructure", 0) > t.infrastructure_failure_threshold:
        return "infrastructure"
    if (
        r.failing
        and r.failing_total == len(r.failing)
        and set(r.failing) <= set(t.known_intermittent)
    ):
        return "intermittent"
    if r.new_failures:
        return "regression"
    return "unclassified"


def all_passed(r: TestRunResult | None) -> bool:
    return r is not None and r.passed > 0 and r.failed == 0 and r.errors == 0

"""TestPassRateLow's steps: run the suite (whole, or some tests in isolation), the
Scenario A checks, the common patterns, the mitigations asked of people, the scenario
decision -- a pure function of the parsed run -- and the runbook's Verification: the
suite run again, pass rate from pytest, >= the SLO, and again 10 minutes later."""

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
    from workflows.models import Phase, PlaybookResult
    from workflows.steps import notify, sli_response
    from workflows.steps.resolution import close, escalate

Scenario = Literal["infrastructure", "intermittent", "regression", "unclassified"]
ReadOnly = Literal["health_check", "recent_changes"]
_READ_ONLY_STEP = {
    "health_check": "diagnosis: health check (scripts/health_check.sh)",
    "recent_changes": "diagnosis: recent code changes (git log, 24 hours)",
}


async def run(
    inc: Incident, step: str, node_ids: list[str] | None = None, *, phase: str = "diagnosis"
) -> TestRunResult | None:
    res = await inc.attempt(
        step,
        TESTSUITE_RUN,
        TestRunInput(
            service=inc.service,
            incident_id=inc.incident_id,
            node_ids=node_ids or [],
            verification=phase == "verification",
        ),
    )
    if res is None:
        return None
    rate = "n/a" if res.pass_rate is None else f"{res.pass_rate:.1%}"
    cats = ", ".join(f"{k}={v}" for k, v in sorted(res.categories.items()))
    inc.record(
        f"{phase}: {step}",
        "ok" if res.pass_rate is not None else "failed",
        f"pass rate {rate} ({res.summary}); failing: {cats or 'none'}; log {res.log_path}",
    )
    return res


async def check(
    inc: Incident, which: Literal["imports", "dependencies"] | ReadOnly
) -> CheckResult | None:
    step = _READ_ONLY_STEP.get(which, f"diagnosis: {which} check")
    res = await inc.attempt(
        step,
        TESTSUITE_CHECK,
        CheckInput(service=inc.service, check=which),
    )
    if res is None:
        return None
    detail = res.detail + "".join(f"\n  {line}" for line in res.output)
    inc.record(step, "skipped" if res.skipped else "ok" if res.ok else "failed", detail)
    return res


async def common_patterns(inc: Incident, suite: TestRunResult) -> None:
    """Diagnosis 4, "Check for Common Patterns": the failures by kind (from the run's
    tracebacks), `./scripts/health_check.sh`, and the last 24 hours of `infrastructure/`
    changes (Scenario A's review, useful to every scenario). Read-only; a failure is in
    the timeline and the playbook goes on."""
    failure_kinds(inc, suite)
    await check(inc, "health_check")
    await check(inc, "recent_changes")


def failure_kinds(inc: Incident, suite: TestRunResult) -> None:
    """The failures by kind (import error, timeout, connection error, assertion...)."""
    kinds = sorted(suite.patterns.items(), key=lambda kv: (-kv[1], kv[0]))
    inc.record(
        "diagnosis: failure patterns",
        "info",
        ", ".join(f"{k}={n}" for k, n in kinds)
        or "no tracebacks in the run's output (the suite's command needs --tb=short)",
    )


def mitigations_to_ask(suite: TestRunResult, intermittent: list[str]) -> list[str]:
    """The runbook's Mitigation Options 1 and 2 change the repository's test config --
    code changes for a person, asked for, never made by Remedy."""
    out: list[str] = []
    if intermittent:
        out.append(
            "add test retries for intermittent failures (pytest.ini: flaky = true, "
            f"max-runs = 3): {', '.join(intermittent)}"
        )
    if suite.non_critical_failing:
        out.append(
            "disable non-critical failing tests for now (@pytest.mark.xfail with a reason "
            f"and a tracking issue): {', '.join(suite.non_critical_failing)}"
        )
    return out


async def ask_mitigations(inc: Incident, suite: TestRunResult, intermittent: list[str]) -> None:
    asks = mitigations_to_ask(suite, intermittent)
    for what in asks:
        inc.record(f"to do: {what}", "info", "Mitigation Options: a code change, for people")
    if asks:
        await notify.status_update(
            inc,
            "Investigating",
            actions_taken="diagnosis done",
            next_steps="; ".join(f"to do: {a}" for a in asks),
        )


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


async def passing(inc: Incident, slo: float, step: str) -> float | None:
    """Verification 1, "Confirm pass rate restored": `pytest tests/ ... | grep passed`
    (the service's test_suite command), its pass rate, and whether it is >= the SLO."""
    res = await run(inc, step, phase="verification")
    rate = None if res is None else res.pass_rate
    held = rate is not None and rate >= slo
    inc.record(
        f"verify pass rate >= {slo:.0%}",
        "ok" if held else "failed",
        "suite not run or not read" if rate is None else f"{rate:.1%}",
    )
    return rate


async def sustained(inc: Incident, slo: float) -> tuple[bool, float | None]:
    """Verification 1 and 3: the pass rate >= SLO now and, after the runbook's 10
    minutes (a durable timer), again. (held, the last pass rate read)."""
    window = inc.policy.waits.verify_window
    rate = await passing(inc, slo, "suite re-run")
    if rate is None or rate < slo:
        return False, rate
    await inc.sleep(window)
    rate = await passing(inc, slo, f"suite re-run after {window}")
    return rate is not None and rate >= slo, rate


async def verify_or_roll_back(
    inc: Incident, action: str, *, rolled_back: bool = False
) -> PlaybookResult:
    """sli_response.verify_or_roll_back with the runbook's own measure: the pass rate
    from pytest, not a Prometheus series. Below the rollback threshold, or unresolved
    30 minutes after detection -> roll back; unresolved 30 minutes after the rollback
    -> a person. A suite that cannot be run or read is never "restored" (fail safe)."""
    t, waits = inc.policy.thresholds, inc.policy.waits
    slo, floor = t.test_pass_rate_slo, t.test_pass_rate_rollback

    give_up = sli_response.give_up_at(inc, rolled_back)
    inc.enter(Phase.VERIFICATION)
    while True:
        held, rate = await sustained(inc, slo)
        if held:
            return await close(inc, "resolved", action)
        overdue = workflow.now() >= give_up
        if rolled_back and overdue:
            return await escalate(
                inc, f"pass rate not {slo:.0%} {waits.rollback_after} after the rollback"
            )
        below = rate is not None and rate < floor
        if not rolled_back and (below or overdue):
            why = (
                f"pass rate {rate:.1%} < {floor:.0%}"
                if below
                else f"unresolved {waits.rollback_after} after detection"
            )
            return await roll_back_then_verify(inc, why)
        await inc.sleep(inc.policy.testing.retest_interval)


async def roll_back_then_verify(inc: Incident, why: str) -> PlaybookResult:
    """The Rollback Procedure, then the pass rate verified again (by pytest)."""
    if not await sli_response.roll_back(inc, [], why):
        return await escalate(inc, f"rollback failed or unavailable ({why})")
    return await verify_or_roll_back(inc, "rollback", rolled_back=True)

"""HighErrorRate, one test per scenario branch, at the runbook's real durations on the
time-skipping server: 30 s after a restart, the 60 s circuit-breaker wait, the 10-minute
sustained window, the immediate rollback above 1 %, the 30-minute rollback."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio.testing import WorkflowEnvironment

from tests.workflows.sli_harness import log_line, near, run_incident, steps
from tests.workflows.sli_world import SliWorld, sli_policy
from workflows.contracts.diagnostics import HostCheckResult, LogErrorsResult
from workflows.contracts.prometheus import PromSample
from workflows.models import PlaybookResult

ROLLBACK = [
    "stop",
    "rollback_fetch",
    "rollback_reset",
    "rollback_clean",
    "rollback_restore_config",
    "start",
]
GOOD, MID, BAD = 0.0005, 0.005, 0.02  # < 0.1 %, between, > 1 %


def world(**kw: object) -> SliWorld:
    return SliWorld(sli_policy(), **kw)  # type: ignore[arg-type]


async def test_llm_errors_fallback_restart_verified(time_env: WorkflowEnvironment) -> None:
    w = world(sli=[MID, GOOD], error_samples={"llm_rate_limit": 40, "network": 2})
    res = await run_incident(time_env, w, "HighErrorRate")
    assert res.outcome == "resolved", steps(res)
    assert w.applied == ["llm_fallback"] and w.restarts == 1
    assert "scenario: llm errors" in steps(res)
    # The runbook's 30 s after the restart, then 10 minutes of samples every 30 s.
    restart_at = w.times("restart")[0]
    samples = [t for t in w.times("prometheus") if t > restart_at]
    assert samples[0] - restart_at >= timedelta(seconds=30)
    assert near(samples[-1] - samples[0], timedelta(minutes=10), timedelta(seconds=1))
    assert len(samples) == 21
    assert (
        log_line(w) == "Incident: HighErrorRate - Resolved via llm_fallback mitigation and restart"
    )
    assert "rollback" not in steps(res) and not w.restored
    # Post-incident: the template and the checklist, from the timeline.
    md = w.postmortem()
    assert "# Incident Summary: HighErrorRate on genesis-orchestration (P1)" in md
    assert "🔍 Root Cause" in md and "error categories: llm=40" in md
    assert "- [x] Verify all SLOs restored" in md
    assert "- [ ] Update runbooks with lessons learned — left to people" in md
    assert "temporary mitigation in place: changed: config/llm_fallback.yaml" in md


async def test_network_errors_open_breaker_waits_60s(time_env: WorkflowEnvironment) -> None:
    w = world(
        sli=[MID, GOOD],
        log_errs=LogErrorsResult(error_lines=9, categories={"network": 9}),
        health_json={"/circuit_breaker": [{"state": "open"}, {"state": "closed"}]},
    )
    res = await run_incident(time_env, w, "HighErrorRate")
    assert res.outcome == "resolved" and res.action == "circuit breaker auto-recovery"
    checks = [c.at for c in w.calls if c.name == "probe" and c.detail == "/circuit_breaker"]
    assert len(checks) == 2 and checks[1] - checks[0] >= timedelta(seconds=60)
    probed = {c.detail for c in w.calls if c.name == "probe"}
    assert "https://api.anthropic.com" in probed  # the connectivity check
    assert w.restarts == 0 and not w.applied


async def test_network_errors_closed_breaker_asks_human(time_env: WorkflowEnvironment) -> None:
    w = world(
        sli=[MID, GOOD],
        error_samples={"network_timeout": 5},
        health_json={"/circuit_breaker": ["closed"]},
    )
    res = await run_incident(time_env, w, "HighErrorRate")
    assert res.outcome == "resolved" and res.paged  # paged, then the page is resolved
    assert "circuit breaker open" not in steps(res) and "asked a human" in steps(res)
    assert "pagerduty:resolve" in w.names()


async def test_resource_exhaustion_memory_over_90_restarts(time_env: WorkflowEnvironment) -> None:
    w = world(sli=[MID, GOOD], error_samples={"resource_memory": 7}, diag={"MemAvailable": 0.95})
    res = await run_incident(time_env, w, "HighErrorRate")
    assert res.outcome == "resolved" and res.action == "restart (memory exhausted)"
    assert w.restarts == 1 and not w.applied


async def test_resource_exhaustion_memory_not_over_90_asks_a_human(
    time_env: WorkflowEnvironment,
) -> None:
    # Scenario C without memory > 90 %: no restart; scaling up is a person's job. The
    # incident goes on (verified, rollback deadline armed) and the page is resolved.
    w = world(sli=[MID, GOOD], error_samples={"resource_memory": 7}, diag={"MemAvailable": 0.40})
    res = await run_incident(time_env, w, "HighErrorRate")
    assert res.outcome == "resolved" and res.action == "error rate recovered (no automated change)"
    asked = next(e for e in res.timeline if e.step == "asked a human")
    assert asked.detail == "resource exhaustion without memory > 90%: scale up"
    assert res.paged and w.names().count("pagerduty:trigger") == 1
    assert "pagerduty:resolve" in w.names()
    assert w.restarts == 0 and not w.applied and "stop" not in w.names()


async def test_resource_exhaustion_memory_unknown_is_no_reason_to_restart(
    time_env: WorkflowEnvironment,
) -> None:
    # No memory number (the diag query answers no data): not "over 90 %", a person asked.
    w = world(sli=[MID, GOOD], error_samples={"resource_memory": 7})
    res = await run_incident(time_env, w, "HighErrorRate")
    assert "diagnosis: memory usage" in steps(res, "failed")
    assert "asked a human" in steps(res) and res.paged and w.restarts == 0


async def test_unidentified_errors_ask_a_human(time_env: WorkflowEnvironment) -> None:
    # Neither Prometheus nor the log names a category: no automated step, a person paged.
    w = world(sli=[MID, GOOD])
    res = await run_incident(time_env, w, "HighErrorRate")
    assert res.outcome == "resolved" and res.action == "error rate recovered (no automated change)"
    assert "scenario: unknown errors" in steps(res)
    asked = next(e for e in res.timeline if e.step == "asked a human")
    assert asked.detail == "unidentified errors: no automated step"
    assert res.paged and w.restarts == 0 and not w.applied and "stop" not in w.names()


async def test_network_errors_breaker_still_open_after_the_wait(
    time_env: WorkflowEnvironment,
) -> None:
    w = world(
        sli=[MID, GOOD],
        error_samples={"network": 5},
        health_json={"/circuit_breaker": ["open"]},
    )
    res = await run_incident(time_env, w, "HighErrorRate")
    assert res.outcome == "resolved"
    assert res.action == "circuit breaker auto-recovery (still open after the wait)"
    assert not res.paged and w.restarts == 0


async def test_validation_errors_relaxed_thresholds(time_env: WorkflowEnvironment) -> None:
    w = world(sli=[MID, GOOD], error_samples={"validation": 12, "llm": 1})
    res = await run_incident(time_env, w, "HighErrorRate")
    assert res.outcome == "resolved" and w.applied == ["aop_relaxed"] and w.restarts == 1


async def test_above_one_percent_in_verification_rolls_back_at_once(
    time_env: WorkflowEnvironment,
) -> None:
    # Mitigated, but the first verification sample is > 1 %: roll back then, not at 30 min.
    w = world(sli=[MID, BAD], sli_after_rollback=[GOOD], error_samples={"llm": 3})
    res = await run_incident(time_env, w, "HighErrorRate")
    assert res.outcome == "resolved" and res.action == "rollback"
    assert [n for n in w.names() if n in ROLLBACK] == ROLLBACK
    # The mitigation's backup is restored before the rollback starts.
    assert w.restored == ["llm_fallback"]
    assert w.names().index("restore") < w.names().index("stop")
    bad_sample = [t for t in w.times("prometheus")][1]
    assert w.times("stop")[0] - bad_sample < timedelta(seconds=5)
    assert w.times("stop")[0] - w.times("slack")[0] < timedelta(minutes=2)


async def test_above_one_percent_at_assessment_rolls_back_first(
    time_env: WorkflowEnvironment,
) -> None:
    w = world(sli=[BAD], sli_after_rollback=[GOOD], error_samples={"llm": 3})
    res = await run_incident(time_env, w, "HighErrorRate")
    assert res.outcome == "resolved" and res.action == "rollback"
    assert not w.applied and "log_errors" not in w.names()  # no diagnosis before the rollback
    assert "Incident: HighErrorRate - Resolved via rollback" == log_line(w)


async def test_unresolved_after_30_minutes_rolls_back(time_env: WorkflowEnvironment) -> None:
    w = world(sli=[MID], sli_after_rollback=[GOOD], error_samples={"llm": 3})
    res = await run_incident(time_env, w, "HighErrorRate")
    assert res.outcome == "resolved" and res.action == "rollback"
    detected = w.times("slack")[0]
    assert near(w.times("stop")[0] - detected, timedelta(minutes=30))
    assert "deadline: roll back if unresolved" in steps(res)
    # The Response phase ran past its 30-minute budget: marked and told.
    assert "phase overrun: Response" in steps(res, "failed")
    assert any("Response still running" in e.detail for e in res.timeline)
    md = w.postmortem()
    assert "phase over budget: Response" in md
    assert "- [x] Test rollback procedure" in md


async def test_still_bad_after_rollback_escalates(time_env: WorkflowEnvironment) -> None:
    w = world(sli=[MID, BAD], sli_after_rollback=[MID], error_samples={"llm": 3})
    res = await run_incident(time_env, w, "HighErrorRate")
    assert res.outcome == "escalated" and res.paged
    assert w.names().count("stop") == 1  # one rollback, never a second
    assert near(
        w.times("pagerduty:trigger")[0] - w.times("start")[0],
        timedelta(minutes=30),
        timedelta(minutes=1),
    )
    # One line, written at the hand-over (30 minutes after the rollback), as escalated.
    assert [c.detail.split(" - ")[1][:21] for c in w.calls if c.name == "incident_log"] == [
        "Escalated to a person"
    ]
    assert w.times("incident_log")[0] >= w.times("pagerduty:trigger")[0]


async def test_no_data_is_not_improvement(time_env: WorkflowEnvironment) -> None:
    # Prometheus goes silent after the mitigation: never "resolved"; rolled back at 30 min.
    w = world(sli=[MID, None], sli_after_rollback=[GOOD], error_samples={"llm": 3})
    res = await run_incident(time_env, w, "HighErrorRate")
    assert res.action == "rollback"
    assert near(w.times("stop")[0] - w.times("slack")[0], timedelta(minutes=30))


# ---------------------------------------------------------------- the scenarios' own checks
def detail(res: PlaybookResult, step: str) -> str:
    return next(e.detail for e in res.timeline if e.step == step)


def host(kind: str, name: str = "", *, exit_status: int = 0, output: str = "", **kw: Any) -> Any:
    return HostCheckResult(
        kind=kind,  # type: ignore[arg-type]
        name=name,
        host="genesis-1",
        ok=exit_status == 0,
        exit_status=exit_status,
        output=output,
        **kw,
    )


async def test_llm_errors_breakdown_before_the_fallback(time_env: WorkflowEnvironment) -> None:
    # Scenario A, "Check LLM client metrics": genesis_llm_errors_total by type and
    # provider into the timeline, most first -- then the fallback and the restart.
    w = world(
        sli=[MID, GOOD],
        error_samples={"llm": 40},
        series={
            "genesis_llm_errors_total": [
                PromSample(labels={"type": "timeout", "provider": "openai"}, value=4),
                PromSample(labels={"type": "rate_limit", "provider": "openai"}, value=36),
            ]
        },
    )
    res = await run_incident(time_env, w, "HighErrorRate")
    assert res.outcome == "resolved" and w.applied == ["llm_fallback"]
    assert detail(res, "diagnosis: LLM client errors") == (
        "provider=openai,type=rate_limit: 36; provider=openai,type=timeout: 4"
    )
    queried = next(c.at for c in w.calls if "genesis_llm_errors_total" in c.detail)
    assert queried <= w.times("mitigation")[0]
    assert "host_check" not in w.names()  # Scenario A runs no host check


async def test_llm_errors_breakdown_without_data_is_said(time_env: WorkflowEnvironment) -> None:
    w = world(sli=[MID, GOOD], error_samples={"llm": 40})
    res = await run_incident(time_env, w, "HighErrorRate")
    assert detail(res, "diagnosis: LLM client errors") == "no data (no_data)"
    assert "diagnosis: LLM client errors" in steps(res, "failed")
    assert w.applied == ["llm_fallback"]  # the runbook goes on to the fallback


async def test_network_connectivity_checked_from_the_host(time_env: WorkflowEnvironment) -> None:
    # Scenario B: ping / curl -I / nslookup ON the service's host, in the runbook's order,
    # before the breaker; an unreachable API is recorded as failed, the scenario goes on.
    w = world(
        sli=[MID, GOOD],
        error_samples={"network": 5},
        health_json={"/circuit_breaker": ["open", "closed"]},
        host={
            "connectivity:ping": host(
                "connectivity", "ping", exit_status=1, output="5 packets transmitted, 0 received"
            ),
            "connectivity:nslookup": host(
                "connectivity", "nslookup", output="Name: api.openai.com\nAddress: 1.2.3.4"
            ),
        },
    )
    res = await run_incident(time_env, w, "HighErrorRate")
    assert res.action == "circuit breaker auto-recovery"
    checks = [c.detail for c in w.calls if c.name == "host_check"]
    assert checks == ["connectivity:ping", "connectivity:curl", "connectivity:nslookup"]
    assert detail(res, "diagnosis: ping from the host") == (
        "exit 1: 5 packets transmitted, 0 received"
    )
    assert "diagnosis: ping from the host" in steps(res, "failed")
    assert detail(res, "diagnosis: nslookup from the host") == "exit 0: Address: 1.2.3.4"
    first_breaker = next(c.at for c in w.calls if c.detail == "/circuit_breaker")
    assert w.times("host_check")[-1] <= first_breaker


async def test_resource_hog_identified_before_the_restart(time_env: WorkflowEnvironment) -> None:
    # Scenario C, "Identify resource hog": the top processes by memory and by CPU (the
    # runbook's `ps aux --sort=-%mem | head -10`), then memory > 90 % -> restart.
    ps = (
        "USER PID %CPU %MEM VSZ RSS TTY STAT START TIME COMMAND\n"
        "genesis 4242 12.0 71.3 9000 8000 ? Sl 10:00 9:59 python3 -m genesis.orchestrator\n"
    )
    w = world(
        sli=[MID, GOOD],
        error_samples={"resource_memory": 7},
        diag={"MemAvailable": 0.95},
        host={"resource_hog:top mem": host("resource_hog", "top mem", output=ps)},
    )
    res = await run_incident(time_env, w, "HighErrorRate")
    assert res.action == "restart (memory exhausted)" and w.restarts == 1
    assert [c.detail for c in w.calls if c.name == "host_check"] == [
        "resource_hog:top mem",
        "resource_hog:top cpu",
    ]
    assert detail(res, "diagnosis: top mem processes") == (
        "python3 -m genesis.orchestrator (pid 4242, 71.3% mem, 12.0% cpu)"
    )
    assert w.times("host_check")[-1] <= w.times("restart")[0]


async def test_validation_issue_identified_before_relaxing(time_env: WorkflowEnvironment) -> None:
    # Scenario D: the AOP validator's lines (grep "AOP" LOG | tail -50 on the host) by
    # issue, most first, then the relaxed thresholds and the restart.
    w = world(
        sli=[MID, GOOD],
        error_samples={"validation": 12},
        host={
            "validation_log": host(
                "validation_log",
                output="...",
                lines=9,
                counts={"completeness": 2, "solvability": 7},
            )
        },
    )
    res = await run_incident(time_env, w, "HighErrorRate")
    assert res.outcome == "resolved" and w.applied == ["aop_relaxed"] and w.restarts == 1
    assert detail(res, "diagnosis: validation issue") == (
        "solvability=7, completeness=2 in the last 9 of 50 AOP lines"
    )
    assert w.times("host_check")[0] <= w.times("mitigation")[0]


async def test_validation_log_unreadable_is_said_and_relaxing_goes_on(
    time_env: WorkflowEnvironment,
) -> None:
    w = world(
        sli=[MID, GOOD],
        error_samples={"validation": 12},
        host={"validation_log": host("validation_log", exit_status=2, output="cannot read")},
    )
    res = await run_incident(time_env, w, "HighErrorRate")
    assert "diagnosis: AOP validator log" in steps(res, "failed")
    assert "diagnosis: validation issue" not in steps(res)
    assert w.applied == ["aop_relaxed"]

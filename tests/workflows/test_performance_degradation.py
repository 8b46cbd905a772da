"""PerformanceDegradation (Agent Lab, P2), one test per branch, on the time-skipping
server at real durations: 30 s after the mitigations' restart, the 10-minute latency
window."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio.testing import WorkflowEnvironment

from tests.workflows.agentlab_world import LabWorld, lab_policy, load_result, run_lab, slow_result
from tests.workflows.sli_harness import near, steps
from workflows.contracts.policy import ServicePolicy

PB = "PerformanceDegradation"
CPU = dict(name="cpu", query="cpu_busy", comparison="lt", threshold=0.8)


def loaded(**kw: Any) -> ServicePolicy:
    """lab_policy with a `cpu` SLI: its value is the second of the world's `sli` samples
    (after the current latency), so `sli=[latency, cpu, verification...]`."""
    base = lab_policy()
    return lab_policy(slis={**base.model_dump()["slis"], "cpu": CPU}, **kw)


async def test_throttle_cache_load_probe_and_latency_verified(
    time_env: WorkflowEnvironment,
) -> None:
    # The CPU at 95 % (load) and three endpoints carrying 90 % of the slow requests.
    w = LabWorld(loaded(), sli=[0.9, 0.95, 0.3])
    res = await run_lab(time_env, w, PB)
    assert res.outcome == "resolved" and res.action == "throttle + cache mitigation", steps(res)
    names = w.names()
    # Investigation: top/df/free and the current latency from Prometheus.
    assert [c.detail for c in w.calls if c.name == "diag:resource"] == ["top", "disk", "memory"]
    assert "diagnosis: current latency_p95" in steps(res, "ok")
    # Containment: throttle + cache, one restart, then the runbook's 30 s.
    assert w.applied == ["throttle", "cache"] and w.restarts == 1
    assert w.times("load")[0] - w.times("restart")[0] >= timedelta(seconds=30)
    # Recovery: the load probe first, then 10 minutes of latency samples.
    samples = [t for t in w.times("prometheus") if t > w.times("load")[0]]
    assert near(samples[-1] - samples[0], timedelta(minutes=10), timedelta(seconds=1))
    assert names.index("load") < names.index("incident_log")
    assert "p95 80 ms" in next(e.detail for e in res.timeline if e.step == "recovery: load probe")


async def test_load_probe_fails_escalates_mitigations_kept(time_env: WorkflowEnvironment) -> None:
    w = LabWorld(loaded(), sli=[0.9, 0.95], load=load_result(ok=False, p95=1.2))
    res = await run_lab(time_env, w, PB)
    assert res.outcome == "escalated" and w.restored == []
    why = next(e.detail for e in res.timeline if e.step == "escalated to a human")
    assert "load probe failed: p95 1200 ms > 500 ms" in why
    assert "mitigations left in place: throttle, cache" in why


async def test_latency_not_sustained_escalates(time_env: WorkflowEnvironment) -> None:
    w = LabWorld(lab_policy(), sli=[0.9, 0.3, 0.3, 0.7])
    res = await run_lab(time_env, w, PB)
    assert res.outcome == "escalated"
    assert "verify latency_p95" in steps(res, "failed")
    broken = [t for t in w.times("prometheus")][-1] - w.times("load")[0]
    assert near(broken, timedelta(minutes=1), timedelta(seconds=2))  # third sample, 60 s in


async def test_nothing_to_verify_with_escalates(time_env: WorkflowEnvironment) -> None:
    w = LabWorld(lab_policy(slis={}, agent_lab={"has_load_probe": False}))
    res = await run_lab(time_env, w, PB)
    assert res.outcome == "escalated" and "load" not in w.names()
    assert "recovery: load probe" in steps(res, "skipped")


async def test_dry_run_sends_no_load(time_env: WorkflowEnvironment) -> None:
    """A dry run must not put 1,000 requests on a degraded service: the probe says what
    it would send and the plan walks on to the latency window."""
    from workflows.contracts.safety import SafetyPolicy

    w = LabWorld(lab_policy(safety=SafetyPolicy(dry_run=True)), sli=[0.9, 0.3])
    res = await run_lab(time_env, w, PB)
    assert "load" not in w.names() and "dry-run:load" in w.names() and w.restarts == 0
    probe = next(e for e in res.timeline if e.step == "recovery: load probe")
    assert probe.outcome == "skipped" and probe.detail.startswith("DRY RUN: would send")
    assert any(e.step.startswith("verify latency_p95") for e in res.timeline)


# ------------------------------------------------ issue 18: the investigation decides
async def test_investigation_slow_requests_and_recent_changes(
    time_env: WorkflowEnvironment,
) -> None:
    # "Identify Bottlenecks" and "Recent Changes" inside Investigation (15 minutes), before
    # anything is applied; the slow threshold is agent_lab.performance.slow_request_s.
    w = LabWorld(lab_policy(), sli=[0.9, 0.3])
    res = await run_lab(time_env, w, PB)
    names = w.names()
    assert names.index("slow_requests") < names.index("git_log") < names.index("mitigation")
    assert [c.detail for c in w.calls if c.name == "slow_requests"] == ["1"]
    assert w.times("git_log")[0] - res.detected_at < timedelta(minutes=15)
    got = {e.step: e.detail for e in res.timeline}
    assert got["diagnosis: slow requests"].startswith("40 of 5000 timed requests >= 1s")
    assert "/api/e0 (20, worst 3s)" in got["diagnosis: slow requests"]
    # git log kept to the last week: the 10-day-old commit is not shown.
    assert got["diagnosis: recent changes"] == (
        "agent-lab-prod:/app: 2 commits in 7 days\nc0ffee0 change 0\nc0ffee1 change 1"
    )


async def test_repeated_slow_requests_alone_apply_cache_only(
    time_env: WorkflowEnvironment,
) -> None:
    w = LabWorld(lab_policy(), sli=[0.9, 0.3])  # no CPU value: load is not shown
    res = await run_lab(time_env, w, PB)
    assert w.applied == ["cache"] and res.outcome == "resolved"
    assert "diagnosis: load" in steps(res, "skipped")
    assert "to do: scale resources" not in steps(res)


async def test_load_alone_throttles_and_asks_a_person_to_scale(
    time_env: WorkflowEnvironment,
) -> None:
    # CPU 95 %, and the slow requests spread thin: throttle only; "Resource Scaling" is a
    # person's (to do + Slack), while containment goes on.
    w = LabWorld(loaded(), sli=[0.9, 0.95, 0.3], slow=slow_result(40, [5, 5, 5, 5, 5]))
    res = await run_lab(time_env, w, PB)
    assert w.applied == ["throttle"] and res.outcome == "resolved"
    scale = next(e for e in res.timeline if e.step == "to do: scale resources")
    assert "CPU over the load threshold" in scale.detail
    assert scale.at < next(e.at for e in res.timeline if e.step.startswith("mitigation"))
    assert any("resources saturated" in m.actions_taken for m in w.slack_messages)


async def test_exhausted_resources_ask_to_scale(time_env: WorkflowEnvironment) -> None:
    w = LabWorld(lab_policy(), sli=[0.9, 0.3], exhausted={"memory": "memory 2% available"})
    res = await run_lab(time_env, w, PB)
    scale = next(e for e in res.timeline if e.step == "to do: scale resources")
    assert scale.detail == "resources saturated: memory: memory 2% available"
    assert w.applied == ["cache"]


async def test_cpu_threshold_boundary(time_env: WorkflowEnvironment) -> None:
    # agent_lab.performance.throttle_cpu (0.80): at it, throttle; just under, not.
    thin = slow_result(40, [5, 5, 5, 5, 5])
    at = LabWorld(loaded(), sli=[0.9, 0.80, 0.3], slow=thin)
    await run_lab(time_env, at, PB)
    assert at.applied == ["throttle"]
    under = LabWorld(loaded(), sli=[0.9, 0.79, 0.3], slow=thin)
    res = await run_lab(time_env, under, PB)
    assert under.applied == [] and res.outcome == "escalated"


async def test_cache_thresholds_boundary(time_env: WorkflowEnvironment) -> None:
    # cache_min_slow (20) slow requests and a top-3 share of cache_slow_share (50 %).
    just = LabWorld(lab_policy(), sli=[0.9, 0.3], slow=slow_result(20, [5, 3, 2, 2, 2]))
    await run_lab(time_env, just, PB)
    assert just.applied == ["cache"]
    few = LabWorld(lab_policy(), sli=[0.9, 0.3], slow=slow_result(19, [5, 3, 2, 2, 2]))
    await run_lab(time_env, few, PB)
    assert few.applied == []
    spread = LabWorld(lab_policy(), sli=[0.9, 0.3], slow=slow_result(20, [4, 3, 2, 2, 2]))
    res = await run_lab(time_env, spread, PB)
    assert spread.applied == [] and "top 3 endpoints carry 45% (needs 50%)" in next(
        e.detail for e in res.timeline if e.step == "diagnosis: repeated slow requests"
    )


async def test_thresholds_from_the_inventory(time_env: WorkflowEnvironment) -> None:
    perf = {"throttle_cpu": 0.5, "cache_min_slow": 100}
    w = LabWorld(loaded(agent_lab={"performance": perf}), sli=[0.9, 0.6, 0.3])
    await run_lab(time_env, w, PB)
    assert w.applied == ["throttle"]  # 60 % is load at 50 %; 40 slow are too few at 100


async def test_nothing_pointed_at_asks_a_person_and_applies_nothing(
    time_env: WorkflowEnvironment,
) -> None:
    w = LabWorld(loaded(), sli=[0.9, 0.3], slow=slow_result(3, [1, 1, 1]))
    res = await run_lab(time_env, w, PB)
    assert res.outcome == "escalated" and res.paged
    assert w.applied == [] and "load" not in w.names() and w.restarts == 0
    assert "to do: identify the bottleneck" in steps(res)
    why = next(e.detail for e in res.timeline if e.step == "escalated to a human")
    assert why.startswith("the investigation points at neither load nor repeated slow")
    # Decided within Investigation (15 minutes after detection).
    esc = next(e.at for e in res.timeline if e.step == "escalated to a human")
    assert esc - res.detected_at < timedelta(minutes=15)


async def test_no_access_log_is_said_and_only_load_can_decide(
    time_env: WorkflowEnvironment,
) -> None:
    w = LabWorld(loaded(agent_lab={"has_access_log": False}), sli=[0.9, 0.95, 0.3])
    res = await run_lab(time_env, w, PB)
    assert "slow_requests" not in w.names() and w.applied == ["throttle"]
    assert "diagnosis: slow requests" in steps(res, "skipped")

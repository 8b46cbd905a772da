"""PerformanceDegradation (Agent Lab, P2), one test per branch, on the time-skipping
server at real durations: 30 s after the mitigations' restart, the 10-minute latency
window."""

from __future__ import annotations

from datetime import timedelta

from temporalio.testing import WorkflowEnvironment

from tests.workflows.agentlab_world import LabWorld, lab_policy, load_result, run_lab
from tests.workflows.sli_harness import near, steps

PB = "PerformanceDegradation"


async def test_throttle_cache_load_probe_and_latency_verified(
    time_env: WorkflowEnvironment,
) -> None:
    w = LabWorld(lab_policy(), sli=[0.9, 0.3])
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
    w = LabWorld(lab_policy(), sli=[0.9], load=load_result(ok=False, p95=1.2))
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

"""HighLatencyP95, one test per scenario branch at the runbook's real durations."""

from __future__ import annotations

from datetime import timedelta

from temporalio.testing import WorkflowEnvironment

from tests.workflows.sli_harness import log_line, near, run_incident, steps
from tests.workflows.sli_world import SliWorld, sli_policy

GOOD, MID, BAD = 0.150, 0.300, 0.800  # < 200 ms, between, > 500 ms


def world(**kw: object) -> SliWorld:
    return SliWorld(sli_policy(), **kw)  # type: ignore[arg-type]


async def test_htdag_slow_enables_decomposition_cache(time_env: WorkflowEnvironment) -> None:
    w = world(sli=[MID, GOOD], diag={"htdag": 0.400, "halo": 0.105, "aop": 0.050})
    res = await run_incident(time_env, w, "HighLatencyP95")
    assert res.outcome == "resolved" and w.applied == ["htdag_cache"] and w.restarts == 1
    assert "scenario: slow component decomposition" in steps(res)
    assert log_line(w) == "Incident: HighLatencyP95 - Resolved via htdag_cache"


async def test_halo_slow_without_optimizations_enables_them(time_env: WorkflowEnvironment) -> None:
    w = world(
        sli=[MID, GOOD],
        diag={"htdag": 0.100, "halo": 0.500, "aop": 0.050},
        health_json={"/halo_optimizations": [{"rule_indexing": False, "batch_routing": True}]},
    )
    res = await run_incident(time_env, w, "HighLatencyP95")
    assert res.outcome == "resolved" and w.applied == ["halo_perf"]


async def test_halo_slow_already_optimized_asks_human(time_env: WorkflowEnvironment) -> None:
    w = world(
        sli=[MID, GOOD],
        diag={"htdag": 0.100, "halo": 0.500, "aop": 0.050},
        health_json={"/halo_optimizations": [True]},
    )
    res = await run_incident(time_env, w, "HighLatencyP95")
    assert not w.applied and "asked a human" in steps(res) and res.paged


async def test_cpu_over_80_lowers_concurrency(time_env: WorkflowEnvironment) -> None:
    w = world(sli=[MID, GOOD], diag={"htdag": 0.1, "halo": 0.1, "aop": 0.05, "node_cpu": 0.93})
    res = await run_incident(time_env, w, "HighLatencyP95")
    assert res.outcome == "resolved" and w.applied == ["concurrency"] and w.restarts == 1


async def test_high_disk_io_lowers_log_verbosity_without_restart(
    time_env: WorkflowEnvironment,
) -> None:
    w = world(sli=[MID, GOOD], diag={"node_disk_io": 0.97})
    res = await run_incident(time_env, w, "HighLatencyP95")
    assert res.outcome == "resolved" and w.applied == ["logging_verbosity"]
    assert w.restarts == 0  # the runbook's sed: no restart


async def test_p95_over_500ms_rolls_back_at_once(time_env: WorkflowEnvironment) -> None:
    w = world(sli=[MID, BAD], sli_after_rollback=[GOOD], diag={"htdag": 0.4})
    res = await run_incident(time_env, w, "HighLatencyP95")
    assert res.outcome == "resolved" and res.action == "rollback"
    assert w.restored == ["htdag_cache"]
    assert w.times("stop")[0] - w.times("slack")[0] < timedelta(minutes=2)


async def test_unresolved_after_30_minutes_rolls_back(time_env: WorkflowEnvironment) -> None:
    w = world(sli=[MID], sli_after_rollback=[GOOD], diag={"htdag": 0.4})
    res = await run_incident(time_env, w, "HighLatencyP95")
    assert res.action == "rollback"
    assert near(w.times("stop")[0] - w.times("slack")[0], timedelta(minutes=30))
    # After the rollback: a full 10-minute window before "resolved".
    samples = [t for t in w.times("prometheus") if t > w.times("start")[0]]
    assert samples[-1] - samples[0] >= timedelta(minutes=10) - timedelta(seconds=1)


async def test_nothing_slow_asks_a_human(time_env: WorkflowEnvironment) -> None:
    # Every component within baseline, CPU and disk I/O unknown: nothing to apply.
    w = world(sli=[MID, GOOD], diag={"htdag": 0.100, "halo": 0.100, "aop": 0.050})
    res = await run_incident(time_env, w, "HighLatencyP95")
    assert res.outcome == "resolved" and res.action == "latency recovered (no automated change)"
    assert "scenario: slow component none" in steps(res)
    asked = next(e for e in res.timeline if e.step == "asked a human")
    assert "no mitigation applies: scale up resources" in asked.detail
    assert res.paged and not w.applied and w.restarts == 0 and "stop" not in w.names()


async def test_p95_over_500ms_at_assessment_rolls_back_first(
    time_env: WorkflowEnvironment,
) -> None:
    w = world(sli=[BAD], sli_after_rollback=[GOOD], diag={"htdag": 0.4})
    res = await run_incident(time_env, w, "HighLatencyP95")
    assert res.outcome == "resolved" and res.action == "rollback"
    why = next(e.detail for e in res.timeline if e.step == "rollback")
    assert why == "P95 0.8s > 0.5s"
    # No diagnosis and no mitigation before the rollback; nobody paged.
    assert not any(s.startswith("diagnosis: decomposition") for s in steps(res))
    assert not w.applied and w.restarts == 0 and not res.paged
    assert w.times("stop")[0] - res.detected_at < timedelta(minutes=1)
    assert log_line(w) == "Incident: HighLatencyP95 - Resolved via rollback"


async def test_no_rollback_configured_escalates(time_env: WorkflowEnvironment) -> None:
    w = SliWorld(sli_policy(has_rollback=False), sli=[BAD])
    res = await run_incident(time_env, w, "HighLatencyP95")
    assert res.outcome == "escalated" and res.paged and "stop" not in w.names()
    assert any("no rollback configured" in e.detail for e in res.timeline)


async def test_no_sli_to_verify_escalates(time_env: WorkflowEnvironment) -> None:
    # Fail safe: without the service's latency SLI nothing can show the fix held.
    w = SliWorld(sli_policy(slis={}), diag={"htdag": 0.4})
    res = await run_incident(time_env, w, "HighLatencyP95")
    assert res.outcome == "escalated" and res.paged and "stop" not in w.names()
    assert any("no SLI configured to verify the fix" in e.detail for e in res.timeline)

"""HighLatencyP95, one test per scenario branch at the runbook's real durations."""

from __future__ import annotations

from datetime import timedelta

from temporalio.testing import WorkflowEnvironment

from tests.workflows.sli_harness import log_line, near, run_incident, steps
from tests.workflows.sli_world import MITIGATIONS, SliWorld, sli_policy
from workflows.contracts.diagnostics import HostCheckResult
from workflows.models import PlaybookResult

GOOD, MID, BAD = 0.150, 0.300, 0.800  # < 200 ms, between, > 500 ms
SLOW_LLM = 3.0  # curl's time_total to the LLM API, s: over the 1 s "LLM slow"


def world(**kw: object) -> SliWorld:
    return SliWorld(sli_policy(), **kw)  # type: ignore[arg-type]


async def test_htdag_slow_enables_decomposition_cache(time_env: WorkflowEnvironment) -> None:
    # Scenario A in the runbook's order: the LLM API's latency first; slow -> the cache.
    w = world(
        sli=[MID, GOOD], diag={"htdag": 0.400, "halo": 0.105, "aop": 0.050}, llm_latency_s=SLOW_LLM
    )
    res = await run_incident(time_env, w, "HighLatencyP95")
    assert res.outcome == "resolved" and w.applied == ["htdag_cache"] and w.restarts == 1
    assert "scenario: slow component decomposition" in steps(res)
    assert "scenario: LLM API slow" in steps(res)
    assert detail(res, "diagnosis: LLM API latency") == "3 s (over 1 s)"
    assert w.times("host_check")[0] <= w.times("mitigation")[0]
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
    w = world(
        sli=[MID, BAD], sli_after_rollback=[GOOD], diag={"htdag": 0.4}, llm_latency_s=SLOW_LLM
    )
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


# ---------------------------------------------------------------- Scenario A: the LLM first
def detail(res: PlaybookResult, step: str) -> str:
    return next(e.detail for e in res.timeline if e.step == step)


def curl(exit_status: int, output: str = "", seconds: float | None = None) -> HostCheckResult:
    return HostCheckResult(
        kind="llm_latency",
        host="genesis-1",
        ok=exit_status == 0,
        exit_status=exit_status,
        output=output,
        seconds=seconds,
    )


HTDAG_SLOW = {"htdag": 0.400, "halo": 0.105, "aop": 0.050}


async def test_htdag_slow_llm_fast_no_cache_asks_a_person(time_env: WorkflowEnvironment) -> None:
    # The LLM answers in 0.25 s: the cache is the runbook's answer to a slow LLM only, so
    # it stays off and a person is asked; the incident goes on (verified, deadline armed).
    w = world(sli=[MID, GOOD], diag=HTDAG_SLOW)
    res = await run_incident(time_env, w, "HighLatencyP95")
    assert not w.applied and w.restarts == 0 and res.paged
    assert detail(res, "diagnosis: LLM API latency") == "0.25 s (within 1 s)"
    asked = detail(res, "asked a human")
    assert asked == (
        "slow: decomposition (LLM API 0.25 s, not slow: the decomposition cache is for a "
        "slow LLM); no mitigation applies: scale up resources"
    )
    assert res.outcome == "resolved" and "pagerduty:resolve" in w.names()


async def test_htdag_slow_llm_timed_out_enables_the_cache(time_env: WorkflowEnvironment) -> None:
    # curl's own 10 s timeout (exit 28) is a slow LLM.
    w = world(sli=[MID, GOOD], diag=HTDAG_SLOW, host={"llm_latency": curl(28, "10.001", 10.001)})
    res = await run_incident(time_env, w, "HighLatencyP95")
    assert w.applied == ["htdag_cache"] and not res.paged
    assert detail(res, "diagnosis: LLM API latency") == "timed out (10.001 s)"


async def test_htdag_slow_llm_unknown_is_no_reason_to_cache(time_env: WorkflowEnvironment) -> None:
    # curl could not resolve the API (exit 6): the latency is unknown -- not "slow".
    w = world(
        sli=[MID, GOOD],
        diag=HTDAG_SLOW,
        host={"llm_latency": curl(6, "curl: (6) Could not resolve host", 0.001)},
    )
    res = await run_incident(time_env, w, "HighLatencyP95")
    assert not w.applied and res.paged
    assert "diagnosis: LLM API latency" in steps(res, "failed")
    assert "LLM API latency unknown" in detail(res, "asked a human")


async def test_halo_slow_never_checks_the_llm(time_env: WorkflowEnvironment) -> None:
    w = world(
        sli=[MID, GOOD],
        diag={"htdag": 0.100, "halo": 0.500, "aop": 0.050},
        health_json={"/halo_optimizations": [False]},
    )
    res = await run_incident(time_env, w, "HighLatencyP95")
    assert w.applied == ["halo_perf"] and "host_check" not in w.names()
    assert "diagnosis: LLM API latency" not in steps(res)


# ---------------------------------------------------------------- Scenario C: memory > 80 %
async def test_memory_over_80_enables_pythonmalloc_and_restarts(
    time_env: WorkflowEnvironment,
) -> None:
    w = world(sli=[MID, GOOD], diag={**NOTHING_SLOW, "MemAvailable": 0.93})
    res = await run_incident(time_env, w, "HighLatencyP95")
    assert res.outcome == "resolved" and res.action == "python_malloc"
    assert w.applied == ["python_malloc"] and w.restarts == 1 and not res.paged
    # The runbook's order: CPU, memory, disk I/O read before any change.
    reads = [c.detail for c in w.calls if c.name == "diag"]
    assert [q for q in reads if "node_" in q][:3] == [
        next(q for q in reads if "node_cpu" in q),
        next(q for q in reads if "MemAvailable" in q),
        next(q for q in reads if "node_disk_io" in q),
    ]
    # The 30 s after the restart, then the 10-minute window.
    samples = [t for t in w.times("prometheus") if t > w.times("restart")[0]]
    assert samples[0] - w.times("restart")[0] >= timedelta(seconds=30)


async def test_memory_over_80_without_the_mitigation_says_so(
    time_env: WorkflowEnvironment,
) -> None:
    # The inventory defines no python_malloc: the timeline says it was skipped, a person
    # is asked -- not silence.
    policy = sli_policy(mitigations=[m for m in MITIGATIONS if m != "python_malloc"])
    w = SliWorld(policy, sli=[MID, GOOD], diag={**NOTHING_SLOW, "MemAvailable": 0.93})
    res = await run_incident(time_env, w, "HighLatencyP95")
    assert not w.applied and w.restarts == 0 and res.paged
    assert detail(res, "mitigation: python_malloc") == "not defined in the inventory"
    assert "mitigation: python_malloc" in steps(res, "skipped")


NOTHING_SLOW = {"htdag": 0.100, "halo": 0.100, "aop": 0.050}


async def test_memory_over_80_without_a_mitigation_name_is_a_to_do(
    time_env: WorkflowEnvironment,
) -> None:
    # An inventory whose mitigation_for names nothing for memory: a `to do` for people.
    d = sli_policy().diagnostics.model_copy(update={"mitigation_for": {"cpu": "concurrency"}})
    w = SliWorld(
        sli_policy(diagnostics=d), sli=[MID, GOOD], diag={**NOTHING_SLOW, "MemAvailable": 0.93}
    )
    res = await run_incident(time_env, w, "HighLatencyP95")
    assert "to do: memory > 80%: PYTHONMALLOC=malloc, restart" in steps(res)
    assert not w.applied and res.paged

"""Every runbook threshold of the SLI playbooks, just inside and just outside, as scenario
tables: one table per threshold family, one row per side of the bound.

Each row runs the playbook on the time-skipping server against a SliWorld whose
defaults are healthy (tests/workflows/fakes.py HEALTHY), so the only thing that can
send the incident down a branch is the number the row sets. And each row asserts the
whole verdict, not just one symptom: the outcome and action, the timeline entry that
names the threshold (its reason), the ones that must not appear, whether PagerDuty was
paged, whether a rollback (and when) and a restart ran.

How each bound is compared (workflows/contracts/policy.py Thresholds and
DiagnosticsPolicy, the playbooks, workflows/steps/sli_response.py):

| threshold                         | healthy / no action    | acts when          |
|-----------------------------------|------------------------|--------------------|
| TestPassRateLow SLO 98 %          | suite re-run >= 0.98   | < 0.98 (30 min)    |
| TestPassRateLow rollback 95 %     | pass rate >= 0.95      | < 0.95 (at once)   |
| HighErrorRate SLO 0.1 %           | sample < 0.001         | >= 0.001 (30 min)  |
| HighErrorRate rollback 1 %        | error rate <= 0.01     | > 0.01 (at once)   |
| HighLatencyP95 SLO 200 ms         | sample < 0.200         | >= 0.200 (30 min)  |
| HighLatencyP95 rollback 500 ms    | P95 <= 0.500           | > 0.500 (at once)  |
| HighErrorRate memory 90 %         | memory <= 0.90: a human| > 0.90: restart    |
| HighLatencyP95 CPU 80 %           | CPU <= 0.80: a human   | > 0.80: concurrency|
| HighLatencyP95 disk I/O 80 %      | I/O <= 0.80: a human   | > 0.80: verbosity  |
| HighLatencyP95 memory 80 %        | mem <= 0.80: a human   | > 0.80: GC (malloc)|
| HighLatencyP95 LLM slow 1 s       | <= 1 s: no cache, human| > 1 s: htdag cache |
| TestPassRateLow infrastructure > 5| <= 5: not Scenario A   | > 5: Scenario A    |

The SLO comparisons ("ge" / "lt") are the services' SLI definitions (the inventory's,
here tests/workflows/sli_world.py sli_policy); the numbers are the playbooks'
Thresholds. The rollback bound is the same SLI loosened to "<=" / ">=" at the rollback
number (sli_response.goal). TestPassRateLow verifies by the runbook's own measure, the
suite run again (its pass rate from pytest, workflows/steps/testsuite.py), so its rows
script `suite` runs: the first is the assessment's, the rest the verification's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal

import pytest
from temporalio.testing import WorkflowEnvironment

from tests.workflows.sli_harness import near, run_incident
from tests.workflows.sli_world import SliWorld, sli_policy
from workflows.contracts.testsuite import TestRunResult
from workflows.models import PlaybookResult

When = Literal["at once", "at 30 min"]
UNRESOLVED = "rollback: unresolved 0:30:00 after detection"
CROSSES = "crosses the rollback threshold"


@dataclass(frozen=True)
class Row:
    """One side of one threshold: the world it sets, the verdict it expects."""

    playbook: str
    world: dict[str, Any]
    outcome: str
    action: str
    reason: str  # in one timeline entry, as "step: detail"
    paged: bool
    rolled_back: When | None  # whether (and when, from detection) the rollback started
    restarted: bool
    absent: tuple[str, ...] = ()  # in no timeline entry
    applied: list[str] = field(default_factory=list)  # mitigations, in order


def row(id: str, playbook: str, **kw: Any) -> Any:  # noqa: A002
    return pytest.param(Row(playbook, **kw), id=id)


def entries(res: PlaybookResult) -> list[str]:
    return [f"{e.step}: {e.detail}" for e in res.timeline]


async def check(env: WorkflowEnvironment, r: Row) -> None:
    w = SliWorld(sli_policy(), **r.world)
    res = await run_incident(env, w, r.playbook)
    seen = entries(res)
    assert (res.outcome, res.action) == (r.outcome, r.action), seen
    assert any(r.reason in e for e in seen), f"no timeline entry has {r.reason!r}: {seen}"
    for text in r.absent:
        assert not any(text in e for e in seen), f"{text!r} in the timeline: {seen}"
    # Who was told: paged exactly when the row says (one trigger), resolved with it.
    assert res.paged == r.paged
    assert w.names().count("pagerduty:trigger") == (1 if r.paged else 0)
    # What was done to the service.
    assert (w.restarts > 0) == r.restarted, w.names()
    assert w.applied == r.applied
    stops = w.times("stop")
    assert len(stops) == (1 if r.rolled_back else 0), w.names()
    if r.rolled_back == "at once":
        assert stops[0] - res.detected_at < timedelta(minutes=2)
    elif r.rolled_back == "at 30 min":
        assert near(stops[0] - res.detected_at, timedelta(minutes=30))


# ---------------------------------------------------------------- TestPassRateLow
def suite(pass_rate: float, failing: int = 3, *, infra: int = 0, **kw: Any) -> list[TestRunResult]:
    """One whole-suite run at `pass_rate`: `infra` infrastructure failures (Scenario A
    counts them) and `failing - infra` agent-test failures (no scenario)."""
    ids = [f"tests/test_htdag_planner.py::test_{i}" for i in range(infra)]
    ids += [f"tests/test_darwin.py::test_{i}" for i in range(failing - infra)]
    cats = {"infrastructure": infra, "agent": failing - infra}
    return [
        TestRunResult(
            exit_status=1,
            passed=100,
            failed=failing,
            pass_rate=pass_rate,
            failing=ids,
            failing_total=failing,
            categories={k: v for k, v in cats.items() if v},
            summary="...",
        ).model_copy(update=kw)
    ]


RESTORED = "pass rate restored (no automated change)"
VERIFY = "verify pass rate >= 98%"

PASS_RATE_ROLLBACK = [
    # Assessment: the suite's pass rate "< 95 %" rolls back before any scenario.
    row(
        "assessment-95.0%-inside",
        "TestPassRateLow",
        world={"suite": suite(0.95) + suite(1.0)},
        outcome="resolved",
        action=RESTORED,
        reason="scenario: unclassified",
        absent=("< 95%", "rollback"),
        paged=True,  # the runbook's next step (no scenario) is a person's
        rolled_back=None,
        restarted=False,
    ),
    row(
        "assessment-94.9%-outside",
        "TestPassRateLow",
        world={"suite": suite(0.949), "suite_after_rollback": suite(1.0)},
        outcome="resolved",
        action="rollback",
        reason="rollback: pass rate 94.9% < 95%",
        absent=("scenario:", "asked a human"),
        paged=False,
        rolled_back="at once",
        restarted=False,
    ),
    # Verification: a re-run past the rollback bound rolls back at once; one below the
    # SLO but inside the bound waits for the 30-minute deadline.
    row(
        "verification-0.95-inside",
        "TestPassRateLow",
        world={"suite": suite(0.97) + suite(0.95), "suite_after_rollback": suite(1.0)},
        outcome="resolved",
        action="rollback",
        reason=UNRESOLVED,
        absent=("< 95%",),
        paged=True,
        rolled_back="at 30 min",
        restarted=False,
    ),
    row(
        "verification-0.949-outside",
        "TestPassRateLow",
        world={"suite": suite(0.97) + suite(0.949), "suite_after_rollback": suite(1.0)},
        outcome="resolved",
        action="rollback",
        reason="rollback: pass rate 94.9% < 95%",
        absent=("unresolved",),
        paged=True,
        rolled_back="at once",
        restarted=False,
    ),
]

PASS_RATE_SLO = [
    # Verification: ">= 98 %" now and 10 minutes later.
    row(
        "0.98-inside",
        "TestPassRateLow",
        world={"suite": suite(0.97) + suite(0.98)},
        outcome="resolved",
        action=RESTORED,
        reason=f"{VERIFY}: 98.0%",
        absent=("rollback",),
        paged=True,
        rolled_back=None,
        restarted=False,
    ),
    row(
        "0.979-outside",
        "TestPassRateLow",
        world={"suite": suite(0.97) + suite(0.979), "suite_after_rollback": suite(1.0)},
        outcome="resolved",
        action="rollback",
        reason=UNRESOLVED,
        absent=(CROSSES,),
        paged=True,
        rolled_back="at 30 min",
        restarted=False,
    ),
]

INFRASTRUCTURE_FAILURES = [
    # Scenario A: "> 5 infrastructure failures" -> the import / dependency checks.
    row(
        "5-inside",
        "TestPassRateLow",
        world={"suite": suite(0.97, 6, infra=5) + suite(1.0)},
        outcome="resolved",
        action=RESTORED,
        reason="scenario: unclassified",
        absent=("scenario: infrastructure", "imports check"),
        paged=True,
        rolled_back=None,
        restarted=False,
    ),
    row(
        "6-outside",
        "TestPassRateLow",
        world={"suite": suite(0.97, 6, infra=6) + suite(1.0)},
        outcome="resolved",
        action=RESTORED,
        reason="asked a human: 6 infrastructure test failures with imports and dependencies OK",
        absent=("scenario: unclassified",),
        paged=True,
        rolled_back=None,
        restarted=False,
    ),
]


# ---------------------------------------------------------------- HighErrorRate
ERR_MID, ERR_GOOD = 0.005, 0.0005  # between SLO and rollback bound; inside the SLO
LLM = {"error_samples": {"llm": 3}}  # Scenario A: LLM-fallback mitigation and restart
FALLBACK = "llm_fallback mitigation and restart"

ERROR_RATE_SLO = [
    # Verification: "< 0.1 %" sustained for 10 minutes.
    row(
        "0.00099-inside",
        "HighErrorRate",
        world={**LLM, "sli": [ERR_MID, 0.00099]},
        outcome="resolved",
        action=FALLBACK,
        reason="verify error_rate: held for 0:10:00",
        absent=("rollback",),
        paged=False,
        rolled_back=None,
        restarted=True,
        applied=["llm_fallback"],
    ),
    row(
        "0.001-outside",
        "HighErrorRate",
        world={**LLM, "sli": [ERR_MID, 0.001]},
        outcome="resolved",
        action="rollback",
        reason=UNRESOLVED,
        absent=(CROSSES,),
        paged=False,
        rolled_back="at 30 min",
        restarted=True,
        applied=["llm_fallback"],
    ),
]

ERROR_RATE_ROLLBACK = [
    # Assessment: "> 1 %" rolls back before any diagnosis.
    row(
        "assessment-0.01-inside",
        "HighErrorRate",
        world={**LLM, "sli": [0.01, ERR_GOOD]},
        outcome="resolved",
        action=FALLBACK,
        reason="scenario: llm errors",
        absent=("rollback",),
        paged=False,
        rolled_back=None,
        restarted=True,
        applied=["llm_fallback"],
    ),
    row(
        "assessment-0.0101-outside",
        "HighErrorRate",
        world={**LLM, "sli": [0.0101]},
        outcome="resolved",
        action="rollback",
        reason="rollback: error rate 0.0101 > 0.01",
        absent=("scenario:",),
        paged=False,
        rolled_back="at once",
        restarted=False,
    ),
    # Verification: a sample "> 1 %" rolls back at once; at 1 % it waits for 30 min.
    row(
        "verification-0.01-inside",
        "HighErrorRate",
        world={**LLM, "sli": [ERR_MID, 0.01]},
        outcome="resolved",
        action="rollback",
        reason=UNRESOLVED,
        absent=(CROSSES,),
        paged=False,
        rolled_back="at 30 min",
        restarted=True,
        applied=["llm_fallback"],
    ),
    row(
        "verification-0.0101-outside",
        "HighErrorRate",
        world={**LLM, "sli": [ERR_MID, 0.0101]},
        outcome="resolved",
        action="rollback",
        reason=f"rollback: error_rate = 0.0101 {CROSSES} 0.01",
        absent=("unresolved",),
        paged=False,
        rolled_back="at once",
        restarted=True,
        applied=["llm_fallback"],
    ),
]

RESOURCE = {"error_samples": {"resource_memory": 7}, "sli": [ERR_MID, ERR_GOOD]}

MEMORY = [
    # Scenario C: "if memory > 90 %, restart"; otherwise scaling up is a person's job.
    row(
        "0.90-inside",
        "HighErrorRate",
        world={**RESOURCE, "diag": {"MemAvailable": 0.90}},
        outcome="resolved",
        action="error rate recovered (no automated change)",
        reason="asked a human: resource exhaustion without memory > 90%: scale up",
        absent=("restart (memory exhausted)",),
        paged=True,
        rolled_back=None,
        restarted=False,
    ),
    row(
        "0.901-outside",
        "HighErrorRate",
        world={**RESOURCE, "diag": {"MemAvailable": 0.901}},
        outcome="resolved",
        action="restart (memory exhausted)",
        reason="restart (memory exhausted): exit 0",
        absent=("asked a human",),
        paged=False,
        rolled_back=None,
        restarted=True,
    ),
]


# ---------------------------------------------------------------- HighLatencyP95
P95_MID, P95_GOOD = 0.300, 0.150
# Scenario A: the LLM API slow (3 s > 1 s) -> decomposition cache, restart
HTDAG_SLOW = {"diag": {"htdag": 0.400}, "llm_latency_s": 3.0}

LATENCY_SLO = [
    # Verification: "P95 < 200 ms" sustained for 10 minutes.
    row(
        "0.199-inside",
        "HighLatencyP95",
        world={**HTDAG_SLOW, "sli": [P95_MID, 0.199]},
        outcome="resolved",
        action="htdag_cache",
        reason="verify latency_p95: held for 0:10:00",
        absent=("rollback",),
        paged=False,
        rolled_back=None,
        restarted=True,
        applied=["htdag_cache"],
    ),
    row(
        "0.200-outside",
        "HighLatencyP95",
        world={**HTDAG_SLOW, "sli": [P95_MID, 0.200]},
        outcome="resolved",
        action="rollback",
        reason=UNRESOLVED,
        absent=(CROSSES,),
        paged=False,
        rolled_back="at 30 min",
        restarted=True,
        applied=["htdag_cache"],
    ),
]

LATENCY_ROLLBACK = [
    # Assessment: "P95 > 500 ms" rolls back before any diagnosis.
    row(
        "assessment-0.500-inside",
        "HighLatencyP95",
        world={**HTDAG_SLOW, "sli": [0.500, P95_GOOD]},
        outcome="resolved",
        action="htdag_cache",
        reason="scenario: slow component decomposition",
        absent=("rollback",),
        paged=False,
        rolled_back=None,
        restarted=True,
        applied=["htdag_cache"],
    ),
    row(
        "assessment-0.501-outside",
        "HighLatencyP95",
        world={**HTDAG_SLOW, "sli": [0.501]},
        outcome="resolved",
        action="rollback",
        reason="rollback: P95 0.501s > 0.5s",
        absent=("scenario:",),
        paged=False,
        rolled_back="at once",
        restarted=False,
    ),
    # Verification: a sample "> 500 ms" rolls back at once; at 500 ms it waits 30 min.
    row(
        "verification-0.500-inside",
        "HighLatencyP95",
        world={**HTDAG_SLOW, "sli": [P95_MID, 0.500]},
        outcome="resolved",
        action="rollback",
        reason=UNRESOLVED,
        absent=(CROSSES,),
        paged=False,
        rolled_back="at 30 min",
        restarted=True,
        applied=["htdag_cache"],
    ),
    row(
        "verification-0.501-outside",
        "HighLatencyP95",
        world={**HTDAG_SLOW, "sli": [P95_MID, 0.501]},
        outcome="resolved",
        action="rollback",
        reason=f"rollback: latency_p95 = 0.501 {CROSSES} 0.5",
        absent=("unresolved",),
        paged=False,
        rolled_back="at once",
        restarted=True,
        applied=["htdag_cache"],
    ),
]

NOTHING_SLOW = {"htdag": 0.100, "halo": 0.100, "aop": 0.050}
NO_MITIGATION = "no mitigation applies: scale up resources"

CPU = [
    # Scenario C: "if CPU > 80 %" lower the concurrency (restart).
    row(
        "0.80-inside",
        "HighLatencyP95",
        world={"diag": {**NOTHING_SLOW, "node_cpu": 0.80}, "sli": [P95_MID, P95_GOOD]},
        outcome="resolved",
        action="latency recovered (no automated change)",
        reason=NO_MITIGATION,
        absent=("mitigation: ",),
        paged=True,
        rolled_back=None,
        restarted=False,
    ),
    row(
        "0.801-outside",
        "HighLatencyP95",
        world={"diag": {**NOTHING_SLOW, "node_cpu": 0.801}, "sli": [P95_MID, P95_GOOD]},
        outcome="resolved",
        action="concurrency",
        reason="mitigation: concurrency",
        absent=(NO_MITIGATION,),
        paged=False,
        rolled_back=None,
        restarted=True,
        applied=["concurrency"],
    ),
]

DISK_IO = [
    # Scenario C: disk I/O high -> logging DEBUG -> INFO (the runbook's sed: no restart).
    row(
        "0.80-inside",
        "HighLatencyP95",
        world={"diag": {**NOTHING_SLOW, "node_disk_io": 0.80}, "sli": [P95_MID, P95_GOOD]},
        outcome="resolved",
        action="latency recovered (no automated change)",
        reason=NO_MITIGATION,
        absent=("mitigation: ",),
        paged=True,
        rolled_back=None,
        restarted=False,
    ),
    row(
        "0.801-outside",
        "HighLatencyP95",
        world={"diag": {**NOTHING_SLOW, "node_disk_io": 0.801}, "sli": [P95_MID, P95_GOOD]},
        outcome="resolved",
        action="logging_verbosity",
        reason="mitigation: logging_verbosity",
        absent=(NO_MITIGATION,),
        paged=False,
        rolled_back=None,
        restarted=False,
        applied=["logging_verbosity"],
    ),
]


@pytest.mark.parametrize("r", PASS_RATE_ROLLBACK)
async def test_pass_rate_rollback_95_percent(time_env: WorkflowEnvironment, r: Row) -> None:
    await check(time_env, r)


@pytest.mark.parametrize("r", PASS_RATE_SLO)
async def test_pass_rate_slo_98_percent(time_env: WorkflowEnvironment, r: Row) -> None:
    await check(time_env, r)


@pytest.mark.parametrize("r", INFRASTRUCTURE_FAILURES)
async def test_pass_rate_infrastructure_over_5_failures(
    time_env: WorkflowEnvironment, r: Row
) -> None:
    await check(time_env, r)


@pytest.mark.parametrize("r", ERROR_RATE_SLO)
async def test_error_rate_slo_0_1_percent(time_env: WorkflowEnvironment, r: Row) -> None:
    await check(time_env, r)


@pytest.mark.parametrize("r", ERROR_RATE_ROLLBACK)
async def test_error_rate_rollback_1_percent(time_env: WorkflowEnvironment, r: Row) -> None:
    await check(time_env, r)


@pytest.mark.parametrize("r", MEMORY)
async def test_error_rate_memory_90_percent(time_env: WorkflowEnvironment, r: Row) -> None:
    await check(time_env, r)


@pytest.mark.parametrize("r", LATENCY_SLO)
async def test_latency_slo_200ms(time_env: WorkflowEnvironment, r: Row) -> None:
    await check(time_env, r)


@pytest.mark.parametrize("r", LATENCY_ROLLBACK)
async def test_latency_rollback_500ms(time_env: WorkflowEnvironment, r: Row) -> None:
    await check(time_env, r)


@pytest.mark.parametrize("r", CPU)
async def test_latency_cpu_80_percent(time_env: WorkflowEnvironment, r: Row) -> None:
    await check(time_env, r)


@pytest.mark.parametrize("r", DISK_IO)
async def test_latency_disk_io_80_percent(time_env: WorkflowEnvironment, r: Row) -> None:
    await check(time_env, r)


MEMORY_GC = [
    # Scenario C: "if memory > 80 %, enable aggressive garbage collection" (restart).
    row(
        "0.80-inside",
        "HighLatencyP95",
        world={"diag": {**NOTHING_SLOW, "MemAvailable": 0.80}, "sli": [P95_MID, P95_GOOD]},
        outcome="resolved",
        action="latency recovered (no automated change)",
        reason=NO_MITIGATION,
        absent=("mitigation: ",),
        paged=True,
        rolled_back=None,
        restarted=False,
    ),
    row(
        "0.801-outside",
        "HighLatencyP95",
        world={"diag": {**NOTHING_SLOW, "MemAvailable": 0.801}, "sli": [P95_MID, P95_GOOD]},
        outcome="resolved",
        action="python_malloc",
        reason="mitigation: python_malloc",
        absent=(NO_MITIGATION,),
        paged=False,
        rolled_back=None,
        restarted=True,
        applied=["python_malloc"],
    ),
]

LLM_SLOW = [
    # Scenario A: "if LLM slow, use cached decompositions"; "slow" = over 1 s (ours).
    row(
        "1.0s-inside",
        "HighLatencyP95",
        world={"diag": {"htdag": 0.400}, "llm_latency_s": 1.0, "sli": [P95_MID, P95_GOOD]},
        outcome="resolved",
        action="latency recovered (no automated change)",
        reason="diagnosis: LLM API latency: 1 s (within 1 s)",
        absent=("mitigation: ",),
        paged=True,
        rolled_back=None,
        restarted=False,
    ),
    row(
        "1.001s-outside",
        "HighLatencyP95",
        world={"diag": {"htdag": 0.400}, "llm_latency_s": 1.001, "sli": [P95_MID, P95_GOOD]},
        outcome="resolved",
        action="htdag_cache",
        reason="diagnosis: LLM API latency: 1.001 s (over 1 s)",
        absent=(NO_MITIGATION,),
        paged=False,
        rolled_back=None,
        restarted=True,
        applied=["htdag_cache"],
    ),
]


@pytest.mark.parametrize("r", MEMORY_GC)
async def test_latency_memory_80_percent(time_env: WorkflowEnvironment, r: Row) -> None:
    await check(time_env, r)


@pytest.mark.parametrize("r", LLM_SLOW)
async def test_latency_llm_slow_1s(time_env: WorkflowEnvironment, r: Row) -> None:
    await check(time_env, r)

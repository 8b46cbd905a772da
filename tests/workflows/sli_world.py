"""A World (tests/workflows/fakes.py) for the SLI playbooks: scripted SLI samples before
and after a rollback, diagnostics numbers by query, test-suite runs, /health fields,
mitigations -- all at the activity boundary, with calls logged at server time."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field

from temporalio import activity

from tests.workflows.fakes import HEALTHY, Sample, World, sample
from workflows.contracts.diagnostics import (
    HOST_CHECK,
    LOG_ERRORS,
    HostCheckInput,
    HostCheckResult,
    LogErrorsInput,
    LogErrorsResult,
)
from workflows.contracts.http import HTTP_PROBE, HttpProbeInput, HttpProbeResult
from workflows.contracts.mitigation import (
    MITIGATION_APPLY,
    MITIGATION_RESTORE,
    MitigationInput,
    MitigationResult,
)
from workflows.contracts.policy import ServicePolicy
from workflows.contracts.prometheus import (
    PROMETHEUS_QUERY,
    PromQueryInput,
    PromQueryResult,
    PromSample,
)
from workflows.contracts.testsuite import (
    TESTSUITE_CHECK,
    TESTSUITE_RUN,
    CheckInput,
    CheckResult,
    TestingPolicy,
    TestRunInput,
    TestRunResult,
)

MITIGATIONS = [
    "llm_fallback",
    "aop_relaxed",
    "htdag_cache",
    "halo_perf",
    "concurrency",
    "logging_verbosity",
    "python_malloc",
]
NO_RESTART = {"logging_verbosity"}  # the runbook's sed has no restart


def passing_run(passed: int = 100) -> TestRunResult:
    """A suite run in which every test passes (pass rate 100 %)."""
    return TestRunResult(exit_status=0, passed=passed, pass_rate=1.0, summary=f"{passed} passed")


def sli_policy(**kw: object) -> ServicePolicy:
    base: dict[str, object] = dict(
        service="genesis-orchestration",
        hosts=["genesis-1"],
        severity_default="P1",
        has_rollback=True,
        has_health_url=True,
        mitigations=MITIGATIONS,
        testing=TestingPolicy(
            import_check=["python3", "-c", "import infrastructure"], required_packages=["pytest"]
        ),
        slis={
            "test_pass_rate": dict(
                name="test_pass_rate",
                query="genesis_test_pass_rate",
                comparison="ge",
                threshold=0.98,
            ),
            "error_rate": dict(
                name="error_rate", query="error_ratio", comparison="lt", threshold=0.001
            ),
            "latency_p95": dict(name="latency_p95", query="p95", comparison="lt", threshold=0.2),
        },
    )
    return ServicePolicy.model_validate(base | kw)


@dataclass
class SliWorld(World):
    # SLI samples in order, the last repeated; HEALTHY (the default) holds the SLI asked
    # for, None is no data. A test that wants a breach says so.
    sli: list[Sample] = field(default_factory=lambda: [HEALTHY])
    sli_after_rollback: list[Sample] = field(default_factory=lambda: [HEALTHY])
    diag: dict[str, float | None] = field(default_factory=dict)  # query substring -> value
    error_samples: dict[str, float] = field(default_factory=dict)  # category -> count
    series: dict[str, list[PromSample]] = field(default_factory=dict)  # query substring ->
    log_errs: LogErrorsResult = field(default_factory=lambda: LogErrorsResult(error_lines=0))
    # Whole-suite runs, in order, the last repeated; by default every test passes.
    suite: list[TestRunResult] = field(default_factory=lambda: [passing_run()])
    suite_after_rollback: list[TestRunResult] | None = None  # None: `suite` goes on
    isolated: TestRunResult = field(default_factory=lambda: passing_run(1))  # node ids alone
    checks: dict[str, CheckResult] = field(default_factory=dict)
    health_json: dict[str, list[object]] = field(default_factory=dict)  # pointer -> values
    # Host checks (diagnostics.host_check) by "kind" or "kind:name"; unset: exit 0, with
    # curl's time_total llm_latency_s (a healthy LLM API) for llm_latency.
    host: dict[str, HostCheckResult] = field(default_factory=dict)
    llm_latency_s: float = 0.25
    applied: list[str] = field(default_factory=list)
    restored: list[str] = field(default_factory=list)
    _n: dict[str, int] = field(default_factory=dict)

    def _next(self, key: str, seq: list[object]) -> object:
        i = self._n.get(key, 0)
        self._n[key] = i + 1
        return seq[min(i, len(seq) - 1)]

    def postmortem(self) -> str:
        return next(c.detail for c in self.calls if c.name == "postmortem")

    def activities(self) -> list[Callable[..., object]]:
        world = self
        mine = {PROMETHEUS_QUERY.name, HTTP_PROBE.name}
        base = [
            a
            for a in super().activities()
            if getattr(a, "__temporal_activity_definition").name not in mine  # noqa: B009
        ]
        sli_queries = {s.query for s in self.policy.slis.values()}
        d = self.policy.diagnostics

        @activity.defn(name=PROMETHEUS_QUERY.name)
        async def prom(inp: PromQueryInput) -> PromQueryResult:
            if inp.query in sli_queries:
                seq = world.sli_after_rollback if world.started_after_rollback else world.sli
                world.log("prometheus", inp.query, ago_s=inp.ago_s)
                v = world._next(f"sli{world.started_after_rollback}", seq)
                return sample(world.policy, inp.query, v)  # type: ignore[arg-type]
            world.log("diag", inp.query)
            if inp.query == d.error_categories_query and world.error_samples:
                return PromQueryResult(
                    status="ok",
                    samples=[
                        PromSample(labels={d.error_category_label: k}, value=v)
                        for k, v in world.error_samples.items()
                    ],
                )
            labelled = next((v for k, v in world.series.items() if k in inp.query), None)
            if labelled is not None:
                return PromQueryResult(status="ok", samples=labelled)
            hit = next((v for k, v in world.diag.items() if k in inp.query), None)
            if hit is None:
                return PromQueryResult(status="no_data")
            return PromQueryResult(status="ok", samples=[PromSample(labels={}, value=hit)])

        @activity.defn(name=HTTP_PROBE.name)
        async def probe(inp: HttpProbeInput) -> HttpProbeResult:
            ptr = inp.json_pointer
            world.log("probe", ptr or inp.url or "")
            value = world._next(ptr, world.health_json[ptr]) if ptr in world.health_json else None  # type: ignore[index]
            return HttpProbeResult(
                url=inp.url or "http://svc/health",
                ok=True,
                status_code=200,
                json_value=None if value is None else json.dumps(value),
            )

        @activity.defn(name=TESTSUITE_RUN.name)
        async def suite(inp: TestRunInput) -> TestRunResult:
            world.log("testsuite", ",".join(inp.node_ids))
            if inp.node_ids:
                return world.isolated
            if world.started_after_rollback and world.suite_after_rollback is not None:
                return world._next("suite-after", world.suite_after_rollback)  # type: ignore[arg-type,return-value]
            return world._next("suite", world.suite)  # type: ignore[arg-type,return-value]

        @activity.defn(name=TESTSUITE_CHECK.name)
        async def check(inp: CheckInput) -> CheckResult:
            world.log(f"check:{inp.check}")
            return world.checks.get(inp.check, CheckResult(ok=True, detail="ok"))

        @activity.defn(name=LOG_ERRORS.name)
        async def log_errors(inp: LogErrorsInput) -> LogErrorsResult:
            world.log("log_errors")
            return world.log_errs

        @activity.defn(name=MITIGATION_APPLY.name)
        async def apply(inp: MitigationInput) -> MitigationResult:
            world.log("mitigation", f"{inp.name}|{inp.incident_id}")
            world.applied.append(inp.name)
            return MitigationResult(
                name=inp.name,
                path=f"h:config/{inp.name}.yaml",
                changed=True,
                restart=inp.name not in NO_RESTART,
                detail=f"changed: config/{inp.name}.yaml",
            )

        @activity.defn(name=MITIGATION_RESTORE.name)
        async def restore(inp: MitigationInput) -> MitigationResult:
            world.log("restore", inp.name)
            world.restored.append(inp.name)
            return MitigationResult(name=inp.name, path="h:x", changed=True, restart=False)

        @activity.defn(name=HOST_CHECK.name)
        async def host_check(inp: HostCheckInput) -> HostCheckResult:
            key = f"{inp.kind}:{inp.name}" if inp.name else inp.kind
            world.log("host_check", key)
            seconds = world.llm_latency_s if inp.kind == "llm_latency" else None
            default = HostCheckResult(
                kind=inp.kind, name=inp.name, host="genesis-1", ok=True, exit_status=0
            )
            got = world.host.get(key, world.host.get(inp.kind))
            return got or default.model_copy(
                update={"seconds": seconds, "output": f"{seconds}\n" if seconds else ""}
            )

        return [*base, prom, probe, suite, check, log_errors, apply, restore, host_check]

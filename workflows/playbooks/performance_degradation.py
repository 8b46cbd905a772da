"""PerformanceDegradation (Agent Lab playbook, P2)."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows.coverage import AGENT_LAB, asks, automated, declare, deviation, not_applicable
    from workflows.incident import patched
    from workflows.models import IncidentInput, Phase, PlaybookResult
    from workflows.playbook import Playbook
    from workflows.steps import agentlab_diagnosis as diag
    from workflows.steps import agentlab_recovery as lab
    from workflows.steps import diagnostics, mitigation, notify, phases, safety, verify
    from workflows.steps import performance as perf
    from workflows.steps.resolution import close, escalate

LATENCY_SLI = "latency_p95"
CPU_SLI = "cpu"
# workflow.patched id: incidents started before it applied every performance mitigation
# whatever the investigation found.
INVESTIGATION_DECIDES = "perf-investigation-decides"


@workflow.defn(name="PerformanceDegradation")
class PerformanceDegradation(Playbook):
    """Agent Lab "Playbook: Performance Degradation" (P2).

    Investigation: system resources (top, df, free) and the application's metrics (the
    latency and CPU SLIs from Prometheus, where configured), the access log's slowest
    requests ("Identify Bottlenecks") and the last week's commits ("Recent Changes").
    Containment applies what the investigation points at (`agent_lab.performance`):
    request throttling when the CPU shows load, cache optimization when a few endpoints
    carry most slow requests (named inventory mitigations; restart once if one asks).
    Saturated resources: a person is asked to scale (to do + Slack). Nothing pointed
    at: nothing is applied; a person takes over. Recovery: "Performance Validation" --
    a bounded load probe (the runbook's `ab -n 1000 -c 10 .../health`, capped in time,
    loopback or inventory targets only), then the latency SLI sustained over the
    verification window. Anything short of
    that goes to a person, with the mitigations left in place.
    """

    playbook = "PerformanceDegradation"
    clock = phases.agent_lab(lambda p: p.agent_lab.budgets.performance_degradation)

    @workflow.run
    @safety.escalates_when_refused  # a mitigation/restart not approved in time
    async def run(self, inp: IncidentInput) -> PlaybookResult:
        policy = await self.detect(inp)
        cfg = policy.agent_lab
        latency = policy.slis.get(LATENCY_SLI)
        await notify.status_update(self, "Active", "alert received", "check resources, metrics")

        self.enter(Phase.ASSESSMENT)  # Investigation
        exhausted = await diag.resources(self)
        if latency is not None:
            await diagnostics.value(self, f"current {LATENCY_SLI}", latency.query, "s")
        cpu_value = None
        if (cpu := policy.slis.get(CPU_SLI)) is not None:
            cpu_value = await diagnostics.value(self, "CPU usage", cpu.query)
        if patched(INVESTIGATION_DECIDES):
            wanted = await self.investigate(exhausted, cpu_value)
            if not wanted:
                why = "the investigation points at neither load nor repeated slow requests"
                self.record("to do: identify the bottleneck", "info", f"{why}: profile, queries")
                return await escalate(self, f"{why}; nothing applied")
        else:
            wanted = cfg.performance_mitigations

        self.enter(Phase.RESPONSE)  # Containment
        applied = await mitigation.apply(self, wanted)
        action = f"{' + '.join(applied)} mitigation" if applied else "no mitigation"
        kept = f"; mitigations left in place: {', '.join(applied)}" if applied else ""
        await notify.status_update(
            self,
            "Investigating",
            f"mitigations: {', '.join(applied) or 'none'}",
            "load probe, then verify latency",
        )

        self.enter(Phase.VERIFICATION)  # Recovery
        load = await lab.load_probe(self)
        if load is None and latency is None:
            return await escalate(self, "no load probe and no latency SLI to verify with" + kept)
        if load is not None and not load.ok:
            return await escalate(self, f"load probe failed: {load.detail}{kept}")
        if latency is not None:
            w = policy.waits
            held = await verify.sustained(self, latency, w.verify_window, w.verify_interval)
            if not held.held:
                return await escalate(self, f"{LATENCY_SLI} not sustained{kept}")
        return await close(self, "resolved", action)

    async def investigate(self, exhausted: list[str], cpu: float | None) -> list[str]:
        """The rest of Investigation, and what Containment applies: throttle for load,
        cache for repeated slow requests; a person to scale saturated resources."""
        slow = await perf.slow_requests(self)
        await perf.recent_changes(self)
        load = perf.points_at_load(self, cpu)
        repeats = perf.points_at_repeats(self, slow)
        saturated = [*exhausted, *(["CPU over the load threshold"] if load else [])]
        if saturated:
            self.ask_to_scale(saturated)
        t = self.policy.agent_lab.performance
        return [
            *([t.throttle_mitigation] if load else []),
            *([t.cache_mitigation] if repeats else []),
        ]

    def ask_to_scale(self, saturated: list[str]) -> None:
        # Containment "Resource Scaling" (`aws ec2 modify-instance-attribute`): a cloud
        # change Remedy does not make; a person decides while containment goes on.
        what = "; ".join(saturated)
        self.record("to do: scale resources", "info", f"resources saturated: {what}")
        self.background(
            notify.status_update(
                self,
                "Investigating",
                f"resources saturated: {what}",
                "a person: scale resources (a larger instance type or more instances)",
            )
        )


# Runbook coverage (remedy/coverage.py, `remedy coverage`): data only, never run.

_INV, _CON = "Investigation (5-15 minutes)", "Containment (15-45 minutes)"
_REC, _POST = "Recovery (45-120 minutes)", "Post-Incident Actions"
COVERAGE = declare(
    "PerformanceDegradation",
    AGENT_LAB,
    "Playbook: Performance Degradation (P2)",
    [
        automated(
            _INV,
            "Performance Metrics",
            "steps/agentlab_diagnosis.resources, diagnostics.value (latency_p95, cpu SLIs)",
        ),
        automated(
            _INV,
            "Identify Bottlenecks",
            "steps/performance.slow_requests (agent_lab.access_log)",
        ),
        deviation(
            _INV,
            "Identify Bottlenecks",
            "activities/performance.slow_requests",
            "no cProfile run of the app on the host: the access log's slowest requests "
            "instead (`tail`, analysed on the worker; slow = agent_lab.performance."
            "slow_request_s, 1 s, Remedy's); database queries are a person's to do when "
            "nothing is pointed at",
        ),
        automated(_INV, "Recent Changes", "steps/performance.recent_changes"),
        deviation(
            _INV,
            "Recent Changes",
            "steps/performance.recent_changes",
            "`git log -n 50` with commit times, kept to the last recent_days (7) by the "
            "workflow, instead of `--since`",
        ),
        asks(
            _CON,
            "Resource Scaling",
            "PerformanceDegradation.ask_to_scale: `to do:` + Slack when top/df/free show "
            "exhaustion or the CPU is over agent_lab.performance.throttle_cpu",
        ),
        automated(_CON, "Request Throttling", "steps/mitigation.apply (throttle)"),
        deviation(
            _CON,
            "Request Throttling",
            "steps/performance.points_at_load",
            "applied only when the investigation shows load: the `cpu` SLI at or over "
            "agent_lab.performance.throttle_cpu (0.80, Remedy's threshold)",
        ),
        automated(_CON, "Cache Optimization", "steps/mitigation.apply (cache)"),
        deviation(
            _CON,
            "Cache Optimization",
            "steps/performance.points_at_repeats",
            "applied only for repeated slow requests: at least cache_min_slow (20) slow "
            "requests, cache_top_endpoints (3) endpoints carrying cache_slow_share (50 %) "
            "of them (Remedy's thresholds); neither load nor repeats: a person decides",
        ),
        automated(
            _REC,
            "Performance Validation",
            "steps/agentlab_recovery.load_probe, steps/verify.sustained (latency_p95)",
        ),
        deviation(
            _REC,
            "Performance Validation",
            "activities/load_probe",
            "the load probe is capped at 60 s, never retried, and refused for targets "
            "that are neither loopback nor an inventory service URL",
        ),
        not_applicable(
            _REC,
            "Optimization Deployment",
            "deploying code (git push) is a release, not an incident action",
        ),
        automated(_REC, "Monitoring", "steps/verify.sustained (latency_p95)"),
        # Post-Incident Actions: asked of people at close, declared in steps/followups.py.
    ],
)

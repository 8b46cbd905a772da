"""PerformanceDegradation (Agent Lab playbook, P2)."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows.coverage import AGENT_LAB, automated, declare, deviation, not_applicable
    from workflows.models import IncidentInput, Phase, PlaybookResult
    from workflows.playbook import Playbook
    from workflows.steps import agentlab_diagnosis as diag
    from workflows.steps import agentlab_recovery as lab
    from workflows.steps import diagnostics, mitigation, notify, phases, safety, verify
    from workflows.steps.resolution import close, escalate

LATENCY_SLI = "latency_p95"
CPU_SLI = "cpu"


@workflow.defn(name="PerformanceDegradation")
class PerformanceDegradation(Playbook):
    """Agent Lab "Playbook: Performance Degradation" (P2).

    Investigation: system resources (top, df, free) and the application's metrics (the
    latency and CPU SLIs from Prometheus, where configured). Containment: request
    throttling and cache optimization (named inventory mitigations; restart once if
    one asks). Recovery: "Performance Validation" -- a bounded load probe (the runbook's
    `ab -n 1000 -c 10 .../health`, capped in time, loopback or inventory targets only),
    then the latency SLI sustained over the verification window. Anything short of
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
        await diag.resources(self)
        if latency is not None:
            await diagnostics.value(self, f"current {LATENCY_SLI}", latency.query, "s")
        if (cpu := policy.slis.get(CPU_SLI)) is not None:
            await diagnostics.value(self, "CPU usage", cpu.query)

        self.enter(Phase.RESPONSE)  # Containment
        applied = await mitigation.apply(self, cfg.performance_mitigations)
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
        # Identify Bottlenecks (cProfile), Recent Changes (git log): not done -- not covered.
        # Resource Scaling: not done, not asked -- not covered.
        automated(_CON, "Request Throttling", "steps/mitigation.apply (throttle)"),
        automated(_CON, "Cache Optimization", "steps/mitigation.apply (cache)"),
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
        # Post-Incident Actions: P2, no post-mortem draft, no to-do -- not covered.
    ],
)

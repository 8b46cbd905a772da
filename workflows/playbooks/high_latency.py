"""HighLatencyP95 (Genesis playbook, P1)."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows.models import IncidentInput, Phase, PlaybookResult
    from workflows.playbook import Playbook
    from workflows.steps import diagnostics, mitigation, notify, phases, safety, sli_response


def all_on(flags: object) -> bool:
    """/health `.halo_optimizations`: true, or an object whose flags are all true."""
    if isinstance(flags, dict):
        return bool(flags) and all(v is True for v in flags.values())
    return flags is True


@workflow.defn(name="HighLatencyP95")
class HighLatencyP95(Playbook):
    """Genesis "Incident: HighLatencyP95" (SLO P95 < 200 ms).

    Diagnosis: component latency (HTDAG decomposition, HALO routing, AOP validation)
    against the Phase 3 baselines (110 / 110 / 50 ms); CPU, disk I/O. Scenario A,
    HTDAG slow: decomposition cache, restart. B, HALO slow: if /health shows its
    optimizations off, enable them (halo_perf), restart. C, resources: CPU > 80 % ->
    lower concurrency; disk I/O high -> logging DEBUG -> INFO. Rollback Procedure:
    P95 > 500 ms -> roll back now; unresolved after 30 min -> roll back.
    Verification: P95 < 200 ms sustained for 10 minutes.
    """

    playbook = "HighLatencyP95"
    clock = phases.GENESIS

    @workflow.run
    @safety.escalates_when_refused  # a restart/rollback/mitigation not approved in time
    async def run(self, inp: IncidentInput) -> PlaybookResult:
        policy = await self.detect(inp)
        t, d = policy.thresholds, policy.diagnostics
        goal = sli_response.goal(self, "latency_p95", t.latency_p95_slo_s, t.latency_p95_rollback_s)
        await notify.status_update(self, "Active", "alert received", "component breakdown")

        self.enter(Phase.ASSESSMENT)
        rolled_back = await sli_response.rolled_back_at_assessment(
            self, goal, lambda now: f"P95 {now:g}s > {t.latency_p95_rollback_s:g}s"
        )
        if rolled_back is not None:
            return rolled_back
        slow = await self.slowest_component()
        cpu = await diagnostics.value(self, "CPU usage", d.cpu_query)
        disk = await diagnostics.value(self, "disk I/O utilization", d.disk_io_query)

        self.enter(Phase.RESPONSE)
        wanted: list[str] = []
        if slow is not None:
            comp = d.components[slow]
            optimized = comp.optimized_pointer and all_on(
                await diagnostics.health_field(
                    self, f"{slow} optimizations", comp.optimized_pointer
                )
            )
            if comp.mitigation and not optimized:
                wanted.append(comp.mitigation)
        if cpu is not None and cpu > d.cpu_threshold:
            wanted.append(d.mitigation_for["cpu"])
        if disk is not None and disk > d.disk_io_threshold:
            wanted.append(d.mitigation_for["disk_io"])
        applied = await mitigation.apply(self, wanted)
        if not applied:
            await sli_response.ask_human(
                self,
                f"slow: {slow or 'no component over baseline'}; no mitigation applies: "
                "scale up resources",
            )
        await sli_response.mitigated(self, applied)
        action = " + ".join(applied) or "latency recovered (no automated change)"
        return await sli_response.verify_or_roll_back(self, goal, action, applied)

    async def slowest_component(self) -> str | None:
        """The component furthest over its baseline, if any is over baseline x factor."""
        d = self.policy.diagnostics
        worst, ratio = None, d.slow_factor
        for name, comp in d.components.items():
            v = await diagnostics.value(self, f"{name} latency", comp.query, "s")
            if v is not None and v / comp.baseline_s > ratio:
                worst, ratio = name, v / comp.baseline_s
        self.record(
            f"scenario: slow component {worst or 'none'}",
            "info",
            f"over {d.slow_factor}x baseline" if worst else "all within baseline",
        )
        return worst

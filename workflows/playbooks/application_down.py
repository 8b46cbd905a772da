"""ApplicationDown (Agent Lab playbook, P0)."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows.incident import Incident
    from workflows.models import IncidentInput, Phase, PlaybookResult
    from workflows.steps import agentlab_diagnosis as diag
    from workflows.steps import agentlab_recovery as lab
    from workflows.steps import escalation, notify, recovery, safety
    from workflows.steps.resolution import close, escalate
    from workflows.steps.rollback import rollback


@workflow.defn(name="ApplicationDown")
class ApplicationDown(Incident):
    """Agent Lab "Playbook: Application Down" (P0).

    Immediate Actions (0-2 min): /health with a 10 s timeout; system resources (top,
    df, free). Investigation (2-10 min): log tail (crash evidence, in the background)
    and `grep -i error | tail -20`; dependencies (upstream API, data dir); process and
    port. Containment (10-30 min): maintenance mode on where configured, restart (30 s,
    then active?) or else the rollback. Recovery (30-60 min): /health, /health/detailed
    and the core-functionality request; maintenance mode off. The incident commander is
    paged if it is still open 5 minutes after detection (as ServiceDown).
    """

    playbook = "ApplicationDown"

    @workflow.run
    @safety.escalates_when_refused  # a restart/rollback/maintenance not approved in time
    async def run(self, inp: IncidentInput) -> PlaybookResult:
        policy = await self.detect(inp)
        waits, budgets = policy.waits, policy.agent_lab.budgets.application_down
        diag.start(self, budgets)
        self.escalate_after(
            waits.incident_commander_after,
            "page incident commander",
            lambda: escalation.page_incident_commander(
                self, "application still down after 5 minutes"
            ),
        )
        # Slack and the crash evidence (`tail -100 app.log`) never hold up the restart.
        self.background(notify.status_update(self, "Active", "alert received", "diagnose, restart"))
        self.background(recovery.collect_crash_evidence(self))

        # Immediate Actions
        up = await diag.health(self)
        if inp.flapping:
            return await escalate(
                self, "alert is flapping (re-fired within the cool-down); not restarting again"
            )
        if up and not self.alert_firing:
            return await close(self, "resolved_without_action", "none (recovered on its own)")
        await diag.resources(self)

        diag.enter(self, Phase.ASSESSMENT, budgets)  # Investigation
        await diag.grep(self, "log_errors")
        await diag.dependencies(self)
        await recovery.is_active(self, "diagnosis: process running")
        await diag.port(self)

        diag.enter(self, Phase.RESPONSE, budgets)  # Containment
        in_maintenance = await lab.maintenance(self, "enable")
        action = "restart"
        restarted = await recovery.restart(self)
        if restarted:
            await workflow.sleep(waits.after_restart)
        if not (restarted and await recovery.is_active(self)):
            if not policy.has_rollback:
                return await self.give_up(
                    "restart failed and no rollback is configured", in_maintenance
                )
            action = "rollback"
            result = await rollback(self, "application did not come up after restart")
            if not result.succeeded:
                return await self.give_up(
                    f"rollback failed at: {result.failed_step}", in_maintenance
                )

        diag.enter(self, Phase.VERIFICATION, budgets)  # Recovery
        if not await recovery.wait_healthy(self, waits.restore_budget, waits.health_retry_interval):
            return await self.give_up(f"application unhealthy after {action}", in_maintenance)
        if not await lab.verified(self):
            return await self.give_up(
                f"/health passes after {action} but /health/detailed or the core "
                "functionality request fails",
                in_maintenance,
            )
        if in_maintenance:  # gradual traffic restoration: only after verified recovery
            await lab.maintenance(self, "disable")
        return await close(self, "resolved", action)

    async def give_up(self, why: str, in_maintenance: bool) -> PlaybookResult:
        # The maintenance page stays up while a person works on a down application.
        note = "; maintenance mode left on" if in_maintenance else ""
        return await escalate(self, why + note)

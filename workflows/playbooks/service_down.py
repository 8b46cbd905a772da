"""GenesisServiceDown (Genesis playbook) and Application Down (Agent Lab, P0)."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows.models import IncidentInput, Phase, PlaybookResult
    from workflows.playbook import Playbook
    from workflows.steps import escalation, notify, recovery, safety
    from workflows.steps.resolution import close, escalate

# workflow.patched id (README, "Changing a running playbook"). Once no ServiceDown run
# started before it remains, switch to workflow.deprecate_patch, then remove.
NONBLOCKING_FIRST_UPDATE = "service-down-nonblocking-first-update"


@workflow.defn(name="ServiceDown")
class ServiceDown(Playbook):
    """Genesis "Incident: GenesisServiceDown" / Agent Lab "Playbook: Application Down".

    Step 1 restart, wait 30 s, check active; step 2 if that fails, roll back; step 3
    verify the service restored (health endpoint + health-check script); page the
    incident commander if unresolved 5 minutes after detection; collect crash evidence
    without blocking restoration; document in the incident log.
    """

    playbook = "ServiceDown"

    @workflow.run
    @safety.escalates_when_refused  # a restart/rollback/mitigation not approved in time
    async def run(self, inp: IncidentInput) -> PlaybookResult:
        policy = await self.detect(inp)
        waits = policy.waits
        self.escalate_after(
            waits.incident_commander_after,
            "page incident commander",
            lambda: escalation.page_incident_commander(self, "service still down after 5 minutes"),
        )
        first_update = notify.status_update(self, "Active", "alert received", "restart the service")
        if workflow.patched(NONBLOCKING_FIRST_UPDATE):
            # Slack answering 429 (Retry-After) or 500 is retried for up to 5 minutes;
            # awaited here, that delayed the restart by as long. Posted alongside now.
            self.background(first_update)
        else:
            await first_update  # runs started before the patch keep their history
        self.background(recovery.collect_crash_evidence(self))

        self.enter(Phase.ASSESSMENT)
        active = await recovery.is_active(self, "check service status")
        if inp.flapping:
            # Restarting again is what turns a flapping alert into a restart storm.
            return await escalate(
                self,
                "alert is flapping (re-fired within the cool-down "
                "after the last incident closed); not restarting again",
            )
        if active and not self.alert_firing:
            # Alertmanager already says resolved and the service is up: act on nothing.
            return await close(self, "resolved_without_action", "none (recovered on its own)")

        self.enter(Phase.RESPONSE)
        done = await recovery.restart_or_roll_back(self, "service")
        if done.failed:
            return await escalate(self, done.failed)

        self.enter(Phase.VERIFICATION)
        if not await recovery.wait_healthy(self, waits.restore_budget, waits.health_retry_interval):
            return await escalate(self, f"service unhealthy after {done.action}")
        return await close(self, "resolved", done.action)

"""ApplicationDown (Agent Lab playbook, P0)."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows.coverage import AGENT_LAB, asks, automated, declare, deviation
    from workflows.models import IncidentInput, Phase, PlaybookResult
    from workflows.playbook import Playbook
    from workflows.steps import agentlab_diagnosis as diag
    from workflows.steps import agentlab_recovery as lab
    from workflows.steps import escalation, notify, phases, recovery, safety
    from workflows.steps.resolution import close, escalate


@workflow.defn(name="ApplicationDown")
class ApplicationDown(Playbook):
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
    clock = phases.agent_lab(lambda p: p.agent_lab.budgets.application_down)

    @workflow.run
    @safety.escalates_when_refused  # a restart/rollback/maintenance not approved in time
    async def run(self, inp: IncidentInput) -> PlaybookResult:
        policy = await self.detect(inp)
        waits = policy.waits
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

        self.enter(Phase.ASSESSMENT)  # Investigation
        await diag.grep(self, "log_errors")
        await diag.dependencies(self)
        await recovery.is_active(self, "diagnosis: process running")
        await diag.port(self)

        self.enter(Phase.RESPONSE)  # Containment
        in_maintenance = await lab.maintenance(self, "enable")
        done = await recovery.restart_or_roll_back(self, "application")
        if done.failed:
            return await self.give_up(done.failed, in_maintenance)

        self.enter(Phase.VERIFICATION)  # Recovery
        if not await recovery.wait_healthy(self, waits.restore_budget, waits.health_retry_interval):
            return await self.give_up(f"application unhealthy after {done.action}", in_maintenance)
        if not await lab.verified(self):
            return await self.give_up(
                f"/health passes after {done.action} but /health/detailed or the core "
                "functionality request fails",
                in_maintenance,
            )
        if in_maintenance:  # gradual traffic restoration: only after verified recovery
            await lab.maintenance(self, "disable")
        return await close(self, "resolved", done.action)

    async def give_up(self, why: str, in_maintenance: bool) -> PlaybookResult:
        # The maintenance page stays up while a person works on a down application.
        note = "; maintenance mode left on" if in_maintenance else ""
        return await escalate(self, why + note)


# Runbook coverage (remedy/coverage.py, `remedy coverage`): data only, never run.

_IMM, _INV = "Immediate Actions (0-2 minutes)", "Investigation (2-10 minutes)"
_CON, _REC = "Containment (10-30 minutes)", "Recovery (30-60 minutes)"
_POST = "Post-Incident Actions"
COVERAGE = declare(
    "ApplicationDown",
    AGENT_LAB,
    "Playbook: Application Down (P0)",
    [
        automated(_IMM, "Check application status", "steps/agentlab_diagnosis.health (10 s)"),
        automated(_IMM, "If failed, check system resources", "steps/agentlab_diagnosis.resources"),
        automated(
            _INV,
            "Check Application Logs",
            "steps/recovery.collect_crash_evidence, steps/agentlab_diagnosis.grep",
        ),
        automated(
            _INV,
            "Verify Dependencies",
            "steps/agentlab_diagnosis.dependencies",
            "upstream API reached without the API key; data dir listed, runs.csv's first line",
        ),
        automated(
            _INV,
            "Check System Resources",
            "steps/recovery.is_active (process), steps/agentlab_diagnosis.port",
        ),
        automated(
            _CON, "Restart Application (if process crashed)", "steps/recovery.restart_or_roll_back"
        ),
        deviation(
            _CON,
            "Restart Application (if process crashed)",
            "steps/recovery.restart_or_roll_back",
            "the service's restart command, 30 s, active? -- else the Genesis rollback "
            "child: the wait and the rollback are not in this runbook",
        ),
        deviation(
            _CON,
            "Restart Application (if process crashed)",
            "ApplicationDown.run",
            "the incident commander is paged if still open 5 minutes after detection "
            "(from the Genesis runbook); a flapping alert is not restarted again",
        ),
        # Scale Resources (if resource exhaustion): not done, not asked -- not covered.
        automated(
            _CON,
            "Enable Maintenance Mode (if needed)",
            "steps/agentlab_recovery.maintenance('enable')",
        ),
        deviation(
            _CON,
            "Enable Maintenance Mode (if needed)",
            "ApplicationDown.run",
            "order: maintenance mode on before the restart (where configured), not after",
        ),
        automated(
            _REC,
            "Verify Recovery",
            "steps/recovery.wait_healthy, steps/agentlab_recovery.verified",
        ),
        automated(
            _REC,
            "Gradual Traffic Restoration",
            "steps/agentlab_recovery.maintenance('disable')",
            "all at once, after verified recovery",
        ),
        # Monitor Post-Recovery (tail -f the log): the incident closes -- not covered.
        asks(_POST, "Root Cause Analysis: Identify why application crashed", "post-mortem draft"),
        # Capacity Planning, Monitoring Improvements: not on any list -- not covered.
        asks(
            _POST,
            "Documentation: Update runbooks with new failure modes",
            "post-incident checklist: update runbooks",
        ),
    ],
)

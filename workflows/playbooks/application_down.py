"""ApplicationDown (Agent Lab playbook, P0)."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows.coverage import AGENT_LAB, asks, automated, declare, deviation
    from workflows.incident import patched
    from workflows.models import IncidentInput, Phase, PlaybookResult
    from workflows.playbook import Playbook
    from workflows.steps import agentlab_diagnosis as diag
    from workflows.steps import agentlab_recovery as lab
    from workflows.steps import escalation, notify, phases, recovery, safety
    from workflows.steps.resolution import close, escalate

# workflow.patched id (README, "Changing a running playbook"), issue 18: maintenance mode
# only if needed, Scale Resources asked of a person, the post-recovery log watch.
IF_NEEDED = "application-down-if-needed"


@workflow.defn(name="ApplicationDown")
class ApplicationDown(Playbook):
    """Agent Lab "Playbook: Application Down" (P0).

    Immediate Actions (0-2 min): /health with a 10 s timeout; system resources (top,
    df, free). Investigation (2-10 min): log tail (crash evidence, in the background)
    and `grep -i error | tail -20`; dependencies (upstream API, data dir); process and
    port. Containment (10-30 min): restart (30 s, then active?), else maintenance mode
    on where configured and the rollback. Recovery (30-60 min): /health, /health/detailed
    and the core-functionality request; maintenance mode off; the post-recovery log
    watch. The incident commander is paged if it is not recovered 5 minutes after
    detection (as ServiceDown).

    Maintenance mode "(if needed)": by default (agent_lab.maintenance_when `still_down`)
    only when the application is still down after the restart, before the rollback or
    the hand-over; `before_restart` turns it on first. "Scale Resources (if resource
    exhaustion)": when top/df/free show it, a person is asked (timeline and Slack):
    resizing an instance is not Remedy's. "Monitor Post-Recovery": the error grep every
    agent_lab.watch_interval_s (5 min) until the Recovery budget ends (60 min after
    detection); a new error escalates -- a person looks at an application that is up
    but failing again, as the runbook's watcher of `tail -f` would.
    """

    playbook = "ApplicationDown"
    clock = phases.agent_lab(lambda p: p.agent_lab.budgets.application_down)

    @workflow.run
    @safety.escalates_when_refused  # a restart/rollback/maintenance not approved in time
    async def run(self, inp: IncidentInput) -> PlaybookResult:
        policy = await self.detect(inp)
        waits = policy.waits
        if_needed = patched(IF_NEEDED)
        self.recovered = False  # set on the patched path only: no IC page while watching
        self.escalate_after(
            waits.incident_commander_after,
            "page incident commander",
            self.page_commander,
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
        exhausted = await diag.resources(self)

        self.enter(Phase.ASSESSMENT)  # Investigation
        await diag.grep(self, "log_errors")
        await diag.dependencies(self)
        await recovery.is_active(self, "diagnosis: process running")
        await diag.port(self)

        self.enter(Phase.RESPONSE)  # Containment
        if not if_needed:  # runs started before IF_NEEDED keep their history
            in_maintenance = await lab.maintenance(self, "enable")
            done = await recovery.restart_or_roll_back(self, "application")
            if done.failed:
                return await self.give_up(done.failed, in_maintenance)
        else:
            if exhausted:
                await self.ask_to_scale(exhausted)
            self.in_maintenance = False
            first = policy.agent_lab.maintenance_when == "before_restart"
            if first:
                self.in_maintenance = await lab.maintenance(self, "enable")
            done = await recovery.restart_or_roll_back(
                self, "application", None if first else self.maintenance_if_needed
            )
            in_maintenance = self.in_maintenance
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
        if if_needed:
            self.recovered = True
            budget = policy.agent_lab.budgets.application_down[Phase.VERIFICATION]
            errors = await lab.watch_logs(
                self, self.detected_at + budget, policy.agent_lab.watch_interval
            )
            if errors:
                return await escalate(self, f"recovered by {done.action}, then {errors}")
        return await close(self, "resolved", done.action)

    async def page_commander(self) -> None:
        if self.recovered:  # verified and watching the logs: nothing for a commander
            self.record("page incident commander", "skipped", "recovered; post-recovery log watch")
            return
        await escalation.page_incident_commander(self, "application still down after 5 minutes")

    async def maintenance_if_needed(self) -> None:
        # Still down after the restart: the maintenance page goes up while the rollback
        # (or a person) works on it.
        self.in_maintenance = await lab.maintenance(self, "enable")

    async def ask_to_scale(self, exhausted: list[str]) -> None:
        # Containment "Scale Resources (if resource exhaustion)": resizing the instance is
        # a cloud change Remedy does not make; a person decides, while the restart goes on.
        what = "; ".join(exhausted)
        self.record("to do: scale resources", "info", f"resource exhaustion: {what}")
        self.background(
            notify.status_update(
                self,
                "Investigating",
                f"resource exhaustion: {what}",
                "a person: scale resources (e.g. a larger instance type); Remedy restarts",
            )
        )

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
        asks(
            _CON,
            "Scale Resources (if resource exhaustion)",
            "ApplicationDown.ask_to_scale: `to do:` + Slack when top/df/free show a full disk "
            "or memory all but used up (activities/diagnostics.exhaustion); resizing an "
            "instance is a cloud change Remedy does not make",
        ),
        automated(
            _CON,
            "Enable Maintenance Mode (if needed)",
            "ApplicationDown.maintenance_if_needed -> steps/agentlab_recovery.maintenance",
            "'if needed' = still down after the restart (agent_lab.maintenance_when "
            "`still_down`, the default): on before the rollback or the hand-over",
        ),
        deviation(
            _CON,
            "Enable Maintenance Mode (if needed)",
            "ApplicationDown.run",
            "order: after the restart's 30 s check, before the rollback; "
            "maintenance_when `before_restart` turns it on before the restart instead",
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
        automated(
            _REC,
            "Monitor Post-Recovery",
            "steps/agentlab_recovery.watch_logs",
            "`grep -i error LOG | tail -20` on a durable timer every watch_interval_s (5 "
            "min) until the Recovery budget ends (60 min after detection); an error line "
            "not seen at recovery escalates",
        ),
        deviation(
            _REC,
            "Monitor Post-Recovery",
            "steps/agentlab_recovery.watch_logs",
            "periodic error grep, not `tail -f`; bounded by the Recovery phase budget; the "
            "incident commander is not paged at 5 minutes once recovered",
        ),
        asks(_POST, "Root Cause Analysis: Identify why application crashed", "post-mortem draft"),
        # Post-Incident Actions: asked of people at close, declared in steps/followups.py.
        asks(
            _POST,
            "Documentation: Update runbooks with new failure modes",
            "post-incident checklist: update runbooks",
        ),
    ],
)

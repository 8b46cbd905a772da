"""GenesisServiceDown (Genesis playbook) and Application Down (Agent Lab, P0)."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows.coverage import GENESIS, asks, automated, declare, deviation, not_applicable
    from workflows.incident import patched
    from workflows.models import IncidentInput, Phase, PlaybookResult
    from workflows.playbook import Playbook
    from workflows.steps import escalation, notify, recovery, safety
    from workflows.steps.resolution import close, escalate

# workflow.patched id (README, "Changing a running playbook"). Once no ServiceDown run
# started before it remains, switch to workflow.deprecate_patch, then remove.
NONBLOCKING_FIRST_UPDATE = "service-down-nonblocking-first-update"
# Issue 18: the crash reason identified and a crash dump kept (instead of the `logs`
# tail alone), and Step 3's smoke tests after the health check.
CRASH_REASON = "service-down-crash-reason"


@workflow.defn(name="ServiceDown")
class ServiceDown(Playbook):
    """Genesis "Incident: GenesisServiceDown" / Agent Lab "Playbook: Application Down".

    Step 1 restart, wait 30 s, check active; step 2 if that fails, roll back; step 3
    verify the service restored (health endpoint + health-check script, then the smoke
    tests where configured: failing -> escalate); page the incident commander if
    unresolved 5 minutes after detection; collect crash evidence, keep the crash dump
    and identify the crash reason without blocking restoration; document in the
    incident log.
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
        if patched(NONBLOCKING_FIRST_UPDATE):
            # Slack answering 429 (Retry-After) or 500 is retried for up to 5 minutes;
            # awaited here, that delayed the restart by as long. Posted alongside now.
            self.background(first_update)
        else:
            await first_update  # runs started before the patch keep their history
        crash_reason = patched(CRASH_REASON)
        if crash_reason:
            self.background(recovery.identify_crash_reason(self))
        else:
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
        if crash_reason and await recovery.smoke_tests(self) is False:
            return await escalate(self, f"smoke tests fail after {done.action}")
        return await close(self, "resolved", done.action)


# Runbook coverage (remedy/coverage.py, `remedy coverage`): data only, never run.
_DIAG, _RESP = "Diagnosis Steps", "Response Actions"
_IC = f"{_RESP} > IMMEDIATE: Activate Incident Commander"
_S1 = f"{_RESP} > Step 1: Attempt Service Restart (0-2 minutes)"
_S2 = f"{_RESP} > Step 2: If Restart Fails, Rollback (2-5 minutes)"
_S3 = f"{_RESP} > Step 3: Verify Service Restored (5-10 minutes)"
_S4 = f"{_RESP} > Step 4: Root Cause Analysis (Offline)"
COVERAGE = declare(
    "ServiceDown",
    GENESIS,
    "Incident: GenesisServiceDown",
    [
        automated(_DIAG, "Check Service Status", "steps/recovery.is_active"),
        automated(
            _DIAG,
            "Review Crash Logs",
            "steps/recovery.identify_crash_reason (background): journal, dmesg, syslog, logs",
        ),
        automated(
            _DIAG,
            "Identify Crash Reason",
            "steps/recovery.identify_crash_reason -> activities/crash.classify",
            "pattern match over the sources' tails for the runbook's five reasons (first "
            "match in that order wins); none -> 'unknown, see crash dump'; timeline + Slack",
        ),
        automated(
            _IC,
            "Page incident commander",
            "steps/paging.at_detection: P0 pages on-call and the incident commander at "
            "once (paging.at_detection); Incident.escalate_after -> "
            "steps/escalation.page_incident_commander at 5 minutes for a lower severity",
        ),
        automated(_IC, "Notify stakeholders", "steps/notify.status_update (Slack)"),
        automated(_IC, "Begin rollback procedure", "steps/recovery.restart_or_roll_back"),
        deviation(
            _IC,
            "Begin rollback procedure",
            "steps/recovery.restart_or_roll_back",
            "order changed: restart first, roll back only if the service is not active "
            "after it (Step 1 / Step 2), never both at once",
        ),
        automated(_S1, "Try simple restart first", "steps/recovery.restart"),
        deviation(
            _S1,
            "Try simple restart first",
            "ServiceDown.run (inp.flapping)",
            "an alert re-firing within the cool-down after the last incident closed is "
            "flapping: diagnosed and paged, not restarted again (not in the runbook)",
        ),
        deviation(
            _S1,
            "Try simple restart first",
            "ServiceDown.run",
            "service active and the alert already resolved: closed with no restart",
        ),
        automated(_S1, "Wait 30 seconds", "steps/recovery.restart_or_roll_back (after_restart)"),
        automated(_S1, "Check if service came up", "steps/recovery.is_active"),
        automated(_S2, "Rollback to last known good version", "steps/rollback.Rollback (child)"),
        automated(
            _S2,
            "Verify rollback successful",
            "steps/rollback.Rollback.run (verify active, health check)",
        ),
        automated(_S3, "Run health check", "steps/recovery.wait_healthy (health URL + script)"),
        deviation(
            _S3,
            "Run health check",
            "steps/recovery.wait_healthy",
            "retried every 30 s until 10 minutes after detection (the runbook's 5-10 "
            "minute window; the retry interval is Remedy's)",
        ),
        automated(
            _S3,
            "Run smoke tests",
            "steps/recovery.smoke_tests (the inventory's smoke_test; failing -> escalate)",
        ),
        automated(
            _S4,
            "Collect crash dump",
            "steps/recovery.identify_crash_reason -> activities/crash.py",
            "crash_<detection time> under crash_dump.dir (one per incident run): the unit's "
            "journal (1 hour), dmesg, syslog, the service's logs; not kept without a "
            "crash_dump.dir, nor in dry-run",
        ),
        asks(
            _S4,
            "Analyze offline - DO NOT BLOCK SERVICE RESTORATION",
            "post-mortem draft (root cause left to people); evidence runs in the background",
        ),
        automated(
            "Mitigation Options", "Immediate (0-2 min): Restart service", "steps/recovery.restart"
        ),
        automated(
            "Mitigation Options",
            "Rollback (2-5 min): Revert to last known good version",
            "steps/rollback.Rollback (child)",
        ),
        automated(
            "Mitigation Options",
            "Incident Commander: Activate if unresolved after 5 min",
            "Incident.escalate_after -> steps/escalation.page_incident_commander",
        ),
        automated("Verification", "Service is up", "steps/recovery.wait_healthy (health URL)"),
        not_applicable(
            "Verification",
            "Grafana panel 4: Service status: UP",
            "a dashboard for people; the same state is read from the health endpoint",
        ),
        automated(
            "Verification", "Run full health check", "steps/recovery.wait_healthy (health_check)"
        ),
    ],
)

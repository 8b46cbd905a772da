"""Triage: where an alert goes when no playbook fits (no route, or a service the
inventory does not know). Never dropped silently: collect what can be collected and
page a human."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows.incident import Incident, StepFailed
    from workflows.models import IncidentInput, Phase, PlaybookResult
    from workflows.steps import escalation, recovery
    from workflows.steps.resolution import close

# How long a triage incident stays open for repeats of its alert to join it (so that
# Alertmanager's repeat_interval does not page again) when nobody acknowledges it.
HOLD_OPEN = timedelta(hours=24)


@workflow.defn(name="Triage")
class Triage(Incident):
    """No runbook applies: diagnose where possible, page a human, wait for them."""

    playbook = "Triage"

    @workflow.run
    async def run(self, inp: IncidentInput) -> PlaybookResult:
        try:
            await self.detect(inp)
            known = True
        except StepFailed as err:
            known = False
            self.record("service not in inventory", "info", err.message)
        self.enter(Phase.ASSESSMENT)
        if known:
            await recovery.is_active(self, "check service status")
            await recovery.collect_crash_evidence(self)
        why = (inp.route_reason or "no playbook for this alert") + (
            "" if known else f"; service {inp.alert.service!r} unknown"
        )
        await escalation.hand_over(self, why)
        # Stay open so repeats join this incident, until a person acknowledges it or
        # Alertmanager says the alert resolved.
        try:
            await workflow.wait_condition(
                lambda: bool(self.acknowledged_by) or not self.alert_firing, timeout=HOLD_OPEN
            )
        except TimeoutError:
            self.record("nobody acknowledged", "info", f"closing after {HOLD_OPEN}")
        return await close(self, "escalated", f"triage ({why})")

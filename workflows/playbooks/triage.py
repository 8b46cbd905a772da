"""Triage: where an alert goes when no playbook fits (no route, or a service the
inventory does not know). Never dropped silently: collect what can be collected and
page a human."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows import errors
    from workflows.incident import StepFailed
    from workflows.models import IncidentInput, Phase, PlaybookResult
    from workflows.playbook import Playbook
    from workflows.steps import recovery
    from workflows.steps.escalation import CoalescedPages
    from workflows.steps.resolution import escalate


@workflow.defn(name="Triage")
class Triage(Playbook, CoalescedPages):
    """No runbook applies: diagnose where possible, page a human, wait for them. Pages
    coalesce: every Triage incident of one UTC hour adds to one PagerDuty incident
    (`triage:<hour>`), so a burst of unrouted alerts pages a person once."""

    playbook = "Triage"
    page_prefix = "triage"

    @workflow.run
    async def run(self, inp: IncidentInput) -> PlaybookResult:
        unknown = ""
        try:
            await self.detect(inp)
        except StepFailed as err:
            if issubclass(err.error, errors.UnknownService):
                self.record("service not in inventory", "info", err.message)
                unknown = f"; service {inp.alert.service!r} unknown"
            else:  # the inventory knows it, but its policy could not be loaded
                unknown = f"; service policy not loaded ({err.error_type}: {err.message})"
        self.enter(Phase.ASSESSMENT)
        if not unknown:
            await recovery.is_active(self, "check service status")
            await recovery.collect_crash_evidence(self)
        why = (inp.route_reason or "no playbook for this alert") + unknown
        return await escalate(self, why)


# Runbook coverage (remedy/coverage.py): Triage carries out no runbook step of its own --
# it is where an alert goes when no runbook applies. Data only, never run.
COVERAGE: list[object] = []

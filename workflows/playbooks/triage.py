"""Triage: where an alert goes when no playbook fits (no route, or a service the
inventory does not know). Never dropped silently: collect what can be collected and
page a human."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows.incident import Incident, StepFailed
    from workflows.models import IncidentInput, Phase, PlaybookResult
    from workflows.steps import recovery
    from workflows.steps.resolution import escalate


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
        return await escalate(self, why)

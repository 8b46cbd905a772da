"""`Playbook`: the base class every runbook's workflow extends.

`Incident` (workflows/incident.py) is what every incident shares -- signals, updates,
queries, timeline, activity calls -- and knows nothing of the steps built on it.
`Playbook` adds what a runbook adds on top, using those steps:

- `detect()` pages the severity's people (steps/paging.py), looks back at earlier
  incidents of this alert on this service (workflows/steps/recurrence.py) and starts
  the Detection budget;
- `enter(phase)` is the one way a playbook enters a phase: the timeline, the
  `RemedyPhase` search attribute, the UI summary, and the phase's budget from the
  playbook's `clock` (workflows/steps/phases.py), watched until the phase is left.

A playbook names its clock once and then reads like its runbook:

    class ApplicationDown(Playbook):
        clock = phases.agent_lab(lambda p: p.agent_lab.budgets.application_down)
        ...
            self.enter(Phase.ASSESSMENT)  # Investigation
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows.contracts.policy import ServicePolicy
    from workflows.incident import Incident
    from workflows.models import IncidentInput, Phase
    from workflows.steps import escalation, paging, phases, recurrence


class Playbook(Incident):
    """Base class of every playbook workflow."""

    clock: phases.Clock = phases.UNTIMED

    async def detect(self, inp: IncidentInput) -> ServicePolicy:
        """Detection: the alert, the tags, the service's policy (Incident.detect); then,
        for runs keyed per run, earlier incidents of the same alert; then the Detection
        budget, where the playbook's runbook gives one."""
        policy = await super().detect(inp)
        if self.people and not isinstance(self, escalation.CoalescedPages):
            # The severity's people at once, then the re-page chain (steps/paging.py).
            # Not Triage's: a storm of unrouted alerts pages once per hour, coalesced.
            self.background(paging.at_detection(self))
        if self.per_run:
            await recurrence.look_back(self)
        if self.clock.arms_detection:
            phases.arm_clock(self, self.clock, Phase.DETECTION)
        return policy

    def enter(self, phase: Phase) -> None:
        super().enter(phase)
        phases.arm_clock(self, self.clock, phase)

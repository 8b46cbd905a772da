"""Agent Lab "Playbook: Security Incident" (P0).

Evidence first, then containment only with a person's approval:

1. Detection: page the incident commander at once -- a security incident is never
   automation's alone -- and post the status update.
2. Investigation: access-log analysis (top source addresses, error|fail|invalid lines,
   the attack-pattern grep over access and application logs), then a forensic snapshot
   of the data and logs *before anything changes*. No snapshot, no containment.
3. Containment: the inventory's steps (credential rotation, IP block, isolation, ...)
   are put up for approval together; each runs as soon as a person approves it by name
   (`remedy approve ID "containment: block-ip"`), in the order approvals arrive. A
   rejection, or any step unanswered within the approval timeout, escalates: nothing
   else runs, and a late approval is refused. In dry-run nothing runs, so nobody is
   asked: each step is recorded as the approval it would need and the command it
   would run.
4. Hand-over: recovery (clean restore, hardening, penetration testing), forensics, legal
   and user notification are people's work. They are listed as "to do" in the timeline,
   so the post-incident checklist carries them, and the incident stays open until
   acknowledged.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows.models import IncidentInput, Phase, PlaybookResult
    from workflows.playbook import Playbook
    from workflows.steps import escalation, notify, safety, security
    from workflows.steps.resolution import escalate


@workflow.defn(name="SecurityIncident")
class SecurityIncident(Playbook):
    playbook = "SecurityIncident"

    @workflow.run
    @safety.escalates_when_refused  # a containment step rejected or not approved in time
    async def run(self, inp: IncidentInput) -> PlaybookResult:
        policy = await self.detect(inp)
        sec = policy.security
        for step in sec.human_steps:  # the checklist's "left to people" items
            self.record(f"to do: {step}", "info", "for people: automation does not do this")
        await escalation.page_incident_commander(self, "security incident: collecting evidence")
        self.background(
            notify.status_update(
                self,
                "Investigating",
                "paged the incident commander; collecting evidence",
                "containment steps wait for a person's approval",
            )
        )
        if not sec.configured:
            return await escalate(self, "no `security:` section for this service in the inventory")

        self.enter(Phase.ASSESSMENT)  # the seed's Investigation
        await security.analyse_access_log(self)
        if not await security.snapshot(self):
            return await escalate(self, "forensic snapshot failed: no containment without evidence")

        self.enter(Phase.RESPONSE)  # the seed's Containment
        if not sec.containment:
            return await escalate(self, "evidence collected; no containment steps configured")
        failed = await security.contain(self, list(sec.containment))
        if failed:
            return await escalate(self, f"containment step failed: {failed}")
        done = "dry run: containment described" if policy.safety.dry_run else "contained"
        return await escalate(
            self,
            f"{done} ({', '.join(sec.containment)}); recovery and the to-do list are for people",
        )

"""Agent Lab "Playbook: Security Incident" (P0).

Evidence first, then containment only with a person's approval:

1. Detection: page the incident commander at once -- a security incident is never
   automation's alone -- and post the status update. The containment steps are put up
   for approval at minute 0 (the runbook's Immediate Actions), while the evidence is
   collected; none runs before the snapshot is taken.
2. Investigation: access-log analysis (top source addresses, error|fail|invalid lines,
   the attack-pattern grep over access and application logs), the compromised-data
   assessment (session files changed in the last hour, the backup bucket's listing),
   then a forensic snapshot of the data and logs *before anything changes*. No
   snapshot, no containment: the requests are withdrawn.
   Phase budgets are the runbook's headings (Immediate Actions 0-5, Investigation
   5-60, Containment 60-120 minutes from detection): an overrun is marked and said in
   Slack until a person owns the incident.
3. Containment: the inventory's steps (credential rotation, IP block, isolation, ...),
   asked for together at minute 0; each runs as soon as a person approves it by name
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

import asyncio

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows.coverage import AGENT_LAB, asks, automated, declare, deviation
    from workflows.incident import patched
    from workflows.models import IncidentInput, Phase, PlaybookResult
    from workflows.playbook import Playbook
    from workflows.steps import escalation, notify, phases, safety, security
    from workflows.steps.resolution import escalate

# workflow.patched id: incidents started before it ran without phase budgets.
PHASE_BUDGETS = "security-phase-budgets"
# workflow.patched id: incidents started before it asked for containment only after the
# evidence was in, and had no compromised-data assessment.
ASK_AT_ONCE = "security-ask-at-once"
CLOCK = phases.agent_lab(lambda p: p.agent_lab.budgets.security_incident)


@workflow.defn(name="SecurityIncident")
class SecurityIncident(Playbook):
    playbook = "SecurityIncident"

    @workflow.run
    @safety.escalates_when_refused  # a containment step rejected or not approved in time
    async def run(self, inp: IncidentInput) -> PlaybookResult:
        if patched(PHASE_BUDGETS):
            # The runbook's Immediate Actions 0-5, Investigation 5-60, Containment 60-120
            # minutes (inventory `agent_lab.budgets.security_incident` overrides them).
            self.clock = CLOCK
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

        if patched(ASK_AT_ONCE):
            return await self.evidence_while_asking()

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

    async def evidence_while_asking(self) -> PlaybookResult:
        """The runbook's order: the containment requests go out at minute 0 (Immediate
        Actions), while the evidence is collected; each step still runs only once
        approved, and none before the snapshot. No snapshot: the requests are withdrawn."""
        policy = self.policy
        names = list(policy.security.containment)
        # In dry-run nobody is asked (nothing would run): contain describes the steps.
        early = bool(names) and not policy.safety.dry_run

        async def evidence() -> bool:
            self.enter(Phase.ASSESSMENT)  # the seed's Investigation
            await security.analyse_access_log(self)
            await security.assess_data(self)
            return await security.snapshot(self)

        if early:
            deadline, have_evidence = await asyncio.gather(security.ask(self, names), evidence())
        else:
            deadline, have_evidence = None, await evidence()
        if not have_evidence:
            security.withdraw(self, names, "no evidence snapshot")
            return await escalate(self, "forensic snapshot failed: no containment without evidence")

        self.enter(Phase.RESPONSE)  # the seed's Containment
        if not names:
            return await escalate(self, "evidence collected; no containment steps configured")
        failed = await security.contain(self, names, asked=deadline)
        if failed:
            return await escalate(self, f"containment step failed: {failed}")
        done = "dry run: containment described" if policy.safety.dry_run else "contained"
        return await escalate(
            self,
            f"{done} ({', '.join(names)}); recovery and the to-do list are for people",
        )


# Runbook coverage (remedy/coverage.py, `remedy coverage`): data only, never run.

_IMM, _INV = "Immediate Actions (0-5 minutes)", "Investigation (5-60 minutes)"
_CON, _REC = "Containment (60-120 minutes)", "Recovery (120-480 minutes)"
_POST = "Post-Incident Actions"
_APPROVED = "steps/security.contain (inventory `security.containment`, each approved by name)"
COVERAGE = declare(
    "SecurityIncident",
    AGENT_LAB,
    "Playbook: Security Incident (P0)",
    [
        asks(_IMM, "Isolate affected systems", _APPROVED),
        asks(_IMM, "Rotate credentials immediately", _APPROVED),
        asks(_IMM, "Block suspicious IPs", _APPROVED),
        deviation(
            _IMM,
            "Rotate credentials immediately",
            "SecurityIncident.evidence_while_asking",
            "asked for at minute 0, while the evidence is collected; run only once a "
            "person approves it and the forensic snapshot is taken",
        ),
        automated(_INV, "Access Log Analysis", "steps/security.analyse_access_log"),
        automated(
            _INV,
            "Compromised Data Assessment",
            "steps/security.assess_data (inventory security.bucket_listing, sessions_dir)",
        ),
        deviation(
            _INV,
            "Compromised Data Assessment",
            "activities/security.data_assessment",
            "`find -mmin -60` (or `-newer` an operator-kept security.sessions_marker), "
            "never a marker created with touch: read-only on the evidence; the bucket "
            "listing is the inventory's command, run on the host",
        ),
        automated(
            _INV,
            "Attack Vector Identification",
            "steps/security.analyse_access_log (attack-pattern grep)",
        ),
        automated(
            _CON,
            "System Isolation",
            "steps/security.snapshot (forensic tar of data and logs)",
            "isolation itself is an approved containment step",
        ),
        deviation(
            _CON,
            "System Isolation",
            "steps/security.snapshot",
            "a tar of the data dir and logs on the host, not a cloud disk snapshot",
        ),
        asks(_CON, "Credential Rotation", _APPROVED),
        asks(_CON, "Access Control", _APPROVED),
        asks(_REC, "Clean System Restoration", "`to do:` (security.human_steps)"),
        asks(_REC, "Security Hardening", "`to do:` (security.human_steps)"),
        asks(
            _REC,
            "Validation",
            "`to do:` 'Security hardening: ... penetration test' (security.human_steps)",
        ),
        asks(
            _POST,
            "Forensic Analysis: Complete investigation report",
            "`to do:` (security.human_steps)",
        ),
        asks(
            _POST,
            "Legal Compliance: Notify authorities if required",
            "`to do:` (security.human_steps)",
        ),
        asks(
            _POST,
            "Security Improvements: Implement lessons learned",
            "`to do:` 'Security hardening' (security.human_steps)",
        ),
        asks(
            _POST,
            "Communication: User notification if data breached",
            "`to do:` (security.human_steps)",
        ),
        asks(
            _POST,
            "Insurance: File incident reports for coverage",
            "`to do:` (security.human_steps)",
        ),
    ],
)

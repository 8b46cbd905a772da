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
    from workflows.coverage import AGENT_LAB, asks, automated, declare, deviation
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
            "SecurityIncident.run",
            "order changed for safety: evidence first (access-log analysis, forensic "
            "snapshot), then containment, and only with a person's approval",
        ),
        automated(_INV, "Access Log Analysis", "steps/security.analyse_access_log"),
        # Compromised Data Assessment (S3 listing, session files touched): not covered.
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

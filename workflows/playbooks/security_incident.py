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
    from workflows.contracts.security import (
        SECURITY_ACCESS_LOG,
        SECURITY_CONTAIN,
        SECURITY_SNAPSHOT,
        AccessLogInput,
        ContainInput,
        EvidenceInput,
    )
    from workflows.models import IncidentInput, Phase, PlaybookResult
    from workflows.playbook import Playbook
    from workflows.steps import escalation, notify, safety
    from workflows.steps.resolution import escalate

CONTAINMENT = "containment: "  # approval step names: "containment: <inventory name>"
# workflow.patched id: dry-run incidents started before it waited for real approvals.
DRY_RUN_CONTAINMENT = "dry-run-containment"


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
        await self.analyse_access_log()
        if not await self.snapshot():
            return await escalate(self, "forensic snapshot failed: no containment without evidence")

        self.enter(Phase.RESPONSE)  # the seed's Containment
        if not sec.containment:
            return await escalate(self, "evidence collected; no containment steps configured")
        failed = await self.contain(list(sec.containment))
        if failed:
            return await escalate(self, f"containment step failed: {failed}")
        done = "dry run: containment described" if policy.safety.dry_run else "contained"
        return await escalate(
            self,
            f"{done} ({', '.join(sec.containment)}); recovery and the to-do list are for people",
        )

    async def analyse_access_log(self) -> None:
        r = await self.attempt(
            "access log analysis",
            SECURITY_ACCESS_LOG,
            AccessLogInput(service=self.service),
        )
        if r is None:
            return  # recorded; the snapshot still preserves the logs for people
        top = ", ".join(f"{s.source} ({s.requests})" for s in r.top_sources[:5]) or "none"
        self.record("diagnosis: top sources", "ok", f"{r.lines} requests; top: {top}")
        self.record("diagnosis: suspicious requests", "ok", f"{r.suspicious} error|fail|invalid")
        hits = ", ".join(f"{p}: {n}" for p, n in r.attack_hits.items() if n) or "none"
        self.record("diagnosis: attack patterns", "ok", hits + "".join(f"\n{s}" for s in r.samples))

    async def snapshot(self) -> bool:
        r = await self.attempt(
            "forensic snapshot",
            SECURITY_SNAPSHOT,
            EvidenceInput(service=self.service, incident_id=self.run_key),
        )
        if r is None:
            return False
        if r.dry_run:
            self.record("forensic snapshot", "skipped", r.detail)
        else:
            got = f"{r.path}: {r.size_bytes} bytes, sha256 {r.sha256}; {r.detail}"
            self.record("forensic snapshot", "ok", got)
        return True

    async def contain(self, names: list[str]) -> str | None:
        """Ask for every step at once; run each as its approval arrives. Returns the name
        of a step that failed, or None. Raises NotApproved on a rejection or timeout."""
        steps = {f"{CONTAINMENT}{n}": self.policy.security.containment[n] for n in names}
        if self.policy.safety.dry_run and workflow.patched(DRY_RUN_CONTAINMENT):
            # As safety.clear: a dry run says what it would ask and asks nobody (nothing
            # would run anyway), then shows each step as the activity describes it.
            for step, what in steps.items():
                self.record(
                    f"approval: {step}", "skipped", f"DRY RUN: would ask for approval: {what}"
                )
                if not await self.run_step(step.removeprefix(CONTAINMENT)):
                    return step
            return None
        deadline = await safety.ask(self, steps)
        waiting = list(steps)
        while waiting:
            answered = await safety.answers(self, waiting, deadline, until_first=True)
            for step, d in answered.items():
                waiting.remove(step)
                if not d.approved:
                    for other in waiting:  # withdrawn: nothing else runs after a "no"
                        self.pending_approvals.pop(other, None)
                    raise safety.NotApproved(f"{step} rejected by {d.by}: {d.text}")
                if not await self.run_step(step.removeprefix(CONTAINMENT)):
                    for other in waiting:
                        self.pending_approvals.pop(other, None)
                    return step
        return None

    async def run_step(self, name: str) -> bool:
        step = f"{CONTAINMENT}{name}"
        r = await self.attempt(
            step,
            SECURITY_CONTAIN,
            ContainInput(service=self.service, incident_id=self.run_key, name=name),
        )
        if r is None:
            return False
        self.record(
            step,
            "skipped" if r.dry_run else "ok" if r.ok else "failed",
            r.detail + (" (replayed)" if r.replayed else ""),
        )
        return r.ok

"""SecurityIncident's mechanics: the access-log analysis, the forensic snapshot, and
containment -- every step put up for approval at once, each run as its approval
arrives, nothing more after a "no" (workflows/playbooks/security_incident.py says when).
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
    from workflows.incident import Incident
    from workflows.steps import safety

CONTAINMENT = "containment: "  # approval step names: "containment: <inventory name>"
# workflow.patched id: dry-run incidents started before it waited for real approvals.
DRY_RUN_CONTAINMENT = "dry-run-containment"


async def analyse_access_log(inc: Incident) -> None:
    r = await inc.attempt(
        "access log analysis",
        SECURITY_ACCESS_LOG,
        AccessLogInput(service=inc.service),
    )
    if r is None:
        return  # recorded; the snapshot still preserves the logs for people
    top = ", ".join(f"{s.source} ({s.requests})" for s in r.top_sources[:5]) or "none"
    inc.record("diagnosis: top sources", "ok", f"{r.lines} requests; top: {top}")
    inc.record("diagnosis: suspicious requests", "ok", f"{r.suspicious} error|fail|invalid")
    hits = ", ".join(f"{p}: {n}" for p, n in r.attack_hits.items() if n) or "none"
    inc.record("diagnosis: attack patterns", "ok", hits + "".join(f"\n{s}" for s in r.samples))


async def snapshot(inc: Incident) -> bool:
    r = await inc.attempt(
        "forensic snapshot",
        SECURITY_SNAPSHOT,
        EvidenceInput(service=inc.service, incident_id=inc.run_key),
    )
    if r is None:
        return False
    if r.dry_run:
        inc.record("forensic snapshot", "skipped", r.detail)
    else:
        got = f"{r.path}: {r.size_bytes} bytes, sha256 {r.sha256}; {r.detail}"
        inc.record("forensic snapshot", "ok", got)
    return True


async def contain(inc: Incident, names: list[str]) -> str | None:
    """Ask for every step at once; run each as its approval arrives. Returns the name
    of a step that failed, or None. Raises NotApproved on a rejection or timeout."""
    steps = {f"{CONTAINMENT}{n}": inc.policy.security.containment[n] for n in names}
    if inc.policy.safety.dry_run and workflow.patched(DRY_RUN_CONTAINMENT):
        # As safety.clear: a dry run says what it would ask and asks nobody (nothing
        # would run anyway), then shows each step as the activity describes it.
        for step, what in steps.items():
            inc.record(f"approval: {step}", "skipped", f"DRY RUN: would ask for approval: {what}")
            if not await run_step(inc, step.removeprefix(CONTAINMENT)):
                return step
        return None
    deadline = await safety.ask(inc, steps)
    waiting = list(steps)
    while waiting:
        answered = await safety.answers(inc, waiting, deadline, until_first=True)
        for step, d in answered.items():
            waiting.remove(step)
            if not d.approved:
                for other in waiting:  # withdrawn: nothing else runs after a "no"
                    inc.pending_approvals.pop(other, None)
                raise safety.NotApproved(f"{step} rejected by {d.by}: {d.text}")
            if not await run_step(inc, step.removeprefix(CONTAINMENT)):
                for other in waiting:
                    inc.pending_approvals.pop(other, None)
                return step
    return None


async def run_step(inc: Incident, name: str) -> bool:
    step = f"{CONTAINMENT}{name}"
    r = await inc.attempt(
        step,
        SECURITY_CONTAIN,
        ContainInput(service=inc.service, incident_id=inc.run_key, name=name),
    )
    if r is None:
        return False
    inc.record(
        step,
        "skipped" if r.dry_run else "ok" if r.ok else "failed",
        r.detail + (" (replayed)" if r.replayed else ""),
    )
    return r.ok

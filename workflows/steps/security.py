"""SecurityIncident's mechanics: the access-log analysis, the compromised-data
assessment, the forensic snapshot, and containment -- every step put up for approval at
once, each run as its approval arrives, nothing more after a "no"
(workflows/playbooks/security_incident.py says when).
"""

from __future__ import annotations

from datetime import datetime

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows.contracts.security import (
        SECURITY_ACCESS_LOG,
        SECURITY_CONTAIN,
        SECURITY_DATA_ASSESSMENT,
        SECURITY_SNAPSHOT,
        AccessLogInput,
        ContainInput,
        DataAssessmentInput,
        EvidenceInput,
    )
    from workflows.incident import Incident, patched
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


async def assess_data(inc: Incident) -> None:
    """The runbook's "Compromised Data Assessment": session files changed lately and the
    backup bucket's listing. A part the inventory does not configure is a to-do."""
    r = await inc.attempt(
        "compromised data assessment",
        SECURITY_DATA_ASSESSMENT,
        DataAssessmentInput(service=inc.service),
    )
    if r is None:
        return  # recorded; people still have the snapshot
    if not r.sessions_dir:
        inc.record(
            "to do: review session data access",
            "info",
            "for people: no sessions dir (inventory security.sessions_dir or data_dir)",
        )
    elif r.sessions_changed is None:
        inc.record("diagnosis: session files changed", "failed", r.sessions_error)
    else:
        err = f" (partial: {r.sessions_error})" if r.sessions_error else ""
        got = f"{r.sessions_changed} under {r.sessions_dir} {r.sessions_since}{err}"
        inc.record("diagnosis: session files changed", "ok", got)
    if not r.bucket_command:
        inc.record(
            "to do: check the backup bucket for exfiltration",
            "info",
            "for people: no security.bucket_listing in the inventory",
        )
    elif r.bucket_objects is None:
        inc.record("diagnosis: backup bucket", "failed", f"`{r.bucket_command}`: {r.bucket_error}")
    else:
        listing = "".join(f"\n{ln}" for ln in r.bucket_tail)
        got = f"`{r.bucket_command}`: {r.bucket_objects} lines; last {len(r.bucket_tail)}:"
        inc.record("diagnosis: backup bucket", "ok", got + listing)


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


def _steps(inc: Incident, names: list[str]) -> dict[str, str]:
    return {f"{CONTAINMENT}{n}": inc.policy.security.containment[n] for n in names}


async def ask(inc: Incident, names: list[str]) -> datetime:
    """Put every step up for approval now (the runbook's Immediate Actions); `contain`
    runs them later, each once approved. Returns the approval deadline."""
    return await safety.ask(inc, _steps(inc, names))


def withdraw(inc: Incident, names: list[str], why: str) -> None:
    """Take back steps asked for early: a late approval can no longer run them."""
    for step in _steps(inc, names):
        if inc.pending_approvals.pop(step, None) is not None:
            inc.record(f"approval: {step}", "skipped", f"withdrawn: {why}")


async def contain(inc: Incident, names: list[str], asked: datetime | None = None) -> str | None:
    """Ask for every step at once (unless `ask` did already: `asked` is its deadline);
    run each as its approval arrives. Returns the name of a step that failed, or None.
    Raises NotApproved on a rejection or timeout."""
    steps = _steps(inc, names)
    if inc.policy.safety.dry_run and patched(DRY_RUN_CONTAINMENT):
        # As safety.clear: a dry run says what it would ask and asks nobody (nothing
        # would run anyway), then shows each step as the activity describes it.
        for step, what in steps.items():
            inc.record(f"approval: {step}", "skipped", f"DRY RUN: would ask for approval: {what}")
            if not await run_step(inc, step.removeprefix(CONTAINMENT)):
                return step
        return None
    deadline = asked if asked is not None else await safety.ask(inc, steps)
    waiting = list(steps)
    while waiting:
        answered = await safety.answers(inc, waiting, deadline, until_first=True)
        # In the order the answers came (inc.decisions keeps it): approvals given while
        # the snapshot was still running run in approval order, as if given one by one.
        for step, d in sorted(answered.items(), key=lambda kv: list(inc.decisions).index(kv[0])):
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

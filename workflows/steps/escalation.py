"""Escalation to humans: page the incident commander, hand over, close as escalated."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows.incident import Incident
    from workflows.steps import notify


async def page_incident_commander(inc: Incident, why: str) -> None:
    """Page once per incident; later escalations reuse the same PagerDuty incident."""
    if inc.paged:
        return
    inc.paged = True  # set first: a concurrent deadline must not page twice
    await notify.pagerduty(inc, "trigger", f"[{inc.severity.value}] {inc.incident_id}: {why}")


async def hand_over(inc: Incident, why: str) -> None:
    """Automation has done what the runbook allows; a person takes it from here."""
    inc.record("escalated to a human", "info", why)
    await page_incident_commander(inc, why)
    await notify.status_update(
        inc,
        "Escalated",
        actions_taken=_actions(inc),
        next_steps=f"Incident commander takes over: {why}",
    )


def _actions(inc: Incident) -> str:
    done = [e.step for e in inc.timeline if e.outcome in ("ok", "failed") and "slack" not in e.step]
    return ", ".join(done[-8:]) or "none"

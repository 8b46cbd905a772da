"""Notification steps. A notification never blocks or fails remediation: its failure is
recorded in the timeline and the playbook goes on (DESIGN principle 7)."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows.contracts.notify import (
        PAGERDUTY_EVENT,
        SLACK_POST,
        PagerDutyAction,
        PagerDutyInput,
        SlackMessageInput,
    )
    from workflows.incident import Incident


async def status_update(
    inc: Incident, status: str, actions_taken: str, next_steps: str, impact: str = ""
) -> None:
    """The Agent Lab 'Incident Status Update' template, posted to Slack."""
    msg = SlackMessageInput(
        incident_id=inc.incident_id,
        title=f"{inc.alert.alertname} on {inc.service} ({inc.severity.value})",
        status=status,  # type: ignore[arg-type]
        impact=impact or inc.alert.annotations.get("summary", "see alert"),
        timeline=f"detected {inc.detected_at:%Y-%m-%d %H:%M:%S} UTC; phase {inc.phase.value}"
        + (f"; {inc.recurrence}" if inc.recurrence else ""),
        actions_taken=actions_taken,
        next_steps=next_steps,
    )
    res = await inc.attempt(f"slack: {status}", SLACK_POST, msg)
    if res is None:
        return
    inc.record(f"slack: {status}", "skipped" if res.skipped else "ok", res.detail)


async def pagerduty(inc: Incident, action: PagerDutyAction, summary: str = "") -> bool:
    """PagerDuty Events v2, dedup_key = the incident run's key, so repeats and
    acknowledge/resolve of this incident land on one PagerDuty incident -- and the next
    incident of the same alert pages anew, even while a person still holds the page
    of an earlier, escalated one (the workflow id alone would fold it in there)."""
    event = PagerDutyInput(
        dedup_key=inc.run_key,
        action=action,
        summary=summary[:1024],
        source=inc.service,
        severity="critical" if inc.severity.value in ("P0", "P1") else "error",
    )
    res = await inc.attempt(f"pagerduty: {action}", PAGERDUTY_EVENT, event)
    if res is None:
        return False
    inc.record(f"pagerduty: {action}", "skipped" if res.skipped else "ok", summary or res.detail)
    return res.delivered

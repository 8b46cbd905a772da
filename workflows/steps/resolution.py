"""Phase 4, Resolution: document the incident, tell Slack, resolve the page, and build
the typed PlaybookResult. Every playbook ends through `close` or `escalate`."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows.contracts.records import INCIDENT_LOG, IncidentLogInput
    from workflows.incident import Incident, lean, patched
    from workflows.models import Phase, PlaybookResult, Resolution
    from workflows.steps import escalation, followups, notify, paging, postincident


# workflow.patched id: incidents started before the post-incident report existed replay
# without it. Once none of those remain, switch to workflow.deprecate_patch, then remove.
POST_INCIDENT_REPORT = "post-incident-report"
FLAPPING_HOLDS_OPEN = "flapping-holds-open"
# Incidents started before it logged only resolutions; escalations now get their line too.
ESCALATION_LOG_LINE = "escalation-log-line"

# How long an escalated incident stays open waiting for a person. While open, repeats
# of its alert join it instead of starting (and paging for) a new incident.
HOLD_OPEN = timedelta(hours=24)


async def escalate(inc: Incident, why: str) -> PlaybookResult:
    """Hand over to a human, then stay open until they acknowledge or Alertmanager says
    the alert resolved (bounded by HOLD_OPEN); nothing automatic happens meanwhile.

    A flapping incident ignores resolutions: closing on each one would let the next
    re-fire start (and page for) yet another incident -- a notification storm."""
    await escalation.hand_over(inc, why)
    if patched(ESCALATION_LOG_LINE):
        # The incident log says how every incident ended, escalations included.
        await _log_line(inc, why, escalated=True)
    # Patched: flapping incidents that escalated before this change closed on resolution.
    hold = inc.flapping and patched(FLAPPING_HOLDS_OPEN)
    inc.save_tags()  # up to 24 hours of waiting: the list shows where it stands
    try:
        await workflow.wait_condition(
            lambda: not inc.awaits_owner or (not inc.alert_firing and not hold),
            timeout=HOLD_OPEN,
        )
    except TimeoutError:
        inc.record("nobody acknowledged", "info", f"closing after {HOLD_OPEN}")
    return await close(inc, "escalated", f"escalation ({why})")


async def close(inc: Incident, outcome: Resolution, action: str) -> PlaybookResult:
    # Decided first: a deadline expiring while we write the log must not page anyone.
    inc.outcome = outcome
    inc.enter(Phase.RESOLUTION)
    # The runbook's Post-Incident Actions: asked of people, never dropped (no events).
    todo = followups.record(inc)
    if outcome != "escalated":
        await _log_line(inc, action, escalated=False)
        if lean():
            # Background posts (the first update, the crash reason) go out before
            # "Resolved": with the lookups local, a quick close would overtake them.
            await inc.settle_background()
        await notify.status_update(inc, "Resolved", action, followups.slack_line(todo))
        if inc.people and inc.paged_levels:
            await paging.resolve(inc, f"resolved via {action}")  # each level's incident
        elif inc.paged:
            await notify.pagerduty(inc, "resolve", f"resolved via {action}")
    await inc.settle_background()
    # P0/P1: the post-mortem draft and checklist, from the timeline as it now stands.
    if patched(POST_INCIDENT_REPORT):
        await postincident.write(inc, outcome, action)
    inc.record("incident closed", "info", outcome)
    inc._show()
    inc.save_tags()
    return PlaybookResult(
        incident_id=inc.incident_id,
        playbook=inc.playbook,
        service=inc.service,
        alertname=inc.alert.alertname,
        severity=inc.severity,
        outcome=outcome,
        action=action,
        paged=inc.paged,
        detected_at=inc.detected_at,
        ended_at=workflow.now(),
        timeline=inc.timeline,
        run_key=inc.run_key if inc.per_run else "",
    )


async def _log_line(inc: Incident, action: str, *, escalated: bool) -> None:
    """The runbooks' `echo "Incident: X - Resolved via ..." >> incidents.log`, keyed on
    the incident run (one line per run, however often retried). A failure is recorded,
    never raised: the log must not stop the hand-over or the close."""
    log = await inc.attempt(
        "incident log",
        INCIDENT_LOG,
        IncidentLogInput(
            service=inc.service,
            alertname=inc.alert.alertname,
            action=action,
            incident_id=inc.run_key,
            escalated=escalated,
        ),
    )
    if log is None:
        return
    if log.dry_run:
        inc.record("incident log", "skipped", f"DRY RUN: would append to {log.where}: {log.line}")
    else:  # not written: the append failed on the host (the activity logged why)
        inc.record("incident log", "ok" if log.written else "failed", f"{log.where}: {log.line}")

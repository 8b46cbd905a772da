"""Notification steps. A notification never blocks or fails remediation: its failure is
recorded in the timeline and the playbook goes on (DESIGN principle 7).

Channels (README "Slack channels and the status page"): the first post of an incident
goes to the service's `alerts` channel for P0/P1 and `monitoring` for P2-P4; every later
update to `incidents` (workflows/contracts/communication.py). The user-facing notice
goes to the service's status page, for P0/P1, with the first post and the Resolved one.
"""

from __future__ import annotations

from datetime import datetime

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows.contracts.communication import Purpose, first_post_purpose
    from workflows.contracts.notify import (
        PAGERDUTY_EVENT,
        SLACK_POST,
        USER_NOTICE,
        PagerDutyAction,
        PagerDutyInput,
        SlackMessageInput,
        UserNoticeInput,
    )
    from workflows.incident import Incident, patched
    from workflows.steps import communications

# workflow.patched id: the user-facing notice to a status page. Asked only when the
# service has a status page (and the incident is P0/P1): every other run schedules
# nothing new and records no marker, so their histories are unchanged.
USER_NOTICE_PATCH = "user-notice"


async def status_update(
    inc: Incident, status: str, actions_taken: str, next_steps: str, impact: str = ""
) -> None:
    """The Agent Lab 'Incident Status Update' template, posted to Slack: to the channel
    its purpose routes to, and for the first post and the Resolved one of a P0/P1
    incident, the user-facing notice to the status page."""
    # Counted when the post *starts*: a playbook posts its opening update in the
    # background, and a second post can start before the first one's activity answered.
    inc.slack_posts_started += 1
    first = inc.slack_posts_started == 1 or status == "Active"
    purpose: Purpose = first_post_purpose(inc.severity.value) if first else "incidents"
    comm = inc.policy.communication if inc.has_policy else None
    issue = comm.issue_link(**_issue_fields(inc)) if comm else None
    if first and issue and not any(e.step == communications.ISSUE_STEP for e in inc.timeline):
        inc.record(communications.ISSUE_STEP, "info", issue)  # for `remedy report -t status`
    msg = SlackMessageInput(
        incident_id=inc.incident_id,
        title=f"{inc.alert.alertname} on {inc.service} ({inc.severity.value})",
        status=status,  # type: ignore[arg-type]
        impact=impact or inc.alert.annotations.get("summary", "see alert"),
        timeline=f"detected {inc.detected_at:%Y-%m-%d %H:%M:%S} UTC; phase {inc.phase.value}"
        + (f"; {inc.recurrence}" if inc.recurrence else ""),
        actions_taken=actions_taken + (f"; {inc.crash_note}" if inc.crash_note else ""),
        next_steps=next_steps,
        run_key=inc.run_key,
        approvals=sorted(inc.pending_approvals),
        acknowledge=(not inc.acknowledged_by or inc.awaits_owner) and not inc.finished,
        next_update=communications.next_update(
            workflow.now(), _due(inc), closed=status == "Resolved" or inc.finished
        ),
        on_call=communications.on_call(inc.acknowledged_by, inc.paged_levels),
        issue=issue or "none configured",
        purpose=purpose,
        webhook_env=comm.slack.env_for(purpose) if comm else None,
    )
    res = await inc.attempt(f"slack: {status}", SLACK_POST, msg)
    if res is not None:
        inc.record(f"slack: {status}", "skipped" if res.skipped else "ok", res.detail)
    if status == "Resolved":
        await user_notice(inc, "resolved")
    elif first:
        await user_notice(inc, "investigating")


def _issue_fields(inc: Incident) -> dict[str, str]:
    return {
        "title": f"{inc.alert.alertname} on {inc.service} ({inc.severity.value})",
        "incident": inc.incident_id,
        "service": inc.service,
        "severity": inc.severity.value,
    }


def _due(inc: Incident) -> list[tuple[datetime, str]]:
    """When the next update is due: the current phase budget's end (the playbook's
    clock, workflows/steps/phases.py) and the escalation deadline."""
    due: list[tuple[datetime, str]] = []
    clock = getattr(inc, "clock", None)
    if clock is not None and inc.has_policy:
        budget = clock.budget(inc.policy, inc.phase)
        if budget is not None:
            label = clock.labels.get(inc.phase, inc.phase.value)
            due.append((inc.detected_at + budget, f"end of the {label} budget"))
    if inc.deadline is not None:
        due.append((inc.deadline, "escalation deadline"))
    return due


async def user_notice(inc: Incident, state: str) -> None:
    """The Agent Lab 'User-Facing Communication', published to the service's status
    page: when a P0/P1 incident is first posted (users hear of a major outage while it
    is investigated, not only once it ends -- and the first post is the one moment every
    playbook shares) and when it resolves. Once per state and run: the activity is
    keyed on the run, so a retry posts once. No status page: nothing is scheduled, the
    timeline says skipped."""
    if not inc.has_policy or inc.severity.value not in ("P0", "P1"):
        return
    step = f"user notice: {state}"
    page = inc.policy.communication.status_page
    if page is None:
        inc.record(step, "skipped", f"no status_page configured for {inc.service}")
        return
    if any(e.step == step and e.outcome == "ok" for e in inc.timeline):
        return  # published already in this run (a second Resolved post)
    if not patched(USER_NOTICE_PATCH):
        return
    resolved = state == "resolved"
    now = workflow.now()
    notice = UserNoticeInput(
        key=f"{inc.run_key}:user-notice:{state}",
        service=inc.service,
        state=state,  # type: ignore[arg-type]
        severity=inc.severity.value,
        title=inc.alert.annotations.get("summary") or f"{inc.alert.alertname} on {inc.service}",
        text=communications.user_notice(inc, "resolved" if resolved else None, now),
        started_at=inc.detected_at,
        resolved_at=now if resolved else None,
        url_env=page.url_env,
        format=page.format,
    )
    res = await inc.attempt(step, USER_NOTICE, notice)
    if res is not None:
        inc.record(step, "ok", res.detail)


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

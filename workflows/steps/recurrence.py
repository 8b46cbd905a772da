"""Recurrence is information, not a blind spot.

An incident id (`incident:<alertname>:<service>`) is reused by every incident of that
alert on that service; each one is a new *run*. At detection, the new run asks Temporal
for the earlier runs inside the inventory's `recurrence.window_days` (default 14) and

- records "recurred: N earlier incidents of this alert on this service in the last 14
  days (last: <when>, resolved via <action>)" in the timeline, and keeps the sentence
  for every Slack update of the incident (workflows/steps/notify.py);
- when at least `recurrence.chronic_count` of them (default 3) started within
  `recurrence.chronic_window` (default 24 h), pages a person about a *chronic* problem,
  the earlier incidents listed. The playbook still runs: remediating this incident and
  fixing the cause are different jobs. The chronic page has its own dedup key per
  incident id (`chronic:<incident id>`), so a fifth and sixth recurrence land on the
  open chronic page instead of paging again.

A lookup that fails (a server without visibility, a timeout) is recorded and changes
nothing: recurrence never blocks or fails remediation.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows.contracts.notify import PAGERDUTY_EVENT, PagerDutyInput
    from workflows.contracts.records import (
        EARLIER_INCIDENTS,
        EarlierIncident,
        EarlierIncidentsInput,
        EarlierIncidentsResult,
    )
    from workflows.incident import Incident

STEP = "earlier incidents"
LISTED = 5  # in the chronic page and the timeline


def _when(at: datetime) -> str:
    return f"{at:%Y-%m-%d %H:%M} UTC"


def how_it_ended(status: str, outcome: str | None, action: str | None) -> str:
    """'resolved via restart', 'escalated (...)', or Temporal's status (terminated,
    failed, timed out: no result to read). Also worded so by `remedy report`."""
    if outcome == "escalated":
        return f"escalated ({action})" if action else "escalated"
    if outcome:
        return f"{outcome} via {action}" if action else outcome
    return status.lower()


def _how(e: EarlierIncident) -> str:
    return how_it_ended(e.status, e.outcome, e.action)


def sentence(res: EarlierIncidentsResult, window_days: float) -> str:
    """The line the timeline and Slack show; "" when there was no earlier incident."""
    if not res.total:
        return ""
    last = res.incidents[0]
    plural = "s" if res.total != 1 else ""
    return (
        f"recurred: {res.total} earlier incident{plural} of this alert on this service in "
        f"the last {window_days:g} days (last: {_when(last.started_at)}, {_how(last)})"
    )


def chronic_among(
    res: EarlierIncidentsResult, now: datetime, window: timedelta
) -> list[EarlierIncident]:
    return [e for e in res.incidents if now - e.started_at <= window]


async def look_back(inc: Incident) -> None:
    rec = inc.policy.recurrence
    res = await inc.attempt(
        STEP,
        EARLIER_INCIDENTS,
        EarlierIncidentsInput(
            incident_id=inc.incident_id,
            run_id=workflow.info().run_id,
            window_days=rec.window_days,
            # Enough to decide "chronic" from the list alone.
            limit=max(rec.chronic_count, LISTED),
        ),
    )
    if res is None:
        return  # recorded by act(); the playbook goes on
    if not res.available:
        inc.record(STEP, "skipped", res.detail)
        return
    if not res.total:
        inc.record(STEP, "ok", f"none in the last {rec.window_days:g} days: first occurrence")
        return
    inc.recurrence = sentence(res, rec.window_days)
    inc.record("recurrence", "info", inc.recurrence)
    recent = chronic_among(res, workflow.now(), rec.chronic_window)
    if len(recent) >= rec.chronic_count:
        inc.background(_page_chronic(inc, recent, rec.chronic_window))


async def _page_chronic(inc: Incident, recent: list[EarlierIncident], window: timedelta) -> None:
    listed = "; ".join(f"{_when(e.started_at)} {_how(e)}" for e in recent[:LISTED])
    why = (
        f"CHRONIC: {inc.alert.alertname} on {inc.service} -- incident {len(recent) + 1} "
        f"within {window}; remediation runs again, the cause needs a person. "
        f"Earlier: {listed}"
    )
    inc.record("chronic problem", "info", why)
    event = PagerDutyInput(
        dedup_key=f"chronic:{inc.incident_id}",
        action="trigger",
        summary=why[:1024],
        source=inc.service,
        severity="error",
    )
    step = "pagerduty: chronic"
    res = await inc.attempt(step, PAGERDUTY_EVENT, event)
    if res is None:
        return
    inc.record(step, "skipped" if res.skipped else "ok", res.detail or event.dedup_key)

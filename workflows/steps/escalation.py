"""Escalation to humans: page the incident commander, hand over, close as escalated."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows.contracts.notify import PAGERDUTY_EVENT, PagerDutyInput
    from workflows.incident import Incident, patched
    from workflows.steps import notify, paging

# workflow.patched id: Triage runs started before it page on their own run's key.
COALESCED_PAGES = "coalesced-pages"


class CoalescedPages:
    """Mixin for a playbook whose pages fold into one PagerDuty incident per window
    (`<page_prefix>:<UTC hour>`): a burst of such incidents -- 5,000 alerts nobody
    routed -- is one PagerDuty incident with N updates, not N incidents paging at once.
    Each incident still has its own Slack thread and timeline; Remedy never resolves
    the shared page (an escalated incident closes without resolving its page)."""

    page_prefix = "coalesced"
    page_window = timedelta(hours=1)


def coalesced_key(inc: CoalescedPages) -> str:
    now = workflow.now()
    hours = max(int(inc.page_window.total_seconds() // 3600), 1)
    start = now.replace(minute=0, second=0, microsecond=0, hour=now.hour - now.hour % hours)
    return f"{inc.page_prefix}:{start:%Y-%m-%dT%H}"


async def page_incident_commander(inc: Incident, why: str) -> None:
    """Page once per incident; later escalations reuse the same PagerDuty incident."""
    if inc.people and not isinstance(inc, CoalescedPages):
        # By level: the incident commander's own PagerDuty service, once per run, even
        # when on-call was paged at detection (steps/paging.py).
        await paging.escalate(inc, why)
        return
    if inc.paged:
        return
    inc.paged = True  # set first: a concurrent deadline must not page twice
    summary = f"[{inc.severity.value}] {inc.incident_id}: {why}"
    if isinstance(inc, CoalescedPages) and patched(COALESCED_PAGES):
        await _coalesced_page(inc, summary)
        return
    await notify.pagerduty(inc, "trigger", summary)


async def _coalesced_page(inc: Incident, summary: str) -> None:
    assert isinstance(inc, CoalescedPages)
    key = coalesced_key(inc)
    event = PagerDutyInput(
        dedup_key=key,
        action="trigger",
        summary=summary[:1024],
        source=inc.service,
        severity="critical" if inc.severity.value in ("P0", "P1") else "error",
    )
    res = await inc.attempt("pagerduty: trigger", PAGERDUTY_EVENT, event)
    if res is None:
        return
    inc.record(
        "pagerduty: trigger",
        "skipped" if res.skipped else "ok",
        f"coalesced into PagerDuty incident {key} (one page for every {inc.playbook} "
        f"incident this window; this one added to it): {summary}",
    )


async def hand_over(inc: Incident, why: str) -> None:
    """Automation has done what the runbook allows; a person takes it from here."""
    inc.record("escalated to a human", "info", why)
    inc.handed_over_at = workflow.now()
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

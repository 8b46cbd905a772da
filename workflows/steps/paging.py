"""Paging by severity, and the re-page chain (issue "People in the loop").

At detection the severity's levels are paged at once (P0: on-call *and* incident
commander, GenesisServiceDown's "IMMEDIATE: Activate Incident Commander"; P1: on-call).
If nobody acknowledges within the policy's window (Agent Lab: "Confirm alert receipt
within 2 minutes"), the next level is paged, then the next, until someone acknowledges
(`remedy acknowledge`, the Slack button, PagerDuty's own acknowledge through the bridge)
or the last level has been paged. An acknowledgement is passed on to PagerDuty, so its
own escalation stops too. Every page, re-page and acknowledgement is in the timeline.

One PagerDuty incident per level's service and incident run: the dedup key is the
run's key, so a re-page or a later escalation of the same run updates that incident.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows.contracts.notify import PAGERDUTY_EVENT, PagerDutyAction, PagerDutyInput
    from workflows.contracts.paging import COMMANDER, PageLevel
    from workflows.incident import Incident


def _pd_severity(inc: Incident) -> str:
    return {"P0": "critical", "P1": "critical", "P2": "error", "P3": "warning"}.get(
        inc.severity.value, "info"
    )


async def event(inc: Incident, level: PageLevel, action: PagerDutyAction, summary: str) -> bool:
    """One Events v2 event to a level's PagerDuty service, recorded in the timeline."""
    res = await inc.attempt(
        f"pagerduty: {action} {level.name}",
        PAGERDUTY_EVENT,
        PagerDutyInput(
            dedup_key=inc.run_key,
            action=action,
            summary=summary[:1024],
            source=inc.service,
            severity=_pd_severity(inc),  # type: ignore[arg-type]
            level=level.name,
            routing_key_env=level.routing_key_env,
        ),
    )
    if res is None:
        return False
    inc.record(
        f"pagerduty: {action} {level.name}",
        "skipped" if res.skipped else "ok",
        summary if action == "trigger" else res.detail,
    )
    return res.delivered


async def page(inc: Incident, name: str, why: str) -> None:
    """Page one level, once per incident run (a second call for it does nothing)."""
    level = inc.policy.paging.level(name)
    if level is None or name in inc.paged_levels:
        return
    inc.paged_levels.append(name)  # first: a concurrent deadline must not page twice
    inc.paged = True
    summary = f"[{inc.severity.value}] {inc.incident_id}: {why}"
    await event(inc, level, "trigger", summary)


async def escalate(inc: Incident, why: str) -> None:
    """An escalation (a deadline, a hand-over) pages the incident commander level, or
    where the policy has none, the next level not yet paged. Never a level twice: an
    incident commander already paged (at detection, by the chain) is not paged again,
    and the chain, not the escalation, decides who comes after."""
    levels = inc.policy.paging
    target = levels.level(COMMANDER)
    if target is None:
        target = next((lv for lv in levels.levels if lv.name not in inc.paged_levels), None)
    if target is None or target.name in inc.paged_levels:
        who = target.name if target else "every level"
        inc.record("paging: escalation", "info", f"{who} already paged: {why}")
        return
    await page(inc, target.name, why)


async def at_detection(inc: Incident) -> None:
    """Page the severity's levels, then run the chain until acknowledged. Runs in the
    background from detection; it ends when the incident closes."""
    policy = inc.policy.paging
    sev = inc.severity.value
    first = policy.at_detection.get(sev, [])
    for name in first:
        await page(inc, name, f"{inc.alert.alertname} on {inc.service} ({sev}): paged at detection")
    if not first or sev not in policy.chain:
        return
    window = policy.ack_window
    while not inc.finished and not inc.acknowledged_by:
        nxt = next((lv for lv in policy.levels if lv.name not in inc.paged_levels), None)
        if nxt is None:
            break  # every level has been paged: wait for the acknowledgement below
        try:
            await workflow.wait_condition(
                lambda: inc.finished or bool(inc.acknowledged_by), timeout=window
            )
        except TimeoutError:
            await page(inc, nxt.name, f"not acknowledged within {_human(window)}: re-page")
    await workflow.wait_condition(lambda: inc.finished or bool(inc.acknowledged_by))
    if inc.acknowledged_by and not inc.finished:
        inc.record("paging: chain stopped", "info", f"acknowledged by {inc.acknowledged_by}")
        await acknowledge(inc)


async def acknowledge(inc: Incident) -> None:
    """Pass an acknowledgement on to every paged level's PagerDuty incident."""
    for name in list(inc.paged_levels):
        level = inc.policy.paging.level(name)
        if level is not None:
            await event(inc, level, "acknowledge", f"acknowledged by {inc.acknowledged_by}")


async def resolve(inc: Incident, why: str) -> None:
    for name in list(inc.paged_levels):
        level = inc.policy.paging.level(name)
        if level is not None:
            await event(inc, level, "resolve", why)


def _human(window: timedelta) -> str:
    secs = int(window.total_seconds())
    return f"{secs // 60} min" if secs % 60 == 0 else f"{secs} s"

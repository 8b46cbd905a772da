"""The Agent Lab seed's "Communication Templates", rendered from an incident's timeline:
the incident status update (as text: the same template activities/notify.py posts to
Slack as Block Kit) and the user-facing notice. The third template, the post-incident
report, is workflows/steps/postincident.render.

Pure functions of what the incident knows (deterministic: safe inside a workflow, and
the same code renders them for `remedy report --template`). What only a person can
know -- the workaround, an ETA -- is marked for them instead of invented.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows.models import Alert, Severity, TimelineEntry

TODO = "[to be completed by the on-call engineer]"
_QUIET = (
    "slack:",
    "pagerduty:",
    "user notice:",
    "phase",
    "load service policy",
    "sample ",
    "to do:",
)
ISSUE_STEP = "issue link"  # the configured tracker link, in the timeline (notify.py)


class IncidentView(Protocol):
    @property
    def incident_id(self) -> str: ...

    alert: Alert
    severity: Severity
    detected_at: datetime
    timeline: list[TimelineEntry]


def _title(inc: IncidentView) -> str:
    return inc.alert.annotations.get("summary") or f"{inc.alert.alertname} on {inc.alert.service}"


def next_update(now: datetime, due: list[tuple[datetime, str]], closed: bool) -> str:
    """The template's "Next update": the earliest of `due` (the current phase budget's
    end, the next escalation deadline) still ahead, else "on change"."""
    if closed:
        return "none: closed"
    ahead = sorted(d for d in due if d[0] > now)
    return f"by {ahead[0][0]:%H:%M} UTC ({ahead[0][1]})" if ahead else "on change"


def on_call(acknowledged_by: str | None, paged_levels: list[str]) -> str:
    """The template's "On-call": who acknowledged, else who was paged."""
    if acknowledged_by:
        return f"{acknowledged_by} (acknowledged)"
    if paged_levels:
        return f"paged: {', '.join(paged_levels)}; not yet acknowledged"
    return "not yet acknowledged"


def _issue(inc: IncidentView) -> str:
    link = next((e.detail for e in inc.timeline if e.step == ISSUE_STEP), None)
    return f"{link} ({inc.incident_id})" if link else f"{inc.incident_id} (no tracker configured)"


def _state(outcome: str | None) -> str:
    if outcome in ("resolved", "resolved_without_action"):
        return "Resolved"
    return "Escalated" if outcome == "escalated" else "Investigating"


def status_update(inc: IncidentView, outcome: str | None, now: datetime) -> str:
    """The seed's "Incident Status Update", as of `now`."""
    done = [
        e for e in inc.timeline if e.outcome in ("ok", "failed") and not e.step.startswith(_QUIET)
    ]
    pending = [
        e.step.removeprefix("waiting for approval: ")
        for e in inc.timeline
        if e.step.startswith("waiting for approval: ")
    ]
    answered = {
        e.step.split(": ", 1)[1]
        for e in inc.timeline
        if e.step.startswith(("approved: ", "rejected: ", "approval: "))
    }
    waiting = [p for p in pending if p not in answered]
    last = next((e for e in reversed(inc.timeline) if e.step == "escalated to a human"), None)
    nxt = (
        f"waiting for approval: {', '.join(waiting)}"
        if waiting
        else f"incident commander: {last.detail}"
        if last
        else "none: closed"
        if outcome
        else "Remedy continues the playbook"
    )
    return (
        "\n".join(
            [
                f"🚨 INCIDENT UPDATE: {_title(inc)}",
                "",
                f"Status: {_state(outcome)}",
                f"Impact: {inc.alert.annotations.get('description') or _title(inc)} "
                f"({inc.severity.value}, {inc.alert.service})",
                f"Timeline: detected {inc.detected_at:%Y-%m-%d %H:%M} UTC; as of {now:%H:%M} UTC",
                "",
                "Actions Taken: "
                + ("; ".join(f"{e.step} ({e.outcome})" for e in done[-8:]) or "none yet"),
                f"Next Steps: {nxt}",
                "",
                "Next update: " + next_update(now, _due(inc), closed=outcome is not None),
                "On-call: "
                + on_call(
                    next(
                        (
                            (e.detail.removeprefix("by ").split() or ["?"])[0].rstrip(":")
                            for e in inc.timeline
                            if e.step == "acknowledged"
                        ),
                        None,
                    ),
                    getattr(inc, "paged_levels", None)
                    or [
                        e.step.removeprefix("pagerduty: trigger").strip() or "on-call"
                        for e in inc.timeline
                        if e.step.startswith("pagerduty: trigger") and e.outcome == "ok"
                    ],
                ),
                f"Issue: {_issue(inc)}",
            ]
        )
        + "\n"
    )


def _due(inc: IncidentView) -> list[tuple[datetime, str]]:
    # A live incident (or a status query) knows its escalation deadline; a report
    # rebuilt from a result does not, and says "on change".
    deadline = getattr(inc, "deadline", None)
    return [(deadline, "escalation deadline")] if deadline else []


def user_notice(inc: IncidentView, outcome: str | None, ended: datetime | None) -> str:
    """The seed's "User-Facing Communication": no hosts, commands or internals."""
    major = inc.severity.value in ("P0", "P1")
    resolved = _state(outcome) == "Resolved"
    badge = "🟢 Resolved" if resolved else f"🔴 {'Major' if major else 'Minor'} Issue"
    eta = f"resolved at {ended:%Y-%m-%d %H:%M} UTC" if resolved and ended else "Monitoring"
    return (
        "\n".join(
            [
                f"Service Update: {_title(inc)}",
                "",
                f"We are experiencing {_title(inc).lower()}. Our team is working to resolve this."
                if not resolved
                else f"We experienced {_title(inc).lower()}. It has been resolved.",
                "",
                f"Current Status: {badge}",
                f"Start Time: {inc.detected_at:%Y-%m-%d %H:%M} UTC",
                f"Estimated Resolution: {eta}",
                "",
                f"Affected: {inc.alert.service}",
                f"Workaround: {TODO}",
                "",
                "We apologize for the inconvenience and will provide updates.",
            ]
        )
        + "\n"
    )

"""`remedy report`: the post-incident report of one incident, from Temporal.

The markdown is the same post-mortem draft the workflow writes at closing
(workflows/steps/postincident.render, the seeds' "Post-Incident Report" template and
checklist), rendered here from what Temporal holds: the run's result when the incident
is closed, the `status` query while it is open (then marked as a report "as of now").
HTML is that markdown through markdown-it (already installed with rich), in a
minimal standalone page.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from temporalio.client import Client, WorkflowExecutionStatus

from workflows.models import Alert, IncidentStatus, PlaybookResult, Severity, TimelineEntry
from workflows.steps import communications, postincident

Format = Literal["md", "html"]
# The seeds' three communication templates: post-incident report, status update, notice.
Template = Literal["postmortem", "status", "notice"]


@dataclass
class _Incident:
    """What postincident.render reads from a live Incident, rebuilt outside the workflow."""

    incident_id: str
    playbook: str
    alert: Alert
    severity: Severity
    detected_at: datetime
    timeline: list[TimelineEntry]

    @property
    def service(self) -> str:
        return self.alert.service


def markdown_of(result: PlaybookResult | None, status: IncidentStatus | None) -> str:
    """The report from a closed run's result, else from an open run's status."""
    if result is not None:
        inc = _Incident(
            result.incident_id,
            result.playbook,
            Alert(alertname=result.alertname, service=result.service),
            result.severity,
            result.detected_at,
            result.timeline,
        )
        return postincident.render(inc, result.outcome, result.action, result.ended_at)  # type: ignore[arg-type]
    assert status is not None
    inc = _Incident(
        status.incident_id,
        status.playbook,
        Alert(alertname=status.alertname, service=status.service),
        status.severity,
        status.detected_at,
        status.timeline,
    )
    now = datetime.now(UTC)
    # render() words the end as "Resolved"; an open incident has no end yet.
    md = postincident.render(inc, status.outcome or "escalated", "in progress", now)  # type: ignore[arg-type]
    lines = md.splitlines()
    for i, line in enumerate(lines):
        if line.startswith(("- Resolved:", "- Escalated, closed:")):
            lines[i] = (
                f"- Still open at: {now:%Y-%m-%d %H:%M:%S} UTC "
                f"(phase {status.phase.value}, report as of now)"
            )
        elif line.startswith("Outcome: **"):
            lines[i] = f"Outcome: **open** (phase {status.phase.value})."
    return "\n".join(lines) + "\n"


def communication(
    result: PlaybookResult | None, status: IncidentStatus | None, template: Template
) -> str:
    """One of the seeds' communication templates, from a closed run or an open one."""
    if template == "postmortem":
        return markdown_of(result, status)
    src = result if result is not None else status
    assert src is not None
    inc = _Incident(src.incident_id, src.playbook,
                    Alert(alertname=src.alertname, service=src.service), src.severity,
                    src.detected_at, src.timeline)  # fmt: skip
    ended = result.ended_at if result is not None else None
    if template == "status":
        return communications.status_update(inc, src.outcome, ended or datetime.now(UTC))
    return communications.user_notice(inc, src.outcome, ended)


async def fetch(client: Client, incident: str, template: Template = "postmortem") -> str:
    handle = client.get_workflow_handle(incident, result_type=PlaybookResult)
    desc = await handle.describe()
    if desc.status == WorkflowExecutionStatus.COMPLETED:
        return communication(await handle.result(), None, template)
    status = await handle.query("status", result_type=IncidentStatus)
    return communication(None, status, template)


_CSS = (
    "body{font-family:system-ui,sans-serif;max-width:70em;margin:2em auto;padding:0 1em}"
    "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.2em .5em;"
    "vertical-align:top;font-size:.9em}code{background:#f4f4f4}"
)


def to_html(md: str) -> str:
    from markdown_it import MarkdownIt

    # html=False: timeline details come from commands' output; never pass raw HTML on.
    body = MarkdownIt("commonmark", {"html": False}).enable("table").render(md)
    title = html.escape(md.splitlines()[0].lstrip("# ") if md else "Incident report")
    return (
        f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{title}</title><style>{_CSS}</style></head>\n<body>\n{body}</body></html>\n"
    )


def render(md: str, fmt: Format) -> str:
    return to_html(md) if fmt == "html" else md


# ---------------------------------------------------------------- live countdowns
_DELTA = re.compile(r"(?:(\d+) days?, )?(\d+):(\d\d):(\d\d)")


def _delta(text: str) -> timedelta | None:
    m = _DELTA.search(text)
    if not m:
        return None
    d, h, mi, s = (int(x or 0) for x in m.groups())
    return timedelta(days=d, hours=h, minutes=mi, seconds=s)


def countdowns(st: IncidentStatus, now: datetime) -> list[str]:
    """The open incident's running clocks, read from its status: the escalation
    deadline, the current phase's budget, and the verification window in progress."""
    if st.outcome:
        return []
    out: list[str] = []

    def left(until: datetime) -> str:
        return f"{max((until - now).total_seconds(), 0):.0f}s"

    if st.deadline:
        out.append(f"escalation deadline {st.deadline:%H:%M:%S} UTC ({left(st.deadline)})")
    tl = st.timeline
    budget = next((e for e in reversed(tl) if e.step == f"phase budget: {st.phase.value}"), None)
    if budget and (b := _delta(budget.detail)):
        out.append(f"{st.phase.value} budget ends in {left(st.detected_at + b)}")
    window = next((e for e in reversed(tl) if e.step.endswith(" sustained")), None)
    if window and st.phase.value == "Verification" and (w := _delta(window.detail)):
        done = any(e.step == window.step.removesuffix(" sustained") and e.at >= window.at
                   for e in tl)  # fmt: skip
        if not done:
            name = window.step.removeprefix("verify ").removesuffix(" sustained")
            out.append(f"verifying {name}: window ends in {left(window.at + w)}")
    return out

"""`remedy report`: the post-incident report of one incident, from Temporal.

The markdown is the same post-mortem draft the workflow writes at closing
(workflows/steps/postincident.render, the seeds' "Post-Incident Report" template and
checklist), rendered here from what Temporal holds: the run's result when the incident
is closed, the `status` query while it is open (then marked as a report "as of now").
HTML is that markdown through markdown-it (already installed with rich), in a
minimal standalone page.

An incident id (`incident:<alertname>:<service>`) is reused by every incident of its
alert on its service, one Temporal *run* each: the latest is reported unless a run is
named (`runs_of` lists them from visibility, `resolve_run` finds one by id prefix).

In the post-incident report (Markdown), alert text is escaped (workflows/text.md) before it
is rendered: the alertname and service (label values) and every timeline detail (which
quote labels, annotations and command output), so a label cannot inject a link, an
image or a table cell. The status update and the notice are plain text, left as is.
"""

from __future__ import annotations

import asyncio
import html
import re
import shlex
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Literal

from temporalio.client import Client, WorkflowExecution, WorkflowExecutionStatus

from activities.incident_history import describe_run
from remedy.temporal import visibility_literal
from workflows.models import Alert, IncidentStatus, PlaybookResult, Severity, TimelineEntry
from workflows.steps import communications, postincident, recurrence
from workflows.text import md as md_escape

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


def _incident(src: PlaybookResult | IncidentStatus) -> _Incident:
    """The incident to render, its alert text escaped for Markdown. Timeline *steps* stay
    as they are (the templates select entries by their prefix; the playbooks name them),
    the details are escaped."""
    return _Incident(
        src.incident_id,
        src.playbook,
        Alert(alertname=md_escape(src.alertname), service=md_escape(src.service)),
        src.severity,
        src.detected_at,
        [e.model_copy(update={"detail": md_escape(e.detail)}) for e in src.timeline],
    )


def markdown_of(result: PlaybookResult | None, status: IncidentStatus | None) -> str:
    """The report from a closed run's result, else from an open run's status."""
    if result is not None:
        inc = _incident(result)
        return postincident.render(inc, result.outcome, result.action, result.ended_at)  # type: ignore[arg-type]
    assert status is not None
    inc = _incident(status)
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
    # The status update and the notice are plain text (Slack, a status page): not escaped.
    inc = _Incident(
        src.incident_id,
        src.playbook,
        Alert(alertname=src.alertname, service=src.service),
        src.severity,
        src.detected_at,
        src.timeline,
    )
    ended = result.ended_at if result is not None else None
    if template == "status":
        return communications.status_update(inc, src.outcome, ended or datetime.now(UTC))
    return communications.user_notice(inc, src.outcome, ended)


@dataclass(frozen=True)
class Reading:
    """What one run holds for a report: its result when closed, else its status query."""

    run_id: str
    started_at: datetime
    result: PlaybookResult | None
    status: IncidentStatus | None


async def read(client: Client, incident: str, run: str | None = None) -> Reading:
    """One run of the incident id: the given run id, else the latest run."""
    desc = await client.get_workflow_handle(incident, run_id=run).describe()
    # Pinned to the run just described: a new incident starting meanwhile (a new run of
    # the same id) must not swap the run under the report.
    handle = client.get_workflow_handle(incident, run_id=desc.run_id, result_type=PlaybookResult)
    if desc.status == WorkflowExecutionStatus.COMPLETED:
        result = await handle.result(follow_runs=False)
        return Reading(desc.run_id, desc.start_time, result, None)
    status = await handle.query("status", result_type=IncidentStatus)
    return Reading(desc.run_id, desc.start_time, None, status)


async def fetch(
    client: Client, incident: str, template: Template = "postmortem", run: str | None = None
) -> str:
    """The report of one run of the incident id (default: the latest run)."""
    r = await read(client, incident, run)
    return communication(r.result, r.status, template)


# ---------------------------------------------------------------- runs of an incident id
# A chronic alert can have hundreds of runs; listing stops here (visibility rows are
# cheap, but each run's outcome is a history read, so only the newest few are read).
MAX_RUNS = 1000
SHORT = 8  # the shortest run id prefix shown
NOTE_LISTED = 5  # earlier runs named in the note next to a report


@dataclass(frozen=True)
class Run:
    """One run of an incident id, i.e. one incident of that alert on that service."""

    incident_id: str
    run_id: str
    started_at: datetime
    status: str  # Temporal's: RUNNING, COMPLETED, FAILED, TERMINATED, TIMED_OUT, ...
    outcome: str | None = None  # from the PlaybookResult of a completed run
    action: str | None = None
    short: str = ""  # the prefix shown, unique among the id's runs (see short_ids)

    def __post_init__(self) -> None:
        if not self.short:
            object.__setattr__(self, "short", self.run_id[:SHORT])

    def how(self) -> str:
        """How it ended, worded as the recurrence note in the timeline words it."""
        if self.status == "RUNNING":
            return "open"
        return recurrence.how_it_ended(self.status, self.outcome, self.action)

    def line(self) -> str:
        return f"{self.started_at:%Y-%m-%d %H:%M} {self.short} {self.how()}"


def short_ids(run_ids: list[str]) -> dict[str, str]:
    """Each run id's shortest prefix that no other of `run_ids` shares, at least SHORT
    characters. Not a fixed 8: Temporal's run ids are UUIDv7, whose first 8 hex digits
    are a timestamp in units of 65 s, so the runs of a flapping alert share them."""
    ordered = sorted(set(run_ids))

    def common(a: str, b: str) -> int:
        n = 0
        while n < min(len(a), len(b)) and a[n] == b[n]:
            n += 1
        return n

    out: dict[str, str] = {}
    for i, rid in enumerate(ordered):
        # In sorted order, the longest prefix shared with any other id is shared with a
        # neighbour.
        shared = max(
            (common(rid, ordered[j]) for j in (i - 1, i + 1) if 0 <= j < len(ordered)),
            default=0,
        )
        n = max(SHORT, shared + 1)
        if rid[n - 1 : n] == "-":  # a prefix ending in the UUID's hyphen reads as cut off
            n += 1
        out[rid] = rid[:n]
    return out


async def _run(client: Client, wf: WorkflowExecution, with_outcome: bool) -> Run:
    e = await describe_run(client, wf, with_outcome)
    return Run(wf.id, e.run_id, e.started_at, e.status, e.outcome, e.action)


async def runs_of(client: Client, incident_id: str, outcomes: int = NOTE_LISTED + 1) -> list[Run]:
    """The runs of an incident id, newest first, from Temporal visibility; the outcome
    and action of the newest `outcomes` runs are read from their results."""
    found = [
        wf
        async for wf in client.list_workflows(
            f"WorkflowId = {visibility_literal(incident_id)}", limit=MAX_RUNS
        )
    ]
    found.sort(key=lambda wf: wf.start_time, reverse=True)
    runs = await asyncio.gather(*(_run(client, wf, i < outcomes) for i, wf in enumerate(found)))
    short = short_ids([r.run_id for r in runs])
    return [replace(r, short=short[r.run_id]) for r in runs]


def resolve_run(runs: list[Run], prefix: str, incident_id: str = "") -> Run:
    """The run whose id is `prefix` or starts with it; ValueError naming the candidates
    when none or several do (the prefixes `remedy list` shows are unique, see short_ids)."""
    prefix = prefix.strip()
    if not prefix:
        raise ValueError("--run: expected a run id or a prefix of one (see `remedy list`)")
    exact = [r for r in runs if r.run_id == prefix]
    matches = exact or [r for r in runs if r.run_id.startswith(prefix)]
    if len(matches) == 1:
        return matches[0]
    what = incident_id or (runs[0].incident_id if runs else "the incident")
    if not runs:
        raise ValueError(f"--run {prefix!r}: {what} has no runs (see `remedy list`)")
    if not matches:
        known = "; ".join(r.line() for r in runs[:10]) + ("; ..." if len(runs) > 10 else "")
        raise ValueError(f"--run {prefix!r}: no run of {what} has such an id; its runs: {known}")
    # Full ids: the prefix was too short to tell them apart, a longer one will be.
    named = "; ".join(f"{r.run_id} ({r.started_at:%Y-%m-%d %H:%M})" for r in matches[:10])
    more = "; ..." if len(matches) > 10 else ""
    raise ValueError(f"--run {prefix!r} matches {len(matches)} runs of {what}: {named}{more}")


def runs_note(incident_id: str, runs: list[Run], reported: str, started_at: datetime) -> str | None:
    """The note beside a report of the latest run (`reported`, started at `started_at`)
    when the id has earlier runs, which `remedy report --run` reads; None when it has
    none. `reported` may be missing from `runs`: visibility lags a just-started run."""
    earlier = [r for r in runs if r.run_id != reported]
    if not earlier:
        return None
    this = short_ids([reported, *(r.run_id for r in runs)])[reported]
    shown = "; ".join(r.line() for r in earlier[:NOTE_LISTED])
    more = ""
    if len(earlier) > NOTE_LISTED:
        query = shlex.quote(f"WorkflowId = {visibility_literal(incident_id)}")
        more = f"; {len(earlier) - NOTE_LISTED} more (remedy list --query {query})"
    return (
        f"{len(earlier) + 1} runs of {incident_id}; this report: the latest "
        f"({started_at:%Y-%m-%d %H:%M}, {this}). Earlier: {shown}{more} "
        f"(remedy report {shlex.quote(incident_id)} --run PREFIX)"
    )


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
        done = any(
            e.step == window.step.removesuffix(" sustained") and e.at >= window.at for e in tl
        )
        if not done:
            name = window.step.removeprefix("verify ").removesuffix(" sustained")
            out.append(f"verifying {name}: window ends in {left(window.at + w)}")
    return out

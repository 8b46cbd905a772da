"""Post-incident, for every P0/P1 incident (Genesis "Post-Incident Checklist", Agent Lab
"Post-Incident Report"): a post-mortem draft rendered from the timeline with the seeds'
report template, plus the checklist saying what Remedy did and what is left to people.

`render` is a pure function of the incident (deterministic: it runs in the workflow);
the markdown is written to the worker's data dir by the records.postmortem activity.
Sections only a person can write (impact in users, root cause beyond the automated
diagnosis, prevention, lessons) say so instead of guessing.
"""

from __future__ import annotations

from datetime import datetime

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows import text
    from workflows.contracts.records import POSTMORTEM_WRITE, PostmortemInput
    from workflows.incident import Incident
    from workflows.models import Resolution, TimelineEntry

TODO = "_[to be completed by the incident owner]_"
MAX_TIMELINE = 200  # rows in the draft; the full timeline is in workflow history
_NOISE = ("slack:", "pagerduty:", "phase", "load service policy", "sample ", "verify ", "to do:")


def _clip(value: str, n: int = 200) -> str:
    # Timeline text, one line, at most n characters; a pipe cannot split a table cell.
    value = value.replace("|", "\\|").replace("\n", " ")
    return value if len(value) <= n else value[: n - 1] + "…"


def _has(tl: list[TimelineEntry], step: str, outcome: str = "ok") -> TimelineEntry | None:
    return next((e for e in reversed(tl) if e.step == step and e.outcome == outcome), None)


def checklist(inc: Incident, outcome: Resolution) -> list[str]:
    tl = inc.timeline
    verified = [
        e.step.removeprefix("verify ")
        for e in tl
        if e.step.startswith("verify ") and e.outcome == "ok" and not e.step.endswith("sustained")
    ]
    verified += [
        e.step
        for e in tl
        if e.step in ("health endpoint", "health check script") and e.outcome == "ok"
    ][-1:]
    log = _has(tl, "incident log")
    slack = _has(tl, "slack: Resolved")
    rb_ok, rb_failed = _has(tl, "rollback complete"), _has(tl, "rollback", "failed")

    def item(done: bool, text: str, remedy: str, people: str) -> str:
        return f"- [{'x' if done else ' '}] {text} — " + (
            f"Remedy: {remedy}" + (f"; left to people: {people}" if people else "")
            if done
            else f"left to people: {people}"
        )

    return [
        item(
            bool(verified) and outcome == "resolved",
            "Verify all SLOs restored",
            f"verified {', '.join(verified)}",
            "check the other SLOs (pass rate, error rate, latency) on the dashboard",
        ),
        item(
            log is not None,
            "Document incident in the incident log",
            log.detail if log else "",
            "" if log else "add the line to the incident log",
        ),
        item(
            False,
            "Update monitoring alerts (if false positive)",
            "",
            "decide whether the alert was a false positive"
            + (" (it resolved without action)" if outcome == "resolved_without_action" else ""),
        ),
        item(
            True,
            "Create post-mortem (for P0-P1)",
            "this draft, from the timeline",
            "complete impact, root cause, prevention and lessons learned",
        ),
        item(False, "Update runbooks with lessons learned", "", "update the runbook"),
        item(
            rb_ok is not None,
            "Test rollback procedure (if not already tested)",
            "the rollback ran in this incident and completed",
            ""
            if rb_ok
            else "rollback failed: fix and test it"
            if rb_failed
            else "test the rollback procedure",
        ),
        item(
            slack is not None,
            "Communicate resolution to stakeholders",
            "Slack status update 'Resolved' posted",
            "stakeholders outside the channel",
        ),
        # Steps the playbook itself lists as people's work (SecurityIncident: legal, users).
        *[
            f"- [ ] {e.step.removeprefix('to do: ')} — left to people"
            for e in tl
            if e.step.startswith("to do: ")
        ],
    ]


def render(inc: Incident, outcome: Resolution, action: str, ended: datetime) -> str:
    tl = inc.timeline
    dur = ended - inc.detected_at
    findings = [e for e in tl if e.step.startswith(("diagnosis:", "scenario"))]
    done = [
        e
        for e in tl
        if e.outcome in ("ok", "failed")
        and not e.step.startswith(_NOISE)
        and not e.step.startswith("diagnosis:")
    ]
    mitigations = [e for e in tl if e.step.startswith("mitigation:") and e.outcome == "ok"]
    overruns = [e for e in tl if e.step.startswith("phase overrun")]
    end_label = "Resolved" if outcome != "escalated" else "Escalated, closed"
    lines = [
        # Label and annotation values as literal Markdown (workflows/text.py).
        f"# Incident Summary: {text.md(inc.alert.alertname)} on {text.md(inc.service)} "
        f"({inc.severity.value})",
        "",
        f"Incident `{inc.incident_id}`, playbook {inc.playbook}. Draft written by Remedy.",
        "",
        "📅 Timeline",
        f"- Detected: {inc.detected_at:%Y-%m-%d %H:%M:%S} UTC",
        f"- {end_label}: {ended:%Y-%m-%d %H:%M:%S} UTC ({outcome}, via {action})",
        f"- Duration: {str(dur).split('.')[0]}",
        "",
        "👥 Impact",
        f"- Users affected: {TODO}",
        "- Functionality impacted: "
        + text.md(inc.alert.annotations.get("summary") or f"{inc.alert.alertname} firing", 200),
        "",
        "🔍 Root Cause",
        "Remedy's automated diagnosis (confirm offline):",
        *[f"- {e.step.removeprefix('diagnosis: ')}: {_clip(e.detail)}" for e in findings],
        *([] if findings else ["- no automated diagnosis recorded"]),
        TODO,
        "",
        "🛠️ Resolution",
        f"Outcome: **{outcome}** via {action}.",
        *[f"- {e.at:%H:%M:%S} {e.step} ({e.outcome}) {_clip(e.detail, 120)}" for e in done[-30:]],
        "",
        "📈 Prevention",
        *[
            f"- temporary mitigation in place: {_clip(e.detail)} — make permanent or revert"
            for e in mitigations
        ],
        TODO,
        "",
        "🎯 Lessons Learned",
        *[f"- phase over budget: {_clip(e.detail)}" for e in overruns],
        TODO,
        "",
        "## Post-Incident Checklist",
        *checklist(inc, outcome),
        "",
        "## Full timeline",
        "| time (UTC) | phase | step | outcome | detail |",
        "|---|---|---|---|---|",
        *[
            f"| {e.at:%H:%M:%S} | {e.phase.value} | {_clip(e.step, 60)} | {e.outcome} | "
            f"{_clip(e.detail)} |"
            for e in tl[-MAX_TIMELINE:]
        ],
    ]
    return "\n".join(lines) + "\n"


def run_stem(inc: Incident) -> str:
    """The run's part of the report's file name: sorts by detection time, and the whole
    run id (ids may be UUIDv7, whose first characters are a timestamp) keeps it unique."""
    if not inc.per_run:
        return ""
    return f"{inc.detected_at:%Y%m%dT%H%M%SZ}-{inc.run_key.rpartition('@')[2]}"


async def write(inc: Incident, outcome: Resolution, action: str) -> None:
    if inc.severity.value not in ("P0", "P1"):
        return
    md = render(inc, outcome, action, workflow.now())
    res = await inc.attempt(
        "post-mortem draft",
        POSTMORTEM_WRITE,
        PostmortemInput(
            incident_id=inc.incident_id, service=inc.service, markdown=md, run=run_stem(inc)
        ),
    )
    if res is None:
        return
    inc.record("post-mortem draft", "ok", res.where)

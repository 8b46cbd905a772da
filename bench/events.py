"""Benchmark 6, server work per incident: history events and billable actions of each
playbook's common path, read from the recorded histories (issue 19, item 2).

    .venv/bin/python -m bench.events                 # tests/histories, before = pre-lean-history/
    .venv/bin/python -m bench.events --before DIR    # compare with other recordings
    .venv/bin/python -m bench.events --detail ServiceDown-restart-healthy   # event types

No server: the histories under tests/histories are recorded by tests/histories/record.py
from the production playbook code on the time-skipping server, so their event times are
workflow time (a 10-minute window is 10 minutes apart). One history per playbook, its
main branch (COMMON). "before" is the same branch in --before (default
tests/histories/pre-lean-history/, the recordings from before workflow.patched
("lean-history")), or the current file when it has no older copy.

Counted per history: events; workflow tasks (WorkflowTaskScheduled); activities
(ActivityTaskScheduled, i.e. through the server's task queue); local activities
(core_local_activity markers); timers (TimerStarted); markers (all); and billable actions,
the history-visible part of Temporal Cloud's definition (docs.temporal.io/cloud/actions,
"Temporal Cloud Actions", read 2026-12-06):

* workflow started 1 (a child: StartChildWorkflowExecutionInitiated 2; continue-as-new 1);
* each activity start or retry 1 (ActivityTaskStarted carries the last `attempt`);
* all markers (local activities, patches) of one workflow task together 1;
* timer started 1; signal received or sent 1; update accepted 1;
* search-attribute upsert 1, except one that only sets TemporalChangeVersion (exempt).

Not in a history, so not counted: queries (`remedy status`, the UI's stack trace),
activity heartbeats, rejected updates, extra workflow-task heartbeats of a slow local
activity.

Two windows besides whole incidents: ServiceDown's first minute (events before
detection + 60 s) and one 10-minute SLI verification (from the `RemedyPhase =
Verification` upsert to the `Resolution` one: steps/verify.sustained, sampling the SLI
every 30 s, then the close's first commands).
"""

from __future__ import annotations

import argparse
import base64
import json
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from bench.common import ROOT, finish, header, loadavg

HISTORIES = ROOT / "tests" / "histories"
BEFORE = HISTORIES / "pre-lean-history"

# Each playbook's common path: the branch most incidents of it take, resolved.
COMMON = {
    "ServiceDown": "ServiceDown-restart-healthy",
    "ApplicationDown": "ApplicationDown-restart-verified-watch-clean",
    "HighErrorRate": "HighErrorRate-memory-exhausted-restarts",
    "HighLatencyP95": "HighLatencyP95-htdag-slow-cache",
    "TestPassRateLow": "TestPassRateLow-intermittent-passes-in-isolation",
    "AgentLabHighErrorRate": "AgentLabHighErrorRate-git-rollback-resolved",
    "DeploymentFailure": "DeploymentFailure-git-rollback-resolved",
    "DataCorruption": "DataCorruption-backup-restores-all-resolved",
    "PerformanceDegradation": "PerformanceDegradation-mitigated-verified",
    "StreamingFailure": "StreamingFailure-disabled-recovers-re-enabled",
    "SecurityIncident": "SecurityIncident-all-approved-contained",
    "Triage": "Triage-known-service-hold-expires",
    "Rollback (child)": "Rollback-child-rollback-healthy",
}
FIRST_MINUTE = "ServiceDown-restart-healthy"
VERIFICATION = "HighErrorRate-memory-exhausted-restarts"

_ONE = {
    "WORKFLOW_EXECUTION_STARTED",
    "WORKFLOW_EXECUTION_CONTINUED_AS_NEW",
    "TIMER_STARTED",
    "WORKFLOW_EXECUTION_SIGNALED",
    "SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED",
    "WORKFLOW_EXECUTION_UPDATE_ACCEPTED",
}


def _type(e: dict[str, Any]) -> str:
    return str(e["eventType"]).removeprefix("EVENT_TYPE_")


def _attrs(e: dict[str, Any]) -> dict[str, Any]:
    return next((v for k, v in e.items() if k.endswith("Attributes")), {})


def _at(e: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(str(e["eventTime"]).replace("Z", "+00:00"))


def _upserted(e: dict[str, Any]) -> dict[str, str]:
    fields = _attrs(e).get("searchAttributes", {}).get("indexedFields", {})
    return {k: base64.b64decode(v.get("data", "")).decode() for k, v in fields.items()}


@dataclass
class Count:
    events: int = 0
    tasks: int = 0
    activities: int = 0
    local: int = 0
    timers: int = 0
    markers: int = 0
    upserts: int = 0
    actions: int = 0

    @classmethod
    def of(cls, events: list[dict[str, Any]]) -> Count:
        c = cls(events=len(events))
        marker_tasks: set[str] = set()
        for e in events:
            t, a = _type(e), _attrs(e)
            if t == "WORKFLOW_TASK_SCHEDULED":
                c.tasks += 1
            elif t == "ACTIVITY_TASK_SCHEDULED":
                c.activities += 1
            elif t == "ACTIVITY_TASK_STARTED":
                c.actions += int(a.get("attempt", 1))
            elif t == "TIMER_STARTED":
                c.timers += 1
            elif t == "MARKER_RECORDED":
                c.markers += 1
                c.local += a.get("markerName") == "core_local_activity"
                marker_tasks.add(str(a.get("workflowTaskCompletedEventId")))
            elif t == "UPSERT_WORKFLOW_SEARCH_ATTRIBUTES":
                if set(_upserted(e)) != {"TemporalChangeVersion"}:
                    c.upserts += 1
                    c.actions += 1
            elif t == "START_CHILD_WORKFLOW_EXECUTION_INITIATED":
                c.actions += 2
            if t in _ONE:
                c.actions += 1
        c.actions += len(marker_tasks)
        return c


def load(path: Path) -> list[dict[str, Any]]:
    return list(json.loads(path.read_text())["events"])


def first_minute(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    end = _at(events[0]) + timedelta(seconds=60)
    return [e for e in events if _at(e) < end]


def verification(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """From the Verification phase's upsert up to (not including) the Resolution one."""
    out: list[dict[str, Any]] = []
    inside = False
    for e in events:
        if _type(e) == "UPSERT_WORKFLOW_SEARCH_ATTRIBUTES":
            phase = _upserted(e).get("RemedyPhase", "")
            if phase == '"Verification"':
                inside = True
            elif inside and phase:
                break
        if inside:
            out.append(e)
    return out


def breakdown(events: list[dict[str, Any]]) -> Counter[str]:
    return Counter(_type(e) for e in events)


COLUMNS = ("events", "tasks", "activities", "local", "timers", "markers", "upserts", "actions")


def rows(before_dir: Path, after_dir: Path = HISTORIES) -> list[list[str]]:
    out = []

    def pair(name: str, cut: Any = None) -> tuple[Count, Count]:
        after_ev = load(after_dir / f"{name}.json")
        old = before_dir / f"{name}.json"
        before_ev = load(old) if old.exists() else after_ev
        if cut is not None:
            before_ev, after_ev = cut(before_ev), cut(after_ev)
        return Count.of(before_ev), Count.of(after_ev)

    def row(label: str, b: Count, a: Count) -> list[str]:
        cells = [label]
        for col in COLUMNS:
            x, y = getattr(b, col), getattr(a, col)
            cells.append(f"{x}" if x == y else f"{x} → {y}")
        cells.append(f"{a.events / b.events:.2f}" if b.events else "-")
        return cells

    for playbook, name in COMMON.items():
        out.append(row(f"{playbook} ({name.split('-', 1)[1]})", *pair(name)))
    out.append(row("**ServiceDown, first minute**", *pair(FIRST_MINUTE, first_minute)))
    out.append(row("**10-minute verification** (HighErrorRate)", *pair(VERIFICATION, verification)))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--before", type=Path, default=BEFORE, help="older recordings to compare")
    ap.add_argument("--after", type=Path, default=HISTORIES, help="newer recordings")
    ap.add_argument("--detail", metavar="NAME", help="event types of one history (before/after)")
    args = ap.parse_args()
    argv = [f"--before {args.before}"] if args.before != BEFORE else []
    argv += [f"--after {args.after}"] if args.after != HISTORIES else []
    print(header("bench.events", argv))
    if args.detail:
        for label, d in (("before", args.before), ("after", args.after)):
            path = d / f"{args.detail}.json"
            if path.exists():
                print(f"\n{label}: {path}")
                for t, n in sorted(breakdown(load(path)).items()):
                    print(f"  {n:5}  {t}")
        finish(0)
    head = ["history (common path)", *COLUMNS, "after/before events"]
    body = rows(args.before, args.after)
    widths = [max(len(h), *(len(r[i]) for r in body)) for i, h in enumerate(head)]
    print()
    print("| " + " | ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in body:
        print("| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |")
    print(f"\nload after: {loadavg()}")
    finish(0)


if __name__ == "__main__":
    main()

"""Slack channels per purpose and the status-page notice, through a whole playbook run:
GenesisServiceDown on the time-skipping server with the real Slack and status-page
activities posting to loopback receivers (the rest of the service is the fake World).

The routing rule (README "Slack channels and the status page"): the first post goes to
`alerts` for P0/P1 and `monitoring` for P2-P4; every later update to `incidents`."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.notify import NotifyActivities
from remedy.settings import Settings
from tests.fixtures.httpsink import HttpSink
from tests.workflows.fakes import World
from tests.workflows.test_service_down import policy
from workflows.contracts.communication import CommunicationPolicy, SlackChannels, StatusPage
from workflows.contracts.notify import SLACK_POST, USER_NOTICE
from workflows.models import Alert, IncidentInput, PlaybookResult, Severity, TimelineEntry
from workflows.playbooks.service_down import ServiceDown
from workflows.registry import PLAYBOOKS
from workflows.steps import communications

ALERTS = "/services/T0/BALERTS/alerts-s3cret-0123456789"
MONITORING = "/services/T0/BMON/monitoring-s3cret-0123456789"
INCIDENTS = "/services/T0/BINCID/incidents-s3cret-0123456789"
STATUS = "/hooks/statuspage-s3cret-0123456789"
SECRETS = ("alerts-s3cret", "monitoring-s3cret", "incidents-s3cret", "statuspage-s3cret")

COMM = CommunicationPolicy(
    slack=SlackChannels(
        alerts="SLACK_ALERTS_URL", monitoring="SLACK_MONITORING_URL", incidents="SLACK_INC_URL"
    ),
    status_page=StatusPage(url_env="STATUS_PAGE_URL"),
    issue_url="https://github.com/o/r/issues/new?title={title}",
)


@pytest.fixture
async def notify(
    httpsink: HttpSink, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> AsyncIterator[NotifyActivities]:
    for var, path in (
        ("SLACK_ALERTS_URL", ALERTS),
        ("SLACK_MONITORING_URL", MONITORING),
        ("SLACK_INC_URL", INCIDENTS),
        ("STATUS_PAGE_URL", STATUS),
    ):
        monkeypatch.setenv(var, httpsink.url + path)
    acts = NotifyActivities(Settings(slack_webhook_url=None, data_dir=tmp_path))
    yield acts
    await acts.close()


def _name(fn: Callable[..., Any]) -> str:
    return fn.__temporal_activity_definition.name  # type: ignore[attr-defined, no-any-return]


async def run(
    env: WorkflowEnvironment, world: World, notify: NotifyActivities, severity: Severity
) -> tuple[PlaybookResult, WorkflowHandle[Any, Any]]:
    # The real Slack and status-page activities in place of the World's fakes.
    acts = [a for a in world.activities() if _name(a) not in (SLACK_POST.name, USER_NOTICE.name)]
    tq = f"tq-{uuid.uuid4()}"
    async with Worker(
        env.client,
        task_queue=tq,
        workflows=list(PLAYBOOKS.values()),
        activities=[*acts, notify.slack, notify.user_notice],
    ):
        handle = await env.client.start_workflow(
            ServiceDown.run,
            IncidentInput(
                alert=Alert(
                    alertname="GenesisServiceDown",
                    service="genesis-orchestration",
                    severity=severity,
                )
            ),
            id=f"incident:GenesisServiceDown:{uuid.uuid4()}",
            task_queue=tq,
            execution_timeout=timedelta(days=2),
        )
        return await handle.result(), handle


async def _history(handle: WorkflowHandle[Any, Any]) -> str:
    """The whole history as text, every payload decoded (payloads are base64 in JSON)."""
    out: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                if k == "data" and isinstance(v, str):
                    out.append(base64.b64decode(v).decode(errors="replace"))
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)
        elif isinstance(node, str):
            out.append(node)

    walk(json.loads((await handle.fetch_history()).to_json()))
    return "\n".join(out)


async def test_p0_first_post_to_alerts_then_incidents_and_notice_published(
    time_env: WorkflowEnvironment, notify: NotifyActivities, httpsink: HttpSink
) -> None:
    world = World(policy(communication=COMM))
    res, handle = await run(time_env, world, notify, Severity.P0)
    assert res.outcome == "resolved"
    slack = [r for r in httpsink.requests if r.path != STATUS]
    paths = [r.path for r in slack]
    statuses = [r.json()["blocks"][1]["fields"][0]["text"] for r in slack]
    assert paths[0] == ALERTS and statuses[0] == "*Status:*\nActive"
    assert paths[1:] and set(paths[1:]) == {INCIDENTS}, paths
    assert statuses[-1] == "*Status:*\nResolved"
    # Every template line, in the first post.
    first = slack[0].json()["text"]
    assert "Next update: " in first and "On-call: not yet acknowledged" in first
    assert (
        "Issue: https://github.com/o/r/issues/new?title="
        "GenesisServiceDown%20on%20genesis-orchestration%20%28P0%29" in first
    )
    assert "Next update: none: closed" in slack[-1].json()["text"]
    # The user-facing notice: once at the first post, once at resolution.
    notices = [r.json()["text"] for r in httpsink.requests if r.path == STATUS]
    assert len(notices) == 2
    assert "Current Status: 🔴 Major Issue" in notices[0]
    assert "Current Status: 🟢 Resolved" in notices[1]
    steps = {e.step: e.outcome for e in res.timeline}
    assert steps["user notice: investigating"] == "ok" and steps["user notice: resolved"] == "ok"
    assert steps["issue link"] == "info"
    # The URLs are credentials: none of them is anywhere in the workflow's history.
    history = await _history(handle)
    for s in SECRETS:
        assert s not in history
    assert "SLACK_ALERTS_URL" in history  # the variable's name is what history holds


async def test_p2_first_post_to_monitoring_and_no_notice(
    time_env: WorkflowEnvironment, notify: NotifyActivities, httpsink: HttpSink
) -> None:
    # An operator's override makes this service's GenesisServiceDown a P2 (the runbook's
    # P0 wins over an alert's label, not over the inventory).
    world = World(policy(communication=COMM, severity_overrides={"GenesisServiceDown": "P2"}))
    res, handle = await run(time_env, world, notify, Severity.P2)
    assert res.outcome == "resolved"
    paths = [r.path for r in httpsink.requests]
    assert paths[0] == MONITORING and set(paths[1:]) == {INCIDENTS}
    assert STATUS not in paths  # the notice is for major (P0/P1) incidents
    assert "user-notice" not in await _history(handle)


async def test_no_status_page_schedules_nothing_and_timeline_says_skipped(
    time_env: WorkflowEnvironment, notify: NotifyActivities, httpsink: HttpSink
) -> None:
    world = World(policy(communication=CommunicationPolicy()))
    res, handle = await run(time_env, world, notify, Severity.P0)
    assert res.outcome == "resolved"
    skipped = [e for e in res.timeline if e.step.startswith("user notice:")]
    assert [(e.step, e.outcome) for e in skipped] == [
        ("user notice: investigating", "skipped"),
        ("user notice: resolved", "skipped"),
    ]
    history = await _history(handle)
    # No patch marker, no activity: a run without a status page has the history it had.
    assert "user-notice" not in history and USER_NOTICE.name not in history
    # No channels configured and no default webhook: Slack skipped, as before.
    assert httpsink.requests == []


def test_text_status_update_carries_every_template_line() -> None:
    """`remedy report --template status`: the same lines as the Slack post, from the
    timeline (the issue link the workflow recorded, who was paged and acknowledged)."""
    t0 = datetime(2026, 1, 2, 10, 0, tzinfo=UTC)

    def entry(step: str, outcome: str = "info", detail: str = "") -> TimelineEntry:
        return TimelineEntry(at=t0, phase="Detection", step=step, outcome=outcome, detail=detail)  # type: ignore[arg-type]

    class View:
        incident_id = "incident:GenesisServiceDown:api"
        alert = Alert(alertname="GenesisServiceDown", service="api")
        severity = Severity.P0
        detected_at = t0
        deadline = t0 + timedelta(minutes=5)
        timeline = [
            entry(communications.ISSUE_STEP, detail="https://t/new?title=x"),
            entry("pagerduty: trigger on-call", "ok"),
        ]

    view = View()
    text = communications.status_update(view, None, t0 + timedelta(minutes=1))
    assert "Next update: by 10:05 UTC (escalation deadline)" in text
    assert "On-call: paged: on-call; not yet acknowledged" in text
    assert "Issue: https://t/new?title=x (incident:GenesisServiceDown:api)" in text
    view.timeline.append(entry("acknowledged", detail="by alice via slack: on it"))
    text = communications.status_update(view, "resolved", t0 + timedelta(minutes=9))
    assert "On-call: alice (acknowledged)" in text and "Next update: none: closed" in text
    view.timeline = []
    text = communications.status_update(view, None, t0 + timedelta(minutes=6))
    assert "Next update: on change" in text and "On-call: not yet acknowledged" in text
    assert "Issue: incident:GenesisServiceDown:api (no tracker configured)" in text

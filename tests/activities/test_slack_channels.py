"""Slack as the runbooks use it: a channel per purpose, the whole status-update template,
the user-facing notice on a status page -- against loopback HTTP receivers standing in
for Slack's incoming webhooks and the status page."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from pydantic import SecretStr, ValidationError
from temporalio.exceptions import ApplicationError

from activities.inventory.services import ServiceSpec
from activities.notify import NotifyActivities
from remedy.settings import Settings
from tests.fixtures.httpsink import HttpSink, SinkResponse
from workflows.contracts.communication import CommunicationPolicy, first_post_purpose
from workflows.contracts.notify import SlackMessageInput, UserNoticeInput

ALERTS = "/services/T0/BALERTS/alerts-s3cret-0123456789"
INCIDENTS = "/services/T0/BINCID/incidents-s3cret-0123456789"
DEFAULT = "/services/T0/BDEFAULT/default-s3cret-0123456789"
STATUS = "/hooks/statuspage-s3cret-0123456789"
SECRETS = ("alerts-s3cret", "incidents-s3cret", "default-s3cret", "statuspage-s3cret")

MSG = SlackMessageInput(
    incident_id="incident:GenesisServiceDown:api",
    title="GenesisServiceDown on api (P0)",
    status="Active",
    impact="api is down",
    timeline="detected 2026-01-02 10:00:00 UTC; phase Detection",
    actions_taken="alert received",
    next_steps="restart the service",
    run_key="incident:GenesisServiceDown:api@r1",
    acknowledge=True,
    next_update="by 10:02 UTC (end of the Detection budget)",
    on_call="paged: on-call, incident-commander; not yet acknowledged",
    issue="https://github.com/o/r/issues/new?title=GenesisServiceDown%20on%20api%20%28P0%29",
    purpose="alerts",
    webhook_env="SLACK_ALERTS_URL",
)


@pytest.fixture
async def notify(
    httpsink: HttpSink, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> AsyncIterator[NotifyActivities]:
    monkeypatch.setenv("SLACK_ALERTS_URL", httpsink.url + ALERTS)
    # A channel's URL from a file, the way compose secrets give it.
    (tmp_path / "incidents").write_text(httpsink.url + INCIDENTS + "\n")
    monkeypatch.setenv("SLACK_INCIDENTS_URL_FILE", str(tmp_path / "incidents"))
    monkeypatch.setenv("STATUS_PAGE_URL", httpsink.url + STATUS)
    acts = NotifyActivities(
        Settings(slack_webhook_url=SecretStr(httpsink.url + DEFAULT), data_dir=tmp_path / "data")
    )
    yield acts
    await acts.close()


def _no_secret(text: str) -> None:
    for s in SECRETS:
        assert s not in text, text


async def test_each_purpose_posts_to_its_channel(
    notify: NotifyActivities, httpsink: HttpSink
) -> None:
    r1 = await notify.slack(MSG)
    r2 = await notify.slack(
        MSG.model_copy(
            update={
                "status": "Investigating",
                "purpose": "incidents",
                "webhook_env": "SLACK_INCIDENTS_URL",
            }
        )
    )
    # `monitoring` not configured for the service: the default webhook.
    r3 = await notify.slack(MSG.model_copy(update={"purpose": "monitoring", "webhook_env": None}))
    assert [q.path for q in httpsink.requests] == [ALERTS, INCIDENTS, DEFAULT]
    assert r1.detail == "#alerts: HTTP 200: ok" and r2.detail == "#incidents: HTTP 200: ok"
    for r in (r1, r2, r3):
        assert r.delivered and not r.skipped
        _no_secret(r.model_dump_json())


async def test_status_update_carries_every_template_line(
    notify: NotifyActivities, httpsink: HttpSink
) -> None:
    await notify.slack(MSG)
    body = httpsink.requests[0].json()
    assert body["blocks"] == [
        {
            "type": "header",
            "text": {
                "type": "plain_text",
                "text": "🚨 INCIDENT UPDATE: GenesisServiceDown on api (P0)",
                "emoji": True,
            },
        },
        {
            "type": "section",
            "fields": [
                {"type": "mrkdwn", "text": "*Status:*\nActive"},
                {"type": "mrkdwn", "text": "*Incident:*\nincident:GenesisServiceDown:api"},
            ],
        },
        {"type": "section", "text": {"type": "mrkdwn", "text": "*Impact:*\napi is down"}},
        {
            "type": "section",
            "text": {
                "type": "mrkdwn",
                "text": "*Timeline:*\ndetected 2026-01-02 10:00:00 UTC; phase Detection",
            },
        },
        {"type": "divider"},
        {"type": "section", "text": {"type": "mrkdwn", "text": "*Actions Taken:*\nalert received"}},
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": "*Next Steps:*\nrestart the service"},
        },
        {
            "type": "section",
            "fields": [
                {
                    "type": "mrkdwn",
                    "text": "*Next update:*\nby 10:02 UTC (end of the Detection budget)",
                },
                {
                    "type": "mrkdwn",
                    "text": "*On-call:*\npaged: on-call, incident-commander; not yet acknowledged",
                },
                {
                    "type": "mrkdwn",
                    "text": "*Issue:*\n<https://github.com/o/r/issues/new?title="
                    "GenesisServiceDown%20on%20api%20%28P0%29|open an issue>",
                },
            ],
        },
        {
            "type": "actions",
            "block_id": "remedy-answers",
            "elements": [
                {
                    "type": "button",
                    "action_id": "remedy:acknowledge:0",
                    "text": {"type": "plain_text", "text": "Acknowledge"},
                    "value": '{"incident": "incident:GenesisServiceDown:api@r1"}',
                }
            ],
        },
    ]
    for line in (
        "Status: Active",
        "Impact: api is down",
        "Timeline: detected 2026-01-02",
        "Actions Taken: alert received",
        "Next Steps: restart the service",
        "Next update: by 10:02 UTC",
        "On-call: paged: on-call, incident-commander",
        "Issue: https://github.com/o/r/issues/new?title=",
    ):
        assert line in body["text"], line


async def test_message_from_before_channels_posts_as_before(
    notify: NotifyActivities, httpsink: HttpSink
) -> None:
    """A SlackMessageInput in an open incident's history from before purposes and the
    template's last lines: deserializes, goes to the default webhook, renders as it did."""
    old = SlackMessageInput.model_validate_json(
        '{"incident_id": "i", "title": "t", "status": "Resolved", "impact": "x",'
        ' "timeline": "y", "actions_taken": "a", "next_steps": "n"}'
    )
    assert old.purpose is None and old.webhook_env is None
    r = await notify.slack(old)
    assert r.detail == "HTTP 200: ok" and httpsink.requests[0].path == DEFAULT
    body = httpsink.requests[0].json()
    assert [b["type"] for b in body["blocks"]][-1] == "section"
    assert "Next update" not in body["text"] and "On-call" not in body["text"]


async def test_channel_variable_unset_on_worker_falls_back_and_says_so(
    notify: NotifyActivities, httpsink: HttpSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SLACK_ALERTS_URL")
    r = await notify.slack(MSG)
    assert httpsink.requests[0].path == DEFAULT
    assert r.detail.startswith("SLACK_ALERTS_URL not set on the worker: default webhook")
    # No default either: refused, naming the variable, never a URL.
    bare = NotifyActivities(Settings(slack_webhook_url=None))
    with pytest.raises(ApplicationError) as e:
        await bare.slack(MSG)
    assert e.value.type == "NotifyRejected" and "SLACK_ALERTS_URL" in e.value.message
    await bare.close()


async def test_rejected_post_never_shows_the_channel_url(
    notify: NotifyActivities, httpsink: HttpSink
) -> None:
    httpsink.script(SinkResponse(400, body=f"invalid_payload for {httpsink.url}{ALERTS}"))
    with pytest.raises(ApplicationError) as e:
        await notify.slack(MSG)
    assert e.value.type == "NotifyRejected"
    _no_secret(str(e.value))


# ------------------------------------------------------------------ status page
NOTICE = UserNoticeInput(
    key="incident:GenesisServiceDown:api@r1:user-notice:investigating",
    service="api",
    state="investigating",
    severity="P0",
    title="api is down",
    text="Service Update: api is down\n\nCurrent Status: 🔴 Major Issue <!channel>\n",
    started_at=datetime(2026, 1, 2, 10, 0, tzinfo=UTC),
    url_env="STATUS_PAGE_URL",
)


async def test_notice_to_slack_compatible_status_page_posts_once(
    notify: NotifyActivities, httpsink: HttpSink
) -> None:
    r = await notify.user_notice(NOTICE)
    again = await notify.user_notice(NOTICE)  # a retry after the post went through
    assert len(httpsink.requests) == 1
    req = httpsink.requests[0]
    assert req.path == STATUS and req.headers["idempotency-key"] == NOTICE.key
    assert req.json() == {
        "text": "Service Update: api is down\n\nCurrent Status: 🔴 Major Issue &lt;!channel&gt;\n"
    }
    assert r.channel == "status_page" and r.delivered and r.detail == "HTTP 200: ok"
    assert again.delivered and again.detail == "already published (investigating)"
    _no_secret(r.model_dump_json() + again.model_dump_json())
    # The resolution is another key: published.
    resolved = NOTICE.model_copy(
        update={
            "key": NOTICE.key.replace("investigating", "resolved"),
            "state": "resolved",
            "resolved_at": datetime(2026, 1, 2, 10, 20, tzinfo=UTC),
        }
    )
    await notify.user_notice(resolved)
    assert len(httpsink.requests) == 2


async def test_notice_to_json_status_page(notify: NotifyActivities, httpsink: HttpSink) -> None:
    await notify.user_notice(NOTICE.model_copy(update={"format": "json"}))
    assert httpsink.requests[0].json() == {
        "id": NOTICE.key,
        "service": "api",
        "state": "investigating",
        "severity": "P0",
        "title": "api is down",
        "text": NOTICE.text,
        "started_at": "2026-01-02T10:00:00+00:00",
        "resolved_at": None,
    }


async def test_notice_failure_is_retried_then_posts(
    notify: NotifyActivities, httpsink: HttpSink
) -> None:
    httpsink.script(503)
    with pytest.raises(ApplicationError) as e:
        await notify.user_notice(NOTICE)
    assert e.value.type == "NotifyUnavailable"
    _no_secret(str(e.value))
    await notify.user_notice(NOTICE)  # Temporal's retry: nothing was published, so it posts
    assert len(httpsink.requests) == 2


async def test_notice_variable_unset_is_rejected(
    notify: NotifyActivities, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("STATUS_PAGE_URL")
    with pytest.raises(ApplicationError) as e:
        await notify.user_notice(NOTICE)
    assert e.value.type == "NotifyRejected" and "STATUS_PAGE_URL is not set" in e.value.message


# ------------------------------------------------------------------ inventory and routing
def test_routing_rule() -> None:
    assert [first_post_purpose(s) for s in ("P0", "P1", "P2", "P3", "P4")] == [
        "alerts",
        "alerts",
        "monitoring",
        "monitoring",
        "monitoring",
    ]


@pytest.mark.parametrize(
    ("section", "error"),
    [
        ({"slack": {"alerts": "https://hooks.slack.com/services/T/B/x"}}, "slack.alerts"),
        ({"slack": {"alerts": "slack-alerts"}}, "slack.alerts"),
        ({"slack": {"critical": "SLACK_ALERTS_URL"}}, "slack.critical"),
        ({"status_page": {"url_env": "$STATUS"}}, "status_page.url_env"),
        ({"status_page": {"url_env": "STATUS", "format": "xml"}}, "status_page.format"),
        ({"issue_url": "github.com/o/r/issues/new"}, "an http(s) URL"),
        ({"issue_url": "https://u:p@tracker/new?t={title}"}, "no user or password"),
        ({"issue_url": "https://tracker/new?t={summary}"}, "unknown placeholder {summary}"),
    ],
)
def test_inventory_refuses_bad_channel_config(section: dict[str, object], error: str) -> None:
    with pytest.raises(ValidationError) as e:
        ServiceSpec.model_validate({"hosts": ["h"], **section})
    text = str(e.value).replace("\n  ", ".")
    assert error in text, text


def test_issue_link_encodes_every_placeholder() -> None:
    comm = CommunicationPolicy(
        issue_url="https://github.com/o/r/issues/new?title={title}&labels=incident"
    )
    link = comm.issue_link(title="x&labels=pwn on a/b (P1)")
    assert link == (
        "https://github.com/o/r/issues/new?title=x%26labels%3Dpwn%20on%20a%2Fb%20%28P1%29"
        "&labels=incident"
    )
    assert CommunicationPolicy().issue_link(title="t") is None


def test_example_inventory_block_is_valid() -> None:
    """The commented example in examples/inventory.yaml, uncommented, loads."""
    text = Path("examples/inventory.yaml").read_text()
    start = text.index("    # slack:\n")
    block = text[start : text.index("\n\n", start)]
    section = yaml.safe_load("\n".join(ln.replace("    # ", "", 1) for ln in block.splitlines()))
    spec = ServiceSpec.model_validate({"hosts": ["h"], **section})
    comm = spec.communication()
    assert comm.slack.env_for("incidents") == "GENESIS_SLACK_INCIDENTS_URL"
    assert comm.status_page is not None and comm.status_page.format == "slack"
    assert comm.issue_link(title="a b") == (
        "https://github.com/genesis/genesis-rebuild/issues/new?title=a%20b"
    )

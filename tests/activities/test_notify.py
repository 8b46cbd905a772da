"""NotifyActivities against the loopback sink standing in for Slack and PagerDuty."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr
from temporalio.exceptions import ApplicationError

from activities.notify import MAX_RETRY_AFTER, REDACTED, NotifyActivities, retry_after
from remedy.settings import Settings
from tests.fixtures.httpsink import HttpSink, SinkResponse
from tests.fixtures.prometheus import free_port
from workflows.contracts.notify import PagerDutyInput, SlackMessageInput

SLACK_PATH = "/services/T000/B000/sl4ck-s3cret-XYZ"
ROUTING_KEY = "R0UTING-KEY-s3cret-123-0123456789abcdef"

MSG = SlackMessageInput(
    incident_id="incident-HighErrorRate-api-1",
    title="High error rate on api",
    status="Investigating",
    impact="2 % of chat requests fail <!channel>",
    timeline="Detected 10:02, mitigation running",
    actions_taken="Enabled LLM fallback",
    next_steps="Verify error rate < 0.1 % for 10 minutes",
)


def _settings(sink: HttpSink | None = None, url: str | None = None) -> Settings:
    base = url or (sink.url if sink else None)
    return Settings(
        slack_webhook_url=SecretStr(base + SLACK_PATH) if base else None,
        pagerduty_routing_key=SecretStr(ROUTING_KEY) if base else None,
        pagerduty_url=(base or "http://unused") + "/v2/enqueue",
    )


@pytest.fixture
async def notify(httpsink: HttpSink) -> AsyncIterator[NotifyActivities]:
    acts = NotifyActivities(_settings(httpsink))
    yield acts
    await acts.close()


def _assert_no_secret(text: str) -> None:
    assert SLACK_PATH not in text
    assert "sl4ck-s3cret" not in text
    assert ROUTING_KEY not in text


# ------------------------------------------------------------------ slack
async def test_slack_block_kit_payload(notify: NotifyActivities, httpsink: HttpSink) -> None:
    r = await notify.slack(MSG)
    assert r.channel == "slack" and r.delivered and not r.skipped
    assert r.detail == "HTTP 200: ok"

    req = httpsink.requests[0]
    assert req.method == "POST" and req.path == SLACK_PATH
    assert req.headers["content-type"] == "application/json"
    body = req.json()
    header, status_fields, *sections = body["blocks"]
    assert header["type"] == "header"
    assert header["text"] == {
        "type": "plain_text",
        "text": "🚨 INCIDENT UPDATE: High error rate on api",
        "emoji": True,
    }
    fields = [f["text"] for f in status_fields["fields"]]
    assert fields == ["*Status:*\nInvestigating", "*Incident:*\nincident-HighErrorRate-api-1"]
    texts = [s["text"]["text"] for s in sections if s["type"] == "section"]
    labels = [t.split(":*")[0].lstrip("*") for t in texts]
    assert labels == ["Impact", "Timeline", "Actions Taken", "Next Steps"]
    assert all(s["text"]["type"] == "mrkdwn" for s in sections if s["type"] == "section")
    # Alert text cannot ping the channel: Slack control characters are escaped.
    assert "&lt;!channel&gt;" in texts[0] and "<!channel>" not in req.body.decode()
    # Plain-text fallback carries the whole template.
    for line in ("🚨 INCIDENT UPDATE: High error rate on api", "Status: Investigating"):
        assert line in body["text"]
    assert "Next Steps: Verify error rate" in body["text"]


async def test_slack_long_title_fits_header_limit(
    notify: NotifyActivities, httpsink: HttpSink
) -> None:
    await notify.slack(MSG.model_copy(update={"title": "x" * 500}))
    assert len(httpsink.requests[0].json()["blocks"][0]["text"]["text"]) == 150


async def test_not_configured_is_skipped() -> None:
    acts = NotifyActivities(_settings())
    r = await acts.slack(MSG)
    assert (r.channel, r.delivered, r.skipped, r.detail) == ("slack", False, True, "not configured")
    r = await acts.pagerduty(PagerDutyInput(dedup_key="wf-1", action="trigger", summary="s"))
    assert (r.channel, r.delivered, r.skipped) == ("pagerduty", False, True)
    await acts.close()


async def test_empty_env_values_mean_not_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    """`REMEDY_PAGERDUTY_ROUTING_KEY=` in an env file is unset, not an empty secret that
    PagerDuty would reject on every page."""
    monkeypatch.setenv("REMEDY_PAGERDUTY_ROUTING_KEY", "")
    monkeypatch.setenv("REMEDY_SLACK_WEBHOOK_URL", "")
    s = Settings()
    assert s.pagerduty_routing_key is None and s.slack_webhook_url is None
    acts = NotifyActivities(s)
    r = await acts.pagerduty(PagerDutyInput(dedup_key="wf-1", action="trigger", summary="s"))
    assert (r.channel, r.delivered, r.skipped) == ("pagerduty", False, True)
    await acts.close()


async def test_429_is_unavailable_with_retry_after(
    notify: NotifyActivities, httpsink: HttpSink
) -> None:
    httpsink.script(SinkResponse(429, "rate_limited", headers={"Retry-After": "7"}))
    with pytest.raises(ApplicationError) as ei:
        await notify.slack(MSG)
    assert ei.value.type == "NotifyUnavailable"
    assert not ei.value.non_retryable
    assert ei.value.next_retry_delay == timedelta(seconds=7)


async def test_500_is_unavailable(notify: NotifyActivities, httpsink: HttpSink) -> None:
    httpsink.script(500)
    with pytest.raises(ApplicationError) as ei:
        await notify.slack(MSG)
    assert ei.value.type == "NotifyUnavailable"
    assert not ei.value.non_retryable
    assert ei.value.next_retry_delay is None  # the retry policy's backoff applies


async def test_400_is_rejected_and_secret_redacted(
    notify: NotifyActivities, httpsink: HttpSink
) -> None:
    # A hostile or chatty endpoint echoing the credential back must not leak it.
    httpsink.script(SinkResponse(400, f"invalid_payload for {httpsink.url}{SLACK_PATH}"))
    with pytest.raises(ApplicationError) as ei:
        await notify.slack(MSG)
    assert ei.value.type == "NotifyRejected"
    assert ei.value.non_retryable
    assert "HTTP 400" in str(ei.value) and REDACTED in str(ei.value)
    _assert_no_secret(str(ei.value))
    assert ei.value.__cause__ is None


async def test_network_error_is_unavailable_without_secret() -> None:
    acts = NotifyActivities(_settings(url=f"http://127.0.0.1:{free_port()}"))
    try:
        for call in (
            acts.slack(MSG),
            acts.pagerduty(PagerDutyInput(dedup_key="k", action="resolve")),
        ):
            with pytest.raises(ApplicationError) as ei:
                await call
            assert ei.value.type == "NotifyUnavailable"
            assert not ei.value.non_retryable
            _assert_no_secret(str(ei.value))
            assert ei.value.__cause__ is None
    finally:
        await acts.close()


async def test_malformed_webhook_url_is_rejected() -> None:
    acts = NotifyActivities(Settings(slack_webhook_url=SecretStr("hooks.example" + SLACK_PATH)))
    with pytest.raises(ApplicationError) as ei:
        await acts.slack(MSG)
    await acts.close()
    assert ei.value.type == "NotifyRejected" and ei.value.non_retryable
    _assert_no_secret(str(ei.value))


async def test_httpx_request_log_is_redacted(
    notify: NotifyActivities, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        await notify.slack(MSG)
    assert "HTTP Request: POST" in caplog.text  # httpx did log the request...
    assert REDACTED in caplog.text  # ...with the webhook URL replaced
    _assert_no_secret(caplog.text)


# ------------------------------------------------------------------ pagerduty
PD_OK = SinkResponse(
    202,
    '{"status":"success","message":"Event processed","dedup_key":"wf-1"}',
    headers={"Content-Type": "application/json"},
)


async def test_pagerduty_trigger_ack_resolve(notify: NotifyActivities, httpsink: HttpSink) -> None:
    httpsink.default = PD_OK
    for action in ("trigger", "acknowledge", "resolve"):
        r = await notify.pagerduty(
            PagerDutyInput(
                dedup_key="wf-1",
                action=action,  # type: ignore[arg-type]
                summary="api down",
                source="genesis-orchestration",
                severity="error",
            )
        )
        assert r.channel == "pagerduty" and r.delivered and not r.skipped
        assert "Event processed" in r.detail
        _assert_no_secret(r.detail)

    trigger, ack, resolve = (req.json() for req in httpsink.requests)
    assert all(req.path == "/v2/enqueue" for req in httpsink.requests)
    assert trigger == {
        "routing_key": ROUTING_KEY,
        "event_action": "trigger",
        "dedup_key": "wf-1",
        "payload": {"summary": "api down", "source": "genesis-orchestration", "severity": "error"},
        "client": "Remedy",
    }
    assert ack == {"routing_key": ROUTING_KEY, "event_action": "acknowledge", "dedup_key": "wf-1"}
    assert resolve == {"routing_key": ROUTING_KEY, "event_action": "resolve", "dedup_key": "wf-1"}


async def test_pagerduty_trigger_defaults(notify: NotifyActivities, httpsink: HttpSink) -> None:
    httpsink.default = PD_OK
    await notify.pagerduty(PagerDutyInput(dedup_key="wf-2", action="trigger"))
    payload = httpsink.requests[0].json()["payload"]
    assert payload == {"summary": "Incident wf-2", "source": "remedy", "severity": "critical"}


async def test_pagerduty_retry_sequence(notify: NotifyActivities, httpsink: HttpSink) -> None:
    """What Temporal's retries see: 429 (wait as asked), 5xx (policy backoff), then 202."""
    httpsink.script(
        SinkResponse(429, "", headers={"Retry-After": "2"}),
        SinkResponse(503, f"upstream error, key {ROUTING_KEY}"),
        PD_OK,
    )
    inp = PagerDutyInput(dedup_key="wf-3", action="trigger", summary="s")
    delays = []
    for _ in range(2):
        with pytest.raises(ApplicationError) as ei:
            await notify.pagerduty(inp)
        assert ei.value.type == "NotifyUnavailable"
        _assert_no_secret(str(ei.value))
        delays.append(ei.value.next_retry_delay)
    assert delays == [timedelta(seconds=2), None]
    assert (await notify.pagerduty(inp)).delivered
    assert len(httpsink.requests) == 3


async def test_pagerduty_400_is_rejected(notify: NotifyActivities, httpsink: HttpSink) -> None:
    httpsink.script(SinkResponse(400, '{"status":"invalid event","errors":["bad"]}'))
    with pytest.raises(ApplicationError) as ei:
        await notify.pagerduty(PagerDutyInput(dedup_key="wf-4", action="resolve"))
    assert ei.value.type == "NotifyRejected" and ei.value.non_retryable
    assert "invalid event" in str(ei.value)


def test_retry_after_parsing() -> None:
    now = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert retry_after(None) is None
    assert retry_after("soon") is None
    assert retry_after("30") == timedelta(seconds=30)
    assert retry_after("86400") == MAX_RETRY_AFTER
    assert retry_after("Wed, 01 Jan 2025 12:00:45 GMT", now=now) == timedelta(seconds=45)
    assert retry_after("Wed, 01 Jan 2025 11:00:00 GMT", now=now) == timedelta(0)


async def test_pagerduty_each_level_to_its_own_service(
    notify: NotifyActivities, httpsink: HttpSink, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A paging level names the environment variable of its routing key (or _FILE): the
    event goes to that PagerDuty service, with the level in custom_details; a level
    without one goes to the default key. The key never appears in what is returned."""
    commander_key = "c" * 32
    key_file = tmp_path / "lead.key"
    key_file.write_text("l" * 32 + "\n")
    monkeypatch.setenv("REMEDY_PD_COMMANDER", commander_key)
    monkeypatch.setenv("REMEDY_PD_LEAD_FILE", str(key_file))
    httpsink.default = PD_OK
    for level, env in (
        ("incident-commander", "REMEDY_PD_COMMANDER"),
        ("engineering-lead", "REMEDY_PD_LEAD"),
        ("on-call", None),
    ):
        r = await notify.pagerduty(
            PagerDutyInput(
                dedup_key="incident:A:x@run1",
                action="trigger",
                summary="s",
                level=level,
                routing_key_env=env,
            )
        )
        assert r.delivered
        assert commander_key not in r.detail
    commander, lead, oncall = (req.json() for req in httpsink.requests)
    assert commander["routing_key"] == commander_key
    assert lead["routing_key"] == "l" * 32
    assert oncall["routing_key"] == ROUTING_KEY
    assert {e["dedup_key"] for e in (commander, lead, oncall)} == {"incident:A:x@run1"}
    assert commander["payload"]["custom_details"] == {"paging_level": "incident-commander"}


async def test_pagerduty_level_key_not_set_is_a_configuration_error(
    notify: NotifyActivities, httpsink: HttpSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("REMEDY_PD_CTO", raising=False)
    monkeypatch.delenv("REMEDY_PD_CTO_FILE", raising=False)
    with pytest.raises(ApplicationError) as ei:
        await notify.pagerduty(
            PagerDutyInput(
                dedup_key="k", action="trigger", level="cto", routing_key_env="REMEDY_PD_CTO"
            )
        )
    assert ei.value.type == "NotifyRejected" and ei.value.non_retryable
    assert "REMEDY_PD_CTO" in str(ei.value) and "cto" in str(ei.value)
    monkeypatch.setenv("REMEDY_PD_CTO", "changeme")
    with pytest.raises(ApplicationError) as ei:
        await notify.pagerduty(
            PagerDutyInput(
                dedup_key="k", action="trigger", level="cto", routing_key_env="REMEDY_PD_CTO"
            )
        )
    assert "placeholder" in str(ei.value)
    assert httpsink.requests == []  # nothing sent

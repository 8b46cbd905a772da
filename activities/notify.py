"""Notifications: Slack incoming webhook (Block Kit) and PagerDuty Events API v2.

Outcomes:
* channel not configured -> `NotifyResult(skipped=True)`: a dev stack without Slack is
  not an incident-response failure, and the workflow's timeline says it was skipped.
* 429 / 5xx / network error -> `NotifyUnavailable` (retryable). Temporal's retry policy
  supplies the backoff; a `Retry-After` header becomes the error's `next_retry_delay`
  so we wait exactly as long as the service asked, not what the policy guessed.
* any other non-2xx -> `NotifyRejected` (non-retryable): a bad payload or a revoked
  webhook will not get better by sending it again.

Secrets. The Slack webhook URL *is* the credential, and the PagerDuty routing key sits
in the JSON body. Neither may reach workflow history (results, exception messages --
which Temporal stores as failures) or logs. Both are registered with
activities/http_client.py's `register_secrets`: everything we emit passes its
`redact_text`, and so does httpx's "HTTP Request: POST <url>" INFO line.
"""

from __future__ import annotations

import email.utils
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.errors import ERROR_TYPES, app_error
from activities.http_client import (
    MASK,
    error_text,
    http_client,
    redact_text,
    register_secrets,
)
from remedy.settings import Settings
from workflows.contracts.notify import (
    PAGERDUTY_EVENT,
    SLACK_POST,
    NotifyResult,
    PagerDutyInput,
    SlackMessageInput,
)

REDACTED = MASK
NOTIFY_TIMEOUT_S = 10.0
# Retry-After beyond this is capped: the workflow's own deadlines (page the incident
# commander at 5 min) matter more than a rate limiter's wish.
MAX_RETRY_AFTER = timedelta(minutes=5)
# Block Kit limits: header plain_text <= 150 chars, section text <= 3000 chars.
_HEADER_MAX = 150
_SECTION_MAX = 3000
_PD_SUMMARY_MAX = 1024


class NotifyActivities:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._client: httpx.AsyncClient | None = None
        if settings.slack_webhook_url is not None:
            url = settings.slack_webhook_url.get_secret_value()
            # The path alone is the secret too (some log formats drop scheme and host).
            register_secrets(url, urlsplit(url).path)
        if settings.pagerduty_routing_key is not None:
            register_secrets(settings.pagerduty_routing_key.get_secret_value())

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = http_client(NOTIFY_TIMEOUT_S, egress=True)
        return self._client

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    @activity.defn(name=SLACK_POST.name)
    async def slack(self, inp: SlackMessageInput) -> NotifyResult:
        if self.settings.slack_webhook_url is None:
            return NotifyResult(
                channel="slack", delivered=False, skipped=True, detail="not configured"
            )
        url = self.settings.slack_webhook_url.get_secret_value()
        resp = await self._post("slack", url, render_slack(inp))
        return NotifyResult(channel="slack", delivered=True, detail=_answer(resp))

    @activity.defn(name=PAGERDUTY_EVENT.name)
    async def pagerduty(self, inp: PagerDutyInput) -> NotifyResult:
        if self.settings.pagerduty_routing_key is None:
            return NotifyResult(
                channel="pagerduty", delivered=False, skipped=True, detail="not configured"
            )
        event = render_pagerduty(inp, self.settings.pagerduty_routing_key.get_secret_value())
        resp = await self._post("pagerduty", self.settings.pagerduty_url, event)
        return NotifyResult(channel="pagerduty", delivered=True, detail=_answer(resp))

    async def _post(self, channel: str, url: str, payload: dict[str, Any]) -> httpx.Response:
        try:
            resp = await self._http().post(url, json=payload)
        except (httpx.InvalidURL, httpx.UnsupportedProtocol) as e:
            # A malformed webhook URL in the settings: no retry will fix it.
            raise app_error(
                "NotifyRejected", f"{channel}: misconfigured URL: {error_text(e)}"
            ) from None
        except httpx.HTTPError as e:
            # `from None`: Temporal serializes the cause chain into history, and httpx
            # exceptions may carry the request (and with it the webhook URL).
            raise app_error("NotifyUnavailable", f"{channel}: {error_text(e)}") from None
        if resp.is_success:
            return resp
        message = redact_text(f"{channel}: HTTP {resp.status_code}: {resp.text[:300]}")
        if resp.status_code == 429 or resp.status_code >= 500:
            raise ApplicationError(
                message,
                type="NotifyUnavailable",
                non_retryable=not ERROR_TYPES["NotifyUnavailable"],
                next_retry_delay=retry_after(resp.headers.get("Retry-After")),
            )
        raise app_error("NotifyRejected", message)


def _answer(resp: httpx.Response) -> str:
    body = resp.text[:200].strip()
    return redact_text(f"HTTP {resp.status_code}: {body}" if body else f"HTTP {resp.status_code}")


def retry_after(value: str | None, now: datetime | None = None) -> timedelta | None:
    """Parse a Retry-After header (delay-seconds or HTTP-date), capped; None if absent
    or unreadable, which leaves the retry policy's own backoff in charge."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        delay = timedelta(seconds=int(value))
    else:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        delay = when - (now or datetime.now(UTC))
    return max(timedelta(0), min(delay, MAX_RETRY_AFTER))


# ------------------------------------------------------------------ rendering
def _escape(text: str) -> str:
    # Slack's three control characters. Unescaped, alert text such as "<!channel>" or
    # "<https://evil|click>" would ping everyone or render a disguised link.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _section(label: str, value: str) -> dict[str, Any]:
    return {
        "type": "section",
        "text": {"type": "mrkdwn", "text": _clip(f"*{label}:*\n{_escape(value)}", _SECTION_MAX)},
    }


def render_slack(inp: SlackMessageInput) -> dict[str, Any]:
    """The Agent Lab 'Incident Status Update' template as Block Kit, plus the same
    template as plain `text` (what notifications and screen readers show)."""
    title = f"🚨 INCIDENT UPDATE: {inp.title}"
    text = "\n".join(
        [
            title,
            "",
            f"Status: {inp.status}",
            f"Impact: {inp.impact}",
            f"Timeline: {inp.timeline}",
            "",
            f"Actions Taken: {inp.actions_taken}",
            f"Next Steps: {inp.next_steps}",
            "",
            f"Incident: {inp.incident_id}",
        ]
    )
    blocks: list[dict[str, Any]] = [
        # Header text is plain_text: no escaping needed, and mentions cannot fire.
        {
            "type": "header",
            "text": {"type": "plain_text", "text": _clip(title, _HEADER_MAX), "emoji": True},
        },
        {
            "type": "section",
            "fields": [
                {"type": "mrkdwn", "text": f"*Status:*\n{inp.status}"},
                {"type": "mrkdwn", "text": _clip(f"*Incident:*\n{_escape(inp.incident_id)}", 2000)},
            ],
        },
        _section("Impact", inp.impact),
        _section("Timeline", inp.timeline),
        {"type": "divider"},
        _section("Actions Taken", inp.actions_taken),
        _section("Next Steps", inp.next_steps),
    ]
    return {"text": _clip(_escape(text), 4000), "blocks": blocks}


def render_pagerduty(inp: PagerDutyInput, routing_key: str) -> dict[str, Any]:
    """An Events API v2 alert event. `payload` is required for trigger and ignored for
    acknowledge/resolve, which only need the dedup_key that the trigger opened."""
    event: dict[str, Any] = {
        "routing_key": routing_key,
        "event_action": inp.action,
        "dedup_key": inp.dedup_key,
    }
    if inp.action == "trigger":
        event["payload"] = {
            # PagerDuty rejects a trigger with an empty summary or source.
            "summary": _clip(inp.summary or f"Incident {inp.dedup_key}", _PD_SUMMARY_MAX),
            "source": inp.source or "remedy",
            "severity": inp.severity,
        }
        event["client"] = "Remedy"
    return event

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
import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
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
from remedy.settings import SecretSettingError, Settings, named_secret
from workflows.contracts.notify import (
    PAGERDUTY_EVENT,
    SLACK_POST,
    USER_NOTICE,
    NotifyResult,
    PagerDutyInput,
    SlackMessageInput,
    UserNoticeInput,
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
        url, note = self._slack_url(inp)
        if url is None:
            return NotifyResult(
                channel="slack", delivered=False, skipped=True, detail="not configured"
            )
        resp = await self._post("slack", url, render_slack(inp))
        return NotifyResult(channel="slack", delivered=True, detail=note + _answer(resp))

    def _slack_url(self, inp: SlackMessageInput) -> tuple[str | None, str]:
        """The purpose's channel webhook when the inventory names its variable, else the
        default REMEDY_SLACK_WEBHOOK_URL. A named variable unset on the worker falls
        back to the default *and says so* (the result's detail, in the timeline): an
        incident's message in the wrong channel beats none; with no default either,
        the post is refused naming the variable."""
        default = self.settings.slack_webhook_url
        fallback = default.get_secret_value() if default is not None else None
        if not inp.webhook_env:
            return fallback, ""
        where = f"slack {inp.purpose or 'channel'}"
        try:
            url = named_secret(inp.webhook_env)
        except SecretSettingError as e:
            raise app_error("NotifyRejected", f"{where}: {e}") from None
        if url is not None:
            register_secrets(url, urlsplit(url).path)  # the path alone is the secret too
            return url, f"#{inp.purpose}: "
        if fallback is None:
            raise app_error(
                "NotifyRejected", f"{where}: {inp.webhook_env} is not set on the worker"
            )
        return fallback, f"{inp.webhook_env} not set on the worker: default webhook; "

    @activity.defn(name=USER_NOTICE.name)
    async def user_notice(self, inp: UserNoticeInput) -> NotifyResult:
        """The user-facing notice to the service's status page webhook, once per key:
        a retry after a post that went through (its answer lost to a timeout, or the
        worker died after it) finds the key's marker and does not post again. The key
        is also sent as Idempotency-Key and in the JSON body for receivers that dedupe."""
        marker = self._notice_marker(inp.key)
        if marker.exists():
            return NotifyResult(
                channel="status_page", delivered=True, detail=f"already published ({inp.state})"
            )
        try:
            url = named_secret(inp.url_env)
        except SecretSettingError as e:
            raise app_error("NotifyRejected", f"status page: {e}") from None
        if url is None:
            raise app_error(
                "NotifyRejected", f"status page: {inp.url_env} is not set on the worker"
            )
        register_secrets(url, urlsplit(url).path)
        resp = await self._post(
            "status page", url, render_notice(inp), headers={"Idempotency-Key": inp.key}
        )
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text(f"{inp.key}\n")
        return NotifyResult(channel="status_page", delivered=True, detail=_answer(resp))

    def _notice_marker(self, key: str) -> Path:
        return self.settings.data_dir / "notices" / hashlib.sha256(key.encode()).hexdigest()

    @activity.defn(name=PAGERDUTY_EVENT.name)
    async def pagerduty(self, inp: PagerDutyInput) -> NotifyResult:
        key = self._routing_key(inp)
        if key is None:
            return NotifyResult(
                channel="pagerduty", delivered=False, skipped=True, detail="not configured"
            )
        event = render_pagerduty(inp, key)
        resp = await self._post("pagerduty", self.settings.pagerduty_url, event)
        return NotifyResult(channel="pagerduty", delivered=True, detail=_answer(resp))

    def _routing_key(self, inp: PagerDutyInput) -> str | None:
        """The level's own routing key (its PagerDuty service) when the inventory names
        one, else the default REMEDY_PAGERDUTY_ROUTING_KEY. A named variable that is
        unset is a configuration error, not a silent fall-back: that level would never
        be paged where the team expects."""
        if inp.routing_key_env:
            try:
                key = named_secret(inp.routing_key_env)
            except SecretSettingError as e:
                raise app_error("NotifyRejected", f"pagerduty {inp.level}: {e}") from None
            if key is None:
                raise app_error(
                    "NotifyRejected",
                    f"pagerduty {inp.level}: {inp.routing_key_env} (the level's routing "
                    "key) is not set on the worker",
                )
            register_secrets(key)
            return key
        default = self.settings.pagerduty_routing_key
        return default.get_secret_value() if default is not None else None

    async def _post(
        self,
        channel: str,
        url: str,
        payload: dict[str, Any],
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        try:
            resp = await self._http().post(url, json=payload, headers=headers)
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
            *_tail_lines(inp),
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
    if tail := _tail_fields(inp):
        blocks.append({"type": "section", "fields": tail})
    if buttons := _buttons(inp):
        blocks.append({"type": "actions", "block_id": "remedy-answers", "elements": buttons})
    return {"text": _clip(_escape(text), 4000), "blocks": blocks}


_TAIL = (("Next update", "next_update"), ("On-call", "on_call"), ("Issue", "issue"))


def _tail_lines(inp: SlackMessageInput) -> list[str]:
    # The template's Next update / On-call / Issue lines; messages from before them
    # carry none and render as they did.
    return [f"{label}: {getattr(inp, name)}" for label, name in _TAIL if getattr(inp, name)]


def _tail_fields(inp: SlackMessageInput) -> list[dict[str, Any]]:
    out = []
    for label, name in _TAIL:
        value: str = getattr(inp, name)
        if not value:
            continue
        # The issue link is a URL from the inventory (its placeholders URL-encoded):
        # shown as a link, the rest escaped like every other field.
        shown = (
            f"<{value.replace('&', '&amp;')}|open an issue>"
            if name == "issue" and _is_link(value)
            else None
        )
        out.append(
            {"type": "mrkdwn", "text": _clip(f"*{label}:*\n{shown or _escape(value)}", 2000)}
        )
    return out


def _is_link(value: str) -> bool:
    # No Slack control characters and no spaces: the link cannot break out of <url|text>.
    return value.startswith(("https://", "http://")) and not any(c in value for c in "<>| ")


def render_notice(inp: UserNoticeInput) -> dict[str, Any]:
    """The user-facing notice for the status page: Slack-compatible (`text`, what an
    incoming webhook takes) or generic JSON (the fields, and `id` to deduplicate on)."""
    if inp.format == "slack":
        return {"text": _clip(_escape(inp.text), 4000)}
    return {
        "id": inp.key,
        "service": inp.service,
        "state": inp.state,
        "severity": inp.severity,
        "title": inp.title,
        "text": inp.text,
        "started_at": inp.started_at.isoformat(),
        "resolved_at": inp.resolved_at.isoformat() if inp.resolved_at else None,
    }


def _button(
    verb: str, n: int, label: str, value: dict[str, str], style: str = ""
) -> dict[str, Any]:
    b: dict[str, Any] = {
        "type": "button",
        # Unique per message; the bridge reads the verb (bridge/interactions.py).
        "action_id": f"remedy:{verb}:{n}",
        "text": {"type": "plain_text", "text": _clip(label, 75)},
        # Names only: what a Slack user could read in the message anyway.
        "value": json.dumps(value)[:2000],
    }
    if style:
        b["style"] = style
    return b


def _buttons(inp: SlackMessageInput) -> list[dict[str, Any]]:
    """Approve / Reject per step waiting, and Acknowledge: Slack sends the click, signed,
    to the bridge's /slack/interactions, which answers as the clicking person."""
    run = inp.run_key or inp.incident_id
    out: list[dict[str, Any]] = []
    for n, step in enumerate(inp.approvals[:12]):  # an actions block holds 25 elements
        value = {"incident": run, "step": step}
        out.append(_button("approve", n, f"Approve {step}", value, "primary"))
        out.append(_button("reject", n, f"Reject {step}", value, "danger"))
    if inp.acknowledge:
        out.append(_button("acknowledge", 0, "Acknowledge", {"incident": run}))
    return out


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
        if inp.level:  # who this page is for: on-call, incident-commander, ...
            event["payload"]["custom_details"] = {"paging_level": inp.level}
        event["client"] = "Remedy"
    return event

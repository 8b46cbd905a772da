"""Where an incident's words go: the Slack channel per purpose, the status page for the
user-facing notice, and the issue tracker link of the status update. Per service in
the inventory (`slack:`, `status_page:`, `issue_url:`), and in ServicePolicy.

The runbooks: Genesis "Contact Information" names #genesis-alerts (critical),
#genesis-monitoring (warnings) and #genesis-incidents (incident coordination); Agent
Lab's "Communication Templates" give the status update (with its On-call and Issue
lines) and the user-facing notice.

No secret here (it all enters workflow history): a Slack incoming-webhook URL or a
status-page webhook URL *is* its credential, so the inventory names the worker's
environment variable (or <NAME>_FILE) that holds it, never the URL. The issue link is
not a credential: it is what people click in the message.
"""

from __future__ import annotations

import re
from typing import Literal
from urllib.parse import quote, urlsplit

from pydantic import Field, field_validator

from workflows.contracts.base import Strict

Purpose = Literal["alerts", "monitoring", "incidents"]
ENV_NAME = r"^[A-Z][A-Z0-9_]*$"
ISSUE_FIELDS = ("title", "incident", "service", "severity")
_FIELD = re.compile(r"\{([^{}]*)\}")


def first_post_purpose(severity: str) -> Purpose:
    """The routing rule. The first post of an incident goes to `alerts` for P0/P1
    (Genesis #genesis-alerts, "critical") and to `monitoring` for P2-P4
    (#genesis-monitoring, "warnings"); every later update -- Investigating, Escalated,
    Resolved, approvals -- goes to `incidents` (#genesis-incidents, coordination)."""
    return "alerts" if severity in ("P0", "P1") else "monitoring"


class SlackChannels(Strict):
    """`slack:` of a service: per purpose, the worker's environment variable (or
    <NAME>_FILE) holding that channel's incoming-webhook URL. An unset purpose posts
    to REMEDY_SLACK_WEBHOOK_URL."""

    alerts: str | None = Field(default=None, pattern=ENV_NAME)
    monitoring: str | None = Field(default=None, pattern=ENV_NAME)
    incidents: str | None = Field(default=None, pattern=ENV_NAME)

    def env_for(self, purpose: Purpose) -> str | None:
        return getattr(self, purpose)  # type: ignore[no-any-return]


class StatusPage(Strict):
    """`status_page:` of a service: where the user-facing notice is published. `format`
    `slack`: a Slack-compatible incoming webhook (`{"text": ...}`); `json`: a generic
    JSON webhook (the notice's fields, and its key to deduplicate on)."""

    url_env: str = Field(pattern=ENV_NAME)
    format: Literal["slack", "json"] = "slack"


def check_issue_url(v: str | None) -> str | None:
    if v is None:
        return v
    parts = urlsplit(v.replace("{", "").replace("}", ""))
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"issue_url {v!r}: an http(s) URL, e.g. https://github.com/o/r/issues/new")
    if "@" in parts.netloc:
        raise ValueError("issue_url: no user or password in the URL (it is shown in Slack)")
    unknown = [f for f in _FIELD.findall(v) if f not in ISSUE_FIELDS]
    if unknown:
        raise ValueError(
            f"issue_url: unknown placeholder {{{unknown[0]}}} (known: "
            + ", ".join(f"{{{f}}}" for f in ISSUE_FIELDS)
            + ")"
        )
    return v


class CommunicationPolicy(Strict):
    """What a workflow knows of where its words go: variable names and a link template."""

    slack: SlackChannels = Field(default_factory=SlackChannels)
    status_page: StatusPage | None = None
    # e.g. https://github.com/o/r/issues/new?title={title}: {title}, {incident},
    # {service} and {severity} are filled in URL-encoded.
    issue_url: str | None = None

    @field_validator("issue_url")
    @classmethod
    def _check_issue(cls, v: str | None) -> str | None:
        return check_issue_url(v)

    def issue_link(self, **values: str) -> str | None:
        """The issue tracker link, every placeholder URL-encoded (alert labels reach it,
        and must not add a parameter or a path)."""
        if self.issue_url is None:
            return None
        return _FIELD.sub(lambda m: quote(values.get(m.group(1), ""), safe=""), self.issue_url)

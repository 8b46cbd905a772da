"""Slack messages and PagerDuty events. Routing keys and webhook URLs are worker-side
settings, never in a contract.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from workflows import policies
from workflows.contracts.base import Activity
from workflows.contracts.communication import ENV_NAME, Purpose


# ---------------------------------------------------------------- notifications
class SlackMessageInput(BaseModel):
    """The Agent Lab 'Incident Status Update' template, rendered as Block Kit."""

    incident_id: str
    title: str
    status: Literal["Active", "Investigating", "Resolved", "Escalated"]
    impact: str
    timeline: str
    actions_taken: str
    next_steps: str
    # Buttons (bridge/interactions.py answers them): Approve / Reject for each step
    # waiting, Acknowledge while nobody has. Their values carry `run_key` and the step,
    # never a secret; messages from before the buttons have the defaults (none).
    run_key: str = ""
    approvals: list[str] = Field(default_factory=list)
    acknowledge: bool = False
    # The template's last lines (empty in messages from before them: not shown).
    next_update: str = ""
    on_call: str = ""
    issue: str = ""
    # Which channel (workflows/contracts/communication.py's routing rule) and the NAME
    # of the worker's environment variable holding its webhook URL; None: the default
    # webhook, REMEDY_SLACK_WEBHOOK_URL (and every message from before channels).
    purpose: Purpose | None = None
    webhook_env: str | None = Field(default=None, pattern=ENV_NAME)


PagerDutyAction = Literal["trigger", "acknowledge", "resolve"]


class PagerDutyInput(BaseModel):
    dedup_key: str = Field(description="the incident run's key (Incident.run_key)")
    action: PagerDutyAction
    summary: str = ""
    source: str = ""
    severity: Literal["critical", "error", "warning", "info"] = "critical"
    # The paging level (workflows/contracts/paging.py) and the NAME of the worker's
    # environment variable holding its routing key; unset: the default routing key.
    level: str = ""
    routing_key_env: str | None = Field(default=None, pattern=r"^[A-Z][A-Z0-9_]*$")


class UserNoticeInput(BaseModel):
    """The Agent Lab 'User-Facing Communication', published to the service's status
    page webhook (`status_page:`): the rendered text and the fields a JSON receiver
    needs. `key` (run key + state) deduplicates: a retried call posts once."""

    key: str
    service: str
    state: Literal["investigating", "resolved"]
    severity: str
    title: str
    text: str
    started_at: datetime
    resolved_at: datetime | None = None
    url_env: str = Field(pattern=ENV_NAME)
    format: Literal["slack", "json"] = "slack"


class NotifyResult(BaseModel):
    channel: Literal["slack", "pagerduty", "status_page"]
    delivered: bool
    skipped: bool = Field(default=False, description="channel not configured")
    detail: str = ""


# ---------------------------------------------------------------- activities
SLACK_POST = Activity("notify.slack", SlackMessageInput, NotifyResult, policies.NOTIFY)
PAGERDUTY_EVENT = Activity("notify.pagerduty", PagerDutyInput, NotifyResult, policies.NOTIFY)
USER_NOTICE = Activity("notify.user_notice", UserNoticeInput, NotifyResult, policies.NOTIFY)

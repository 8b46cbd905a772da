"""Slack messages and PagerDuty events. Routing keys and webhook URLs are worker-side
settings, never in a contract.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from workflows import policies
from workflows.contracts.base import Activity


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


PagerDutyAction = Literal["trigger", "acknowledge", "resolve"]


class PagerDutyInput(BaseModel):
    dedup_key: str = Field(description="the incident run's key (Incident.run_key)")
    action: PagerDutyAction
    summary: str = ""
    source: str = ""
    severity: Literal["critical", "error", "warning", "info"] = "critical"


class NotifyResult(BaseModel):
    channel: Literal["slack", "pagerduty"]
    delivered: bool
    skipped: bool = Field(default=False, description="channel not configured")
    detail: str = ""


# ---------------------------------------------------------------- activities
SLACK_POST = Activity("notify.slack", SlackMessageInput, NotifyResult, policies.NOTIFY)
PAGERDUTY_EVENT = Activity("notify.pagerduty", PagerDutyInput, NotifyResult, policies.NOTIFY)

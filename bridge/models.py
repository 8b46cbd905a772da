"""The Alertmanager webhook payload (version "4"), as Alertmanager 0.25 sends it.

Recorded examples live in tests/fixtures/alertmanager_payloads/. Unknown fields are
ignored rather than rejected: Alertmanager adds fields across releases, and a new
field must not turn every notification into a 422 that Alertmanager never retries.
Fields the bridge needs are required, so a broken sender gets a 422 naming them.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

# Alertmanager writes Go's zero time for "not ended yet" (a firing alert).
GO_ZERO_TIME = datetime(1, 1, 1, tzinfo=UTC)


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class WebhookAlert(_Lenient):
    status: Literal["firing", "resolved"]
    labels: dict[str, str]
    annotations: dict[str, str] = Field(default_factory=dict)
    starts_at: datetime = Field(alias="startsAt")
    ends_at: datetime = Field(default=GO_ZERO_TIME, alias="endsAt")
    generator_url: str = Field(default="", alias="generatorURL")
    fingerprint: str = ""

    @field_validator("labels")
    @classmethod
    def _has_alertname(cls, v: dict[str, str]) -> dict[str, str]:
        if not v.get("alertname"):
            raise ValueError("labels.alertname is required")
        return v

    @property
    def alertname(self) -> str:
        return self.labels["alertname"]

    @property
    def identity(self) -> str:
        """The alert instance: Alertmanager's fingerprint (a hash of the label set), or
        the same idea computed here when a hand-made payload leaves it out."""
        if self.fingerprint:
            return self.fingerprint
        canon = "\x00".join(f"{k}\x01{v}" for k, v in sorted(self.labels.items()))
        return "sha256:" + hashlib.sha256(canon.encode()).hexdigest()[:16]


class WebhookPayload(_Lenient):
    version: Literal["4"]
    status: Literal["firing", "resolved"]
    receiver: str = ""
    group_key: str = Field(default="", alias="groupKey")
    truncated_alerts: int = Field(default=0, ge=0, alias="truncatedAlerts")  # found by fuzzing
    group_labels: dict[str, str] = Field(default_factory=dict, alias="groupLabels")
    common_labels: dict[str, str] = Field(default_factory=dict, alias="commonLabels")
    common_annotations: dict[str, str] = Field(default_factory=dict, alias="commonAnnotations")
    external_url: str = Field(default="", alias="externalURL")
    alerts: list[WebhookAlert]

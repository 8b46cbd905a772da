"""`defaults:` -- the runbooks' thresholds and waits (each overridable per service under
its own `thresholds:` / `waits:`) and the recurrence look-back."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from workflows.contracts.base import Strict
from workflows.contracts.paging import PagingPolicy
from workflows.contracts.policy import RecurrencePolicy


class ThresholdOverrides(Strict):
    test_pass_rate_slo: float | None = None
    test_pass_rate_rollback: float | None = None
    error_rate_slo: float | None = None
    error_rate_rollback: float | None = None
    latency_p95_slo_s: float | None = None
    latency_p95_rollback_s: float | None = None


Seconds = Annotated[float, Field(gt=0)]


class WaitOverrides(Strict):
    """Waits in seconds (YAML stays plain numbers)."""

    after_restart: Seconds | None = None
    after_rollback_start: Seconds | None = None
    incident_commander_after: Seconds | None = None
    verify_window: Seconds | None = None
    verify_interval: Seconds | None = None
    rollback_after: Seconds | None = None
    restore_budget: Seconds | None = None
    health_retry_interval: Seconds | None = None
    circuit_breaker_recovery: Seconds | None = None
    detection_budget: Seconds | None = None
    assessment_budget: Seconds | None = None
    response_budget: Seconds | None = None


class Defaults(Strict):
    thresholds: ThresholdOverrides = Field(default_factory=ThresholdOverrides)
    waits: WaitOverrides = Field(default_factory=WaitOverrides)
    # Earlier incidents of the same alert: how far back, and when it is chronic.
    recurrence: RecurrencePolicy = Field(default_factory=RecurrencePolicy)
    # Paging levels, who is paged at detection per severity, the acknowledgement window
    # (workflows/contracts/paging.py); a service's `paging:` replaces it whole.
    paging: PagingPolicy = Field(default_factory=PagingPolicy)

"""PromQL instant queries."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from workflows import policies
from workflows.contracts.base import Activity


# ---------------------------------------------------------------- prometheus
class PromQueryInput(BaseModel):
    query: str
    timeout_s: float = 10.0
    # Evaluate this many seconds before now (Prometheus' `time` parameter): a slot the
    # verification sampler reads late (steps/verify.py). Relative to the activity's
    # clock, so a skew between Temporal's and Prometheus' clocks does not move it.
    ago_s: float = 0.0


class PromSample(BaseModel):
    labels: dict[str, str]
    value: float


class PromQueryResult(BaseModel):
    """`ok` with samples, `no_data` (query ran, nothing matched), `unreachable`
    (no answer) or `error` (Prometheus refused the query). Only `ok` carries numbers."""

    status: Literal["ok", "no_data", "unreachable", "error"]
    samples: list[PromSample] = Field(default_factory=list)
    detail: str = ""

    def scalar(self) -> float | None:
        return self.samples[0].value if self.status == "ok" and self.samples else None


# ---------------------------------------------------------------- activities
PROMETHEUS_QUERY = Activity(
    "prometheus.query", PromQueryInput, PromQueryResult, policies.PROMETHEUS
)

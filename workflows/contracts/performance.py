"""Typed contracts of PerformanceDegradation's investigation (Agent Lab "Performance
Degradation", P2): the slow-request analysis of the web access log ("Identify
Bottlenecks") and the thresholds that decide what Containment applies.

The runbook applies no criterion of its own ("Analyze slowest requests", then throttle
and cache); Remedy's are below, each configurable under `agent_lab.performance`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from workflows import policies
from workflows.contracts.base import Activity, Strict


class AccessLogFormat(Strict):
    """`agent_lab.access_log`: the web access log on the service's first host, read
    with `tail -n max_lines` and analysed on the worker (no awk program on the host).
    Fields are whitespace-separated words, 1-based like awk's `$7`; negative counts
    from the end (`-1`: nginx's `$request_time` appended last)."""

    path: str = Field(pattern=r"^/")
    time_field: int = Field(default=-1, description="the response time's word")
    time_unit: Literal["s", "ms"] = "s"
    endpoint_field: int = Field(default=7, description='the path in combined format "GET /x')
    max_lines: int = Field(default=20_000, ge=1, le=200_000)


class PerformanceTriage(Strict):
    """When the investigation points at load (throttle) or at repeated slow requests
    (cache). Numbers only: it crosses into the workflow's policy."""

    slow_request_s: float = Field(default=1.0, gt=0, description="a request this slow is slow")
    # Load: the `cpu` SLI's value (busy fraction, 0-1) at or over this.
    throttle_cpu: float = Field(default=0.80, gt=0, le=1)
    # Repeated slow requests: at least cache_min_slow slow requests, and the
    # cache_top_endpoints slowest endpoints carry at least cache_slow_share of them.
    cache_min_slow: int = Field(default=20, ge=1)
    cache_top_endpoints: int = Field(default=3, ge=1, le=20)
    cache_slow_share: float = Field(default=0.5, gt=0, le=1)
    throttle_mitigation: str = "throttle"  # names under the service's mitigations
    cache_mitigation: str = "cache"
    # "Recent Changes": `git log` over this many days (the runbook's "1 week ago").
    recent_days: int = Field(default=7, ge=1, le=90)


class SlowRequestsInput(BaseModel):
    service: str
    slow_s: float = Field(gt=0)
    top: int = Field(default=5, ge=1, le=20)


class EndpointSlow(BaseModel):
    endpoint: str
    slow: int = Field(description="slow requests to it")
    worst_s: float


class SlowRequestsResult(BaseModel):
    lines: int = Field(description="access-log lines read")
    timed: int = Field(description="lines with a response time")
    slow: int = Field(description="requests at or over slow_s")
    p95_s: float | None = None
    top: list[EndpointSlow] = Field(default_factory=list, description="most slow requests first")

    def top_share(self, n: int) -> float:
        """The share of slow requests the n endpoints with the most carry."""
        return sum(e.slow for e in self.top[:n]) / self.slow if self.slow else 0.0


SLOW_REQUESTS = Activity(
    "agentlab.slow_requests", SlowRequestsInput, SlowRequestsResult, policies.DIAGNOSTIC
)

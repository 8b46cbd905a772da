"""HTTP probes of a service and its upstream: health endpoint, smoke test, streaming
probe, load probe, upstream probes. URLs and bodies stay in the inventory (the `*Spec`
models, worker side); a workflow passes a service name and a check kind.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from workflows import policies
from workflows.contracts.base import Activity, Strict


# ---------------------------------------------------------------- http probe
class HttpProbeInput(BaseModel):
    """Probe a URL. Either a literal `url` (tests, inventory-derived) or a service's
    `health` / `health_detailed` URL resolved from the inventory."""

    url: str | None = None
    service: str | None = None
    target: Literal["health", "health_detailed"] = "health"
    method: Literal["GET", "POST"] = "GET"
    json_body: str | None = None
    expected_status: list[int] = Field(default_factory=lambda: [200])
    timeout_s: float = 10.0
    json_pointer: str | None = Field(
        default=None, description="RFC 6901 pointer into a JSON body, e.g. /circuit_breaker"
    )


class HttpProbeResult(BaseModel):
    url: str
    ok: bool
    status_code: int | None = None
    latency_s: float | None = None
    body_excerpt: str = ""
    error: str = ""
    json_value: str | None = Field(
        default=None, description="the value at json_pointer, JSON-encoded; None if absent"
    )


# Hard caps on the load probe, whatever the inventory says: it is a check, not a
# load test rig, and must never become a way to flood a service.
LOAD_MAX_REQUESTS = 10_000


LOAD_MAX_CONCURRENCY = 50


LOAD_MAX_DURATION_S = 300.0


class HttpRequestSpec(Strict):
    """One configured request: the core-functionality smoke request or the streaming
    test endpoint. Never carries credentials: no header field exists to put them in."""

    url: str = Field(pattern=r"^https?://")
    method: Literal["GET", "POST"] = "GET"
    json_body: dict[str, Any] | None = Field(default=None, alias="json")
    expected_status: list[int] = Field(default_factory=lambda: [200])
    timeout_s: float = Field(default=30.0, gt=0, le=300)

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class StreamingSpec(HttpRequestSpec):
    max_bytes: int = Field(default=64 * 1024, ge=1, le=1024 * 1024)
    min_chunks: int = Field(default=1, ge=1)
    done_marker: str | None = None  # e.g. "[DONE]" for SSE: the stream must end with it


# The runbook's "Check OpenRouter streaming endpoints" request body (`curl -N -X POST
# ... -d '{"model":"gpt-3.5-turbo",...,"stream":true}'`).
UPSTREAM_STREAM_BODY: dict[str, Any] = {
    "model": "gpt-3.5-turbo",
    "messages": [{"role": "user", "content": "Hello"}],
    "stream": True,
}


class UpstreamStreamSpec(StreamingSpec):
    """The upstream's streaming endpoint, POSTed the runbook's body and read as a stream.
    The Bearer key is never here: `agent_lab.upstream_api_key_env` names the worker's
    environment variable that holds it."""

    method: Literal["GET", "POST"] = "POST"
    json_body: dict[str, Any] | None = Field(
        default_factory=lambda: dict(UPSTREAM_STREAM_BODY), alias="json"
    )


class LoadProbeSpec(Strict):
    """The runbook's `ab -n 1000 -c 10 .../health`, bounded. Default target: health_url."""

    url: str | None = Field(default=None, pattern=r"^https?://")
    requests: int = Field(default=1000, ge=1, le=LOAD_MAX_REQUESTS)
    concurrency: int = Field(default=10, ge=1, le=LOAD_MAX_CONCURRENCY)
    max_duration_s: float = Field(default=60.0, gt=0, le=LOAD_MAX_DURATION_S)
    request_timeout_s: float = Field(default=10.0, gt=0, le=60)
    max_p95_s: float = Field(default=0.5, gt=0)  # the probe passes at or under this p95
    max_error_ratio: float = Field(default=0.01, ge=0, le=1)  # ... and this share of errors


# ---------------------------------------------------------------- HTTP probes
class AgentLabProbeInput(BaseModel):
    service: str


class SmokeResult(BaseModel):
    """The smoke request or the upstream reachability check."""

    ok: bool
    url: str
    status_code: int | None = None
    latency_s: float | None = None
    error: str = ""


class StreamProbeResult(BaseModel):
    ok: bool
    url: str
    status_code: int | None = None
    chunks: int = 0
    bytes: int = 0
    first_byte_s: float | None = None
    duration_s: float = 0.0
    completed: bool = Field(default=False, description="the stream ended normally")
    capped: bool = Field(default=False, description="stopped reading at max_bytes")
    error: str = ""
    auth: str = Field(default="", description="how the request authenticated; never the key")


class LoadProbeInput(BaseModel):
    service: str
    url: str | None = Field(
        default=None, description="override the target (checked like the inventory's)"
    )


class LoadProbeResult(BaseModel):
    url: str
    requested: int
    completed: int
    errors: int
    p50_s: float | None = None
    p95_s: float | None = None
    max_s: float | None = None
    duration_s: float
    capped: bool = Field(description="the time cap stopped it before all requests ran")
    status_counts: dict[str, int] = Field(default_factory=dict)
    ok: bool = Field(description="p95 and error ratio within the inventory's bounds")
    detail: str = ""
    dry_run: bool = Field(default=False, description="dry-run: no request was sent")


UPSTREAM_PROBES = 5


# ---------------------------------------------------------------- upstream probes
class UpstreamProbeInput(BaseModel):
    service: str
    attempts: int = Field(default=UPSTREAM_PROBES, ge=1, le=20)
    timeout_s: float = 10.0


class UpstreamSample(BaseModel):
    status_code: int | None = None
    latency_s: float | None = None
    error: str = ""


class UpstreamProbeResult(BaseModel):
    url: str = Field(description="the configured URL, credentials and query removed")
    samples: list[UpstreamSample]

    @property
    def failing(self) -> int:
        """Answers that show the upstream itself failing: no answer, 5xx, 429."""
        return sum(
            1
            for s in self.samples
            if s.status_code is None or s.status_code >= 500 or s.status_code == 429
        )

    @property
    def healthy(self) -> bool:
        return self.failing * 2 < len(self.samples)  # a majority answered normally


# ---------------------------------------------------------------- activities
HTTP_PROBE = Activity("http.probe", HttpProbeInput, HttpProbeResult, policies.HEALTH_PROBE)
AGENTLAB_SMOKE = Activity("agentlab.smoke", AgentLabProbeInput, SmokeResult, policies.PROBE)
AGENTLAB_UPSTREAM = Activity("agentlab.upstream", AgentLabProbeInput, SmokeResult, policies.PROBE)
AGENTLAB_STREAM_PROBE = Activity(
    "agentlab.stream_probe", AgentLabProbeInput, StreamProbeResult, policies.STREAM_PROBE
)
AGENTLAB_UPSTREAM_STREAM = Activity(
    "agentlab.upstream_stream", AgentLabProbeInput, StreamProbeResult, policies.STREAM_PROBE
)
AGENTLAB_LOAD_PROBE = Activity(
    "agentlab.load_probe", LoadProbeInput, LoadProbeResult, policies.LOAD_PROBE
)
UPSTREAM_PROBE = Activity(
    "agentlab.upstream_probe", UpstreamProbeInput, UpstreamProbeResult, policies.UPSTREAM
)

"""HTTP probes of a service and its upstream, from the worker (workflows/contracts/http.py):

- probe (`http.probe`): a health endpoint, or any URL, read to a bounded excerpt;
- smoke (`agentlab.smoke`): the runbook's core-functionality request (`curl -X POST
  .../api/agents -d '{...}'`), method and JSON body from the inventory;
- upstream (`agentlab.upstream`, one request) and upstream_probe (`agentlab.upstream_probe`,
  the runbook's five timed `curl`s): one implementation, `upstream_samples`. The runbook's
  curl sends `Authorization: Bearer $OPENROUTER_API_KEY`; these send no credentials at
  all -- user:password@ is taken off the URL, and the client trusts nothing from the
  environment -- since reachability and latency need none: a 401 is a fine answer;
- stream (`agentlab.stream_probe`): `curl -N .../api/stream/test`, read as a stream,
  bounded in bytes and time;
- upstream_stream (`agentlab.upstream_stream`): the runbook's streaming `curl -N -X POST`
  to the upstream, read the same way. The one probe that sends a credential, as the
  runbook's curl does: `Authorization: Bearer` with the key from the worker's
  environment variable the inventory names (`agent_lab.upstream_api_key_env`, or that
  NAME_FILE), read here and nowhere else, registered for redaction, never in a result.
  No key configured or set: the request goes without one, and the result says so.

The load probe is activities/load_probe.py. Every client comes from
activities/http_client.py (no redirects, no environment, explicit timeouts).

A probe that gets no answer is a *result* (`ok=False` with the error), not an
exception: "the endpoint is down" is exactly what a ServiceDown or StreamingFailure
playbook asks, and it must branch on it rather than have Temporal retry it away.
Exceptions are kept for configuration mistakes a retry cannot fix (unknown service,
no URL configured). URLs and errors in results are redacted (`redact_url`, `error_text`).
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Mapping
from typing import Any

import httpx
from temporalio import activity

from activities.errors import app_error
from activities.http_client import (
    error_text,
    http_client,
    public_url,
    redact_url,
    register_secrets,
    without_userinfo,
)
from activities.inventory import Inventory, ServiceSpec
from workflows.contracts.http import (
    AGENTLAB_SMOKE,
    AGENTLAB_STREAM_PROBE,
    AGENTLAB_UPSTREAM,
    AGENTLAB_UPSTREAM_STREAM,
    HTTP_PROBE,
    UPSTREAM_PROBE,
    AgentLabProbeInput,
    HttpProbeInput,
    HttpProbeResult,
    HttpRequestSpec,
    SmokeResult,
    StreamingSpec,
    StreamProbeResult,
    UpstreamProbeInput,
    UpstreamProbeResult,
    UpstreamSample,
)
from workflows.contracts.policy import AgentLabSpec

# Enough of a body to show a health endpoint's verdict or an error page's first
# lines in the incident timeline, small enough to keep workflow history lean.
BODY_EXCERPT_BYTES = 2048
# A /health document read for a JSON pointer (circuit breaker state) may be larger than
# the excerpt; still bounded.
JSON_BODY_BYTES = 64 * 1024
# The shared health-probe client's default; every probe passes its own timeout_s.
DEFAULT_TIMEOUT_S = 10.0
# `agentlab.upstream`: one request, reachability only.
UPSTREAM_TIMEOUT_S = 10.0


def agent_lab(inventory: Inventory, service: str) -> tuple[ServiceSpec, AgentLabSpec]:
    svc = inventory.service(service)
    if svc.agent_lab is None:
        raise app_error("ProbeNotConfigured", f"service {service!r} has no agent_lab section")
    return svc, svc.agent_lab


def upstream_url(svc: ServiceSpec) -> str | None:
    return svc.upstream_probe_url or (svc.agent_lab.upstream_url if svc.agent_lab else None)


async def upstream_samples(url: str, attempts: int, timeout_s: float) -> list[UpstreamSample]:
    """GET the upstream `attempts` times, timed; any HTTP answer is a sample with a status.
    A fresh client per run, so the first sample includes the connection set-up."""
    target = without_userinfo(url)
    samples: list[UpstreamSample] = []
    async with http_client(timeout_s) as http:
        for _ in range(attempts):
            if activity.in_activity():
                activity.heartbeat()
            started = time.monotonic()
            try:
                resp = await http.get(target)
                samples.append(
                    UpstreamSample(
                        status_code=resp.status_code, latency_s=time.monotonic() - started
                    )
                )
            except httpx.HTTPError as e:
                samples.append(
                    UpstreamSample(latency_s=time.monotonic() - started, error=error_text(e, 300))
                )
    return samples


def upstream_key(env: str | None, environ: Mapping[str, str]) -> tuple[str | None, str]:
    """The upstream API key from the variable `env` (or `env`_FILE), and what to say of
    it -- the variable's name, never its value. A _FILE that cannot be read is a
    configuration mistake, not a probe without a key."""
    if env is None:
        return None, "no key: agent_lab.upstream_api_key_env not set"
    key = environ.get(env, "").strip()
    path = environ.get(f"{env}_FILE", "")
    if not key and path:
        try:
            with open(path, encoding="utf-8") as f:
                key = f.read().strip()
        except OSError as err:
            raise app_error("ProbeNotConfigured", f"{env}_FILE={path}: {err.strerror}") from None
    if not key:
        return None, f"no key: ${env} (or ${env}_FILE) not set on the worker"
    register_secrets(key)
    return key, f"Bearer key from ${env}" + ("_FILE" if path and not environ.get(env) else "")


class HttpProbeActivities:
    def __init__(self, inventory: Inventory, environ: Mapping[str, str] | None = None) -> None:
        self.inventory = inventory
        self.environ = os.environ if environ is None else environ
        self._client: httpx.AsyncClient | None = None

    def _http(self) -> httpx.AsyncClient:
        # One long-lived client for health probes (they run every 30 s in verification).
        if self._client is None:
            self._client = http_client(DEFAULT_TIMEOUT_S)
        return self._client

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def resolve_url(self, inp: HttpProbeInput) -> str:
        if inp.url:
            return inp.url
        if not inp.service:
            raise app_error("ProbeNotConfigured", "http probe needs a url or a service")
        svc = self.inventory.service(inp.service)  # raises UnknownService
        url = svc.health_url if inp.target == "health" else svc.health_detailed_url
        if not url:
            field = "health_url" if inp.target == "health" else "health_detailed_url"
            raise app_error(
                "ProbeNotConfigured",
                f"service {inp.service!r} has no {field} "
                f"in the inventory ({self.inventory.source})",
            )
        return url

    @activity.defn(name=HTTP_PROBE.name)
    async def probe(self, inp: HttpProbeInput) -> HttpProbeResult:
        url = self.resolve_url(inp)
        headers = {"Content-Type": "application/json"} if inp.json_body is not None else {}
        started = time.monotonic()
        try:
            # Streamed so a large (or endless, e.g. SSE) body is never read past the
            # excerpt: the probe's cost stays bounded whatever the endpoint sends.
            async with self._http().stream(
                inp.method,
                url,
                content=inp.json_body.encode() if inp.json_body is not None else None,
                headers=headers,
                timeout=inp.timeout_s,
            ) as resp:
                # Latency is time to the response head: what the user waits before the
                # service answers at all, independent of body size.
                latency = time.monotonic() - started
                limit = JSON_BODY_BYTES if inp.json_pointer else BODY_EXCERPT_BYTES
                body = await _read_excerpt(resp, limit)
                excerpt = body
                if len(body) > BODY_EXCERPT_BYTES:  # only with a pointer: clip the excerpt too
                    excerpt = body[:BODY_EXCERPT_BYTES] + "…"
        except httpx.TimeoutException as e:
            return HttpProbeResult(
                url=redact_url(url),
                ok=False,
                latency_s=time.monotonic() - started,
                error=f"timeout after {inp.timeout_s}s ({type(e).__name__})",
            )
        except httpx.HTTPError as e:
            return HttpProbeResult(
                url=redact_url(url),
                ok=False,
                latency_s=time.monotonic() - started,
                error=error_text(e),
            )
        return HttpProbeResult(
            url=redact_url(url),
            ok=resp.status_code in inp.expected_status,
            status_code=resp.status_code,
            latency_s=latency,
            body_excerpt=excerpt,
            json_value=json_at(body, inp.json_pointer) if inp.json_pointer else None,
            error=""
            if resp.status_code in inp.expected_status
            else f"unexpected status {resp.status_code} (expected {inp.expected_status})",
        )

    # ------------------------------------------------------------ Agent Lab checks
    def _configured(self, service: str, what: str) -> HttpRequestSpec:
        _, a = agent_lab(self.inventory, service)
        spec = getattr(a, what)
        if spec is None:
            raise app_error("ProbeNotConfigured", f"service {service!r} has no agent_lab.{what}")
        return spec  # type: ignore[no-any-return]

    @activity.defn(name=AGENTLAB_SMOKE.name)
    async def smoke(self, inp: AgentLabProbeInput) -> SmokeResult:
        spec = self._configured(inp.service, "smoke")
        started = time.monotonic()
        try:
            async with http_client(spec.timeout_s) as client:
                r = await client.request(spec.method, spec.url, json=spec.json_body)
        except httpx.HTTPError as e:
            return SmokeResult(
                ok=False,
                url=redact_url(spec.url),
                latency_s=_r(time.monotonic() - started),
                error=error_text(e),
            )
        ok = r.status_code in spec.expected_status
        return SmokeResult(
            ok=ok,
            url=redact_url(spec.url),
            status_code=r.status_code,
            latency_s=_r(r.elapsed.total_seconds()),
            error=""
            if ok
            else f"unexpected status {r.status_code} (expected {spec.expected_status})",
        )

    @activity.defn(name=AGENTLAB_UPSTREAM.name)
    async def upstream(self, inp: AgentLabProbeInput) -> SmokeResult:
        """ "Test OpenRouter API connectivity": one request; any HTTP answer is reachable."""
        _, a = agent_lab(self.inventory, inp.service)
        if a.upstream_url is None:
            raise app_error("ProbeNotConfigured", f"service {inp.service!r} has no upstream_url")
        [s] = await upstream_samples(a.upstream_url, 1, UPSTREAM_TIMEOUT_S)
        return SmokeResult(
            ok=s.status_code is not None,
            url=redact_url(a.upstream_url),
            status_code=s.status_code,
            latency_s=_r(s.latency_s),
            error=s.error,
        )

    @activity.defn(name=UPSTREAM_PROBE.name)
    async def upstream_probe(self, inp: UpstreamProbeInput) -> UpstreamProbeResult:
        """The runbook's five timed requests: latency and failing answers."""
        url = upstream_url(self.inventory.service(inp.service))
        if url is None:
            raise app_error(
                "ProbeNotConfigured", f"service {inp.service!r} has no upstream_probe_url"
            )
        samples = await upstream_samples(url, inp.attempts, inp.timeout_s)
        return UpstreamProbeResult(url=public_url(url), samples=samples)

    @activity.defn(name=AGENTLAB_STREAM_PROBE.name)
    async def stream(self, inp: AgentLabProbeInput) -> StreamProbeResult:
        _, a = agent_lab(self.inventory, inp.service)
        if a.streaming is None:
            raise app_error("ProbeNotConfigured", f"service {inp.service!r} has no streaming")
        return await read_stream(a.streaming)

    @activity.defn(name=AGENTLAB_UPSTREAM_STREAM.name)
    async def upstream_stream(self, inp: AgentLabProbeInput) -> StreamProbeResult:
        """ "Check OpenRouter streaming endpoints": the runbook's `curl -N -X POST`."""
        _, a = agent_lab(self.inventory, inp.service)
        if a.upstream_stream is None:
            raise app_error(
                "ProbeNotConfigured", f"service {inp.service!r} has no agent_lab.upstream_stream"
            )
        key, auth = upstream_key(a.upstream_api_key_env, self.environ)
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        out = await read_stream(a.upstream_stream, headers)
        out.auth = auth
        return out


async def read_stream(s: StreamingSpec, headers: dict[str, str] | None = None) -> StreamProbeResult:
    """One streamed request, bounded in bytes and time: status, chunks, bytes, timing."""
    started = time.monotonic()
    out = StreamProbeResult(ok=False, url=redact_url(s.url))
    tail = b""
    try:
        # One deadline for the whole exchange: a stream that trickles forever is cut.
        async with (
            asyncio.timeout(s.timeout_s),
            http_client(s.timeout_s) as client,
            client.stream(s.method, s.url, json=s.json_body, headers=headers) as resp,
        ):
            out.status_code = resp.status_code
            async for chunk in resp.aiter_raw():
                if not chunk:
                    continue
                if out.first_byte_s is None:
                    out.first_byte_s = round(time.monotonic() - started, 4)
                out.chunks += 1
                out.bytes += len(chunk)
                tail = (tail + chunk)[-256:]
                if out.bytes >= s.max_bytes:
                    out.capped = True
                    break
            out.completed = not out.capped
    except TimeoutError:
        out.error = f"stream not finished within {s.timeout_s:g}s"
    except httpx.HTTPError as e:  # RemoteProtocolError: the stream was cut off
        out.error = error_text(e)
    out.duration_s = round(time.monotonic() - started, 4)
    problems = [out.error] if out.error else []
    if out.status_code is not None and out.status_code not in s.expected_status:
        problems.append(f"unexpected status {out.status_code}")
    if out.chunks < s.min_chunks:
        problems.append(f"{out.chunks} chunks < {s.min_chunks}")
    if s.done_marker and out.completed and s.done_marker.encode() not in tail:
        problems.append(f"ended without {s.done_marker!r}")
    out.ok = not problems
    out.error = "; ".join(problems)
    return out


async def _read_excerpt(resp: httpx.Response, limit: int = BODY_EXCERPT_BYTES) -> str:
    buf = bytearray()
    async for chunk in resp.aiter_bytes():
        buf += chunk
        if len(buf) > limit:
            break
    text = bytes(buf[:limit]).decode(resp.encoding or "utf-8", errors="replace")
    return text + ("…" if len(buf) > limit else "")


def json_at(body: str, pointer: str) -> str | None:
    """RFC 6901: the value at `pointer` in a JSON body, re-encoded as JSON (so any type
    crosses the typed contract as one string); None when the body is not JSON or the
    pointer does not resolve."""
    try:
        node: Any = json.loads(body)
    except ValueError:
        return None
    for raw in pointer.split("/")[1:] if pointer else []:
        key = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and key in node:
            node = node[key]
        elif isinstance(node, list) and key.isdigit() and int(key) < len(node):
            node = node[int(key)]
        else:
            return None
    return json.dumps(node, sort_keys=True)[:BODY_EXCERPT_BYTES]


def _r(v: float | None) -> float | None:
    return None if v is None else round(v, 4)

"""Agent Lab HTTP checks, from the worker: the runbook's `curl` and `ab` lines.

- smoke: the core-functionality request (`curl -X POST .../api/agents -d '{...}'`);
- upstream: "Test OpenRouter API connectivity" -- any HTTP answer means reachable. The
  runbook's curl sends `Authorization: Bearer $OPENROUTER_API_KEY`; this probe sends no
  credentials at all (reachability needs none, and a key would be one more secret on
  the worker) -- a 401 is a fine answer;
- stream: `curl -N .../api/stream/test`, read as a stream, bounded in bytes and time;
- load: `ab -n 1000 -c 10 .../health`, bounded in time (hard caps in the contract), and
  only against loopback or an origin the inventory names for a service: a misconfigured
  URL must not turn Remedy into a load generator against someone else's site.

As in activities/http_probe.py, "the endpoint is broken" is a result (ok=False), not an
exception; exceptions are for configuration a retry cannot fix.
"""

from __future__ import annotations

import asyncio
import ipaddress
import math
import time
from collections.abc import Iterator

import httpx
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.errors import app_error
from activities.inventory import Inventory, ServiceSpec
from workflows.contracts.http import (
    AGENTLAB_LOAD_PROBE,
    AGENTLAB_SMOKE,
    AGENTLAB_STREAM_PROBE,
    AGENTLAB_UPSTREAM,
    AgentLabProbeInput,
    HttpRequestSpec,
    LoadProbeInput,
    LoadProbeResult,
    SmokeResult,
    StreamProbeResult,
)
from workflows.contracts.policy import AgentLabSpec

HEARTBEAT_EVERY_S = 5.0


def _url_origin(url: str) -> tuple[str, str, int | None]:
    u = httpx.URL(url)
    port = u.port or {"http": 80, "https": 443}.get(u.scheme)
    return u.scheme, u.host.lower(), port


def shown(url: str) -> str:
    """The URL as it may enter history: without any user:password@ part."""
    try:
        u = httpx.URL(url)
    except (httpx.InvalidURL, ValueError):
        return "<invalid url>"
    return str(u.copy_with(userinfo=b"")) if u.userinfo else url


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a name: not resolved on purpose (DNS could point anywhere)


def _service_urls(svc: ServiceSpec) -> Iterator[str]:
    a = svc.agent_lab
    for u in (svc.health_url, svc.health_detailed_url):
        if u:
            yield u
    if a is not None:
        for r in (a.smoke, a.streaming):
            if r is not None:
                yield r.url


def check_load_target(inventory: Inventory, url: str) -> None:
    """Loopback, or the origin (scheme, host, port) of a service URL in the inventory --
    the load probe's own `url` setting does not count, or it would allow itself."""
    try:
        origin = _url_origin(url)
    except (httpx.InvalidURL, ValueError) as e:
        raise _refused(f"invalid load probe target {url!r}: {e}") from None
    if origin[0] not in ("http", "https"):
        raise _refused(f"load probe target {url!r}: only http(s)")
    if _is_loopback(origin[1]):
        return
    known = {_url_origin(u) for s in inventory.services.values() for u in _service_urls(s)}
    if origin not in known:
        raise _refused(
            f"load probe target {url!r} is neither loopback nor the origin of a service URL "
            "in the inventory; refusing to send load there"
        )


def _refused(msg: str) -> ApplicationError:
    # Non-retryable: the target will not become acceptable by trying again.
    return app_error("ProbeTargetRefused", msg)


def percentile(sorted_values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (what `ab` reports as 'Percentage served within')."""
    if not sorted_values:
        return None
    return sorted_values[max(math.ceil(q * len(sorted_values)) - 1, 0)]


class AgentLabProbeActivities:
    def __init__(self, inventory: Inventory) -> None:
        self.inventory = inventory

    def _lab(self, service: str) -> tuple[ServiceSpec, AgentLabSpec]:
        svc = self.inventory.service(service)
        if svc.agent_lab is None:
            raise app_error("ProbeNotConfigured", f"service {service!r} has no agent_lab section")
        return svc, svc.agent_lab

    def _configured(self, service: str, what: str) -> HttpRequestSpec:
        _, a = self._lab(service)
        spec = getattr(a, what)
        if spec is None:
            raise app_error("ProbeNotConfigured", f"service {service!r} has no agent_lab.{what}")
        return spec  # type: ignore[no-any-return]

    @activity.defn(name=AGENTLAB_SMOKE.name)
    async def smoke(self, inp: AgentLabProbeInput) -> SmokeResult:
        return await _request(self._configured(inp.service, "smoke"))

    @activity.defn(name=AGENTLAB_UPSTREAM.name)
    async def upstream(self, inp: AgentLabProbeInput) -> SmokeResult:
        _, a = self._lab(inp.service)
        if a.upstream_url is None:
            raise app_error("ProbeNotConfigured", f"service {inp.service!r} has no upstream_url")
        spec = HttpRequestSpec(url=a.upstream_url, expected_status=list(range(100, 600)))
        return await _request(spec.model_copy(update={"timeout_s": 10.0}))

    @activity.defn(name=AGENTLAB_STREAM_PROBE.name)
    async def stream(self, inp: AgentLabProbeInput) -> StreamProbeResult:
        _, a = self._lab(inp.service)
        s = a.streaming
        if s is None:
            raise app_error("ProbeNotConfigured", f"service {inp.service!r} has no streaming")
        started = time.monotonic()
        out = StreamProbeResult(ok=False, url=shown(s.url))
        tail = b""
        try:
            # One deadline for the whole exchange: a stream that trickles forever is cut.
            async with (
                asyncio.timeout(s.timeout_s),
                httpx.AsyncClient(follow_redirects=False, timeout=s.timeout_s) as client,
                client.stream(s.method, s.url, json=s.json_body) as resp,
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
            out.error = f"{type(e).__name__}: {e}"[:500]
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

    @activity.defn(name=AGENTLAB_LOAD_PROBE.name)
    async def load(self, inp: LoadProbeInput) -> LoadProbeResult:
        svc, a = self._lab(inp.service)
        spec = a.load_probe
        url = inp.url or spec.url or svc.health_url
        if not url:
            raise app_error("ProbeNotConfigured", f"service {inp.service!r} has no load target")
        check_load_target(self.inventory, url)  # before a single request is sent
        if self.inventory.safety_for(inp.service).dry_run:
            # 1,000 requests are load on a service that is already degraded: a dry run
            # says what it would send; the playbook walks on as if it had passed.
            return LoadProbeResult(
                url=shown(url),
                requested=spec.requests,
                completed=0,
                errors=0,
                duration_s=0,
                capped=False,
                ok=True,
                dry_run=True,
                detail=f"DRY RUN: would send {spec.requests} GETs at concurrency "
                f"{spec.concurrency} to {shown(url)} (at most {spec.max_duration_s:g}s)",
            )
        latencies: list[float] = []
        statuses: dict[str, int] = {}
        errors = 0
        issued = 0
        started = time.monotonic()

        async def one(client: httpx.AsyncClient) -> None:
            nonlocal errors, issued
            while issued < spec.requests:
                issued += 1
                t = time.monotonic()
                try:
                    r = await client.get(url)
                    latencies.append(time.monotonic() - t)
                    key = str(r.status_code)
                    errors += r.status_code >= 400
                except httpx.HTTPError as e:
                    key = type(e).__name__
                    errors += 1
                statuses[key] = statuses.get(key, 0) + 1

        async def beat() -> None:
            while activity.in_activity():
                await asyncio.sleep(HEARTBEAT_EVERY_S)
                activity.heartbeat(f"{sum(statuses.values())}/{spec.requests} requests")

        capped = False
        limits = httpx.Limits(max_connections=spec.concurrency)
        heart = asyncio.ensure_future(beat())
        try:
            async with httpx.AsyncClient(
                limits=limits, timeout=spec.request_timeout_s, follow_redirects=False
            ) as client:
                try:
                    async with asyncio.timeout(spec.max_duration_s):
                        await asyncio.gather(*(one(client) for _ in range(spec.concurrency)))
                except TimeoutError:
                    capped = True  # requests in flight are cancelled with the gather
        finally:
            heart.cancel()
        done = sum(statuses.values())
        lat = sorted(latencies)
        p50, p95 = percentile(lat, 0.50), percentile(lat, 0.95)
        ratio = errors / done if done else 1.0
        problems = []
        if capped:
            problems.append(f"time cap {spec.max_duration_s:g}s hit after {done} requests")
        if p95 is None or p95 > spec.max_p95_s:
            problems.append(f"p95 {_ms(p95)} > {_ms(spec.max_p95_s)}")
        if ratio > spec.max_error_ratio:
            problems.append(f"errors {errors}/{done} > {spec.max_error_ratio:.1%}")
        return LoadProbeResult(
            url=shown(url),
            requested=spec.requests,
            completed=done,
            errors=errors,
            p50_s=_r(p50),
            p95_s=_r(p95),
            max_s=_r(lat[-1] if lat else None),
            duration_s=round(time.monotonic() - started, 3),
            capped=capped,
            status_counts=statuses,
            ok=not problems,
            detail="; ".join(problems),
        )


async def _request(spec: HttpRequestSpec) -> SmokeResult:
    started = time.monotonic()
    try:
        async with httpx.AsyncClient(follow_redirects=False, timeout=spec.timeout_s) as client:
            r = await client.request(spec.method, spec.url, json=spec.json_body)
    except httpx.HTTPError as e:
        return SmokeResult(
            ok=False,
            url=shown(spec.url),
            latency_s=_r(time.monotonic() - started),
            error=f"{type(e).__name__}: {e}"[:500],
        )
    ok = r.status_code in spec.expected_status
    return SmokeResult(
        ok=ok,
        url=shown(spec.url),
        status_code=r.status_code,
        latency_s=_r(r.elapsed.total_seconds()),
        error="" if ok else f"unexpected status {r.status_code} (expected {spec.expected_status})",
    )


def _r(v: float | None) -> float | None:
    return None if v is None else round(v, 4)


def _ms(v: float | None) -> str:
    return "n/a" if v is None else f"{v * 1000:.0f} ms"

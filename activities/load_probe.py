"""The Agent Lab load probe (`agentlab.load_probe`): the runbook's `ab -n 1000 -c 10
.../health`, from the worker, bounded in time (hard caps in workflows/contracts/http.py),
and only against loopback or an origin the inventory names for a service: a
misconfigured URL must not turn Remedy into a load generator against someone else's
site. In dry-run nothing is sent (1,000 requests are load on a degraded service).

Its client is activities/http_client.py's, with one difference on purpose:
`max_connections` is the probe's concurrency, so `-c 10` means 10 connections.
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
from activities.http_client import http_client, redact_url
from activities.http_probe import agent_lab
from activities.inventory import Inventory, ServiceSpec
from workflows.contracts.http import AGENTLAB_LOAD_PROBE, LoadProbeInput, LoadProbeResult

HEARTBEAT_EVERY_S = 5.0


def _url_origin(url: str) -> tuple[str, str, int | None]:
    u = httpx.URL(url)
    port = u.port or {"http": 80, "https": 443}.get(u.scheme)
    return u.scheme, u.host.lower(), port


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
        raise _refused(f"invalid load probe target {redact_url(url)!r}: {e}") from None
    if origin[0] not in ("http", "https"):
        raise _refused(f"load probe target {redact_url(url)!r}: only http(s)")
    if _is_loopback(origin[1]):
        return
    known = {_url_origin(u) for s in inventory.services.values() for u in _service_urls(s)}
    if origin not in known:
        raise _refused(
            f"load probe target {redact_url(url)!r} is neither loopback nor the origin of a "
            "service URL in the inventory; refusing to send load there"
        )


def _refused(msg: str) -> ApplicationError:
    # Non-retryable: the target will not become acceptable by trying again.
    return app_error("ProbeTargetRefused", msg)


def percentile(sorted_values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (what `ab` reports as 'Percentage served within')."""
    if not sorted_values:
        return None
    return sorted_values[max(math.ceil(q * len(sorted_values)) - 1, 0)]


class LoadProbeActivities:
    def __init__(self, inventory: Inventory) -> None:
        self.inventory = inventory

    @activity.defn(name=AGENTLAB_LOAD_PROBE.name)
    async def load(self, inp: LoadProbeInput) -> LoadProbeResult:
        svc, a = agent_lab(self.inventory, inp.service)
        spec = a.load_probe
        url = inp.url or spec.url or svc.health_url
        if not url:
            raise app_error("ProbeNotConfigured", f"service {inp.service!r} has no load target")
        check_load_target(self.inventory, url)  # before a single request is sent
        if self.inventory.safety_for(inp.service).dry_run:
            # 1,000 requests are load on a service that is already degraded: a dry run
            # says what it would send; the playbook walks on as if it had passed.
            return LoadProbeResult(
                url=redact_url(url),
                requested=spec.requests,
                completed=0,
                errors=0,
                duration_s=0,
                capped=False,
                ok=True,
                dry_run=True,
                detail=f"DRY RUN: would send {spec.requests} GETs at concurrency "
                f"{spec.concurrency} to {redact_url(url)} (at most {spec.max_duration_s:g}s)",
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
        heart = asyncio.ensure_future(beat())
        try:
            async with http_client(
                spec.request_timeout_s, max_connections=spec.concurrency
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
            url=redact_url(url),
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


def _r(v: float | None) -> float | None:
    return None if v is None else round(v, 4)


def _ms(v: float | None) -> str:
    return "n/a" if v is None else f"{v * 1000:.0f} ms"

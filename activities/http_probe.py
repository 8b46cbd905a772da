"""HTTP probes: health endpoints and bounded functional checks.

A probe that gets no answer is a *result* (`ok=False` with the error), not an
exception: "the endpoint is down" is exactly what a ServiceDown or StreamingFailure
playbook asks, and it must branch on it rather than have Temporal retry it away.
Exceptions are kept for configuration mistakes a retry cannot fix (unknown service,
no URL configured).
"""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
from temporalio import activity

from activities.errors import app_error
from activities.inventory import Inventory
from workflows.contracts.http import HTTP_PROBE, HttpProbeInput, HttpProbeResult

# Enough of a body to show a health endpoint's verdict or an error page's first
# lines in the incident timeline, small enough to keep workflow history lean.
BODY_EXCERPT_BYTES = 2048
# A /health document read for a JSON pointer (circuit breaker state) may be larger than
# the excerpt; still bounded.
JSON_BODY_BYTES = 64 * 1024


class HttpProbeActivities:
    def __init__(self, inventory: Inventory) -> None:
        self.inventory = inventory
        self._client: httpx.AsyncClient | None = None

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            # No redirects: a health URL that redirects (e.g. to a login page) is a
            # misconfiguration or an outage page, and its 3xx should show as unexpected.
            self._client = httpx.AsyncClient(follow_redirects=False)
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
                url=url,
                ok=False,
                latency_s=time.monotonic() - started,
                error=f"timeout after {inp.timeout_s}s ({type(e).__name__})",
            )
        except httpx.HTTPError as e:
            return HttpProbeResult(
                url=url,
                ok=False,
                latency_s=time.monotonic() - started,
                error=f"{type(e).__name__}: {e}"[:500],
            )
        return HttpProbeResult(
            url=url,
            ok=resp.status_code in inp.expected_status,
            status_code=resp.status_code,
            latency_s=latency,
            body_excerpt=excerpt,
            json_value=json_at(body, inp.json_pointer) if inp.json_pointer else None,
            error=""
            if resp.status_code in inp.expected_status
            else f"unexpected status {resp.status_code} (expected {inp.expected_status})",
        )


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

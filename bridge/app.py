"""The alert bridge's HTTP app: Alertmanager webhook in, Temporal incidents out.

    POST /alertmanager   webhook v4, `Authorization: Bearer <REMEDY_BRIDGE_TOKEN>`
    GET  /healthz        200 when the bridge is up and Temporal answers, else 503
    GET  /metrics        Prometheus text format, same bearer token
    POST /slack/interactions, POST /pagerduty
                         a person's approve / reject / acknowledge, signed by Slack or
                         PagerDuty instead of the token (bridge/interactions.py)

Every endpoint but /healthz needs the token (metrics name services and alerts). The
interactive docs and the served OpenAPI document are off: the schema is for tests
(`app.openapi()`, fuzzed by schemathesis), not an unauthenticated page. Every
endpoint is rate limited per source IP (bridge/ratelimit.py): 429; /healthz has its own
bucket, so probes never compete with webhooks. /healthz answers "ok" or "degraded" from
a cached Temporal check (bridge/health.py): no RPC per call, no error text.

Status codes are chosen for Alertmanager's retry logic: it retries 5xx and gives up on
4xx. So a request that cannot succeed as sent (401, 400, 413, 422) is a 4xx that changes
nothing, and a request Temporal could not take (yet) is a 503 listing which alerts were
applied, so the retry -- harmless, thanks to signal-with-start dedup -- finishes it.
The body is read by hand, not by FastAPI's model binding: the size limit must hold
before the body is buffered, and the 400 vs 422 split must be ours.
"""

from __future__ import annotations

import hmac
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from temporalio.client import Client

from activities.inventory import Inventory
from bridge.cache import IncidentCache
from bridge.dispatch import Dispatcher
from bridge.health import HealthCache
from bridge.interactions import add_routes
from bridge.metrics import CONTENT_TYPE, BridgeMetrics
from bridge.models import WebhookPayload
from bridge.ratelimit import RateLimiter
from bridge.routing import Router
from bridge.storm import StormReporter
from bridge.temporal_link import TemporalLink
from remedy.settings import Settings
from remedy.temporal import connect
from workflows.errors import ConfigurationError

log = logging.getLogger("remedy.bridge")

ClientFactory = Callable[[], Awaitable[Client]]


class BridgeConfigError(ValueError, ConfigurationError):
    """The bridge cannot run as configured (e.g. no token outside insecure dev mode)."""


class Reject(Exception):
    def __init__(
        self, code: int, reason: str, body: dict[str, object], retry_after: int | None = None
    ) -> None:
        self.code, self.reason, self.body, self.retry_after = code, reason, body, retry_after


@dataclass
class Bridge:
    """What the app is made of; on `app.state.bridge` for tests and the dev stack."""

    settings: Settings
    metrics: BridgeMetrics
    cache: IncidentCache
    router: Router
    link: TemporalLink
    dispatcher: Dispatcher
    health: HealthCache


def _field(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else ("." if out else "") + str(part)
    return out or "<body>"


async def _read_body(request: Request, limit: int) -> bytes:
    too_large = Reject(413, "too_large", {"error": f"request body exceeds {limit} bytes"})
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise Reject(400, "malformed_request", {"error": "invalid Content-Length"})
        if int(declared) > limit:
            raise too_large  # refused before reading a byte of it
    # Also count what actually arrives: chunked bodies declare no length at all.
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise too_large
    return bytes(body)


def _parse(raw: bytes) -> WebhookPayload:
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise Reject(400, "malformed_json", {"error": f"malformed JSON: {err}"}) from None
    except RecursionError:  # nesting deeper than the interpreter's stack: not a webhook
        raise Reject(
            400, "malformed_json", {"error": "malformed JSON: nested too deeply"}
        ) from None
    try:
        return WebhookPayload.model_validate(data)
    except RecursionError:
        raise Reject(
            400, "malformed_json", {"error": "malformed JSON: nested too deeply"}
        ) from None
    except ValidationError as err:
        fields = [{"field": _field(e["loc"]), "problem": e["msg"]} for e in err.errors()]
        summary = "; ".join(f"{f['field']}: {f['problem']}" for f in fields[:5])
        raise Reject(
            422,
            "invalid_schema",
            {"error": f"not an Alertmanager webhook v4 payload: {summary}", "fields": fields},
        ) from None


def webhook_openapi() -> dict[str, object]:
    codes = {
        "200": "all alerts applied",
        "400": "malformed request",
        "401": "missing or invalid bearer token",
        "413": "body too large",
        "422": "not an Alertmanager webhook v4 payload",
        "429": "rate limited",
        "500": "an alert could not be applied (permanent)",
        "503": "Temporal unavailable, or a new-incident cap reached; retry (Retry-After)",
    }
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/WebhookPayload"}}
            },
        },
        "responses": {c: {"description": d} for c, d in codes.items()},
    }


def create_app(
    settings: Settings,
    inventory: Inventory,
    client: Client | None = None,
    client_factory: ClientFactory | None = None,
) -> FastAPI:
    """The bridge app. With no `client`, it connects on first use through
    `client_factory` (default: remedy.temporal.connect with the settings' address and
    namespace), and reconnects after a failed attempt."""
    token = settings.bridge_token.get_secret_value() if settings.bridge_token else ""
    if not token and not settings.bridge_insecure_dev:
        raise BridgeConfigError(
            "REMEDY_BRIDGE_TOKEN is not set: refusing to run the alert bridge without "
            "authentication (set REMEDY_BRIDGE_INSECURE_DEV=true for local development only)"
        )
    if not token:
        log.warning("alert bridge running WITHOUT authentication (insecure development mode)")
    expected = f"Bearer {token}".encode()

    async def default_factory() -> Client:
        return await connect(
            settings.temporal_address, settings.temporal_namespace, settings=settings
        )

    metrics = BridgeMetrics()
    # Capped at the cool-down: "cached as open" then implies "closed, if at all, within
    # the cool-down", which is what lets the flap guard skip a describe (bridge/dispatch.py).
    ttl = settings.bridge_cache_ttl_s
    if settings.flap_cooldown_s > 0:
        ttl = min(ttl, settings.flap_cooldown_s)
    cache = IncidentCache(ttl, settings.bridge_cache_max_incidents)
    router = Router(inventory, settings.service_label)
    link = TemporalLink(
        client, client_factory or default_factory, settings.bridge_temporal_timeout_s
    )
    dispatcher = Dispatcher(
        link,
        router,
        cache,
        metrics,
        task_queue=settings.task_queue,
        flap_cooldown_s=settings.flap_cooldown_s,
        max_new_per_request=settings.bridge_max_new_incidents_per_request,
        max_new_per_minute=settings.bridge_max_new_incidents_per_minute,
        storm=StormReporter.from_settings(settings.task_queue, settings),
    )

    async def temporal_serving() -> bool:
        metrics.temporal_calls.labels("check_health").inc()
        client_ = await link.get()
        return await client_.service_client.check_health(timeout=dispatcher.rpc_timeout)

    health = HealthCache(
        temporal_serving,
        settings.bridge_health_interval_s,
        on_result=lambda ok: metrics.health_checks.labels("ok" if ok else "degraded").inc(),
    )
    bridge = Bridge(settings, metrics, cache, router, link, dispatcher, health)

    app = FastAPI(title="Remedy alert bridge", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.bridge = bridge
    limiter = RateLimiter(settings.bridge_rate_limit_rps, settings.bridge_rate_limit_burst)
    app.state.rate_limiter = limiter
    # Its own bucket: a probe every few seconds never meets the webhook traffic's limit,
    # and a flood of /healthz never spends the webhook's.
    health_limiter = RateLimiter(
        settings.bridge_health_rate_limit_rps, settings.bridge_health_rate_limit_burst
    )

    @app.middleware("http")
    async def rate_limit(request: Request, call_next: Callable[[Request], Awaitable[Response]]):  # type: ignore[no-untyped-def]
        # Before authentication, so guessing tokens is throttled too.
        bucket = health_limiter if request.url.path == "/healthz" else limiter
        wait = bucket.allow(request.client.host if request.client else "?")
        if wait > 0:
            metrics.rejects.labels("rate_limited").inc()
            return JSONResponse(
                {"error": "rate limit exceeded; retry later"},
                status_code=429,
                headers={"Retry-After": str(max(1, round(wait)))},
            )
        return await call_next(request)

    def authorized(request: Request) -> bool:
        if not token:
            return True
        given = request.headers.get("authorization", "")
        scheme, _, value = given.partition(" ")
        # Constant time over the whole header value: no early exit on the first bad byte.
        return hmac.compare_digest(f"{scheme.capitalize()} {value.strip()}".encode(), expected)

    async def handle(request: Request) -> JSONResponse:
        if not authorized(request):
            raise Reject(401, "unauthorized", {"error": "missing or invalid bearer token"})
        payload = _parse(await _read_body(request, settings.bridge_max_body_bytes))
        if payload.truncated_alerts:
            log.warning(
                "Alertmanager truncated %d alerts of group %r (max_alerts)",  # %r: untrusted
                payload.truncated_alerts,
                payload.group_key,
            )
        outcomes = await dispatcher.apply(payload.alerts)
        applied = [o.as_json() for o in outcomes if o.applied]
        failed = [o for o in outcomes if not o.applied]
        if not failed:
            return JSONResponse({"status": "ok", "applied": applied})
        transient = all(o.transient for o in failed)
        capped = [o for o in failed if o.action == "deferred"]
        retry_after = None
        if transient:
            retry_after = 1
            if any(o.deferred_by == "minute" for o in capped):
                retry_after = dispatcher.new_incidents.retry_after()
        reason = "temporal_unavailable" if transient else "apply_failed"
        if transient and capped:
            reason = "new_incident_cap"
        raise Reject(
            503 if transient else 500,
            reason,
            {
                "status": "partial" if applied else "error",
                "error": f"{len(failed)} of {len(outcomes)} alerts not applied; retry the "
                "notification (applying an alert twice is harmless)",
                "applied": applied,
                "not_applied": [o.as_json() for o in failed],
            },
            retry_after,
        )

    @app.post("/alertmanager", openapi_extra=webhook_openapi())
    async def alertmanager(request: Request) -> Response:
        started = time.perf_counter()
        try:
            response = await handle(request)
        except Reject as r:
            metrics.rejects.labels(r.reason).inc()
            headers = {"WWW-Authenticate": "Bearer"} if r.code == 401 else {}
            if r.retry_after is not None:
                headers["Retry-After"] = str(r.retry_after)
            response = JSONResponse(r.body, status_code=r.code, headers=headers)
        metrics.latency.labels("/alertmanager", str(response.status_code)).observe(
            time.perf_counter() - started
        )
        return response

    @app.get("/healthz")
    async def healthz() -> JSONResponse:
        # No token, so nothing a caller could use: no error text, namespace or address.
        ok = await health.ok()
        return JSONResponse(
            {"bridge": "ok", "temporal": "ok" if ok else "degraded"},
            status_code=200 if ok else 503,
            headers={"Cache-Control": "no-store"},
        )

    @app.get("/metrics")
    async def prometheus_metrics(request: Request) -> Response:
        if not authorized(request):
            return JSONResponse(
                {"error": "missing or invalid bearer token"},
                status_code=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
        return Response(metrics.render(), media_type=CONTENT_TYPE)

    add_routes(app, settings, inventory, link, metrics)

    default_openapi = app.openapi

    def openapi() -> dict[str, object]:
        # The webhook body is read by hand (see module doc), so FastAPI cannot see its
        # model: add it to the schema, with its nested models as components.
        schema = default_openapi()
        defs = WebhookPayload.model_json_schema(ref_template="#/components/schemas/{model}")
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components.update(defs.pop("$defs", {}))
        components["WebhookPayload"] = defs
        return schema

    app.openapi = openapi  # type: ignore[method-assign]

    return app

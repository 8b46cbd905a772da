"""Prometheus instant queries.

Every outcome is *returned* as a `PromQueryResult`, never raised: the workflow decides
what "Prometheus is down" means for its playbook, and the fail-safe rule (DESIGN
principle 7: no data is not "improved") is only sound if the workflow can see *why*
there is no number. Raising would turn an outage of the monitoring into Temporal
retries that hide it.

Non-finite values. Prometheus encodes values as strings and happily returns "NaN"
(0/0, e.g. an error ratio with no traffic, histogram_quantile over empty buckets) and
"+Inf"/"-Inf" (a quantile above the highest bucket). pydantic serializes non-finite
floats to JSON `null`, which the workflow side then fails to parse as a float -- a
workflow-task failure, not a result. So:

* NaN samples are dropped; if every sample was NaN the result is `no_data` with a
  detail saying so. NaN compares false with every threshold anyway, so "no data" is
  the honest reading.
* +Inf/-Inf are clamped to +/- `sys.float_info.max`, and the detail says so. The
  ordering survives (a clamped +Inf P95 is still above every rollback threshold),
  which keeps the fail-safe direction, and the value round-trips through JSON.
"""

from __future__ import annotations

import math
import sys
import time
from typing import Any, Literal

import httpx
from temporalio import activity

from activities.http_client import http_client, redact_text
from remedy.settings import Settings
from workflows.contracts.prometheus import (
    PROMETHEUS_QUERY,
    PromQueryInput,
    PromQueryResult,
    PromSample,
)

# Extra time the HTTP client waits beyond the query timeout we hand to Prometheus, so
# that Prometheus' own "query timed out" error (a real answer) arrives before ours.
# Capped by the timeout itself so a short probe stays short.
_CLIENT_GRACE_S = 2.0
_DETAIL_MAX = 1000
# The client's default; every query passes its own (inp.timeout_s plus the grace).
_CLIENT_TIMEOUT_S = 30.0
Status = Literal["ok", "no_data", "unreachable", "error"]


class PrometheusActivities:
    def __init__(self, settings: Settings) -> None:
        self.base_url = settings.prometheus_url.rstrip("/")
        self._client: httpx.AsyncClient | None = None

    def _http(self) -> httpx.AsyncClient:
        # Created lazily: the worker constructs activity objects before its event loop
        # is necessarily the one that will run them, and an idle client costs nothing.
        if self._client is None:
            self._client = http_client(_CLIENT_TIMEOUT_S, base_url=self.base_url)
        return self._client

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    @activity.defn(name=PROMETHEUS_QUERY.name)
    async def query(self, inp: PromQueryInput) -> PromQueryResult:
        # Prometheus parses "10" / "0.3" (float seconds) or "10s", but not "10.0s".
        params = {"query": inp.query, "timeout": f"{inp.timeout_s:g}"}
        if inp.ago_s > 0:
            params["time"] = f"{time.time() - inp.ago_s:.3f}"
        try:
            resp = await self._http().get(
                "/api/v1/query",
                params=params,
                timeout=inp.timeout_s + min(_CLIENT_GRACE_S, inp.timeout_s),
            )
        except httpx.TimeoutException:
            return _unreachable(f"no answer from Prometheus within {inp.timeout_s}s")
        except httpx.TransportError as e:
            return _unreachable(redact_text(f"cannot reach Prometheus: {type(e).__name__}: {e}"))

        try:
            body: Any = resp.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            # Not the Prometheus API at all (wrong URL, proxy page): a 5xx is an outage,
            # anything else is a misconfiguration the operator must see.
            status: Status = "unreachable" if resp.status_code >= 500 else "error"
            text = resp.text[:200]
            return PromQueryResult(
                status=status,
                detail=_clip(f"HTTP {resp.status_code}, not a Prometheus answer: {text}"),
            )

        if body.get("status") != "success":
            error = f"{body.get('errorType', 'error')}: {body.get('error', '(no message)')}"
            # 503 is Prometheus' "query timed out / aborted": transient, like no answer.
            status_: Status = "unreachable" if resp.status_code >= 500 else "error"
            return PromQueryResult(
                status=status_, detail=_clip(f"HTTP {resp.status_code}, {error}")
            )

        result = _parse_data(body.get("data") or {})
        warnings = body.get("warnings") or []
        if warnings:
            extra = "warnings: " + "; ".join(map(str, warnings))
            result.detail = _clip(f"{result.detail}; {extra}" if result.detail else extra)
        return result


def _parse_data(data: dict[str, Any]) -> PromQueryResult:
    kind = data.get("resultType")
    raw = data.get("result")
    if kind == "scalar":
        series: list[tuple[dict[str, str], Any]] = [({}, raw)]
    elif kind == "vector":
        series = [(item.get("metric", {}), item.get("value")) for item in raw or []]
    else:
        # A range selector (matrix) or a string is a mistake in the SLI's PromQL: an
        # instant check needs one number per series. Say so instead of guessing which
        # point of the range was meant.
        return PromQueryResult(
            status="error",
            detail=f"query returned a {kind}; an instant vector or scalar is required",
        )

    samples: list[PromSample] = []
    nan = clamped = 0
    for labels, pair in series:
        value = float(pair[1])  # [timestamp, "value"]; float() reads NaN/+Inf/-Inf
        if math.isnan(value):
            nan += 1
            continue
        if math.isinf(value):
            clamped += 1
            value = math.copysign(sys.float_info.max, value)
        samples.append(PromSample(labels={str(k): str(v) for k, v in labels.items()}, value=value))

    notes = []
    if nan:
        notes.append(f"{nan} NaN sample(s) dropped")
    if clamped:
        notes.append(f"{clamped} infinite sample(s) clamped to +/-float max")
    detail = "; ".join(notes)
    if not samples:
        return PromQueryResult(status="no_data", detail=detail or "empty result")
    return PromQueryResult(status="ok", samples=samples, detail=detail)


def _unreachable(detail: str) -> PromQueryResult:
    return PromQueryResult(status="unreachable", detail=_clip(detail))


def _clip(text: str) -> str:
    # Results land in workflow history; an HTML error page must not bloat it.
    return text if len(text) <= _DETAIL_MAX else text[: _DETAIL_MAX - 3] + "..."

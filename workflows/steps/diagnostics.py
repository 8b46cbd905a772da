"""Read-only diagnosis for the SLI playbooks: Prometheus numbers, log ERROR lines, the
/health document. Every step records what it saw under a `diagnosis:` step name (the
post-mortem's root-cause section reads those) and returns None for "don't know" --
a missing number never counts as healthy or as a reason to act.
"""

from __future__ import annotations

import json
import re

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows.contracts.diagnostics import LOG_ERRORS, LogErrorsInput, LogErrorsResult
    from workflows.contracts.http import HTTP_PROBE, HttpProbeInput
    from workflows.contracts.prometheus import PROMETHEUS_QUERY, PromQueryInput, PromQueryResult
    from workflows.incident import Incident, StepFailed


async def query(inc: Incident, what: str, promql: str) -> PromQueryResult | None:
    try:
        return await inc.act(
            f"diagnosis: {what}",
            PROMETHEUS_QUERY,
            PromQueryInput(query=promql),
        )
    except StepFailed:
        return None


async def value(inc: Incident, what: str, promql: str, unit: str = "") -> float | None:
    res = await query(inc, what, promql)
    v = res.scalar() if res else None
    shown = "no data" if v is None else (f"{v * 1000:.0f} ms" if unit == "s" else f"{v:.4g}")
    inc.record(
        f"diagnosis: {what}",
        "ok" if v is not None else "failed",
        shown + (f" ({res.status} {res.detail})".rstrip() if res and v is None else ""),
    )
    return v


def classify(text: str, patterns: dict[str, str]) -> str:
    return next((k for k, p in patterns.items() if re.search(p, text)), "other")


async def error_categories(inc: Incident) -> dict[str, float]:
    """`genesis_errors_total` by category, each category label mapped to the runbook's
    error types by the policy's patterns."""
    d = inc.policy.diagnostics
    res = await query(inc, "error categories", d.error_categories_query)
    out: dict[str, float] = {}
    for s in res.samples if res and res.status == "ok" else []:
        cat = classify(s.labels.get(d.error_category_label, ""), d.error_patterns)
        out[cat] = out.get(cat, 0.0) + s.value
    inc.record(
        "diagnosis: error categories",
        "ok" if out else "failed",
        _counts(out) or f"no data ({res.status if res else 'failed'})",
    )
    return out


async def log_errors(inc: Incident) -> LogErrorsResult | None:
    d = inc.policy.diagnostics
    res = await inc.attempt(
        "diagnosis: recent ERROR lines",
        LOG_ERRORS,
        LogErrorsInput(service=inc.service, patterns=d.error_patterns),
    )
    if res is None:
        return None
    last = res.last[-1] if res.last else ""
    inc.record(
        "diagnosis: recent ERROR lines",
        "ok",
        f"{res.error_lines} ERROR lines; {_counts(res.categories)}; last: {last}",
    )
    return res


async def health_field(inc: Incident, what: str, pointer: str) -> object | None:
    """One field of the /health JSON document (`jq .circuit_breaker`); None: unknown."""
    res = await inc.attempt(
        f"diagnosis: {what}",
        HTTP_PROBE,
        HttpProbeInput(service=inc.service, json_pointer=pointer),
    )
    if res is None:
        return None
    got = json.loads(res.json_value) if res.json_value is not None else None
    inc.record(
        f"diagnosis: {what}",
        "ok" if got is not None else "failed",
        f"{pointer} = {res.json_value}"
        if got is not None
        else f"{res.url}: {res.status_code or res.error}, no {pointer}",
    )
    return got


def breaker_open(state: object) -> bool | None:
    """Circuit-breaker state as /health reports it: "open"/"closed"/"half_open", a bool
    `open`, or an object with a `state` or `open` field. None: can't tell."""
    if isinstance(state, dict):
        state = state.get("state", state.get("open"))
    if isinstance(state, bool):
        return state
    if isinstance(state, str):
        s = state.lower()
        return s == "open" if s in ("open", "closed", "half_open", "half-open") else None
    return None


def _counts(c: dict[str, float] | dict[str, int]) -> str:
    return ", ".join(f"{k}={v:g}" for k, v in sorted(c.items(), key=lambda kv: -kv[1]))


def dominant(*counts: dict[str, float] | dict[str, int] | None) -> str | None:
    """The category with most errors in the first source that has any (Prometheus
    first, then the log)."""
    for c in counts:
        if c:
            return max(sorted(c), key=lambda k: c[k])
    return None

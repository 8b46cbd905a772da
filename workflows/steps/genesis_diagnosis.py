"""The Genesis SLI runbooks' scenario checks beyond the numbers (HighErrorRate,
HighLatencyP95): the LLM client error breakdown from Prometheus, and the runbook's shell
lines run on the service's own host -- `ping`/`curl -I`/`nslookup` (a worker that can
reach the API says nothing about the host that cannot), `ps aux --sort=-%mem | head`,
`grep "AOP" LOG | tail -50`, the LLM API's latency by `curl -w`.

Read-only. Each check records what it saw under `diagnosis: ...` (the post-mortem's
root-cause section reads those); a check that could not run gives None -- never
"healthy", never a reason to act.
"""

from __future__ import annotations

from dataclasses import dataclass

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows.contracts.diagnostics import (
        HOST_CHECK,
        HostCheckInput,
        HostCheckKind,
        HostCheckResult,
    )
    from workflows.incident import Incident
    from workflows.steps import diagnostics

CURL_TIMED_OUT = 28  # curl's exit status for --max-time reached


async def host_check(
    inc: Incident, what: str, kind: HostCheckKind, name: str = ""
) -> HostCheckResult | None:
    res = await inc.attempt(
        f"diagnosis: {what}", HOST_CHECK, HostCheckInput(service=inc.service, kind=kind, name=name)
    )
    if res is not None and kind != "validation_log":
        tail = [ln for ln in res.output.splitlines() if ln.strip()][-1:] or ["(no output)"]
        inc.record(
            f"diagnosis: {what}",
            "ok" if res.ok else "failed",
            f"exit {res.exit_status}: {tail[0]}"[:300],
        )
    return res


async def llm_errors(inc: Incident) -> dict[str, float]:
    """HighErrorRate A "Check LLM client metrics": `genesis_llm_errors_total` by label
    set (error type, provider), most errors first."""
    res = await diagnostics.query(inc, "LLM client errors", inc.policy.diagnostics.llm_errors_query)
    out: dict[str, float] = {}
    for s in res.samples if res and res.status == "ok" else []:
        key = ",".join(f"{k}={v}" for k, v in sorted(s.labels.items())) or "total"
        out[key] = out.get(key, 0.0) + s.value
    shown = "; ".join(f"{k}: {v:g}" for k, v in sorted(out.items(), key=lambda kv: -kv[1]))
    inc.record(
        "diagnosis: LLM client errors",
        "ok" if out else "failed",
        shown or f"no data ({res.status if res else 'failed'})",
    )
    return out


async def connectivity(inc: Incident) -> None:
    """HighErrorRate B "Check connectivity" / "Check DNS resolution", from the host."""
    for name in inc.policy.diagnostics.host_checks.connectivity:
        await host_check(inc, f"{name} from the host", "connectivity", name)


async def resource_hogs(inc: Incident) -> None:
    """HighErrorRate C "Identify resource hog": the top processes by memory, by CPU."""
    for name in inc.policy.diagnostics.host_checks.resource_hogs:
        res = await inc.attempt(
            f"diagnosis: {name} processes",
            HOST_CHECK,
            HostCheckInput(service=inc.service, kind="resource_hog", name=name),
        )
        if res is None:
            continue
        rows = [_process(r) for r in res.output.splitlines()[1:4]]  # under the header
        inc.record(
            f"diagnosis: {name} processes",
            "ok" if res.ok else "failed",
            (" | ".join(rows) or "(none)")
            if res.ok
            else f"exit {res.exit_status}: {res.output[:200]}",
        )


def _process(row: str) -> str:
    """A `ps aux` row as "COMMAND (pid PID, %MEM% mem, %CPU% cpu)"."""
    f = row.split(None, 10)
    if len(f) < 11:
        return row[:120]
    return f"{f[10][:80]} (pid {f[1]}, {f[3]}% mem, {f[2]}% cpu)"


async def validation_issues(inc: Incident) -> dict[str, int] | None:
    """HighErrorRate D: the AOP validator's last log lines, and which of the runbook's
    issues (solvability, completeness, redundancy) they name, most first."""
    hc = inc.policy.diagnostics.host_checks
    res = await host_check(inc, "AOP validator log", "validation_log")
    if res is None:
        return None
    if not res.ok:
        inc.record(
            "diagnosis: AOP validator log", "failed", f"exit {res.exit_status}: {res.output[:200]}"
        )
        return None
    order = sorted(res.counts.items(), key=lambda kv: -kv[1])
    inc.record(
        "diagnosis: validation issue",
        "ok",
        (
            ", ".join(f"{k}={v}" for k, v in order)
            if order
            else f"none of {', '.join(hc.validation_issues)}"
        )
        + f" in the last {res.lines} of {hc.validation_log_lines} AOP lines",
    )
    return res.counts


@dataclass(frozen=True)
class LlmLatency:
    seconds: float | None  # curl's time_total; None: unknown
    slow: bool | None  # None: can't tell (the check failed for another reason)


async def llm_latency(inc: Incident) -> LlmLatency:
    """HighLatencyP95 A "Check LLM API latency", from the host: slow above
    `host_checks.llm_slow_s`, or curl's own timeout."""
    hc = inc.policy.diagnostics.host_checks
    res = await inc.attempt(
        "diagnosis: LLM API latency",
        HOST_CHECK,
        HostCheckInput(service=inc.service, kind="llm_latency"),
    )
    if res is None:
        return LlmLatency(None, None)
    if res.exit_status == CURL_TIMED_OUT:
        got = LlmLatency(res.seconds, True)
        detail = f"timed out ({res.seconds or '?'} s)"
    elif res.ok and res.seconds is not None:
        got = LlmLatency(res.seconds, res.seconds > hc.llm_slow_s)
        detail = f"{res.seconds:g} s ({'over' if got.slow else 'within'} {hc.llm_slow_s:g} s)"
    else:
        got = LlmLatency(None, None)
        detail = f"unknown: exit {res.exit_status}: {res.output[:200]}"
    inc.record("diagnosis: LLM API latency", "ok" if got.slow is not None else "failed", detail)
    return got

"""Agent Lab containment and recovery steps: maintenance mode, the Recovery checks
(/health/detailed, the core-functionality smoke request), the streaming probe and the
bounded load probe. Every step records its result in the timeline.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows.contracts.base import Activity
    from workflows.contracts.diagnostics import AGENTLAB_DIAGNOSE, DiagnoseInput
    from workflows.contracts.http import (
        AGENTLAB_LOAD_PROBE,
        AGENTLAB_SMOKE,
        AGENTLAB_STREAM_PROBE,
        HTTP_PROBE,
        AgentLabProbeInput,
        HttpProbeInput,
        HttpProbeResult,
        LoadProbeInput,
        LoadProbeResult,
        SmokeResult,
        StreamProbeResult,
    )
    from workflows.contracts.service import (
        AGENTLAB_MAINTENANCE,
        MaintenanceInput,
    )
    from workflows.incident import Incident
    from workflows.steps import safety


async def maintenance(inc: Incident, mode: Literal["enable", "disable"]) -> bool:
    """Maintenance mode on (before the restart) or off (after verified recovery), where
    the inventory configures it. Keyed on the target: a retry never runs it twice.
    Returns whether it is now in the asked state (False also when not configured)."""
    step = f"maintenance mode {'on' if mode == 'enable' else 'off'}"
    if not inc.policy.agent_lab.has_maintenance:
        inc.record(step, "skipped", "no maintenance commands in the inventory")
        return False
    if mode == "enable":  # a containment step: behind an approval where the policy says so
        await safety.clear(inc, "containment", f"{step} for {inc.service}")
    res = await inc.attempt(
        step,
        AGENTLAB_MAINTENANCE,
        MaintenanceInput(
            service=inc.service, mode=mode, idempotency_key=f"{inc.run_key}:maintenance-{mode}"
        ),
    )
    if res is None:
        return False
    if res.dry_run:
        inc.record(step, "skipped", res.detail)
        return True
    inc.record(
        step,
        "ok" if res.ok else "failed",
        f"exit {res.exit_status}{' (already done, not repeated)' if res.replayed else ''}"
        + (f": {res.detail}" if res.detail else ""),
    )
    return res.ok


async def _http_check(
    inc: Incident,
    step: str,
    configured: bool,
    missing: str,
    activity: Activity[Any, HttpProbeResult] | Activity[Any, SmokeResult],
    arg: HttpProbeInput | AgentLabProbeInput,
) -> bool | None:
    """One configured HTTP check: skipped (None) when the inventory lacks it, else its
    URL and status in the timeline and whether it passed."""
    if not configured:
        inc.record(step, "skipped", missing)
        return None
    res: HttpProbeResult | SmokeResult | None = await inc.attempt(step, activity, arg)  # type: ignore[arg-type,misc]
    if res is None:
        return False
    inc.record(step, "ok" if res.ok else "failed", f"{res.url} -> {res.status_code or res.error}")
    return res.ok


async def detailed_health(inc: Incident) -> bool | None:
    """`curl .../health/detailed`; None when the inventory has no detailed URL."""
    return await _http_check(
        inc,
        "recovery: /health/detailed",
        inc.policy.agent_lab.has_health_detailed,
        "no health_detailed_url in the inventory",
        HTTP_PROBE,
        HttpProbeInput(service=inc.service, target="health_detailed"),
    )


async def smoke(inc: Incident) -> bool | None:
    """Test core functionality (`curl -X POST .../api/agents -d '{...}'`); None when the
    inventory configures no smoke request."""
    return await _http_check(
        inc,
        "recovery: core functionality",
        inc.policy.agent_lab.has_smoke,
        "no agent_lab.smoke request in the inventory",
        AGENTLAB_SMOKE,
        AgentLabProbeInput(service=inc.service),
    )


async def verified(inc: Incident) -> bool:
    """Recovery's "Verify Recovery": /health/detailed and the smoke request, each where
    configured; a check that is configured and fails fails the verification."""
    results = [await detailed_health(inc), await smoke(inc)]
    return all(r is not False for r in results)


async def stream_probe(inc: Incident, step: str) -> StreamProbeResult | None:
    """`curl -N .../api/stream/test`, read as a stream (bounded); None: not run."""
    res = await inc.attempt(
        step,
        AGENTLAB_STREAM_PROBE,
        AgentLabProbeInput(service=inc.service),
    )
    if res is None:
        return None
    inc.record(
        step,
        "ok" if res.ok else "failed",
        f"{res.url} -> {res.status_code}, {res.chunks} chunks, {res.bytes} bytes in "
        f"{res.duration_s:g}s" + (f"; {res.error}" if res.error else ""),
    )
    return res


async def retry_stream_probe(inc: Incident, until: datetime, interval: timedelta) -> bool:
    """Probe every `interval` until one passes or `until` (counted from detection)."""
    n = 0
    while True:
        n += 1
        res = await stream_probe(inc, f"retry streaming probe #{n}")
        if res is not None and res.ok:
            return True
        if workflow.now() + interval > until:
            inc.record("streaming recovered", "failed", f"{n} probes failed; gave up at {until}")
            return False
        await inc.sleep(interval)


async def load_probe(inc: Incident) -> LoadProbeResult | None:
    """`ab -n 1000 -c 10 .../health`, bounded; None when not configured or refused."""
    step = "recovery: load probe"
    if not inc.policy.agent_lab.has_load_probe:
        inc.record(step, "skipped", "no load probe target (health_url or load_probe.url)")
        return None
    res = await inc.attempt(
        step,
        AGENTLAB_LOAD_PROBE,
        LoadProbeInput(service=inc.service),
    )
    if res is None:
        return None
    if res.dry_run:
        inc.record(step, "skipped", res.detail)
        return res
    inc.record(
        step,
        "ok" if res.ok else "failed",
        f"{res.completed}/{res.requested} requests in {res.duration_s:g}s, "
        f"p50 {_ms(res.p50_s)}, p95 {_ms(res.p95_s)}, {res.errors} errors"
        + (f"; {res.detail}" if res.detail else ""),
    )
    return res


def _ms(v: float | None) -> str:
    return "n/a" if v is None else f"{v * 1000:.0f} ms"


# ---------------------------------------------------------------- post-recovery
async def _error_lines(inc: Incident, step: str) -> list[str] | None:
    """The error grep's lines now (`grep -i error LOG | tail -20`); None: not read."""
    res = await inc.attempt(
        step, AGENTLAB_DIAGNOSE, DiagnoseInput(service=inc.service, kind="log_errors")
    )
    if res is None or not res.ok:
        if res is not None:
            inc.record(step, "failed", res.detail)
        return None
    return res.output.splitlines()


async def watch_logs(inc: Incident, until: datetime, interval: timedelta) -> str | None:
    """Application Down "Monitor Post-Recovery" (`tail -f app.log`, watching for errors):
    the error grep now, then every `interval` on a durable timer until `until` (the end
    of the Recovery phase). An error line the first read did not show is a new error:
    the first check that sees one ends the watch and returns what it saw (the playbook
    escalates); None: the watch saw no new error (or could not read the log -- said in
    the timeline). Lines repeated word for word are not told apart."""
    step = "monitor post-recovery"
    if not inc.policy.agent_lab.has_log_grep:
        inc.record(step, "skipped", "no log_files in the inventory")
        return None
    # Strictly before `until`: the last check is done before the phase budget's watcher
    # could call the Recovery phase overrun.
    if workflow.now() + interval >= until:
        inc.record(step, "skipped", f"the Recovery phase ends at {until:%H:%M:%S}")
        return None
    seen = await _error_lines(inc, f"{step}: baseline")
    inc.record(
        step,
        "info",
        f"watching the app log for new errors every {interval} until {until:%H:%M:%S} UTC"
        + (f"; {len(seen)} error lines already there" if seen is not None else ""),
    )
    n = 0
    while workflow.now() + interval < until:
        await inc.sleep(interval)
        n += 1
        lines = await _error_lines(inc, f"{step} #{n}")
        if lines is None:
            continue
        if seen is None:  # the baseline could not be read: this read is the baseline
            seen = lines
            continue
        known = set(seen)
        new = [ln for ln in lines if ln not in known]
        if new:
            what = f"{len(new)} new error lines in the app log after recovery: " + " | ".join(
                ln[-200:] for ln in new[-3:]
            )
            inc.record(f"{step} #{n}", "failed", what)
            return what
        inc.record(f"{step} #{n}", "ok", "no new error lines")
    inc.record(step, "ok", f"no new errors in {n} checks until {workflow.now():%H:%M:%S} UTC")
    return None

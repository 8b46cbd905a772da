"""PerformanceDegradation's investigation: the slow requests of the access log, the
last week's commits, and what they point at -- load (throttle) or a few endpoints
repeatedly slow (cache). The thresholds are `agent_lab.performance`
(workflows/contracts/performance.py); the decision is workflows/playbooks/
performance_degradation.py's."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows.contracts.diagnostics import RECENT_CHANGES, RecentChangesInput
    from workflows.contracts.performance import (
        SLOW_REQUESTS,
        SlowRequestsInput,
        SlowRequestsResult,
    )
    from workflows.incident import Incident

# `git log` returns at most this many commits (RecentChangesInput's bound): a busier
# week is shown as "50 or more".
MAX_COMMITS = 50


async def slow_requests(inc: Incident) -> SlowRequestsResult | None:
    """ "Identify Bottlenecks": "Analyze slowest requests" in the access log."""
    step = "diagnosis: slow requests"
    perf = inc.policy.agent_lab.performance
    if not inc.policy.agent_lab.has_access_log:
        inc.record(step, "skipped", "no agent_lab.access_log in the inventory")
        return None
    r = await inc.attempt(
        step,
        SLOW_REQUESTS,
        SlowRequestsInput(
            service=inc.service, slow_s=perf.slow_request_s, top=max(5, perf.cache_top_endpoints)
        ),
    )
    if r is None:
        return None
    p95 = "n/a" if r.p95_s is None else f"{r.p95_s * 1000:.0f} ms"
    top = ", ".join(f"{e.endpoint} ({e.slow}, worst {e.worst_s:g}s)" for e in r.top) or "none"
    inc.record(
        step,
        "ok",
        f"{r.slow} of {r.timed} timed requests >= {perf.slow_request_s:g}s (p95 {p95}); "
        f"slowest endpoints: {top}",
    )
    return r


async def recent_changes(inc: Incident) -> None:
    """ "Recent Changes": `git log --oneline --since="1 week ago"` -- the host's last
    commits with their times, kept to the window here."""
    step = "diagnosis: recent changes"
    days = inc.policy.agent_lab.performance.recent_days
    r = await inc.attempt(
        step, RECENT_CHANGES, RecentChangesInput(service=inc.service, count=MAX_COMMITS)
    )
    if r is None:
        return
    if r.commits and not r.committed_at:  # no times to filter by: show what git gave
        inc.record(step, "ok", f"{r.repo} (no commit times): " + " | ".join(r.commits[:10]))
        return
    since = workflow.now() - timedelta(days=days)
    recent = [c for c, at in zip(r.commits, r.committed_at, strict=False) if at >= since]
    more = " or more" if len(recent) == MAX_COMMITS else ""
    shown = "".join(f"\n{c}" for c in recent[:10])
    inc.record(step, "ok", f"{r.repo}: {len(recent)}{more} commits in {days} days{shown}")


def points_at_load(inc: Incident, cpu: float | None) -> bool:
    """Load: the cpu SLI at or over `throttle_cpu` (Remedy's criterion)."""
    limit = inc.policy.agent_lab.performance.throttle_cpu
    step = "diagnosis: load"
    if cpu is None:
        inc.record(step, "skipped", "no CPU value (no `cpu` SLI, or no data)")
        return False
    load = cpu >= limit
    inc.record(step, "ok", f"CPU {cpu:.0%} {'>=' if load else '<'} {limit:.0%}")
    return load


def points_at_repeats(inc: Incident, r: SlowRequestsResult | None) -> bool:
    """Repeated slow requests: at least `cache_min_slow` slow requests, and the
    `cache_top_endpoints` endpoints with the most carry `cache_slow_share` of them."""
    perf = inc.policy.agent_lab.performance
    step = "diagnosis: repeated slow requests"
    if r is None:
        inc.record(step, "skipped", "no slow-request analysis")
        return False
    n, share = perf.cache_top_endpoints, r.top_share(perf.cache_top_endpoints)
    repeated = r.slow >= perf.cache_min_slow and share >= perf.cache_slow_share
    inc.record(
        step,
        "ok",
        f"{r.slow} slow (needs {perf.cache_min_slow}); top {n} endpoints carry {share:.0%} "
        f"(needs {perf.cache_slow_share:.0%}): {'yes' if repeated else 'no'}",
    )
    return repeated

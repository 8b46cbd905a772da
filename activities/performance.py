"""PerformanceDegradation's host work: "Identify Bottlenecks" -- the slowest requests in
the web access log (workflows/contracts/performance.py).

The runbook says "Analyze slowest requests" and gives no command. The log is read with
`tail -n N` (argv, allowlisted; no awk program, no shell on the host) and analysed here:
response time and endpoint from the configured fields, slow ones counted by endpoint
(query string dropped). Only counts, the p95 and endpoint paths enter history.
"""

from __future__ import annotations

import math
from collections import Counter

from temporalio import activity

from activities.errors import app_error
from activities.inventory import Inventory
from activities.inventory.services import tail_argv
from activities.service import resolve_host
from activities.ssh import run_checked
from workflows.contracts.performance import (
    SLOW_REQUESTS,
    AccessLogFormat,
    EndpointSlow,
    SlowRequestsInput,
    SlowRequestsResult,
)

MAX_LOG_BYTES = 16 * 1024 * 1024
ENDPOINT_MAX = 120


def _word(words: list[str], field: int) -> str | None:
    i = field - 1 if field > 0 else field
    try:
        return words[i]
    except IndexError:
        return None


def parse(line: str, fmt: AccessLogFormat) -> tuple[str, float] | None:
    """(endpoint, response time in seconds) of one access-log line, or None."""
    words = line.split()
    raw, path = _word(words, fmt.time_field), _word(words, fmt.endpoint_field)
    if raw is None or path is None:
        return None
    try:
        t = float(raw.strip('"'))
    except ValueError:
        return None
    if not math.isfinite(t) or t < 0:
        return None
    endpoint = path.strip('"').split("?", 1)[0][:ENDPOINT_MAX]
    return endpoint, t / 1000 if fmt.time_unit == "ms" else t


def analyse(lines: list[str], fmt: AccessLogFormat, slow_s: float, top: int) -> SlowRequestsResult:
    times: list[float] = []
    slow: Counter[str] = Counter()
    worst: dict[str, float] = {}
    for ln in lines:
        got = parse(ln, fmt)
        if got is None:
            continue
        endpoint, t = got
        times.append(t)
        if t >= slow_s:
            slow[endpoint] += 1
            worst[endpoint] = max(worst.get(endpoint, 0.0), t)
    times.sort()
    p95 = times[min(len(times) - 1, math.ceil(0.95 * len(times)) - 1)] if times else None
    return SlowRequestsResult(
        lines=len(lines),
        timed=len(times),
        slow=sum(slow.values()),
        p95_s=p95,
        top=[
            EndpointSlow(endpoint=e, slow=n, worst_s=round(worst[e], 4))
            for e, n in slow.most_common(top)
        ],
    )


class PerformanceActivities:
    def __init__(self, inventory: Inventory) -> None:
        self.inventory = inventory

    @activity.defn(name=SLOW_REQUESTS.name)
    async def slow_requests(self, inp: SlowRequestsInput) -> SlowRequestsResult:
        svc = self.inventory.service(inp.service)
        fmt = svc.agent_lab.access_log if svc.agent_lab else None
        if fmt is None:
            raise app_error(
                "CommandNotConfigured", f"service {inp.service!r} has no agent_lab.access_log"
            )
        host_name = resolve_host(inp.service, svc, None)
        res = await run_checked(
            self.inventory,
            inp.service,
            host_name,
            tail_argv(fmt.path, str(fmt.max_lines)),
            timeout_s=60,
            max_output_bytes=MAX_LOG_BYTES,
        )
        if not res.ok:
            raise app_error("LogUnreadable", f"{host_name}:{fmt.path}: {res.stderr.strip()[:300]}")
        lines = [ln for ln in res.stdout.splitlines() if ln.strip()]
        return analyse(lines, fmt, inp.slow_s, inp.top)

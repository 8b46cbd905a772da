"""Benchmark 2, alert to action: how long from the moment a webhook is sent to the
moment the playbook's first activity starts, at a steady 20 new incidents/s.

    .venv/bin/python -m bench.latency [--rate 20] [--seconds 30] [--worker-args="..."]

Targets (issue 19, "first response first"): send -> first activity started p50 < 1 s and
p99 < 5 s at 20 new incidents/s, and every incident's first activity started by 5 s
after the last send. The table also shows where a wait is spent: the first workflow task
(scheduled -> started) is the time a new incident waited for a worker to pick it up.

Open loop: request i is sent at t0 + i/rate whether or not earlier ones answered (as
independent alert groups reach the bridge), one incident per request, each a new
ServiceDown incident (GenesisServiceDown) for its own inventory service. The time is read from each
workflow's history: WorkflowExecutionStarted and the first activity
(`inventory.service_policy`, Detection's policy load: under LEAN_HISTORY a local
activity, its marker's schedule and completion times; before, ActivityTaskScheduled and
ActivityTaskStarted), all against the send time (same host, same clock).

The services' host has no known_hosts file, so every later SSH step fails at once
(HostKeyUnknown, non-retryable) and the incidents escalate: the background load the
running incidents add is real playbook work, but no SSH timeouts.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shlex
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import httpx
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from bench.common import TOKEN, CpuWatch, Stack, finish, header, loadavg, pct, table, verdict
from remedy.temporal import connect


def inventory(n: int, stack: Stack) -> dict[str, object]:
    host = {
        "address": "127.0.0.1",
        "port": 1,
        "user": "bench",
        "private_key_file": str(stack.dir / "absent_key"),
        "known_hosts_file": str(stack.dir / "absent_known_hosts"),
        "state_dir": str(stack.dir / "state"),
    }
    svc = {"hosts": ["h"], "severity": "P3", "commands": {"status": ["true"], "restart": ["true"]}}
    return {"hosts": {"h": host}, "services": {f"lat-{i:04d}": svc for i in range(n)}}


def body(i: int) -> bytes:
    alert = {
        "status": "firing",
        "labels": {"alertname": "GenesisServiceDown", "service": f"lat-{i:04d}"},
        "annotations": {"summary": "bench"},
        "startsAt": datetime.now(UTC).isoformat(),
        "fingerprint": f"{i:016x}",
    }
    return json.dumps({"version": "4", "status": "firing", "alerts": [alert]}).encode()


def _local_activity(e: Any) -> tuple[float, float] | None:
    """(scheduled, completed) epoch s of a local activity's marker, else None."""
    m = e.marker_recorded_event_attributes
    if (
        e.event_type != EventType.EVENT_TYPE_MARKER_RECORDED
        or m.marker_name != "core_local_activity"
    ):
        return None
    d = json.loads(m.details["data"].payloads[0].data)
    ts = lambda k: d[k]["seconds"] + d[k]["nanos"] / 1e9  # noqa: E731
    return ts("original_schedule_time"), ts("complete_time")


async def first_activity(client: Client, wid: str) -> tuple[float, ...] | None:
    """(workflow started, first activity scheduled, first activity started, first
    workflow task's wait from scheduled to started in s), epoch s. Under LEAN_HISTORY
    the first activities (the policy load, the status check) are local activities: one
    marker each, written when the workflow task completes; for those, "scheduled" is the
    marker's original schedule time and "started" its *completion* time (an upper bound:
    the activity ran by then), whichever of a local or a queued activity came first."""
    try:
        hist = await client.get_workflow_handle(wid).fetch_history()
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return None  # never started (the bridge answered 503): counted as not found
        raise
    started = sched = wft_sched = wft_wait = None
    first: tuple[float, float] | None = None  # (scheduled, started) of the first activity
    for e in hist.events:
        t = e.event_time.ToDatetime(tzinfo=UTC).timestamp()
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
            started = t
        elif e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED and wft_sched is None:
            wft_sched = t
        elif e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED and wft_wait is None:
            wft_wait = t - (wft_sched or t)
        elif (la := _local_activity(e)) is not None and first is None:
            first = la
        elif e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED and sched is None:
            sched = t
        elif e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            # The first activity through the task queue (the first Slack post, the crash
            # evidence, a page): the last column, for where queueing still costs.
            first = first or (sched or t, t)
            return (started or t, first[0], first[1], wft_wait or 0.0, t)
    if first is not None:
        return (started or first[0], first[0], first[1], wft_wait or 0.0, float("nan"))
    return None


async def main(a: argparse.Namespace) -> int:
    print(header("bench.latency", sys.argv[1:]))
    n = int(a.rate * a.seconds)
    stack = Stack(keep=a.keep)
    try:
        await stack.start_server()
        if a.storm_incidents:
            stack.env["REMEDY_STORM_INCIDENTS"] = str(a.storm_incidents)
        stack.write_inventory(inventory(n, stack))
        worker = await stack.start_worker(shlex.split(a.worker_args))
        bridge = await stack.start_bridge(
            {
                "REMEDY_BRIDGE_RATE_LIMIT_RPS": "1000",
                "REMEDY_BRIDGE_RATE_LIMIT_BURST": "1000",
                # The default 300 new incidents per minute per bridge (a safety cap)
                # would defer (503) the second half of 600 in 30 s.
                "REMEDY_BRIDGE_MAX_NEW_INCIDENTS_PER_MINUTE": "0",
            }
        )
        client = await connect(stack.address)
        http = httpx.AsyncClient(
            base_url=stack.bridge_url,
            timeout=30,
            limits=httpx.Limits(max_connections=200),
            headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
        )
        # Warm the bridge's Temporal connection and the HTTP pool (not measured).
        await http.get("/healthz")
        sent: dict[int, float] = {}
        answered: dict[int, float] = {}
        codes: dict[int, int] = {}

        async def send(i: int) -> None:
            payload = body(i)
            sent[i] = time.time()
            r = await http.post("/alertmanager", content=payload)
            answered[i] = time.time() - sent[i]
            codes[i] = r.status_code

        watch = CpuWatch({"bridge": bridge, "worker": worker, "server": stack.server_pid})
        load = loadavg()
        watch.start()
        t0 = time.monotonic()
        tasks = []
        for i in range(n):
            await asyncio.sleep(max(0.0, t0 + i / a.rate - time.monotonic()))
            tasks.append(asyncio.ensure_future(send(i)))
        await asyncio.gather(*tasks)
        await asyncio.sleep(5)  # the last incidents get to their first activity
        cpu = watch.stop()
        sem = asyncio.Semaphore(16)

        async def fetch(i: int) -> tuple[int, tuple[float, ...] | None]:
            async with sem:
                return i, await first_activity(client, f"incident:GenesisServiceDown:lat-{i:04d}")

        res = dict(await asyncio.gather(*(fetch(i) for i in range(n))))
        got = {i: r for i, r in res.items() if r is not None}
        to = {
            k: [1e3 * (r[j] - sent[i]) for i, r in got.items()]
            for j, k in enumerate(("wf", "sch", "act"))
        }
        wft_wait = [1e3 * r[3] for r in got.values()]
        queued = [1e3 * (r[4] - sent[i]) for i, r in got.items() if r[4] == r[4]]  # not nan
        resp = [1e3 * v for v in answered.values()]
        act = to["act"]

        def ms(v: list[float]) -> str:
            return f"{pct(v, 50):.0f} / {pct(v, 99):.0f} / {max(v):.0f}"

        rows: list[list[object]] = [
            [
                "incidents sent (HTTP status: count)",
                f"{n} ({', '.join(f'{c}: {k}' for c, k in sorted(Counter(codes.values()).items()))})",
                f"{a.rate:g}/s",
                "-",
            ],
            ["first activity started (found)", len(got), n, "yes" if len(got) == n else "NO"],
            ["send -> bridge response ms p50/p99/max", ms(resp), "-", "-"],
            ["send -> workflow started ms", ms(to["wf"]), "-", "-"],
            ["first workflow task: scheduled -> started ms", ms(wft_wait), "-", "-"],
            ["send -> first activity scheduled ms", ms(to["sch"]), "-", "-"],
            [
                "send -> first activity started p50 ms",
                f"{pct(act, 50):.0f}",
                "< 1000",
                verdict(pct(act, 50), 1000, False),
            ],
            [
                "send -> first activity started p99 ms",
                f"{pct(act, 99):.0f}",
                "< 5000",
                verdict(pct(act, 99), 5000, False),
            ],
            [
                f"send -> first queued activity started ms ({len(queued)} found)",
                ms(queued) if queued else "-",
                "-",
                "-",
            ],
            ["worker args", a.worker_args or "(worker.py's settings)", "-", "-"],
            ["storm threshold", a.storm_incidents or "default (20 / 5 min)", "-", "-"],
            [
                "CPU % of a core: bridge / worker / server",
                " / ".join(f"{cpu[k]:.0f}" for k in ("bridge", "worker", "server")),
                "-",
                "-",
            ],
            ["load during", load, "-", "-"],
        ]
        print(
            table("alert to action", rows, ["metric", "p50 / p99 / max (or value)", "target", "ok"])
        )
        print(f"load after: {loadavg()}")
        return 0 if all(r[3] in ("yes", "-") for r in rows) else 1
    finally:
        stack.stop()


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rate", type=float, default=20.0, help="new incidents per second")
    p.add_argument("--seconds", type=float, default=30.0)
    p.add_argument("--keep", action="store_true")
    p.add_argument(
        "--storm-incidents",
        type=int,
        default=0,
        help="REMEDY_STORM_INCIDENTS for the bridge and worker (0: the default, 20 per "
        "5 min, so 20 new incidents/s is a storm from the 21st on)",
    )
    p.add_argument(
        "--worker-args", default="", help='bench/worker.py flags, e.g. "--workflow-pollers 10"'
    )
    return p.parse_args()


if __name__ == "__main__":
    finish(asyncio.run(main(parse())))

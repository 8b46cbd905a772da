"""Benchmark 1, alert storm: 100,000 alert entries in webhook batches of 100, posted
concurrently to the real bridge (uvicorn on 127.0.0.1, bearer auth), heavily duplicated
across 1,000 incidents (2 instances each). Then every incident is checked on the
server: exactly one run per incident id, the alert_fired / alert_resolved signals its
history holds, and that the incidents whose alerts resolved have closed.

    .venv/bin/python -m bench.storm [--incidents 1000] [--alerts 100000] [--concurrency 16]

Cheap path on purpose: alertname `BenchStorm` has no route, so every incident is a
Triage whose service is not in the inventory -- one failing inventory lookup, two
notifications skipped (no Slack/PagerDuty configured), then it waits for a human or the
resolution. The storm then measures the bridge and the server, not SSH timeouts.

Before the storm, in the same run, the SDK's raw signal-with-start rate is measured
against the same server, same task queue, same workflow type and input (what the
bridge sends, minus the describe and the HTTP), for the bridge's creation-rate ratio.
The bridge's per-source rate limit is raised (REMEDY_BRIDGE_RATE_LIMIT_RPS): one
loopback client posts the whole storm, at ~25 requests/s against a default of 10/s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import signal
import subprocess
import sys
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy

from activities.inventory import Inventory
from bench.common import (
    TASK_QUEUE,
    TOKEN,
    CpuWatch,
    Stack,
    finish,
    header,
    loadavg,
    pct,
    table,
    verdict,
)
from bridge.models import WebhookAlert
from bridge.routing import Router, to_alert, ui_summary
from remedy.temporal import connect
from workflows.models import IncidentInput

ALERTNAME = "BenchStorm"
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def entry(i: int, k: int, status: str) -> dict[str, object]:
    labels = {"alertname": ALERTNAME, "service": f"storm-{i:04d}", "instance": f"node-{k}"}
    return {
        "status": status,
        "labels": labels,
        "annotations": {"summary": f"storm incident {i}"},
        "startsAt": (T0 + timedelta(seconds=i)).isoformat(),
        "endsAt": (T0 + timedelta(hours=1)).isoformat()
        if status == "resolved"
        else "0001-01-01T00:00:00Z",
        "fingerprint": f"{i:012x}{k:04x}",
    }


def batches(a: argparse.Namespace) -> tuple[list[bytes], list[bytes], set[int]]:
    """(firing bodies, resolved bodies, resolved incident numbers); seeded, so every
    run posts the same bytes in the same order."""
    rng = random.Random(a.seed)
    resolved_ids = set(range(0, a.incidents, a.resolve_every))
    resolved = [entry(i, k, "resolved") for i in sorted(resolved_ids) for k in range(2)]
    pairs = [(i, k) for i in range(a.incidents) for k in range(2)]
    firing_pairs = pairs + [rng.choice(pairs) for _ in range(a.alerts - len(resolved) - len(pairs))]
    rng.shuffle(firing_pairs)
    firing = [entry(i, k, "firing") for i, k in firing_pairs]

    def bodies(alerts: list[dict[str, object]]) -> list[bytes]:
        return [
            json.dumps(
                {
                    "version": "4",
                    "status": a_[0]["status"],
                    "receiver": "remedy",
                    "groupKey": '{}:{alertname="BenchStorm"}',
                    "alerts": a_,
                }
            ).encode()
            for a_ in (alerts[j : j + a.batch] for j in range(0, len(alerts), a.batch))
        ]

    return bodies(firing), bodies(resolved), resolved_ids


async def raw_signal_with_start(client: Client, n: int, concurrency: int) -> float:
    """Distinct workflows per second started by the SDK directly, as the bridge does."""
    router = Router(Inventory())
    sem = asyncio.Semaphore(concurrency)

    async def one(j: int) -> None:
        wa = WebhookAlert.model_validate(
            entry(j, 0, "firing")
            | {"labels": {"alertname": "BenchRaw", "service": f"raw-{j:04d}", "instance": "node-0"}}
        )
        route = router.route(wa.labels)
        alert = to_alert(wa, route)
        summary, details = ui_summary(alert, route)
        async with sem:
            await client.start_workflow(
                route.playbook,
                IncidentInput(alert=alert, route_reason=route.reason),
                id=route.workflow_id,
                task_queue=TASK_QUEUE,
                static_summary=summary,
                static_details=details,
                start_signal="alert_fired",
                start_signal_args=[alert],
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
            )

    t = time.perf_counter()
    await asyncio.gather(*(one(j) for j in range(n)))
    return n / (time.perf_counter() - t)


async def quiesce(watch_pids: list[int], limit_s: float = 180) -> float:
    """Wait until worker + server use < 25 % of a core: the previous phase's workflows
    have run to their wait, so they do not bill the next phase."""
    from bench.common import cpu_seconds

    t_end = time.monotonic() + limit_s
    while time.monotonic() < t_end:
        c0 = sum(cpu_seconds(p) for p in watch_pids)
        await asyncio.sleep(2)
        if (sum(cpu_seconds(p) for p in watch_pids) - c0) / 2 < 0.25:
            break
    return limit_s - (t_end - time.monotonic())


def profiler(pid: int, out: str | None) -> subprocess.Popen[bytes] | None:
    """py-spy (dev dependency) sampling the bridge during the firing phase: collapsed
    stacks, for `py-spy`'s or speedscope's flame graphs or a quick sort | uniq -c."""
    if not out:
        return None
    spy = Path(sys.executable).parent / "py-spy"
    return subprocess.Popen(
        [
            str(spy),
            "record",
            "--pid",
            str(pid),
            "--format",
            "raw",
            "--rate",
            "50",
            "--nonblocking",
            "-o",
            out,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


class Poster:
    def __init__(self, url: str, concurrency: int) -> None:
        self.http = httpx.AsyncClient(
            base_url=url,
            timeout=60,
            limits=httpx.Limits(max_connections=concurrency),
            headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
        )
        self.concurrency = concurrency
        self.latency: list[float] = []
        self.actions: Counter[str] = Counter()
        self.statuses: Counter[int] = Counter()
        self.last_start = 0.0

    async def post_all(self, bodies: list[bytes]) -> None:
        queue = list(reversed(bodies))

        async def lane() -> None:
            while queue:
                body = queue.pop()
                while True:  # as Alertmanager does: retry a 5xx/429 after a pause
                    t = time.perf_counter()
                    r = await self.http.post("/alertmanager", content=body)
                    self.latency.append(time.perf_counter() - t)
                    self.statuses[r.status_code] += 1
                    doc = r.json()
                    for o in doc.get("applied", []):
                        self.actions[o["action"]] += 1
                        if o["action"] == "started":
                            self.last_start = time.perf_counter()
                    if r.status_code == 200:
                        break
                    if r.status_code < 500 and r.status_code != 429:
                        raise RuntimeError(f"bridge said {r.status_code}: {r.text[:500]}")
                    body = json.dumps(  # only what was not applied yet
                        json.loads(body)
                        | {
                            "alerts": [
                                json.loads(body)["alerts"][o["index"]]
                                for o in doc.get("not_applied", [])
                            ]
                        }
                    ).encode()
                    await asyncio.sleep(0.5)

        await asyncio.gather(*(lane() for _ in range(self.concurrency)))


async def check(client: Client, a: argparse.Namespace, resolved_ids: set[int]) -> list[list[str]]:
    """Count runs and signals per incident from the server itself."""
    # Distinct run ids, not listed rows: a run that closes while the list is paged moves
    # in the visibility order and can be listed twice.
    runs: dict[str, set[str]] = defaultdict(set)
    status: dict[str, WorkflowExecutionStatus | None] = {}
    for _ in range(120):  # resolved incidents close once the worker has applied the signal
        runs.clear()
        async for wf in client.list_workflows('WorkflowType = "Triage"'):
            if wf.id.startswith(f"incident:{ALERTNAME}:"):
                runs[wf.id].add(wf.run_id)
                status[wf.id] = wf.status
        closed = sum(s == WorkflowExecutionStatus.COMPLETED for s in status.values())
        if closed >= len(resolved_ids):
            break
        await asyncio.sleep(1)
    sem = asyncio.Semaphore(16)
    fired: Counter[int] = Counter()
    resolved_ok = wrong_state = 0

    async def one(wid: str) -> None:
        nonlocal resolved_ok, wrong_state
        async with sem:
            hist = await client.get_workflow_handle(wid).fetch_history()
        names = Counter(
            e.workflow_execution_signaled_event_attributes.signal_name
            for e in hist.events
            if e.HasField("workflow_execution_signaled_event_attributes")
        )
        fired[names["alert_fired"]] += 1
        i = int(wid.rsplit("-", 1)[1])
        want = 2 if i in resolved_ids else 0
        resolved_ok += names["alert_resolved"] == want
        closed = status[wid] == WorkflowExecutionStatus.COMPLETED
        wrong_state += closed != (i in resolved_ids)

    await asyncio.gather(*(one(w) for w in runs))
    doubled = sum(len(r) > 1 for r in runs.values())
    return [
        [
            "incident workflows (distinct ids)",
            len(runs),
            a.incidents,
            "yes" if len(runs) == a.incidents else "NO",
        ],
        ["ids with more than one run", doubled, 0, "yes" if doubled == 0 else "NO"],
        [
            "alert_fired signals per incident",
            dict(sorted(fired.items())),
            "2 (one per instance)",
            "-",
        ],
        [
            "incidents with the expected alert_resolved signals",
            resolved_ok,
            a.incidents,
            "yes" if resolved_ok == a.incidents else "NO",
        ],
        [
            "incidents open/closed as expected",
            a.incidents - wrong_state,
            a.incidents,
            "yes" if wrong_state == 0 else "NO",
        ],
    ]


async def main(a: argparse.Namespace) -> int:
    print(header("bench.storm", sys.argv[1:]))
    firing, resolved, resolved_ids = batches(a)
    stack = Stack(keep=a.keep)
    try:
        await stack.start_server()
        stack.write_inventory({"hosts": {}, "services": {}})
        worker = await stack.start_worker()
        bridge = await stack.start_bridge(
            {"REMEDY_BRIDGE_RATE_LIMIT_RPS": "100000", "REMEDY_BRIDGE_RATE_LIMIT_BURST": "100000"}
        )
        client = await connect(stack.address)
        pids = [worker, stack.server_pid]
        raw_load = loadavg()
        raw = await raw_signal_with_start(client, a.raw, a.raw_concurrency)
        await quiesce(pids)
        watch = CpuWatch({"bridge": bridge, "worker": worker, "server": stack.server_pid})
        poster = Poster(stack.bridge_url, a.concurrency)
        storm_load = loadavg()
        spy = profiler(bridge, a.profile)
        watch.start()
        t0 = time.perf_counter()
        await poster.post_all(firing)
        t_firing = time.perf_counter()
        if spy:
            spy.send_signal(signal.SIGINT)  # py-spy writes the profile on SIGINT
            spy.wait(60)
        cpu = watch.stop()  # the storm proper; the wait and the resolutions are not in it
        await quiesce(pids, 60)  # the resolutions come later, as they would in life
        t1 = time.perf_counter()
        await poster.post_all(resolved)
        t_end = time.perf_counter()
        n_alerts = sum(len(json.loads(b)["alerts"]) for b in firing + resolved)
        ingest = n_alerts / ((t_firing - t0) + (t_end - t1))
        creation = poster.actions["started"] / (poster.last_start - t0)
        lat = poster.latency
        rows = [
            [
                "alerts posted (requests)",
                f"{n_alerts} ({len(firing) + len(resolved)})",
                a.alerts,
                "-",
            ],
            ["ingest rate, alerts/s", f"{ingest:,.0f}", ">= 2,500", verdict(ingest, 2500, True)],
            [
                "bridge response p50 / p95 ms",
                f"{pct(lat, 50) * 1e3:.0f} / {pct(lat, 95) * 1e3:.0f}",
                "-",
                "-",
            ],
            [
                "bridge response p99 / max ms",
                f"{pct(lat, 99) * 1e3:.0f} / {max(lat) * 1e3:.0f}",
                "p99 < 250",
                verdict(pct(lat, 99), 0.25, False),
            ],
            ["HTTP statuses", dict(poster.statuses), "all 200", "-"],
            ["bridge outcomes", dict(poster.actions), "-", "-"],
            ["raw SDK signal-with-start, workflows/s", f"{raw:.0f} (load {raw_load})", "-", "-"],
            [
                "bridge incident creation, incidents/s",
                f"{creation:.0f} (load {storm_load})",
                "-",
                "-",
            ],
            [
                "creation / raw SDK ratio",
                f"{creation / raw:.2f}",
                ">= 0.8",
                verdict(creation / raw, 0.8, True),
            ],
            [
                "CPU % of a core during firing: bridge / worker / server",
                " / ".join(f"{cpu[k]:.0f}" for k in ("bridge", "worker", "server")),
                "-",
                "-",
            ],
            [
                "bridge CPU ms per 1,000 alerts (firing)",
                f"{cpu['bridge'] * (t_firing - t0) * 1e4 / (n_alerts - len(resolved_ids) * 2):.0f}",
                "-",
                "-",
            ],
            [
                "peak RSS MB: bridge / worker",
                f"{watch.peak_rss['bridge']:.0f} / {watch.peak_rss['worker']:.0f}",
                "-",
                "-",
            ],
        ]
        rows += await check(client, a, resolved_ids)
        print(table("alert storm", rows))
        print(f"load after: {loadavg()}")
        return 0 if all(r[3] in ("yes", "-") for r in rows) else 1
    finally:
        stack.stop()


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--incidents", type=int, default=1000)
    p.add_argument("--alerts", type=int, default=100_000)
    p.add_argument("--batch", type=int, default=100)
    p.add_argument("--concurrency", type=int, default=16, help="requests in flight")
    p.add_argument("--resolve-every", type=int, default=2, help="every Nth incident resolves")
    p.add_argument("--raw", type=int, default=1000, help="workflows for the raw SDK rate")
    p.add_argument("--raw-concurrency", type=int, default=100)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument(
        "--profile", metavar="FILE", help="py-spy the bridge while firing (collapsed stacks)"
    )
    p.add_argument("--keep", action="store_true", help="keep the temp dir (logs, SQLite)")
    return p.parse_args()


if __name__ == "__main__":
    finish(asyncio.run(main(parse())))

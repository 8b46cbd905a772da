"""Benchmark 3, many open incidents: 1,000 incidents at once inside their 10-minute
sustained-improvement verification, on one worker.

    .venv/bin/python -m bench.open_incidents [--incidents 1000] [--window 600] [--interval 30]
        [--design timers|sampler] [--worker-args="--max-cached-workflows 2000"]

`timers` (default) runs the real step, workflows/steps/verify.py, in BenchVerify: a
Prometheus sample (the real prometheus.query activity) every 30 s, a durable timer
between samples, 21 activities and 20 timers per incident. `sampler` is the prototype
of the alternative: one heartbeating activity per window (bench/worker.py).
Prometheus is a tiny fake on loopback answering a healthy error rate (0.0001 < 0.1 %),
so every window holds and runs its full length.

Timer lateness = TimerFired event time - (TimerStarted event time + its timeout), from
every history. Sample lateness = when the k-th sample was scheduled (its
ActivityTaskScheduled) - (verification start + k * interval): what a late timer *and* a
slow worker do to the schedule. Worker RSS (peak) and server CPU are from /proc.
`--window` shortens the window for quick iterations; recorded numbers use 600 s.
"""

from __future__ import annotations

import argparse
import asyncio
import shlex
import sys
import time
from datetime import UTC

import uvicorn
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from bench.common import (
    TASK_QUEUE,
    CpuWatch,
    Stack,
    finish,
    free_port,
    header,
    loadavg,
    pct,
    table,
    verdict,
)
from bench.contracts import SamplerResult, VerifyInput
from remedy.temporal import connect
from workflows.models import VerifyResult

HEALTHY = b'{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[0,"0.0001"]}]}}'


async def fake_prometheus(scope, receive, send) -> None:  # type: ignore[no-untyped-def]
    """An ASGI app: every instant query answers one healthy sample."""
    if scope["type"] != "http":
        return
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": HEALTHY})


def ts(e) -> float:  # type: ignore[no-untyped-def]
    return e.event_time.ToDatetime(tzinfo=UTC).timestamp()


async def lateness(
    client: Client, wid: str, interval: float
) -> tuple[list[float], list[float], int]:
    """(timer lateness ms, sample lateness ms, events) of one history.

    Samples are scheduled activities, or (runs under LEAN_HISTORY) local-activity markers,
    several per workflow task: the sampler wakes every SAMPLES_PER_WAKE slots and reads
    the slots it slept through at their own time, so only each task's last marker -- the
    slot read "now" -- is timed against its slot."""
    hist = await client.get_workflow_handle(wid).fetch_history()
    due: dict[int, float] = {}
    timers, sched = [], []
    local: list[tuple[int, float]] = []  # (workflow task, marker time)
    start = wft = 0.0  # verify.sustained's `start` is workflow.now() of its first activation
    for e in hist.events:
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED:
            wft = ts(e)
        elif e.event_type == EventType.EVENT_TYPE_TIMER_STARTED:
            a = e.timer_started_event_attributes
            due[e.event_id] = ts(e) + a.start_to_fire_timeout.ToTimedelta().total_seconds()
        elif e.event_type == EventType.EVENT_TYPE_TIMER_FIRED:
            timers.append(1e3 * (ts(e) - due[e.timer_fired_event_attributes.started_event_id]))
        elif e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            start = start or wft
            sched.append(ts(e))
        elif (
            e.event_type == EventType.EVENT_TYPE_MARKER_RECORDED
            and e.marker_recorded_event_attributes.marker_name == "core_local_activity"
        ):
            start = start or wft
            local.append(
                (e.marker_recorded_event_attributes.workflow_task_completed_event_id, ts(e))
            )
    samples = [1e3 * (t - (start + k * interval)) for k, t in enumerate(sched)]
    samples += [
        1e3 * (t - (start + k * interval))
        for k, (task, t) in enumerate(local)
        if k + 1 == len(local) or local[k + 1][0] != task
    ]
    return timers, samples, len(hist.events)


async def main(a: argparse.Namespace) -> int:
    print(header("bench.open_incidents", sys.argv[1:]))
    prom_port = free_port()
    prom = uvicorn.Server(
        uvicorn.Config(
            fake_prometheus,
            host="127.0.0.1",
            port=prom_port,
            log_level="warning",
            access_log=False,
            lifespan="off",
        )
    )
    prom_task = asyncio.ensure_future(prom.serve())
    stack = Stack(keep=a.keep)
    stack.env["REMEDY_PROMETHEUS_URL"] = f"http://127.0.0.1:{prom_port}"
    try:
        await stack.start_server()
        stack.write_inventory({"hosts": {}, "services": {}})
        worker = await stack.start_worker(shlex.split(a.worker_args))
        client = await connect(stack.address)
        wf = "BenchVerify" if a.design == "timers" else "BenchSampler"
        inp = VerifyInput(window_s=a.window, interval_s=a.interval)
        watch = CpuWatch({"worker": worker, "server": stack.server_pid})
        load0 = loadavg()
        watch.start()
        sem = asyncio.Semaphore(100)
        rtype = VerifyResult if a.design == "timers" else SamplerResult

        async def start(i: int):  # type: ignore[no-untyped-def]
            async with sem:
                return await client.start_workflow(
                    wf, inp, id=f"bench-verify-{i:04d}", task_queue=TASK_QUEUE, result_type=rtype
                )

        t0 = time.monotonic()
        handles = await asyncio.gather(*(start(i) for i in range(a.incidents)))
        t_started = time.monotonic() - t0
        load_mid = ""

        async def result(h):  # type: ignore[no-untyped-def]
            return await h.result()

        results_task = asyncio.ensure_future(asyncio.gather(*(result(h) for h in handles)))
        while not results_task.done():  # the load average half-way through the window
            await asyncio.sleep(5)
            if not load_mid and time.monotonic() - t0 > a.window / 2:
                load_mid = loadavg()
        results = results_task.result()
        t_all = time.monotonic() - t0
        cpu = watch.stop()
        held = sum(r.held for r in results)
        timers: list[float] = []
        samples: list[float] = []
        events = 0
        if a.design == "timers":
            sem2 = asyncio.Semaphore(16)

            async def one(h):  # type: ignore[no-untyped-def]
                async with sem2:
                    return await lateness(client, h.id, a.interval)

            for t, s, n in await asyncio.gather(*(one(h) for h in handles)):
                timers += t
                samples += s
                events += n
        else:
            samples = [x for r in results for x in r.lateness_ms]

        def ms(v: list[float]) -> str:
            return f"{pct(v, 50):.0f} / {pct(v, 99):.0f} / {max(v):.0f}" if v else "n/a"

        rows = [
            ["design / worker args", f"{a.design} / {a.worker_args or '(SDK defaults)'}", "-", "-"],
            [
                "incidents, window, interval",
                f"{a.incidents}, {a.window:g} s, {a.interval:g} s",
                "-",
                "-",
            ],
            [
                "windows held (all samples healthy)",
                held,
                a.incidents,
                "yes" if held == a.incidents else "NO",
            ],
            ["all started in s / all done in s", f"{t_started:.1f} / {t_all:.0f}", "-", "-"],
            ["timers measured", len(timers), "-", "-"],
            [
                "timer lateness ms p50 / p99 / max",
                ms(timers),
                "p99 < 1000",
                verdict(pct(timers, 99), 1000, False) if timers else "-",
            ],
            ["sample lateness ms p50 / p99 / max", ms(samples), "-", "-"],
            [
                "history events per incident",
                f"{events / a.incidents:.0f}" if events else "n/a",
                "-",
                "-",
            ],
            ["worker RSS peak MB", f"{watch.peak_rss['worker']:.0f}", "-", "-"],
            [
                "worker CPU % of a core avg / peak 5 s",
                f"{cpu['worker']:.0f} / {watch.peak_cpu['worker']:.0f}",
                "-",
                "-",
            ],
            [
                "server CPU % of a core avg / peak 5 s",
                f"{cpu['server']:.0f} / {watch.peak_cpu['server']:.0f}",
                "-",
                "-",
            ],
            ["server RSS peak MB", f"{watch.peak_rss['server']:.0f}", "-", "-"],
            ["load before / half-way", f"{load0} / {load_mid}", "-", "-"],
        ]
        print(table("many open incidents", rows))
        print(f"load after: {loadavg()}")
        return 0 if all(r[3] in ("yes", "-") for r in rows) else 1
    finally:
        stack.stop()
        prom.should_exit = True
        await prom_task


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--incidents", type=int, default=1000)
    p.add_argument("--window", type=float, default=600.0, help="seconds; the runbooks' is 600")
    p.add_argument("--interval", type=float, default=30.0)
    p.add_argument("--design", choices=("timers", "sampler"), default="timers")
    p.add_argument("--worker-args", default="", help='e.g. "--max-cached-workflows 2000"')
    p.add_argument("--keep", action="store_true")
    return p.parse_args()


if __name__ == "__main__":
    finish(asyncio.run(main(parse())))

"""The worker the benchmarks run: worker.py's playbooks and activities (the same
`activities_for`), plus bench/workflows.py, with the tuning knobs exposed.

    python -m bench.worker [--max-cached-workflows N] [--max-concurrent-workflow-tasks N]
        [--max-concurrent-activities N] [--workflow-pollers N] [--activity-pollers N]
        [--threads N] [--nonsticky-ratio R]

Defaults are exactly what `worker.py` runs with (its `tuning(settings)`, e.g.
REMEDY_WORKER_WORKFLOW_POLLERS); a flag overrides it (`--workflow-pollers` sets the
SDK's max_concurrent_workflow_task_polls, `--nonsticky-ratio` its
nonsticky_to_sticky_poll_ratio; `--workflow-pollers 5 --nonsticky-ratio 0.2` are the
SDK's own defaults). `--threads` sizes the event loop's default executor, which
asyncio.to_thread (and so every SSH command, activities/ssh.py) runs on; asyncio's own
default is min(32, cores + 4) = 6 threads here.
Prints READY on stdout once polling, for bench/common.py to wait on.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from temporalio import activity
from temporalio.worker import Worker

from activities.inventory import Inventory, load_inventory
from activities.prometheus import PrometheusActivities
from activities.ssh import run_checked
from bench.contracts import (
    BENCH_DIAGNOSE,
    SAMPLE_WINDOW,
    BenchDiagnoseInput,
    SamplerResult,
    VerifyInput,
)
from bench.workflows import BenchFanout, BenchSampler, BenchVerify
from remedy.settings import Settings
from remedy.temporal import connect
from worker import activities_for, tuning
from workflows import registry
from workflows.contracts.prometheus import PromQueryInput
from workflows.contracts.ssh import CommandResult


class FanoutActivities:
    """bench.fanout's diagnostics: one argv on one bench host, through the same allowlist
    check as every SSH command Remedy sends (activities/ssh.py run_checked)."""

    def __init__(self, inventory: Inventory) -> None:
        self.inventory = inventory

    @activity.defn(name=BENCH_DIAGNOSE.name)
    async def diagnose(self, inp: BenchDiagnoseInput) -> CommandResult:
        return await run_checked(
            self.inventory, inp.service, inp.host, inp.argv, timeout_s=30, max_output_bytes=65536
        )


class SamplerActivities:
    """The "one heartbeating sampler per window" prototype (see bench/workflows.py)."""

    def __init__(self, settings: Settings) -> None:
        self.prom = PrometheusActivities(settings)

    @activity.defn(name=SAMPLE_WINDOW)
    async def sample_window(self, inp: VerifyInput) -> SamplerResult:
        loop = asyncio.get_running_loop()
        info = activity.info()
        done = int(info.heartbeat_details[0]) if info.heartbeat_details else 0
        # Fixed schedule from the activity's first start, like verify.sustained's.
        start = loop.time() - done * inp.interval_s
        lateness: list[float] = []
        n = int(inp.window_s // inp.interval_s) + 1
        for k in range(done, n):
            await asyncio.sleep(max(0.0, start + k * inp.interval_s - loop.time()))
            lateness.append(1000 * (loop.time() - (start + k * inp.interval_s)))
            res = await self.prom.query(PromQueryInput(query=inp.query))
            value = res.scalar()
            activity.heartbeat(k + 1)
            if value is None or not value < inp.threshold:
                return SamplerResult(held=False, samples=k + 1, lateness_ms=lateness)
        return SamplerResult(held=True, samples=n, lateness_ms=lateness)


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    for knob in (
        "max-cached-workflows",
        "max-concurrent-workflow-tasks",
        "max-concurrent-activities",
        "workflow-pollers",
        "activity-pollers",
        "threads",
    ):
        p.add_argument(f"--{knob}", type=int, default=None)
    p.add_argument("--nonsticky-ratio", type=float, default=None)
    return p.parse_args(argv)


async def main(argv: list[str]) -> None:
    args = parse(argv)
    if args.threads:
        asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(args.threads))
    settings = Settings()
    inventory = load_inventory(settings.inventory)
    client = await connect(
        settings.temporal_address, settings.temporal_namespace, settings=settings
    )
    support = getattr(registry, "SUPPORT_WORKFLOWS", {})
    # worker.py's own tuning (settings), then the flags given here on top.
    knobs: dict[str, Any] = tuning(settings) | {
        k: v
        for k, v in {
            "max_cached_workflows": args.max_cached_workflows,
            "max_concurrent_workflow_tasks": args.max_concurrent_workflow_tasks,
            "max_concurrent_activities": args.max_concurrent_activities,
            "max_concurrent_workflow_task_polls": args.workflow_pollers,
            "max_concurrent_activity_task_polls": args.activity_pollers,
            "nonsticky_to_sticky_poll_ratio": args.nonsticky_ratio,
        }.items()
        if v is not None
    }
    worker = Worker(
        client,
        task_queue=settings.task_queue,
        workflows=[
            *registry.PLAYBOOKS.values(),
            *support.values(),
            BenchVerify,
            BenchSampler,
            BenchFanout,
        ],
        activities=[
            *activities_for(inventory, settings),
            SamplerActivities(settings).sample_window,
            FanoutActivities(inventory).diagnose,
        ],
        **knobs,
    )
    async with worker:
        print("READY", flush=True)
        await asyncio.Event().wait()


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    try:
        asyncio.run(main(sys.argv[1:]))
    except KeyboardInterrupt:
        pass

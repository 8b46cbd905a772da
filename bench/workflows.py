"""Bench-only workflows, registered by bench/worker.py next to the real playbooks.

BenchVerify runs the *real* verification step (workflows/steps/verify.py: one Prometheus
sample per interval, a durable timer between samples) without a playbook around it, so
"1,000 incidents inside their 10-minute verification" needs no SSH world to get there.
BenchSampler is the alternative design the issue asks to measure: one heartbeating
activity samples the whole window, so the history holds one activity instead of 21
activities and 20 timers. BenchFanout runs diagnostics (bench.diagnose: the real SSH path, allowlist-checked)
on many hosts at once, commands in order within a host.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from bench.contracts import (
        BENCH_DIAGNOSE,
        SAMPLE_WINDOW,
        BenchDiagnoseInput,
        FanoutInput,
        HostTiming,
        SamplerResult,
        VerifyInput,
    )
    from workflows.contracts.policy import Sli
    from workflows.incident import Steps
    from workflows.models import VerifyResult
    from workflows.steps import verify


@workflow.defn(name="BenchVerify")
class BenchVerify(Steps):
    @workflow.run
    async def run(self, inp: VerifyInput) -> VerifyResult:
        sli = Sli(name="error_rate", query=inp.query, comparison="lt", threshold=inp.threshold)
        return await verify.sustained(
            self, sli, timedelta(seconds=inp.window_s), timedelta(seconds=inp.interval_s)
        )


@workflow.defn(name="BenchSampler")
class BenchSampler:
    @workflow.run
    async def run(self, inp: VerifyInput) -> SamplerResult:
        # Heartbeat timeout of two intervals: a dead worker is noticed within a minute
        # and the retry resumes from the last heartbeat's sample number.
        return await workflow.execute_activity(
            SAMPLE_WINDOW,
            inp,
            result_type=SamplerResult,
            start_to_close_timeout=timedelta(seconds=inp.window_s + 120),
            heartbeat_timeout=timedelta(seconds=2 * inp.interval_s),
        )


@workflow.defn(name="BenchFanout")
class BenchFanout(Steps):
    @workflow.run
    async def run(self, inp: FanoutInput) -> list[HostTiming]:
        async def one(host: str) -> HostTiming:
            t0, ok = workflow.now(), True
            for argv in inp.argvs:
                res = await self.attempt(
                    f"diagnose {host}: {argv[0]}",
                    BENCH_DIAGNOSE,
                    BenchDiagnoseInput(service=f"svc-{host}", host=host, argv=argv),
                )
                ok = ok and res is not None and res.ok
            return HostTiming(host=host, seconds=(workflow.now() - t0).total_seconds(), ok=ok)

        return list(await asyncio.gather(*(one(h) for h in inp.hosts)))

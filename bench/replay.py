"""Benchmark 5, replay: recorded histories replayed per second, as CI replays them.

    .venv/bin/python -m bench.replay [PATH...] [--rounds 10] [--runner sandboxed|unsandboxed|both]
                                     [--jobs N] [--pytest]

First, as CI replays them: every history under tests/histories (recursively, as
tests/durability/test_replay.py and `remedy replay` take them) loaded from JSON and
replayed, sandboxed, by `remedy.history.replay` -- once in one process (one Replayer,
what it did before issue 19) and once split over `--jobs` processes (default: its own
choice, `history.replay_jobs`), each with one Replayer. With --pytest, also the wall time
of `pytest tests/durability/test_replay.py -n 0` (the live tests/histories, not PATH).

Then replay alone: the histories loaded once, off the clock, replayed `--rounds` times
(0 skips this part) through one Replayer with the worker's workflows and data converter.
No server is needed. `sandboxed` is the SDK's default runner, which `remedy replay` and
the test use; `unsandboxed` is shown for comparison only (the sandbox re-imports
workflow modules per run). Each is measured with one Replayer and with --parallel
Replayers at once in one process.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer, UnsandboxedWorkflowRunner

from bench.common import ROOT, finish, header, loadavg, table, verdict
from remedy import history

HISTORIES = ROOT / "tests" / "histories"


async def rate(
    histories: list[WorkflowHistory], rounds: int, sandboxed: bool, parallel: int
) -> tuple[float, int, int]:
    """(histories/s, replayed, failures). `parallel` Replayers at once, each on its own
    share: one Replayer replays one history at a time and mostly *waits* (activations
    go to the Rust core and back through a thread pool), so it is latency-bound."""
    kwargs: dict[str, Any] = {} if sandboxed else {"workflow_runner": UnsandboxedWorkflowRunner()}
    replayers = [
        Replayer(
            workflows=history.default_workflows(),
            data_converter=history.worker_converter(),
            **kwargs,
        )
        for _ in range(parallel)
    ]
    work = [h for _ in range(rounds) for h in histories]

    # One warm-up pass (imports, sandbox module cache) outside the clock.
    await replayers[0].replay_workflows(_once(histories), raise_on_replay_failure=False)
    t = time.perf_counter()
    results = await asyncio.gather(
        *(
            r.replay_workflows(_once(work[i::parallel]), raise_on_replay_failure=False)
            for i, r in enumerate(replayers)
        )
    )
    elapsed = time.perf_counter() - t
    failures = sum(len(res.replay_failures) for res in results)
    return len(work) / elapsed, len(work), failures


def _cpu() -> float:
    """CPU seconds (user + system) of this process and its waited-for children."""
    me, kids = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


async def _once(histories: list[WorkflowHistory]) -> AsyncIterator[WorkflowHistory]:
    for h in histories:
        yield h


async def main(a: argparse.Namespace) -> int:
    print(header("bench.replay", sys.argv[1:]))
    files = history.expand([Path(p) for p in a.paths] or [HISTORIES])
    histories = [history.load(f) for f in files]
    events = sum(len(h.events) for h in histories)
    kinds = Counter(
        h.events[0].workflow_execution_started_event_attributes.workflow_type.name
        for h in histories
    )
    rows: list[list[Any]] = [
        ["histories (events)", f"{len(histories)} ({events})", "-", "-"],
        ["by type", dict(sorted(kinds.items())), "-", "-"],
    ]
    failed = 0
    # As CI: JSON loading + sandboxed replay, remedy.history.replay end to end.
    jobs = a.jobs or history.replay_jobs(len(files))
    for n in sorted({1, jobs}):
        load = loadavg()
        t, cpu = time.perf_counter(), _cpu()
        report = await history.replay(files, jobs=n)
        elapsed, cpu = time.perf_counter() - t, _cpu() - cpu
        failed += len(report.failures)
        r = len(files) / elapsed
        what = f"load + replay, sandboxed, {n} process(es)" + (" (as before)" if n == 1 else "")
        rows.append(
            [
                f"{what}: histories/s ({elapsed:.1f} s, load {load})",
                f"{r:.1f}",
                ">= 100",
                verdict(r, 100, True),
            ]
        )
        # CPU time does not depend on what else the machine runs (wall time does).
        rows.append([f"{what}: CPU ms per history", f"{cpu / len(files) * 1000:.0f}", "-", "-"])
        rows.append(
            [f"{what}: replay failures", len(report.failures), 0, "yes" if report.ok else "NO"]
        )
    if a.pytest:
        load = loadavg()
        cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "0"]
        t = time.perf_counter()
        proc = await asyncio.create_subprocess_exec(
            *cmd, "tests/durability/test_replay.py", cwd=ROOT
        )
        code = await proc.wait()
        elapsed = time.perf_counter() - t
        ok = "yes" if code == 0 else "NO"
        rows.append(
            [
                f"pytest tests/durability/test_replay.py -n 0: wall s (load {load})",
                f"{elapsed:.1f}",
                "-",
                ok,
            ]
        )
        failed += code != 0
    runners = ["sandboxed", "unsandboxed"] if a.runner == "both" else [a.runner]
    for runner in runners if a.rounds > 0 else []:
        for par in sorted({1, a.parallel}):
            load = loadavg()
            r, n, f = await rate(histories, a.rounds, runner == "sandboxed", par)
            failed += f
            target = ">= 100" if runner == "sandboxed" else "-"
            ok = verdict(r, 100, True) if runner == "sandboxed" else "-"
            what = f"{runner}, {par} replayer(s)"
            rows.append([f"{what}: histories/s ({n} replays, load {load})", f"{r:.0f}", target, ok])
            rows.append([f"{what}: replay failures", f, 0, "yes" if f == 0 else "NO"])
    print(table("replay", rows))
    return 0 if failed == 0 and all(r[3] in ("yes", "-") for r in rows) else 1


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "paths", nargs="*", help="history files or directories (default tests/histories)"
    )
    p.add_argument("--rounds", type=int, default=10, help="replay-alone rounds (0: skip)")
    p.add_argument("--jobs", type=int, default=0, help="processes (default: history's choice)")
    p.add_argument(
        "--pytest", action="store_true", help="also time pytest tests/durability/test_replay.py"
    )
    p.add_argument("--parallel", type=int, default=8, help="also measure N Replayers at once")
    p.add_argument("--runner", choices=("sandboxed", "unsandboxed", "both"), default="both")
    return p.parse_args()


if __name__ == "__main__":
    finish(asyncio.run(main(parse())))

"""Benchmark 5, replay: recorded histories replayed per second, as CI replays them.

    .venv/bin/python -m bench.replay [--rounds 10] [--runner sandboxed|unsandboxed|both]

Every history under tests/histories (recursively, as tests/durability/test_replay.py
and `remedy replay` take them) is loaded once, then replayed `--rounds` times through
one Replayer with the worker's workflows and data converter (remedy/history.py), so
the figure is replay itself, not JSON parsing. No server is needed. `sandboxed` is the
SDK's default runner, which `remedy replay` and the test use; `unsandboxed` is shown
for comparison (the sandbox re-imports workflow modules per run). Each is measured with
one Replayer (what remedy/history.py does) and with --parallel Replayers at once.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

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
    kwargs = {} if sandboxed else {"workflow_runner": UnsandboxedWorkflowRunner()}
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
    rows = [
        ["histories (events)", f"{len(histories)} ({events})", "-", "-"],
        ["by type", dict(sorted(kinds.items())), "-", "-"],
    ]
    runners = ["sandboxed", "unsandboxed"] if a.runner == "both" else [a.runner]
    failed = 0
    for runner in runners:
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
    p.add_argument("--rounds", type=int, default=10)
    p.add_argument("--parallel", type=int, default=8, help="also measure N Replayers at once")
    p.add_argument("--runner", choices=("sandboxed", "unsandboxed", "both"), default="both")
    return p.parse_args()


if __name__ == "__main__":
    finish(asyncio.run(main(parse())))

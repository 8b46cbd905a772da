"""Run every benchmark in turn, each in its own process (its own loopback stack), and
write all their tables to one file.

    .venv/bin/python -m bench.run_all [--out bench-results.md] [--quick] [--only storm,replay]

About 25 minutes in full (bench.open_incidents alone is the real 10-minute window plus
start-up and history reading). --quick shrinks every benchmark for a smoke run; its
numbers are not the recorded ones. Benchmarks run one after another on purpose: on a
2-core machine two of them at once would measure each other.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

from bench.common import ROOT, loadavg, machine

FULL: dict[str, list[str]] = {
    "replay": [],
    "fanout": [],
    "fanout-threads": ["--worker-args=--threads 64"],
    "latency": [],
    "storm": [],
    "open_incidents": [],
    "ha": [],
}
QUICK: dict[str, list[str]] = {
    "replay": ["--rounds", "2"],
    "fanout": ["--hosts", "10"],
    "fanout-threads": ["--hosts", "10", "--worker-args=--threads 64"],
    "latency": ["--seconds", "5"],
    "storm": ["--incidents", "100", "--alerts", "10000", "--raw", "100"],
    "open_incidents": ["--incidents", "100", "--window", "60"],
    "ha": ["--alerts", "20"],
}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=ROOT / "bench-results.md")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--only", default="", help="comma-separated names, e.g. storm,replay")
    a = p.parse_args()
    plan = QUICK if a.quick else FULL
    names = [n for n in plan if not a.only or n in a.only.split(",")]
    failed = []
    with a.out.open("w") as out:
        out.write(f"machine: {machine()}\nload at start: {loadavg()}\n")
        for name in names:
            module = "bench." + name.split("-")[0]
            t = time.monotonic()
            proc = subprocess.run(
                [sys.executable, "-m", module, *plan[name]],
                cwd=ROOT,
                capture_output=True,
                text=True,
            )
            text = proc.stdout + (
                f"\n(stderr tail)\n{proc.stderr[-2000:]}" if proc.returncode else ""
            )
            print(text, flush=True)
            out.write(
                f"\n<!-- {name}: exit {proc.returncode}, {time.monotonic() - t:.0f} s -->\n{text}"
            )
            out.flush()
            if proc.returncode:
                failed.append(name)
    print(f"results in {a.out}; targets missed or errors in: {', '.join(failed) or 'none'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

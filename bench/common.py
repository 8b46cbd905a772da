"""What every benchmark shares: a loopback stack (Temporal dev server on SQLite as `remedy
dev` runs it, the worker and the bridge as separate processes), /proc based process
statistics, percentiles and the printed table.

Worker and bridge run as *subprocesses*, never in the benchmark's own event loop: the
load generator must not steal the loop it is measuring, and per-process CPU/RSS is then
readable from /proc. Ports are free ports on 127.0.0.1; everything lives in a temp dir
(kept with --keep for inspection).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import httpx
import yaml

from remedy.devstack import DevServer, wait_for_frontend

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "bench-token-0123456789abcdef0123456789"  # >= 32 characters (settings refuse less)
TASK_QUEUE = "remedy-bench"
_TICK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def machine() -> str:
    mem = next(ln for ln in Path("/proc/meminfo").read_text().splitlines() if "MemTotal" in ln)
    kib = int(mem.split()[1])
    cpu = next(
        (
            ln.split(":", 1)[1].strip()
            for ln in Path("/proc/cpuinfo").read_text().splitlines()
            if ln.startswith("model name")
        ),
        "?",
    )
    return f"{os.cpu_count()} cores ({cpu}), {kib / 1024 / 1024:.1f} GiB RAM"


def cpu_seconds(pid: int) -> float:
    """utime + stime of one process (all threads), from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def rss_mb(pid: int) -> float:
    for ln in Path(f"/proc/{pid}/status").read_text().splitlines():
        if ln.startswith("VmRSS:"):
            return int(ln.split()[1]) / 1024
    return 0.0


def pct(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (no interpolation: p99 of 1,000 values is the 990th)."""
    if not values:
        return float("nan")
    s = sorted(values)
    k = max(0, min(len(s) - 1, int(round(p / 100 * len(s) + 0.5)) - 1))
    return s[k]


def table(title: str, rows: Iterable[Sequence[Any]], head: Sequence[str] = ()) -> str:
    rows = [[str(c) for c in r] for r in rows]
    head = list(head) or ["metric", "value", "target", "ok"]
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(head)]
    line = "| " + " | ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)) + " |"
    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    body = [
        "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |" for r in rows
    ]
    return "\n".join([f"\n### {title}", "", line, sep, *body, ""])


def verdict(value: float, target: float, higher_is_better: bool) -> str:
    return "yes" if (value >= target if higher_is_better else value < target) else "NO"


def header(name: str, argv: Sequence[str]) -> str:
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    cmd = " ".join([".venv/bin/python -m", name, *argv])
    return f"# {name}  {now}\nmachine: {machine()}\ncommand: {cmd}\nload before: {loadavg()}"


def finish(code: int = 0) -> None:
    """Temporal clients can crash at interpreter exit (sdk-python#300): flush and leave."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


class Stack:
    """Dev server + worker + bridge on loopback, each started on demand."""

    def __init__(self, keep: bool = False) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="remedy-bench-"))
        self.keep = keep
        self.server = DevServer(self.dir / "temporal", port=free_port(), ui_port=free_port())
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.ready: dict[str, threading.Event] = {}
        self.bridge_url = ""
        self.inventory = self.dir / "inventory.yaml"
        self.env: dict[str, str] = {}

    @property
    def address(self) -> str:
        return self.server.address

    async def start_server(self) -> None:
        self.server.start()
        await wait_for_frontend(self.address)

    def write_inventory(self, inv: dict[str, Any]) -> Path:
        self.inventory.write_text(yaml.safe_dump(inv, sort_keys=False))
        return self.inventory

    def _env(self, extra: dict[str, str]) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("REMEDY_", "TEMPORAL_"))}
        env |= {
            "PYTHONPATH": str(ROOT),
            "TEMPORAL_ADDRESS": self.address,
            "REMEDY_TASK_QUEUE": TASK_QUEUE,
            "REMEDY_INVENTORY": str(self.inventory),
            "REMEDY_DATA_DIR": str(self.dir / "data"),
            "REMEDY_BRIDGE_TOKEN": TOKEN,
        }
        return env | self.env | extra

    def _spawn(self, name: str, argv: list[str], extra: dict[str, str]) -> subprocess.Popen[bytes]:
        log = open(self.dir / f"{name}.log", "ab")  # noqa: SIM115 - owned by the child
        proc = subprocess.Popen(
            [sys.executable, *argv],
            cwd=ROOT,
            env=self._env(extra),
            stdout=subprocess.PIPE,
            stderr=log,
            start_new_session=True,
        )
        self.procs[name] = proc
        # Read stdout for good, into the log: the SDK core writes its warnings there
        # (e.g. TMPRL1104 "workflow task duration exceeded 5 seconds", plentiful under
        # load), and once an unread pipe is full (64 KiB) the core's writing thread
        # blocks and the whole worker stops polling. That, not the server, was the stall
        # of every earlier 200-alert bench.ha run and the tail of bench.latency.
        ready = threading.Event()
        self.ready[name] = ready

        def drain() -> None:
            assert proc.stdout is not None
            for line in proc.stdout:
                if b"READY" in line:
                    ready.set()
                log.write(line)
                log.flush()

        threading.Thread(target=drain, name=f"drain-{name}", daemon=True).start()
        return proc

    async def start_worker(
        self, args: Sequence[str] = (), extra: dict[str, str] | None = None, name: str = "worker"
    ) -> int:
        """bench/worker.py (the real worker's workflows and activities, plus the bench's
        own, with tuning knobs); returns its pid once it polls. A second worker needs
        its own `name` (its log file, its entry in `procs`)."""
        proc = self._spawn(name, ["-m", "bench.worker", *args], extra or {})
        ready = self.ready[name]
        for _ in range(900):
            if ready.is_set():
                return proc.pid
            if proc.poll() is not None:
                break
            await asyncio.sleep(0.1)
        raise RuntimeError(
            f"worker did not start: {(self.dir / f'{name}.log').read_text()[-3000:]}"
        )

    async def start_bridge(
        self,
        extra: dict[str, str] | None = None,
        module: str = "bridge.server",
        name: str = "bridge",
    ) -> int:
        """The bridge as a process; returns its pid once /healthz answers, its URL is then
        `bridge_url` (a second bridge needs its own `name`; `bridge_url` is the latest)."""
        port = free_port()
        env = {"REMEDY_BRIDGE_PORT": str(port), "REMEDY_BRIDGE_HOST": "127.0.0.1"} | (extra or {})
        proc = self._spawn(name, ["-m", module], env)
        self.bridge_url = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient() as c:
            for _ in range(300):
                try:
                    if (await c.get(self.bridge_url + "/healthz")).status_code == 200:
                        return proc.pid
                except httpx.TransportError:
                    pass
                if proc.poll() is not None:
                    break
                await asyncio.sleep(0.1)
        raise RuntimeError(
            f"bridge did not start: {(self.dir / f'{name}.log').read_text()[-3000:]}"
        )

    @property
    def server_pid(self) -> int:
        assert self.server.proc is not None
        return self.server.proc.pid

    def stop(self) -> None:
        for proc in reversed(list(self.procs.values())):
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
        self.server.stop()
        if self.keep:
            print(f"kept: {self.dir}")
        else:
            shutil.rmtree(self.dir, ignore_errors=True)


class CpuWatch:
    """CPU seconds and peak RSS of a few pids between start() and stop()."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids
        self.peak_rss = dict.fromkeys(pids, 0.0)
        self.peak_cpu = dict.fromkeys(pids, 0.0)  # busiest 5 s, % of a core
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.t0 = time.monotonic()
        self.cpu0 = {n: cpu_seconds(p) for n, p in self.pids.items()}
        self._task = asyncio.ensure_future(self._sample())

    async def _sample(self) -> None:
        last, t_last = dict(self.cpu0), time.monotonic()
        while True:
            await asyncio.sleep(5.0)
            now = time.monotonic()
            for n, p in self.pids.items():
                self.peak_rss[n] = max(self.peak_rss[n], rss_mb(p))
                c = cpu_seconds(p)
                self.peak_cpu[n] = max(self.peak_cpu[n], 100 * (c - last[n]) / (now - t_last))
                last[n] = c
            t_last = now

    def stop(self) -> dict[str, float]:
        """Average CPU use per process over the interval, in % of one core."""
        if self._task:
            self._task.cancel()
        for n, p in self.pids.items():
            self.peak_rss[n] = max(self.peak_rss[n], rss_mb(p))
        wall = time.monotonic() - self.t0
        return {n: 100 * (cpu_seconds(p) - self.cpu0[n]) / wall for n, p in self.pids.items()}

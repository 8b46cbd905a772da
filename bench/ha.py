"""Benchmark 6, two of everything (issue 19): an Alertmanager HA pair, two bridges, two
workers, one Temporal server, at volume.

    .venv/bin/python -m bench.ha [--alerts 200] [--rate 20] [--peer-timeout 0s]
        [--kill-at 0.5 | --no-kill] [--worker-args="..."]

The shape of tests/test_two_of_everything.py with --alerts distinct alerts
(GenesisServiceDown, one service each), posted at --rate per second to BOTH
Alertmanagers (as a Prometheus HA pair posts every alert to every Alertmanager). The two
Alertmanagers are clustered on loopback and each notifies its own bridge (its own
token). With `--peer-timeout 0s` (default) the second in line does not wait for the
first's notification to be gossiped: both deliver every notification and every repeat,
the worst case (a partition, slow gossip); `--peer-timeout 15s` is Alertmanager's
default, where the second delivers only when the first did not.

Every incident runs ServiceDown at the runbook's real waits (30 s after the restart):
status over the real sshd, one restart (a command that appends "service epoch-seconds"
to a log on the target and brings the service's status file back), paging at detection
(P0: on-call and incident commander, one PagerDuty routing key each, a loopback
receiver), the resolve on close. Once a service's restart has run, its alert is
resolved on both Alertmanagers --resolve-after seconds later (Prometheus seeing it up).
Once --kill-at of the restarts have run, worker 0 is killed with SIGKILL: its incidents
(mid-restart, mid-wait) must be finished by worker 1.

Reported: incidents created (distinct workflow ids, runs per id), duplicates (ids with
more than one run), restarts per service from the target's log (doubled, missing),
PagerDuty triggers per paging level and incident (doubled, missing), alert -> restart
and alert -> incident closed latency p50/p99/max (the post to the Alertmanagers against
the restart's own timestamp and the workflow's close time; same host, same clock), and
each bridge's share (alerts received, incidents started, signals sent, answered from
cache). The fleet storm breaker and the fleet action budget are raised for this run
(REMEDY_STORM_INCIDENTS, REMEDY_FLEET_ACTIONS_PER_HOUR): they would, by design, hold
a storm of 200 restarts for a person.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError

from bench.common import (
    CpuWatch,
    Stack,
    finish,
    free_port,
    header,
    loadavg,
    pct,
    table,
)
from bench.fanout import keygen, start_sshd
from remedy.temporal import connect

ALERTNAME = "GenesisServiceDown"
LEVEL_KEYS = {"on-call": "BENCH_PD_ONCALL_KEY", "incident-commander": "BENCH_PD_IC_KEY"}
ALERTMANAGER = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")


# ------------------------------------------------------------------ PagerDuty stand-in
class PagerDutySink:
    """Loopback Events v2 receiver: records every event, answers 202 as PagerDuty does."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with sink._lock:
                    sink.events.append(json.loads(body))
                answer = b'{"status":"success","message":"Event processed"}'
                self.send_response(202)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v2/enqueue"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


# ------------------------------------------------------------------ the Alertmanager pair
def am_config(url: str, token: str, a: argparse.Namespace) -> str:
    route = {
        "receiver": "remedy",
        "group_by": ["alertname", "service"],
        "group_wait": a.group_wait,
        "group_interval": a.group_interval,
        "repeat_interval": a.repeat_interval,
    }
    hook = {
        "url": url,
        "send_resolved": True,
        "http_config": {"authorization": {"credentials": token}},
    }
    return json.dumps(
        {"route": route, "receivers": [{"name": "remedy", "webhook_configs": [hook]}]}
    )


def start_pair(
    d: Path, receivers: list[tuple[str, str]], a: argparse.Namespace
) -> tuple[list[str], list[subprocess.Popen[bytes]]]:
    """Two Alertmanagers gossiping on 127.0.0.1 only; returns their URLs and processes."""
    if ALERTMANAGER is None:
        raise RuntimeError("Alertmanager not installed (make debs)")
    cluster = [free_port(), free_port()]
    urls, procs = [], []
    for i, (url, token) in enumerate(receivers):
        wd = d / f"am{i}"
        wd.mkdir(parents=True)
        (wd / "alertmanager.yml").write_text(am_config(url, token, a))
        web = free_port()
        me, peer = cluster[i], cluster[1 - i]
        argv = [
            ALERTMANAGER,
            f"--config.file={wd / 'alertmanager.yml'}",
            f"--storage.path={wd / 'data'}",
            f"--web.listen-address=127.0.0.1:{web}",
            f"--cluster.listen-address=127.0.0.1:{me}",
            f"--cluster.advertise-address=127.0.0.1:{me}",
            f"--cluster.peer=127.0.0.1:{peer}",
            f"--cluster.peer-timeout={a.peer_timeout}",
            "--cluster.gossip-interval=50ms",
            "--cluster.settle-timeout=2s",
        ]
        log = open(wd / "alertmanager.log", "ab")  # noqa: SIM115 - owned by the child
        procs.append(subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT))
        urls.append(f"http://127.0.0.1:{web}")
    deadline = time.monotonic() + 30
    while not all(_peers(u) == 2 for u in urls):
        if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
            raise RuntimeError(f"the Alertmanager pair did not cluster; see {d}/am*/")
        time.sleep(0.1)
    return urls, procs


def _peers(url: str) -> int:
    try:
        return len(httpx.get(f"{url}/api/v2/status", timeout=2).json()["cluster"]["peers"] or [])
    except (httpx.HTTPError, ValueError, KeyError):
        return 0


# ------------------------------------------------------------------ the target
def inventory(n: int, sshd_dir: Path, port: int, target: Path) -> dict[str, Any]:
    host = {
        "address": "127.0.0.1",
        "port": port,
        "user": os.environ.get("USER") or "root",
        "private_key_file": str(sshd_dir / "client_ed25519"),
        "known_hosts_file": str(sshd_dir / "known_hosts"),
        "connect_timeout_s": 10.0,
        "state_dir": str(target / "state"),
    }
    paging = {"levels": [{"name": lv, "routing_key_env": v} for lv, v in LEVEL_KEYS.items()]}
    log = target / "restarts.log"
    services = {}
    for svc in names(n):
        up = target / "up" / svc
        restart = f'echo "{svc} $(date +%s.%N)" >> {log} && touch {up}'
        services[svc] = {
            "hosts": ["h"],
            "commands": {
                "status": ["test", "-f", str(up)],
                "logs": ["echo", f"{svc}: no crash dump"],
                "restart": ["sh", "-c", restart],
            },
            "paging": paging,
        }
    return {"hosts": {"h": host}, "services": services}


def names(n: int) -> list[str]:
    return [f"ha-{i:03d}" for i in range(n)]


def restarts(target: Path) -> list[tuple[str, float]]:
    log = target / "restarts.log"
    if not log.exists():
        return []
    out = []
    for line in log.read_text().splitlines():
        parts = line.split()
        if len(parts) == 2:
            out.append((parts[0], float(parts[1])))
    return out


def alert(svc: str, ended: bool = False) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "labels": {"alertname": ALERTNAME, "service": svc, "instance": "h", "severity": "critical"},
        "annotations": {"summary": f"{svc} is down"},
    }
    if ended:
        doc["endsAt"] = (datetime.now(UTC) - timedelta(seconds=1)).isoformat()
    return doc


async def metric(http: httpx.AsyncClient, url: str, token: str, name: str, **labels: str) -> float:
    text = (await http.get(f"{url}/metrics", headers={"Authorization": f"Bearer {token}"})).text
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(f"{name}_total"):
            continue
        if all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


# ------------------------------------------------------------------ the run
async def main(a: argparse.Namespace) -> int:
    print(header("bench.ha", sys.argv[1:]))
    stack = Stack(keep=a.keep)
    sshd_dir = stack.dir / "sshd"
    sshd_dir.mkdir()
    keygen(sshd_dir / "client_ed25519")
    port = free_port()
    sshds = start_sshd(sshd_dir, [port])
    target = stack.dir / "target"
    (target / "up").mkdir(parents=True)
    stack.write_inventory(inventory(a.alerts, sshd_dir, port, target))
    pagerduty = PagerDutySink()
    pagerduty.start()
    keys = {var: secrets.token_hex(16) for var in LEVEL_KEYS.values()}
    level_of = {keys[var]: lv for lv, var in LEVEL_KEYS.items()}
    tokens = [secrets.token_hex(24) for _ in range(2)]
    am_procs: list[subprocess.Popen[bytes]] = []
    try:
        await stack.start_server()
        worker_env = keys | {
            "REMEDY_PAGERDUTY_URL": pagerduty.url,
            "REMEDY_PAGERDUTY_ROUTING_KEY": secrets.token_hex(16),
            "REMEDY_FLEET_ACTIONS_PER_HOUR": "1000000",
        }
        wargs = shlex.split(a.worker_args)
        worker_pids = [
            await stack.start_worker(wargs, worker_env, name=f"worker-{i}") for i in range(2)
        ]
        bridge_urls, bridge_pids = [], []
        for i in range(2):
            bridge_pids.append(
                await stack.start_bridge(
                    {"REMEDY_BRIDGE_TOKEN": tokens[i], "REMEDY_STORM_INCIDENTS": "1000000"},
                    name=f"bridge-{i}",
                )
            )
            bridge_urls.append(stack.bridge_url)
        am_urls, am_procs = await asyncio.to_thread(
            start_pair,
            stack.dir / "alertmanagers",
            [(f"{u}/alertmanager", t) for u, t in zip(bridge_urls, tokens, strict=True)],
            a,
        )
        client = await connect(stack.address)
        host = socket.gethostname()
        watch = CpuWatch(
            {"bridge-0": bridge_pids[0], "bridge-1": bridge_pids[1]}
            | {"worker-0": worker_pids[0], "worker-1": worker_pids[1]}
            | {"server": stack.server_pid}
        )
        load_start = loadavg()
        watch.start()

        posted: dict[str, float] = {}
        resolved: set[str] = set()
        killed: dict[str, Any] = {}
        stop = asyncio.Event()
        t0 = time.time()
        async with httpx.AsyncClient(timeout=30) as http:

            async def post(alerts: list[dict[str, Any]]) -> None:
                await asyncio.gather(
                    *(http.post(f"{u}/api/v2/alerts", json=alerts) for u in am_urls)
                )

            async def fire() -> None:
                for i, svc in enumerate(names(a.alerts)):
                    await asyncio.sleep(max(0.0, t0 + i / a.rate - time.time()))
                    posted[svc] = time.time()
                    await post([alert(svc)])

            async def follow() -> None:
                """Resolve each service's alert once it is up again; kill worker 0 at
                --kill-at of the restarts."""
                due: dict[str, float] = {}
                while len(resolved) < a.alerts and not stop.is_set():
                    done = {svc for svc, _ in restarts(target)}
                    for svc in done - due.keys():
                        due[svc] = time.time() + a.resolve_after
                    ripe = [s for s, t in due.items() if t <= time.time() and s not in resolved]
                    if ripe:
                        await post([alert(s, ended=True) for s in ripe])
                        resolved.update(ripe)
                    if not a.no_kill and not killed and len(done) >= a.kill_at * a.alerts:
                        os.kill(worker_pids[0], signal.SIGKILL)
                        killed.update(at=datetime.now(UTC), restarts=len(done))
                    await asyncio.sleep(0.2)

            follower = asyncio.ensure_future(follow())
            await fire()
            t_fired = time.time()
            closed = await wait_closed(client, a.alerts, a.timeout)
            t_closed = time.time()
            try:  # the last resolutions (all closed: every restart has run)
                await asyncio.wait_for(asyncio.shield(follower), a.resolve_after + 10)
            except TimeoutError:
                stop.set()
                await follower
            await asyncio.sleep(a.repeat_grace)  # repeats and resolutions still in flight
            shares = []
            for u, tok in zip(bridge_urls, tokens, strict=True):
                shares.append(
                    [
                        await metric(
                            http, u, tok, "remedy_bridge_alerts_received", status="firing"
                        ),
                        await metric(http, u, tok, "remedy_bridge_incidents_started"),
                        await metric(http, u, tok, "remedy_bridge_signals_sent"),
                        await metric(http, u, tok, "remedy_bridge_alerts_deduplicated"),
                        await metric(
                            http, u, tok, "remedy_bridge_alerts_received", status="resolved"
                        ),
                    ]
                )
        cpu = watch.stop()
        survivors = f"{worker_pids[1]}@{host}"
        victim = f"{worker_pids[0]}@{host}"
        moved, starters, started_at = await histories(client, closed, victim, survivors)
        for i, pid in enumerate(bridge_pids):
            shares[i].append(starters[f"{pid}@{host}"])
        rows = report(
            a, closed, posted, started_at, target, pagerduty, level_of, shares, killed, moved
        )
        rows += [
            [
                "time to post / all closed, s",
                f"{t_fired - t0:.1f} / {t_closed - t0:.1f}",
                "-",
                "-",
            ],
            [
                "CPU % of a core: bridges / workers / server",
                f"{cpu['bridge-0']:.0f}+{cpu['bridge-1']:.0f} / "
                f"{cpu['worker-0']:.0f}+{cpu['worker-1']:.0f} / {cpu['server']:.0f}",
                "-",
                "-",
            ],
            ["load at start / end", f"{load_start} / {loadavg()}", "-", "-"],
        ]
        print(table("two of everything", rows))
        return 0 if all(r[3] in ("yes", "-") for r in rows) else 1
    finally:
        for p in am_procs:
            p.terminate()
        for p in am_procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:  # a clustered one may wait on its peer
                p.kill()
                p.wait()
        stack.stop()
        for p in sshds:
            p.terminate()
            p.wait(10)
        pagerduty.stop()


async def wait_closed(client: Client, n: int, timeout_s: float) -> dict[str, list[Any]]:
    """Incident id -> its runs (visibility rows) once n ids have a closed run."""
    deadline = time.monotonic() + timeout_s
    while True:
        runs: dict[str, list[Any]] = {}
        try:
            async for wf in client.list_workflows(
                'WorkflowType = "ServiceDown"', rpc_timeout=timedelta(seconds=30)
            ):
                runs.setdefault(wf.id, [])
                if wf.run_id not in {r.run_id for r in runs[wf.id]}:
                    runs[wf.id].append(wf)
        except RPCError as err:  # a busy dev server: ask again, it is only the poll
            print(f"(listing workflows: {err}; retrying)", file=sys.stderr)
            await asyncio.sleep(2)
            continue
        done = sum(
            any(r.status != WorkflowExecutionStatus.RUNNING for r in rs) for rs in runs.values()
        )
        if done >= n or time.monotonic() > deadline:
            return runs
        await asyncio.sleep(2)


async def histories(
    client: Client, runs: dict[str, list[Any]], victim: str, survivor: str
) -> tuple[int, Counter[str], dict[str, float]]:
    """(incidents the killed worker had worked on that the survivor finished, starter
    identity -> incidents it started). The starter is the client that made the run:
    the bridge whose signal-with-start created it, whatever the bridges' own counts say."""
    sem = asyncio.Semaphore(16)
    starters: Counter[str] = Counter()
    started_at: dict[str, float] = {}

    async def one(wid: str) -> bool:
        async with sem:
            hist = await client.get_workflow_handle(wid).fetch_history(
                rpc_timeout=timedelta(seconds=60)
            )
        who = []
        for e in hist.events:
            if e.HasField("workflow_execution_started_event_attributes"):
                starters[e.workflow_execution_started_event_attributes.identity] += 1
                started_at[wid.rsplit(":", 1)[1]] = e.event_time.ToDatetime(UTC).timestamp()
            if e.HasField("workflow_task_completed_event_attributes"):
                who.append(e.workflow_task_completed_event_attributes.identity)
        return victim in who and who[-1] == survivor

    moved = sum(await asyncio.gather(*(one(w) for w in runs)))
    return moved, starters, started_at


def report(
    a: argparse.Namespace,
    runs: dict[str, list[Any]],
    posted: dict[str, float],
    started_at: dict[str, float],
    target: Path,
    pagerduty: PagerDutySink,
    level_of: dict[str, str],
    shares: list[list[float]],
    killed: dict[str, Any],
    moved: int,
) -> list[list[Any]]:
    n = a.alerts
    ids = {f"incident:{ALERTNAME}:{s}" for s in names(n)}
    dupes = sum(len(r) > 1 for r in runs.values())
    ok_runs = [r[0] for r in runs.values() if r[0].status == WorkflowExecutionStatus.COMPLETED]
    per_svc = Counter(svc for svc, _ in restarts(target))
    first_restart: dict[str, float] = {}
    for svc, ts in restarts(target):
        first_restart.setdefault(svc, ts)
    doubled_restarts = sum(c > 1 for c in per_svc.values())
    missing_restarts = n - len(per_svc)
    triggers = Counter(
        (level_of.get(e["routing_key"], "?"), e["dedup_key"])
        for e in list(pagerduty.events)
        if e["event_action"] == "trigger"
    )
    doubled_pages = sum(c > 1 for c in triggers.values())
    want_pages = n * len(LEVEL_KEYS)
    to_restart = [first_restart[s] - posted[s] for s in first_restart if s in posted]
    to_start = [started_at[s] - posted[s] for s in started_at if s in posted]
    start_to_restart = [first_restart[s] - started_at[s] for s in first_restart if s in started_at]
    to_close = [
        r[0].close_time.timestamp() - posted[r[0].id.rsplit(":", 1)[1]]
        for r in runs.values()
        if r[0].close_time is not None and r[0].id.rsplit(":", 1)[1] in posted
    ]

    def ms(xs: list[float]) -> str:
        return f"{pct(xs, 50):.2f} / {pct(xs, 99):.2f} / {max(xs, default=float('nan')):.2f}"

    def yes(ok: bool) -> str:
        return "yes" if ok else "NO"

    kill = (
        f"worker 0 at {killed['restarts']}/{n} restarts; {moved} incidents finished by worker 1"
        if killed
        else "no kill (--no-kill)"
    )
    rows: list[list[Any]] = [
        [
            "alerts posted (to each Alertmanager)",
            f"{len(posted)} at {a.rate:g}/s, peer-timeout {a.peer_timeout}",
            n,
            "-",
        ],
        ["incident workflows (distinct ids)", len(runs), n, yes(set(runs) == ids)],
        ["ids with more than one run (duplicates)", dupes, 0, yes(dupes == 0)],
        ["incidents resolved (completed)", len(ok_runs), n, yes(len(ok_runs) == n)],
        ["restarts on the target", sum(per_svc.values()), n, yes(sum(per_svc.values()) == n)],
        [
            "services restarted twice / never",
            f"{doubled_restarts} / {missing_restarts}",
            "0 / 0",
            yes(doubled_restarts == 0 and missing_restarts == 0),
        ],
        [
            "PagerDuty triggers (levels x incidents)",
            sum(triggers.values()),
            want_pages,
            yes(sum(triggers.values()) == want_pages),
        ],
        ["pages doubled (same level, same incident)", doubled_pages, 0, yes(doubled_pages == 0)],
        ["kill -9", kill, "-", "-"],
        ["alert -> incident started s, p50 / p99 / max", ms(to_start), "-", "-"],
        ["incident started -> restart s, p50 / p99 / max", ms(start_to_restart), "-", "-"],
        ["alert -> restart s, p50 / p99 / max", ms(to_restart), "-", "-"],
        ["alert -> incident closed s, p50 / p99 / max", ms(to_close), "-", "-"],
    ]
    for i, (fired, started, signals, cached, res, made) in enumerate(shares):
        rows.append(
            [
                f"bridge {i}: firing received / signals / from cache / resolved",
                f"{fired:.0f} / {signals:.0f} / {cached:.0f} / {res:.0f}",
                "-",
                "-",
            ]
        )
        rows.append(
            [
                f"bridge {i}: incidents it started (history) / it counted as started",
                f"{made:.0f} / {started:.0f}",
                "-",
                "-",
            ]
        )
    starts = [sh[5] for sh in shares]
    rows.append(
        [
            "incidents started, bridge 0 / bridge 1 share",
            f"{starts[0] / max(sum(starts), 1):.0%} / {starts[1] / max(sum(starts), 1):.0%}",
            f"sum {n}",
            yes(sum(starts) == n),
        ]
    )
    return rows


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--alerts", type=int, default=200, help="distinct alerts (= incidents)")
    p.add_argument("--rate", type=float, default=20.0, help="new alerts posted per second")
    p.add_argument("--peer-timeout", default="0s", help="Alertmanager --cluster.peer-timeout")
    p.add_argument("--group-wait", default="100ms")
    p.add_argument("--group-interval", default="2s")
    p.add_argument("--repeat-interval", default="10s")
    p.add_argument("--resolve-after", type=float, default=2.0, help="s after the restart")
    p.add_argument("--kill-at", type=float, default=0.5, help="fraction of restarts done")
    p.add_argument("--no-kill", action="store_true")
    p.add_argument("--timeout", type=float, default=600, help="s for every incident to close")
    p.add_argument("--repeat-grace", type=float, default=3.0)
    p.add_argument("--worker-args", default="", help="bench/worker.py tuning flags")
    p.add_argument("--keep", action="store_true", help="keep the temp dir (logs, SQLite)")
    return p.parse_args()


if __name__ == "__main__":
    finish(asyncio.run(main(parse())))

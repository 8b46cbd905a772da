"""Benchmark 4, SSH fan-out: diagnostics on 50 hosts at once, against one host alone.

    .venv/bin/python -m bench.fanout [--hosts 50] [--worker-args="--threads 64"]

Real OpenSSH sshd (as tests/fixtures/sshd.py starts it) listens on 51 loopback ports
with ListenAddress lines (four sshd processes: one listens on at most 16 sockets); each port is its own inventory host with its own
known_hosts line `[127.0.0.1]:PORT`, so the worker sees 51 distinct hosts (the 51st is
the single-host baseline, so the fan-out does not start with a warm connection). Each
host runs the same five read-only diagnostics in order, through the real SSH
path (bench.diagnose, allowlist-checked), in BenchFanout (bench/workflows.py). Wall time is the workflow's, end to end.

Connections are counted from sshd's own log (LogLevel VERBOSE: "Connection from ...
on 127.0.0.1 port P"), per listening port: activities/ssh.py caches one connection per
host, so a host's five commands must cost one connection.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shlex
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from bench.common import TASK_QUEUE, Stack, finish, free_port, header, loadavg, table
from bench.contracts import FanoutInput, HostTiming
from remedy.temporal import connect

SSHD = Path("/usr/sbin/sshd")
DIAGNOSTICS = [
    ["uptime"],
    ["df", "-h"],
    ["free", "-m"],
    ["ps", "-e", "-o", "pid,comm"],
    ["cat", "/proc/loadavg"],
]


def keygen(path: Path) -> str:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
    return " ".join(path.with_suffix(".pub").read_text().split()[:2])


def start_sshd(d: Path, ports: list[int]) -> list[subprocess.Popen[bytes]]:
    """sshd listens on at most 16 sockets (MAX_LISTEN_SOCKS), so one sshd per 16 ports,
    all with the same host key and config otherwise."""
    os.chmod(d, 0o755)
    host_pub = keygen(d / "host_ed25519")
    (d / "authorized_keys").write_text(Path(str(d / "client_ed25519") + ".pub").read_text())
    (d / "known_hosts").write_text("".join(f"[127.0.0.1]:{p} {host_pub}\n" for p in ports))
    return [_sshd(d, n, ports[i : i + 16]) for n, i in enumerate(range(0, len(ports), 16))]


def _sshd(d: Path, n: int, ports: list[int]) -> subprocess.Popen[bytes]:
    listen = "".join(f"ListenAddress 127.0.0.1:{p}\n" for p in ports)
    (d / f"sshd_config.{n}").write_text(
        listen
        + f"HostKey {d / 'host_ed25519'}\nAuthorizedKeysFile {d / 'authorized_keys'}\n"
        + f"PidFile {d / f'sshd.{n}.pid'}\nStrictModes no\nUsePAM no\nPasswordAuthentication no\n"
        + "KbdInteractiveAuthentication no\nPubkeyAuthentication yes\n"
        + "PermitRootLogin prohibit-password\nLogLevel VERBOSE\n"
        # Every host connects at once: let all 51 handshakes in (the default is 10:30:100).
        + "MaxSessions 50\nMaxStartups 200\n"
    )
    Path("/run/sshd").mkdir(parents=True, exist_ok=True)
    log = open(d / f"sshd.{n}.log", "ab")  # noqa: SIM115 - owned by the child
    return subprocess.Popen(
        [str(SSHD), "-D", "-e", "-f", str(d / f"sshd_config.{n}")],
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def children_cpu(procs: list[subprocess.Popen[bytes]]) -> float:
    """CPU seconds of the sshd session processes the masters have reaped (cutime+cstime):
    on loopback the "remote hosts'" work is billed to this machine's cores too."""
    total = 0.0
    for p in procs:
        f = Path(f"/proc/{p.pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(f[13]) + int(f[14])) / os.sysconf("SC_CLK_TCK")
    return total


def connections(d: Path) -> Counter[int]:
    text = "".join(log.read_text() for log in d.glob("sshd.*.log"))
    return Counter(
        int(p) for p in re.findall(r"Connection from \S+ port \d+ on \S+ port (\d+)", text)
    )


async def main(a: argparse.Namespace) -> int:
    print(header("bench.fanout", sys.argv[1:]))
    stack = Stack(keep=a.keep)
    d = stack.dir / "sshd"
    d.mkdir()
    keygen(d / "client_ed25519")
    ports = [free_port() for _ in range(a.hosts + 1)]
    names = [f"h{i:02d}" for i in range(a.hosts)] + ["solo"]
    sshds = start_sshd(d, ports)
    host = {
        "address": "127.0.0.1",
        "user": os.environ.get("USER") or "root",
        "private_key_file": str(d / "client_ed25519"),
        "known_hosts_file": str(d / "known_hosts"),
        "connect_timeout_s": 10.0,
        "state_dir": str(d / "state"),
    }
    stack.write_inventory(
        {
            "hosts": {n: host | {"port": p} for n, p in zip(names, ports, strict=True)},
            "services": {
                f"svc-{n}": {"hosts": [n], "allowed_commands": DIAGNOSTICS} for n in names
            },
        }
    )
    try:
        await stack.start_server()
        await stack.start_worker(shlex.split(a.worker_args))
        client = await connect(stack.address)
        for _ in range(100):  # sshd is up once every port accepts
            if len(ports) == sum(1 for p in ports if _listening(p)):
                break
            await asyncio.sleep(0.1)
        else:
            raise RuntimeError(f"sshd not listening on every port; see {d}/sshd.*.log")
        await asyncio.sleep(0.5)
        probes = connections(d)  # the readiness probe above is one connection per port

        async def run(hosts: list[str], wid: str) -> tuple[float, list[HostTiming]]:
            t = time.perf_counter()
            res = await client.execute_workflow(
                "BenchFanout",
                FanoutInput(hosts=hosts, argvs=DIAGNOSTICS),
                id=wid,
                task_queue=TASK_QUEUE,
                result_type=list[HostTiming],
            )
            return time.perf_counter() - t, res

        load1 = loadavg()
        single, single_res = await run(["solo"], "bench-fanout-single")
        load2 = loadavg()
        cpu0 = children_cpu(sshds)
        fan, fan_res = await run(names[:-1], "bench-fanout-50")
        sshd_cpu = children_cpu(sshds) - cpu0
        per_port = connections(d) - probes
        fan_conns = [per_port[p] for p in ports[:-1]]
        ok = all(r.ok for r in single_res + fan_res)
        slowest = max(r.seconds for r in fan_res)
        rows = [
            ["worker args", a.worker_args or "(SDK and asyncio defaults)", "-", "-"],
            ["all diagnostics exited 0", ok, True, "yes" if ok else "NO"],
            ["single host: 5 diagnostics, s", f"{single:.2f} (load {load1})", "-", "-"],
            [
                f"{a.hosts} hosts in parallel, s",
                f"{fan:.2f} (load {load2})",
                f"<= {2 * single:.2f}",
                "yes" if fan <= 2 * single else "NO",
            ],
            [
                "ratio fan-out / single",
                f"{fan / single:.2f}",
                "<= 2",
                "yes" if fan <= 2 * single else "NO",
            ],
            ["slowest host (in-workflow), s", f"{slowest:.2f}", "-", "-"],
            ["sshd session CPU during fan-out, s", f"{sshd_cpu:.1f}", "-", "-"],
            [
                "SSH connections per host (fan-out)",
                dict(Counter(fan_conns)),
                "{1: n}",
                "yes" if set(fan_conns) == {1} else "NO",
            ],
            [
                "SSH connections, single host",
                per_port[ports[-1]],
                1,
                "yes" if per_port[ports[-1]] == 1 else "NO",
            ],
        ]
        print(table("SSH fan-out", rows))
        print(f"load after: {loadavg()}")
        return 0 if all(r[3] in ("yes", "-") for r in rows) else 1
    finally:
        stack.stop()
        for p in sshds:
            p.terminate()
            p.wait(10)


def _listening(port: int) -> bool:
    import socket

    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--hosts", type=int, default=50)
    p.add_argument("--worker-args", default="", help='e.g. "--threads 64"')
    p.add_argument("--keep", action="store_true")
    return p.parse_args()


if __name__ == "__main__":
    finish(asyncio.run(main(parse())))

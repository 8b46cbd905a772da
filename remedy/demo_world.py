"""The local world `remedy demo` builds on loopback: sshd with generated keys (known_hosts
written from them, never learnt on first use), the demo service under supervisord,
Prometheus with the alert rules, Alertmanager posting to the bridge with a bearer token.
Every part runs as a child process in its own session, logs into the demo folder and is
stopped by `World.stop`.
"""

from __future__ import annotations

import contextlib
import getpass
import json
import os
import secrets
import shutil
import signal
import socket
import string
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from rich.console import Console

from remedy.devstack import port_open

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples" / "demo"
SERVICE = "demo-api"
INCIDENTS = (
    ("errors", "HighErrorRate", f"incident:HighErrorRate:{SERVICE}"),
    ("crash", "ApplicationDown", f"incident:ApplicationDown:{SERVICE}"),
)
DEBS = {
    "/usr/sbin/sshd": "openssh-server",
    "/usr/bin/prometheus": "prometheus",
    "/usr/bin/prometheus-alertmanager": "prometheus-alertmanager",
}
RULES = """\
groups:
  - name: demo
    interval: 1s
    rules:
      - alert: HighErrorRate
        expr: sum(rate(demo_errors_total[10s])) / sum(rate(demo_requests_total[10s])) > 0.01
        for: 3s
        labels: {service: demo-api, severity: P1}
        annotations: {summary: "demo-api error rate above 1 %"}
      - alert: ApplicationDown
        expr: up{job="demo-api"} == 0
        for: 2s
        labels: {service: demo-api, severity: P1}
        annotations: {summary: "demo-api is down"}
"""


class DemoError(RuntimeError):
    pass


def missing_packages() -> list[str]:
    return [pkg for path, pkg in DEBS.items() if not Path(path).exists()] + (
        ["openssh-client"] if shutil.which("ssh-keygen") is None else []
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(
    what: str,
    ok: Callable[[], bool],
    proc: subprocess.Popen[bytes] | None,
    log: Path,
    timeout_s: float = 30,
) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if ok():
                return
        except (OSError, httpx.HTTPError):
            pass
        if proc is not None and proc.poll() is not None:
            raise DemoError(f"{what} exited with {proc.returncode}; see {log}")
        if time.monotonic() > deadline:
            raise DemoError(f"{what} not ready after {timeout_s:.0f}s; see {log}")
        time.sleep(0.2)


@dataclass
class World:
    dir: Path
    out: Console
    ports: dict[str, int] = field(default_factory=dict)
    procs: list[tuple[str, subprocess.Popen[bytes]]] = field(default_factory=list)
    token: str = field(default_factory=lambda: secrets.token_urlsafe(24))

    def spawn(self, name: str, argv: list[str]) -> subprocess.Popen[bytes]:
        log = (self.dir / f"{name}.log").open("ab")
        p = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.procs.append((name, p))
        return p

    def stop(self) -> None:
        for _, p in reversed(self.procs):
            if p.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(p.pid, signal.SIGTERM)
        for _, p in reversed(self.procs):
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(p.pid, signal.SIGKILL)
                p.wait()

    # ------------------------------------------------------------------ parts
    def sshd(self) -> None:
        d = self.dir / "ssh"
        d.mkdir(mode=0o700)
        for name in ("host_ed25519", "client_ed25519"):
            subprocess.run(
                [
                    "ssh-keygen",
                    "-q",
                    "-t",
                    "ed25519",
                    "-N",
                    "",
                    "-C",
                    "remedy-demo",
                    "-f",
                    str(d / name),
                ],
                check=True,
            )
        (d / "authorized_keys").write_text((d / "client_ed25519.pub").read_text())
        port = self.ports["ssh"] = free_port()
        host_key = " ".join((d / "host_ed25519.pub").read_text().split()[:2])
        # Written from the key we generated: the worker never learns keys on first use.
        (d / "known_hosts").write_text(f"[127.0.0.1]:{port} {host_key}\n")
        (d / "sshd_config").write_text(
            f"ListenAddress 127.0.0.1\nPort {port}\nHostKey {d / 'host_ed25519'}\n"
            f"AuthorizedKeysFile {d / 'authorized_keys'}\nPidFile {d / 'sshd.pid'}\n"
            "StrictModes no\nUsePAM no\nPasswordAuthentication no\n"
            "KbdInteractiveAuthentication no\nPubkeyAuthentication yes\n"
            "PermitRootLogin prohibit-password\nMaxSessions 50\nMaxStartups 50\n"
        )
        with contextlib.suppress(PermissionError):
            Path("/run/sshd").mkdir(parents=True, exist_ok=True)
        p = self.spawn("sshd", ["/usr/sbin/sshd", "-D", "-e", "-f", str(d / "sshd_config")])
        _wait("sshd", lambda: port_open("127.0.0.1", port), p, self.dir / "sshd.log")

    def service(self) -> None:
        bindir = Path(sys.executable).parent
        port = self.ports["service"] = free_port()
        (self.dir / "app" / "config").mkdir(parents=True)
        conf = self.dir / "supervisord.conf"
        conf.write_text(
            f"[unix_http_server]\nfile={self.dir / 'supervisor.sock'}\n\n"
            f"[supervisord]\nnodaemon=true\nlogfile={self.dir / 'supervisord.log'}\n"
            f"pidfile={self.dir / 'supervisord.pid'}\n"
            f"childlogdir={self.dir}\n\n"
            "[rpcinterface:supervisor]\n"
            "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface\n\n"
            f"[supervisorctl]\nserverurl=unix://{self.dir / 'supervisor.sock'}\n\n"
            f"[program:{SERVICE}]\n"
            f"command={sys.executable} {EXAMPLES / 'service.py'} --port {port} "
            f"--home {self.dir / 'app'}\n"
            # A crash stays a crash: healing it is Remedy's job, not supervisord's.
            "autostart=true\nautorestart=false\nstartsecs=1\nstopwaitsecs=5\n"
        )
        p = self.spawn("supervisord", [str(bindir / "supervisord"), "-c", str(conf)])
        url = f"http://127.0.0.1:{port}/health"
        _wait(
            "demo service",
            lambda: httpx.get(url, timeout=1).status_code == 200,
            p,
            self.dir / "supervisord.log",
        )

    def prometheus(self) -> None:
        d = self.dir / "prometheus"
        d.mkdir()
        port = self.ports["prometheus"] = free_port()
        am = self.ports["alertmanager"]
        (d / "rules.yml").write_text(RULES)
        (d / "prometheus.yml").write_text(
            json.dumps(
                {
                    "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                    "rule_files": [str(d / "rules.yml")],
                    "alerting": {
                        "alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{am}"]}]}]
                    },
                    "scrape_configs": [
                        {
                            "job_name": "demo-api",
                            "scrape_timeout": "1s",
                            "static_configs": [{"targets": [f"127.0.0.1:{self.ports['service']}"]}],
                        }
                    ],
                },
                indent=1,
            )
        )
        p = self.spawn(
            "prometheus",
            [
                "/usr/bin/prometheus",
                f"--config.file={d / 'prometheus.yml'}",
                f"--storage.tsdb.path={d / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--log.level=warn",
            ],
        )
        url = f"http://127.0.0.1:{port}/-/ready"
        _wait(
            "prometheus",
            lambda: httpx.get(url, timeout=1).status_code == 200,
            p,
            self.dir / "prometheus.log",
        )

    def alertmanager(self) -> None:
        d = self.dir / "alertmanager"
        d.mkdir()
        port = self.ports["alertmanager"] = free_port()
        (d / "token").write_text(self.token)
        (d / "alertmanager.yml").write_text(
            json.dumps(
                {
                    "route": {
                        "receiver": "remedy",
                        "group_by": ["alertname", "service"],
                        "group_wait": "1s",
                        "group_interval": "2s",
                        "repeat_interval": "1m",
                    },
                    "receivers": [
                        {
                            "name": "remedy",
                            "webhook_configs": [
                                {
                                    "url": f"http://127.0.0.1:{self.ports['bridge']}/alertmanager",
                                    "send_resolved": True,
                                    # As deploy/alertmanager: a group never outgrows the
                                    # bridge's body limit (a 413 is not retried).
                                    "max_alerts": 200,
                                    "http_config": {
                                        "authorization": {"credentials_file": str(d / "token")}
                                    },
                                }
                            ],
                        }
                    ],
                },
                indent=1,
            )
        )
        p = self.spawn(
            "alertmanager",
            [
                "/usr/bin/prometheus-alertmanager",
                f"--config.file={d / 'alertmanager.yml'}",
                f"--storage.path={d / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--cluster.listen-address=",
                "--log.level=debug",  # logs each webhook delivery (tests/test_demo.py reads it)
            ],
        )
        url = f"http://127.0.0.1:{port}/-/ready"
        _wait(
            "alertmanager",
            lambda: httpx.get(url, timeout=1).status_code == 200,
            p,
            self.dir / "alertmanager.log",
        )

    def inventory(self) -> Path:
        text = string.Template((EXAMPLES / "inventory.yaml").read_text()).substitute(
            dir=self.dir,
            ssh_port=self.ports["ssh"],
            user=getpass.getuser(),
            supervisorctl=Path(sys.executable).parent / "supervisorctl",
            service_port=self.ports["service"],
        )
        path = self.dir / "inventory.yaml"
        path.write_text(text)
        return path

    def inject(self, fault: str) -> None:
        httpx.post(f"http://127.0.0.1:{self.ports['service']}/control/{fault}", timeout=5)

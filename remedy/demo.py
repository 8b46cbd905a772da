"""`remedy demo`: a real local world on loopback, broken twice and healed by Remedy.

    sshd (generated host and client keys; known_hosts written here, never auto-accepted)
    supervisord -> examples/demo/service.py (/health, /metrics, fault injection)
    Prometheus (scrapes it, alert rules) -> Alertmanager (bearer token) -> the bridge
    Temporal dev server + worker + bridge (the `remedy dev` stack, in this process)

Then: inject a high error rate (HighErrorRate: diagnose, LLM-fallback mitigation,
restart, verify sustained), then crash the service (ApplicationDown playbook:
restart, verify healthy). Every timeline step is printed as it happens; at the end the
post-incident reports and the Temporal UI link of each incident. The runbooks' waits are
shortened by examples/demo/inventory.yaml, not by code.
"""

from __future__ import annotations

import asyncio
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
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

import httpx
from pydantic import SecretStr
from rich.console import Console

from remedy.devstack import DevServer, port_open

if TYPE_CHECKING:
    from temporalio.client import Client

    from activities.inventory import Inventory
    from remedy.settings import Settings

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


COLORS = {"ok": "green", "failed": "red", "skipped": "yellow", "info": "dim"}


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


# ---------------------------------------------------------------------- the show
def ui_link(ui: str, wid: str, run_id: str = "") -> str:
    base = f"{ui}/namespaces/default/workflows/{quote(wid, safe='')}"
    return f"{base}/{run_id}/history" if run_id else base


async def follow(
    client: Client, wid: str, out: Console, deadline: float, ui: str, since: datetime
) -> tuple[str, str]:
    """Print the incident's timeline as it grows, with its clocks, until it closes.
    Only a run started after `since` counts (a kept data dir holds earlier demos').
    Returns (outcome, run id)."""
    from rich.markup import escape
    from temporalio.service import RPCError

    from remedy.report import countdowns
    from workflows.models import IncidentStatus, PlaybookResult

    shown, last_clock = 0, 0.0
    run_id = ""
    while time.monotonic() < deadline:
        try:
            if not run_id:
                desc = await client.get_workflow_handle(wid).describe()
                if desc.start_time < since:
                    raise LookupError  # an earlier demo's incident: not ours
                run_id = desc.run_id
                handle = client.get_workflow_handle(wid, run_id=run_id, result_type=PlaybookResult)
                out.print(
                    f"[bold]alert arrived[/] via the bridge → incident [cyan]{escape(wid)}[/] "
                    f"({desc.workflow_type})",
                    highlight=False,
                )
                out.print(
                    f"  Temporal UI: {ui_link(ui, wid, run_id)}", highlight=False, soft_wrap=True
                )
            st = await handle.query("status", result_type=IncidentStatus)
        except (RPCError, LookupError):
            await asyncio.sleep(0.5)
            continue
        timeline, outcome = st.timeline, st.outcome
        if outcome:
            # Decided; the run still writes the incident log and the post-mortem.
            left = max(deadline - time.monotonic(), 1)
            res = await asyncio.wait_for(handle.result(), left)
            timeline, outcome = res.timeline, res.outcome
        for e in timeline[shown:]:
            out.print(
                f"  {e.at:%H:%M:%S} [blue]{e.phase.value:<12}[/] {escape(e.step)} "
                f"[{COLORS[e.outcome]}]{e.outcome}[/] [dim]{escape(e.detail[:110])}[/]",
                highlight=False,
                soft_wrap=True,
            )
        shown = len(timeline)
        if outcome:
            color = "green" if outcome == "resolved" else "red"
            out.print(f"[bold {color}]{escape(wid)}: {outcome}[/]", highlight=False)
            return outcome, run_id
        if time.monotonic() - last_clock > 5:
            clocks = countdowns(st, datetime.now(UTC))
            if st.phase.value == "Verification" and clocks:
                out.print(f"  [yellow]⏱ {' · '.join(clocks)}[/]", highlight=False)
            last_clock = time.monotonic()
        await asyncio.sleep(0.5)
    raise DemoError(f"{wid} did not close within the time limit")


async def show(
    world: World, settings: Settings, inv: Inventory, server: DevServer, timeout_s: float
) -> dict[str, str]:
    from bridge.server import serve
    from remedy import report
    from remedy.devstack import wait_for_frontend
    from remedy.temporal import connect
    from worker import run_worker

    out = world.out
    await wait_for_frontend(server.address)
    tasks = [
        asyncio.create_task(run_worker(settings, inv)),
        asyncio.create_task(serve(settings, inv, "127.0.0.1", world.ports["bridge"])),
    ]
    client = await connect(server.address)
    ui = server.ui_url
    deadline = time.monotonic() + timeout_s
    outcomes: dict[str, str] = {}
    runs: dict[str, str] = {}
    try:
        await asyncio.sleep(3)  # Prometheus has a few healthy samples first
        for fault, alert, wid in INCIDENTS:
            out.rule(f"breaking {SERVICE}: {'high error rate' if fault == 'errors' else 'crash'}")
            since = datetime.now(UTC)
            await asyncio.to_thread(world.inject, fault)
            out.print(f"waiting for Prometheus → Alertmanager → bridge to raise {alert} ...")
            outcomes[wid], runs[wid] = await follow(client, wid, out, deadline, ui, since)
        for _, _, wid in INCIDENTS:
            out.rule(f"post-incident report: {wid}")
            out.print(await report.fetch(client, wid), markup=False, highlight=False)
        out.rule("in the Temporal UI")
        for _, _, wid in INCIDENTS:
            out.print(
                f"{wid}: {outcomes[wid]} — {ui_link(ui, wid, runs[wid])}",
                markup=False,
                highlight=False,
                soft_wrap=True,
            )
        q = quote(f'RemedyService="{SERVICE}"')
        out.print(
            f"list: {ui}/namespaces/default/workflows?query={q}", highlight=False, soft_wrap=True
        )
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return outcomes


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def run(
    *, timeout_s: float, keep_dir: Path | None, ui_port: int, hold: bool, out: Console
) -> dict[str, str]:
    """Bring the world up, run the show, tear everything down (also on Ctrl-C)."""
    from activities.inventory import load_inventory
    from remedy.settings import Settings

    # Ctrl-C, and a plain `kill`, both tear down (SIGINT may arrive ignored when the
    # demo was started in the background by a shell without job control).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _interrupt)
    missing = missing_packages()
    if missing:
        raise DemoError(
            "missing Debian packages; install them with:\n"
            f"  sudo apt-get install -y {' '.join(missing)}"
        )
    if not (Path(sys.executable).parent / "supervisord").exists():
        raise DemoError(
            "supervisord is missing from this environment; install it with:\n"
            f"  {Path(sys.executable).parent / 'pip'} install 'supervisor>=4.2'"
            "   (make run installs it with the dev extra)"
        )
    base = keep_dir or Path(tempfile.mkdtemp(prefix="remedy-demo-"))
    base.mkdir(parents=True, exist_ok=True)
    os.chmod(base, 0o755)
    world = World(base, out)
    world.ports["bridge"] = free_port()
    server = DevServer(data_dir=base / "data", port=free_port(), ui_port=ui_port)
    try:
        out.print(
            f"[bold]remedy demo[/] — everything on 127.0.0.1, files in {base}", highlight=False
        )
        world.sshd()
        out.print(
            f"  sshd          127.0.0.1:{world.ports['ssh']} (known_hosts written by the demo)"
        )
        world.service()
        out.print(f"  {SERVICE}      http://127.0.0.1:{world.ports['service']} under supervisord")
        world.alertmanager()
        world.prometheus()
        out.print(f"  Prometheus    http://127.0.0.1:{world.ports['prometheus']}")
        out.print(
            f"  Alertmanager  http://127.0.0.1:{world.ports['alertmanager']} → bridge (bearer)"
        )
        inv_path = world.inventory()
        inv = load_inventory(inv_path)
        settings = Settings(
            inventory=inv_path,
            data_dir=base / "data",
            bridge_port=world.ports["bridge"],
            prometheus_url=f"http://127.0.0.1:{world.ports['prometheus']}",
            TEMPORAL_ADDRESS=server.address,
        )  # type: ignore[call-arg]
        settings.bridge_token = SecretStr(world.token)
        server.start()
        out.print(f"  Temporal      {server.address}, UI {server.ui_url}")
        outcomes = asyncio.run(show(world, settings, inv, server, timeout_s))
        if hold:
            out.print(f"Temporal UI stays up at {server.ui_url} — Ctrl-C to tear down.")
            with contextlib.suppress(KeyboardInterrupt):
                while True:
                    time.sleep(3600)
        return outcomes
    finally:
        out.print("tearing down ...")
        server.stop()
        world.stop()
        if keep_dir is None:
            shutil.rmtree(base, ignore_errors=True)

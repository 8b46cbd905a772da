"""`remedy demo --unattended`: the newcomer's first run, as a test. A real sshd,
supervisord, Prometheus and Alertmanager on loopback; both incidents (high error rate,
then a crash) must be raised by Prometheus's rules, delivered by Alertmanager to the
bridge with its bearer token, and resolved by the playbooks -- in bounded time."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from remedy.demo import missing_packages
from tests.fixtures.sshd import free_port

ROOT = Path(__file__).resolve().parents[1]
REMEDY = str(Path(sys.executable).parent / "remedy")
INCIDENTS = ("incident:HighErrorRate:demo-api", "incident:ApplicationDown:demo-api")


@dataclass
class DemoRun:
    dir: Path
    returncode: int
    output: str


_RUNS: list[DemoRun] = []


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> DemoRun:
    """One unattended demo per session: tests/test_ui.py imports this fixture (which
    makes it a second fixture of the same name), so the run itself is cached here."""
    if missing_packages():
        pytest.skip(f"apt-get install -y {' '.join(missing_packages())}")
    if not _RUNS:
        _RUNS.append(_run_demo(tmp_path_factory))
    return _RUNS[0]


def _run_demo(tmp_path_factory: pytest.TempPathFactory) -> DemoRun:
    d = tmp_path_factory.mktemp("demo")
    env = os.environ | {"COLUMNS": "200"}
    env.pop("REMEDY_BRIDGE_TOKEN", None)
    try:
        res = subprocess.run(
            [
                REMEDY,
                "demo",
                "--unattended",
                "--timeout",
                "100",
                "--keep",
                str(d),
                "--ui-port",
                str(free_port()),
            ],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=150,
        )
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"remedy demo did not finish in 150 s:\n{e.stdout!r}")
    return DemoRun(d, res.returncode, res.stdout + res.stderr)


def test_demo_heals_both_incidents_through_prometheus_and_alertmanager(demo_run: DemoRun) -> None:
    out = demo_run.output
    assert demo_run.returncode == 0, out
    assert "demo: both incidents resolved" in out
    for wid in INCIDENTS:
        assert f"{wid}: resolved" in out, out
    # Live view: phases and steps as they happened, the verification countdown.
    assert re.search(r"Response\s+mitigation: llm_fallback ok", out), out
    assert re.search(r"Response\s+restart ok", out), out
    assert "verifying error_rate: window ends in" in out
    # The end: both post-incident reports and a UI link per incident.
    assert out.count("# Incident Summary:") == 2
    assert re.search(
        r"/namespaces/default/workflows/incident%3AApplicationDown%3Ademo-api/"
        r"[0-9a-f-]{36}/history",
        out,
    )

    # The real path: Prometheus fired both rules and Alertmanager delivered them to the
    # bridge (firing and resolved), authenticated; nothing else held the token.
    am_log = (demo_run.dir / "alertmanager.log").read_text()
    delivered = re.findall(r"integration=webhook\S* msg=\"Notify success\"", am_log)
    assert len(delivered) >= 4, am_log[-3000:]  # 2 incidents x (firing, resolved)
    assert "Notify for alerts failed" not in am_log
    for alert in ("HighErrorRate", "ApplicationDown"):
        for state in ("active", "resolved"):  # received from Prometheus
            assert re.search(rf"msg=\"Received alert\" alert={alert}\[\w+\]\[{state}\]", am_log)
    # The resolved notifications reached the incidents too (Alertmanager -> bridge).
    assert out.count("alert resolved (Alertmanager)") >= 2
    # What the playbooks did to the service, on the host, over SSH.
    assert (demo_run.dir / "app" / "config" / "llm_fallback.yaml").exists()
    log = (demo_run.dir / "data" / "incidents.log").read_text()
    assert "Incident: HighErrorRate - Resolved via llm_fallback mitigation and restart" in log
    assert "Incident: ApplicationDown - Resolved via restart" in log

"""`remedy rehearse` as a user runs it: the real command, a real inventory file pointing
at the real test sshd, the real playbook on a time-skipping server. Reads are real (the
outcome follows the host's state), nothing on the host changes, nobody is notified even
with Slack and PagerDuty configured, and `--expect` turns the outcome into an exit status."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

from activities.inventory import CommandSpec, Inventory, ServiceSpec
from tests.fixtures.httpsink import HttpSink
from tests.fixtures.sshd import HOST_NAME, SshServer, free_port
from workflows.contracts.service import CommandKind

ROOT = Path(__file__).resolve().parents[1]
REMEDY = str(Path(sys.executable).parent / "remedy")
SVC = "shop-api"


def write_inventory(sshd: SshServer, tmp: Path) -> tuple[Path, Path]:
    """A service on the test sshd whose status is a file (`up`) and whose restart and
    stop would leave a trace: the rehearsal may read the first, never run the others."""
    box = tmp / "host"
    box.mkdir()
    cmds = {
        CommandKind.STATUS: CommandSpec(argv=["test", "-e", str(box / "up")]),
        CommandKind.RESTART: CommandSpec(argv=["touch", str(box / "restarted")]),
        CommandKind.STOP: CommandSpec(argv=["touch", str(box / "stopped")]),
    }
    svc = ServiceSpec(hosts=[HOST_NAME], commands=cmds, incident_log=str(box / "log"))
    inv = Inventory(
        hosts={HOST_NAME: sshd.host_spec()},
        services={SVC: svc},
        routes={"ShopDown": "ServiceDown"},
    )
    path = tmp / "inventory.yaml"
    path.write_text(yaml.safe_dump(inv.model_dump(mode="json", exclude_none=True)))
    return path, box


def rehearse(inv: Path, tmp: Path, sink: HttpSink, *args: str) -> subprocess.CompletedProcess[str]:
    env = os.environ | {
        # Configured, and must stay silent: a rehearsal tells nobody.
        "REMEDY_SLACK_WEBHOOK_URL": f"{sink.url}/slack",
        "REMEDY_PAGERDUTY_ROUTING_KEY": "R" * 32,
        "REMEDY_PAGERDUTY_URL": f"{sink.url}/pagerduty",
        "REMEDY_PROMETHEUS_URL": f"http://127.0.0.1:{free_port()}",
        "COLUMNS": "200",
    }
    return subprocess.run(
        [
            REMEDY,
            "rehearse",
            "ShopDown",
            "-l",
            f"service={SVC}",
            "--inventory",
            str(inv),
            "--keep",
            str(tmp / "scratch"),
            *args,
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=150,
    )


def test_rehearsal_reads_for_real_changes_nothing_tells_nobody(
    sshd: SshServer, tmp_path: Path, httpsink: HttpSink
) -> None:
    inv, box = write_inventory(sshd, tmp_path)

    down = rehearse(inv, tmp_path, httpsink, "--expect", "escalated")
    assert down.returncode == 0, down.stdout + down.stderr
    out = down.stdout
    assert "route: inventory route ShopDown -> ServiceDown" in out
    assert f"DRY RUN: would run `touch {box / 'restarted'}`" in out
    assert "outcome: escalated" in out
    # A day of held-open escalation passed in skipped time.
    assert "nobody acknowledged" in out
    assert sorted(p.name for p in box.iterdir()) == []  # no restart, no stop, no log line
    assert httpsink.requests == []  # Slack and PagerDuty never heard of it
    assert list((tmp_path / "scratch" / "postmortems").rglob("*.md"))

    # The same rehearsal once the host says the service is up: reads are real, so the
    # check after the (dry-run) restart passes and the playbook resolves -- without the
    # incident-log line a real resolution writes. --expect says it is not what was expected.
    (box / "up").touch()
    up = rehearse(inv, tmp_path, httpsink, "--json", "--expect", "escalated")
    assert up.returncode == 1 and "expected escalated, got resolved" in up.stderr
    res = json.loads(up.stdout)
    assert res["outcome"] == "resolved" and res["playbook"] == "ServiceDown"
    log = next(e for e in res["timeline"] if e["step"] == "incident log")
    assert log["outcome"] == "skipped" and log["detail"].startswith("DRY RUN: would append")
    assert sorted(p.name for p in box.iterdir()) == ["up"]
    assert httpsink.requests == []


def test_bad_input_is_refused_clearly(tmp_path: Path) -> None:
    bad = tmp_path / "inventory.yaml"
    bad.write_text("services:\n  x:\n    hosts: nope\n")
    res = subprocess.run(
        [REMEDY, "rehearse", "ShopDown", "--inventory", str(bad)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode == 2 and "services.x.hosts" in res.stderr
    res = subprocess.run(
        [REMEDY, "rehearse", "ShopDown", "-l", "service", "--expect", "fine"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode == 2 and "--expect 'fine'" in res.stderr

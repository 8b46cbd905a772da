"""activities/security.py over the real test sshd: access-log analysis of a real log,
a forensic tar that holds the original bytes and is taken once per incident, and a
containment step that runs the inventory's argv once per incident."""

from __future__ import annotations

import tarfile
import uuid
from pathlib import Path

import pytest
from temporalio.exceptions import ApplicationError

from activities.inventory import CommandSpec, ContainmentStep, SecuritySpec, ServiceSpec
from activities.security import SecurityActivities
from tests.fixtures.sshd import HOST_NAME, SshServer
from workflows.contracts.safety import SafetyOverrides
from workflows.contracts.security import AccessLogInput, ContainInput, EvidenceInput

ACCESS = (
    ['203.0.113.9 - - [01/Dec/2026] "GET /api/agents?q=\' UNION SELECT 1 -- HTTP/1.1" 500'] * 7
    + ['198.51.100.4 - - [01/Dec/2026] "GET /health HTTP/1.1" 200'] * 3
    + ['192.0.2.1 - - [01/Dec/2026] "GET /../../etc/passwd HTTP/1.1" 404 invalid path']
)
APP = ["INFO started", "ERROR sql injection attempt blocked token=abc123", "INFO ok"]


def world(sshd: SshServer, tmp: Path, dry_run: bool = False) -> SecurityActivities:
    data, logs = tmp / "data", tmp / "logs"
    (data / "sessions").mkdir(parents=True)
    logs.mkdir()
    (data / "sessions" / "s1.json").write_text('{"id": 1}')
    (data / "runs.csv").write_bytes(b"ts,agent\n1,a\n")
    (logs / "access.log").write_text("\n".join(ACCESS) + "\n")
    (logs / "app.log").write_text("\n".join(APP) + "\n")
    blocklist = tmp / "blocked.txt"
    svc = ServiceSpec(
        hosts=[HOST_NAME],
        data_dir=str(data),
        log_files=[str(logs / "app.log")],
        security=SecuritySpec(
            access_log=str(logs / "access.log"),
            evidence_dir=str(tmp / "evidence"),
            containment={
                "block-ip": ContainmentStep(
                    description="deny 203.0.113.9",
                    # A stand-in for the firewall: appends one line per real run.
                    command=CommandSpec(argv=["sh", "-c", f"echo 203.0.113.9 >> {blocklist}"]),
                )
            },
        ),
        safety=SafetyOverrides(dry_run=dry_run),
    )
    return SecurityActivities(sshd.inventory({"agent-lab": svc}))


async def test_access_log_analysis(sshd: SshServer, tmp_path: Path) -> None:
    r = await world(sshd, tmp_path).access_log(AccessLogInput(service="agent-lab"))
    assert r.lines == 11
    assert [(s.source, s.requests) for s in r.top_sources] == [
        ("203.0.113.9", 7),
        ("198.51.100.4", 3),
        ("192.0.2.1", 1),
    ]
    assert r.suspicious == 1  # "invalid path"
    assert r.attack_hits["sql"] == 1 and r.attack_hits["injection"] == 1  # the app log
    assert r.attack_hits[r"union\s+select"] == 7
    assert r.attack_hits[r"\.\./"] == 1 and r.attack_hits["xss"] == 0
    assert all("abc123" not in s for s in r.samples)  # redacted before it enters history


async def test_snapshot_keeps_original_bytes_once_per_incident(
    sshd: SshServer, tmp_path: Path
) -> None:
    acts = world(sshd, tmp_path)
    inc = f"incident:SecurityIncident:{uuid.uuid4().hex[:6]}"
    r = await acts.snapshot(EvidenceInput(service="agent-lab", incident_id=inc))
    path = Path(r.path.split(":", 1)[1])
    assert path.parent == tmp_path / "evidence" and r.size_bytes == path.stat().st_size  # noqa: ASYNC240
    with tarfile.open(path) as tar:
        names = tar.getnames()
        csv = next(n for n in names if n.endswith("runs.csv"))
        assert tar.extractfile(csv).read() == b"ts,agent\n1,a\n"  # type: ignore[union-attr]
    assert any(n.endswith("access.log") for n in names)
    # A retried activity does not tar again (the evidence is not overwritten).
    (tmp_path / "data" / "runs.csv").write_text("changed after the snapshot\n")
    again = await acts.snapshot(EvidenceInput(service="agent-lab", incident_id=inc))
    assert again.replayed and again.sha256 == r.sha256


async def test_containment_runs_once_and_unknown_step_is_refused(
    sshd: SshServer, tmp_path: Path
) -> None:
    acts = world(sshd, tmp_path)
    inc = f"incident:SecurityIncident:{uuid.uuid4().hex[:6]}"
    first = await acts.contain(ContainInput(service="agent-lab", incident_id=inc, name="block-ip"))
    again = await acts.contain(ContainInput(service="agent-lab", incident_id=inc, name="block-ip"))
    assert first.ok and not first.replayed and again.replayed
    assert (tmp_path / "blocked.txt").read_text() == "203.0.113.9\n"  # ran exactly once
    with pytest.raises(ApplicationError) as err:
        await acts.contain(ContainInput(service="agent-lab", incident_id=inc, name="wipe"))
    assert err.value.type == "CommandNotConfigured" and "block-ip" in str(err.value)


async def test_dry_run_snapshot_and_containment_touch_nothing(
    sshd: SshServer, tmp_path: Path
) -> None:
    acts = world(sshd, tmp_path, dry_run=True)
    inc = "incident:SecurityIncident:dry"
    snap = await acts.snapshot(EvidenceInput(service="agent-lab", incident_id=inc))
    done = await acts.contain(ContainInput(service="agent-lab", incident_id=inc, name="block-ip"))
    assert snap.dry_run and done.dry_run and "DRY RUN: would run" in done.detail
    assert not (tmp_path / "evidence").exists() and not (tmp_path / "blocked.txt").exists()

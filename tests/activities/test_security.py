"""activities/security.py over the real test sshd: access-log analysis of a real log,
a forensic tar that holds the original bytes and is taken once per incident, and a
containment step that runs the inventory's argv once per incident."""

from __future__ import annotations

import os
import tarfile
import time
import uuid
from pathlib import Path

import pytest
from temporalio.exceptions import ApplicationError

from activities.inventory import CommandSpec, ContainmentStep, SecuritySpec, ServiceSpec
from activities.security import SecurityActivities
from tests.fixtures.sshd import HOST_NAME, SshServer
from workflows.contracts.safety import SafetyOverrides
from workflows.contracts.security import (
    AccessLogInput,
    ContainInput,
    DataAssessmentInput,
    EvidenceInput,
)

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


def assessing(
    sshd: SshServer, tmp: Path, bucket: CommandSpec | None, **sec: object
) -> SecurityActivities:
    """world(), with the compromised-data assessment configured."""
    acts = world(sshd, tmp)
    svc = acts.inventory.service("agent-lab")
    assert svc.security is not None
    spec = svc.security.model_copy(update={"bucket_listing": bucket, **sec})
    return SecurityActivities(
        sshd.inventory({"agent-lab": svc.model_copy(update={"security": spec})})
    )


def age(path: Path, minutes: int) -> None:
    t = time.time() - minutes * 60
    os.utime(path, (t, t))


async def test_data_assessment_counts_recent_sessions_and_lists_the_bucket(
    sshd: SshServer, tmp_path: Path
) -> None:
    # A stand-in for `aws s3 ls s3://agent-lab-backups/ --recursive`: 60 objects.
    backups = tmp_path / "bucket"
    backups.mkdir()
    for i in range(60):
        (backups / f"obj-{i:02d}.tar.gz").write_text("x")
    acts = assessing(sshd, tmp_path, CommandSpec(argv=["ls", "-1", str(backups)]))
    sessions = tmp_path / "data" / "sessions"
    (sessions / "token-abc123-secret.json").write_text("{}")  # now: counted
    (sessions / "old").mkdir()
    (sessions / "old" / "s0.json").write_text("{}")
    age(sessions / "old" / "s0.json", 120)  # two hours ago: not counted
    age(sessions / "s1.json", 61)
    r = await acts.data_assessment(DataAssessmentInput(service="agent-lab"))
    assert (r.sessions_dir, r.sessions_changed) == (str(sessions), 1)
    assert r.sessions_since == "in the last 60 min" and not r.sessions_error
    assert "token-abc123" not in r.model_dump_json()  # no session name leaves the host
    assert r.bucket_objects == 60 and len(r.bucket_tail) == 50  # the runbook's tail -50
    assert r.bucket_tail[-1] == "obj-59.tar.gz" and r.bucket_tail[0] == "obj-10.tar.gz"
    # Read-only: no marker file or anything else was created beside the sessions.
    assert sorted(p.name for p in sessions.iterdir()) == [
        "old",
        "s1.json",
        "token-abc123-secret.json",
    ]  # noqa: E501


async def test_data_assessment_marker_file_and_failures_are_per_part(
    sshd: SshServer, tmp_path: Path
) -> None:
    marker = tmp_path / "last-audit"
    acts = assessing(
        sshd,
        tmp_path,
        CommandSpec(argv=["ls", "-1", str(tmp_path / "no-such-bucket")]),
        sessions_marker=str(marker),
    )
    marker.write_text("")
    age(marker, 300)
    sessions = tmp_path / "data" / "sessions"
    age(sessions / "s1.json", 240)  # newer than the five-hour-old marker
    (sessions / "s2.json").write_text("{}")
    r = await acts.data_assessment(DataAssessmentInput(service="agent-lab"))
    assert r.sessions_changed == 2 and r.sessions_since == f"newer than {marker}"
    # The bucket listing failed; the session count is still reported.
    assert r.bucket_objects is None and r.bucket_error.startswith("exit 2")
    # No marker on the host: that part fails alone, with find's reason.
    marker.unlink()
    r = await acts.data_assessment(DataAssessmentInput(service="agent-lab"))
    assert r.sessions_changed is None and "last-audit" in r.sessions_error


async def test_data_assessment_commands_go_through_the_allowlist(
    sshd: SshServer, tmp_path: Path
) -> None:
    acts = assessing(sshd, tmp_path, CommandSpec(argv=["ls", "-1", str(tmp_path)]))
    svc = acts.inventory.service("agent-lab")
    # An explicit allowlist without the find: refused before anything is sent.
    only_ls = svc.model_copy(update={"allowed_commands": [["ls", "-1", str(tmp_path)]]})
    refused = SecurityActivities(sshd.inventory({"agent-lab": only_ls}))
    with pytest.raises(ApplicationError) as err:
        await refused.data_assessment(DataAssessmentInput(service="agent-lab"))
    assert err.value.type == "CommandNotAllowed" and "find" in str(err.value)


async def test_data_assessment_unconfigured_reports_nothing(
    sshd: SshServer, tmp_path: Path
) -> None:
    acts = world(sshd, tmp_path)
    svc = acts.inventory.service("agent-lab")
    bare = SecurityActivities(
        sshd.inventory({"agent-lab": svc.model_copy(update={"data_dir": None})})
    )
    r = await bare.data_assessment(DataAssessmentInput(service="agent-lab"))
    assert (r.sessions_dir, r.bucket_command) == ("", "")

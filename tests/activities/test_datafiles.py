"""activities/datafiles.py over the real test sshd, on real files: broken session JSON,
short CSV rows, a backup directory. The whole DataCorruption sequence loses no byte
(every original file's content is in the data dir or in quarantine, and in the
forensic tar), the counts before and after are right, and a retried keyed call moves,
restores or tars nothing twice."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import tarfile
import uuid
from pathlib import Path

import pytest
from temporalio.exceptions import ApplicationError

from activities.datafiles import DataFileActivities
from activities.inventory import CommandSpec, ServiceSpec
from activities.service import ServiceActivities
from tests.fixtures.sshd import HOST_NAME, SshServer
from workflows.contracts.datafiles import (
    SEED_CSV_HEADER,
    DataIntegritySpec,
    QuarantineInput,
    ReadOnlyInput,
    RebuildInput,
    RestoreInput,
    ScanInput,
    SnapshotInput,
)
from workflows.contracts.safety import SafetyOverrides
from workflows.contracts.service import CommandKind, ServiceCommandInput

SVC = "agent-lab"
STAMP = "20260301_101500"
VALUES = [
    "2026-03-01T09:00:00",
    "a",
    "gpt",
    "1",
    "2",
    "3",
    "40",
    "0.1",
    "e1",
    "t",
    "",
    "True",
    "api",
    "False",
    "ok",
    "False",
]
ROW = dict(zip(SEED_CSV_HEADER, VALUES, strict=True))
GOOD = {
    # A session with two runs: each run's fields over the session's own.
    "sessions/good1.json": json.dumps(
        {
            "agent_name": "alpha",
            "model": "gpt-4o",
            "runs": [
                {"ts": "2026-03-01T08:00:00", "prompt_tokens": 10, "streaming": True},
                {"ts": "2026-03-01T08:05:00", "prompt_tokens": 12, "run_notes": "x, y"},
            ],
        }
    ),
    "sessions/good2.json": json.dumps({"ts": "2026-03-01T07:00:00", "agent_name": "beta"}),
}
BROKEN: dict[str, str | bytes] = {
    "sessions/broken1.json": '{"ts": "2026-03-01T06:00:00", "agent_name": "gam',  # truncated
    "sessions/broken2.json": b"\xff\xfe\x00garbage",  # not even UTF-8
    "sessions/nobackup.json": "",  # empty: invalid, and its backup copy is broken too
}
BACKUP = {
    "broken1.json": json.dumps({"ts": "2026-03-01T06:00:00", "agent_name": "gamma"}),
    "20260228/broken2.json": json.dumps({"ts": "2026-03-01T05:00:00", "agent_name": "delta"}),
    "20260227/broken2.json": "{ older and broken",
    "nobackup.json": "{ also broken",
    "deleted.json": json.dumps({"ts": "x"}),  # in the backup, gone from the data dir
}


def write(root: Path, files: dict[str, str | bytes]) -> None:
    for rel, content in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(content if isinstance(content, bytes) else content.encode())


def runs_csv() -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(SEED_CSV_HEADER)
    w.writerow(ROW.values())
    w.writerow(list(ROW.values())[:9])  # short row: the runbook's "length mismatch"
    w.writerow(ROW.values())
    w.writerow(list(ROW.values())[:3])
    return buf.getvalue().encode()


def world(
    sshd: SshServer,
    tmp: Path,
    dry_run: bool = False,
    commands: dict[CommandKind, CommandSpec] | None = None,
    **spec: object,
) -> tuple[DataFileActivities, Path]:
    data = tmp / "app" / "data"
    write(data, {**GOOD, **BROKEN, "runs.csv": runs_csv()})
    write(tmp / "backup", dict(BACKUP))
    write(tmp / "logs", {"app.log": "INFO ok\nERROR failed to save session s3: disk full\n"})
    svc = ServiceSpec(
        hosts=[HOST_NAME],
        data_dir=str(data),
        log_files=[str(tmp / "logs" / "app.log")],
        data_integrity=DataIntegritySpec.model_validate({"backup_dir": str(tmp / "backup")} | spec),
        safety=SafetyOverrides(dry_run=dry_run),
        commands=commands or {},
    )
    return DataFileActivities(sshd.inventory({SVC: svc})), data


def digests(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in root.rglob("*")
        if p.is_file()
    }


def incident() -> str:
    return f"incident:DataCorruption:{uuid.uuid4().hex[:8]}"


async def test_full_sequence_loses_no_byte(sshd: SshServer, tmp_path: Path) -> None:
    acts, data = world(sshd, tmp_path)
    originals = digests(data)
    inc = f"incident:DataCorruption:{uuid.uuid4().hex[:8]}"

    # Investigation: the scope, the source, the backup.
    scan = await acts.scan(ScanInput(service=SVC))
    c = scan.counts
    assert (c.sessions_valid, c.sessions_invalid) == (2, 3)
    assert sorted(b.path for b in scan.invalid) == sorted(BROKEN)
    assert c.csv.path == "runs.csv" and c.csv.exists and c.csv.header_ok
    assert (c.csv.rows, c.csv.bad_rows, c.csv.first_bad) == (4, 2, [(3, 9), (5, 3)])
    assert not c.ok
    # The dated folder's valid copy counts; nobackup.json's copy is broken, so it does not.
    assert sorted(scan.backup_covers) == ["sessions/broken1.json", "sessions/broken2.json"]
    assert scan.missing_from_data == 1  # deleted.json
    assert scan.write_errors == ["ERROR failed to save session s3: disk full"]
    assert len(scan.recent) == 5

    # Containment: read-only, evidence, quarantine.
    on = await acts.read_only(ReadOnlyInput(service=SVC, incident_id=inc, on=True))
    flag = tmp_path / "app" / "READ_ONLY_MODE"  # default: beside data_dir, as the runbook's
    assert on.changed and flag.is_file() and inc in flag.read_text()
    snap = await acts.snapshot(SnapshotInput(service=SVC, incident_id=inc, stamp=STAMP))
    tar_path = tmp_path / "app" / "evidence" / f"evidence-{STAMP}.tar.gz"
    assert snap.path == f"{HOST_NAME}:{tar_path}" and snap.size_bytes == tar_path.stat().st_size
    assert snap.sha256 == hashlib.sha256(tar_path.read_bytes()).hexdigest()
    with tarfile.open(tar_path) as tar:  # the originals, byte for byte
        for rel, digest in originals.items():
            member = tar.extractfile(f"data/{rel}")
            assert member is not None and hashlib.sha256(member.read()).hexdigest() == digest
    targets = [b.path for b in scan.invalid] + ["runs.csv"]
    q = await acts.quarantine(
        QuarantineInput(service=SVC, incident_id=inc, stamp=STAMP, paths=targets)
    )
    folder = data / "quarantined" / STAMP
    assert q.folder == str(folder) and sorted(m.path for m in q.moved) == sorted(targets)
    assert not q.skipped
    for m in q.moved:
        assert Path(m.to) == folder / m.path and m.sha256 == originals[m.path]
        assert not (data / m.path).exists()

    # Recovery: restore, rebuild, validate.
    sessions = [b.path for b in scan.invalid]
    r = await acts.restore(RestoreInput(service=SVC, incident_id=inc, paths=sessions))
    assert sorted(x.path for x in r.restored) == ["sessions/broken1.json", "sessions/broken2.json"]
    assert r.missing == ["sessions/nobackup.json"] and not r.skipped
    assert (data / "sessions/broken2.json").read_text() == BACKUP["20260228/broken2.json"]
    assert (tmp_path / "backup" / "broken1.json").exists()  # copied, not moved
    rb = await acts.rebuild_csv(RebuildInput(service=SVC, incident_id=inc, stamp=STAMP))
    assert rb.previous_copy is None  # the corrupt CSV was already in quarantine
    assert (rb.rows, rb.sessions_used, rb.sessions_skipped) == (5, 4, 0)
    rows = list(csv.reader(io.StringIO((data / "runs.csv").read_text())))
    assert rows[0] == SEED_CSV_HEADER and all(len(row) == 16 for row in rows)
    assert [row[0] for row in rows[1:]] == sorted(row[0] for row in rows[1:])  # by ts
    alpha = [row for row in rows if row[1] == "alpha"]
    assert [row[3] for row in alpha] == ["10", "12"] and alpha[1][10] == "x, y"
    after = await acts.validate(ScanInput(service=SVC))
    assert (after.sessions_valid, after.sessions_invalid) == (4, 0)
    assert after.csv.ok and after.csv.rows == 5 and after.ok

    off = await acts.read_only(ReadOnlyInput(service=SVC, incident_id=inc, on=False))
    assert off.changed and not flag.exists()

    # No byte lost: every original content is in the data dir or in quarantine.
    now = set(digests(data).values())
    assert all(d in now for d in originals.values())
    quarantined = digests(folder)
    assert {originals[p] for p in targets} <= set(quarantined.values())


async def test_retried_keyed_calls_do_not_move_or_tar_twice(
    sshd: SshServer, tmp_path: Path
) -> None:
    acts, data = world(sshd, tmp_path)
    inc = incident()
    snap = SnapshotInput(service=SVC, incident_id=inc, stamp=STAMP)
    first = await acts.snapshot(snap)
    tar_path = Path(first.path.split(":", 1)[1])
    stat = tar_path.stat()  # noqa: ASYNC240
    again = await acts.snapshot(snap)  # a retry after a worker crash
    assert again.replayed and not first.replayed
    assert (again.path, again.sha256) == (first.path, first.sha256)
    assert tar_path.stat().st_mtime_ns == stat.st_mtime_ns  # noqa: ASYNC240 -- not rewritten
    assert list(tar_path.parent.iterdir()) == [tar_path]

    q_in = QuarantineInput(
        service=SVC, incident_id=inc, stamp=STAMP, paths=["sessions/broken1.json"]
    )
    q1 = await acts.quarantine(q_in)
    # The file is put back broken: a second *real* run would move it again.
    (data / "sessions/broken1.json").write_text("{ broken again")
    q2 = await acts.quarantine(q_in)
    assert q2.replayed and q2.moved == q1.moved and len(q1.moved) == 1
    assert (data / "sessions/broken1.json").read_text() == "{ broken again"  # untouched

    on = ReadOnlyInput(service=SVC, incident_id=inc, on=True)
    assert (await acts.read_only(on)).changed
    replay = await acts.read_only(on)
    assert replay.replayed and replay.changed  # still says *this incident* created it

    (data / "sessions/broken1.json").rename(tmp_path / "moved-away.json")
    r_in = RestoreInput(service=SVC, incident_id=inc, paths=["sessions/broken1.json"])
    r1 = await acts.restore(r_in)
    (data / "sessions/broken1.json").rename(tmp_path / "moved-away-2.json")
    r2 = await acts.restore(r_in)
    assert r2.replayed and r2.restored == r1.restored
    assert not (data / "sessions/broken1.json").exists()  # not copied a second time

    # A different incident's key runs for real -- and never over existing evidence.
    with pytest.raises(ApplicationError, match="exists: not overwritten"):
        await acts.snapshot(snap.model_copy(update={"incident_id": incident()}))
    assert tar_path.stat().st_mtime_ns == stat.st_mtime_ns  # noqa: ASYNC240
    other = await acts.snapshot(
        SnapshotInput(service=SVC, incident_id=incident(), stamp="20260301_101501")
    )
    assert not other.replayed and other.path != first.path


async def test_never_overwrites_never_leaves_the_data_dir(sshd: SshServer, tmp_path: Path) -> None:
    acts, data = world(sshd, tmp_path)
    (tmp_path / "app" / "outside.json").write_text("{")
    inc = incident()
    q = await acts.quarantine(
        QuarantineInput(
            service=SVC,
            incident_id=inc,
            stamp=STAMP,
            paths=[
                "../outside.json",
                "sessions/good1.json",
                "/etc/passwd",
                "sessions/broken1.json",
            ],
        )
    )
    assert [m.path for m in q.moved] == ["sessions/broken1.json"]
    reasons = {s.path: s.reason for s in q.skipped}
    assert "inside the data dir" in reasons["../outside.json"]
    assert "inside the data dir" in reasons["/etc/passwd"]
    assert "valid now" in reasons["sessions/good1.json"]  # a valid file is never moved
    assert (tmp_path / "app" / "outside.json").exists() and (data / "sessions/good1.json").exists()

    # Rebuilding over an existing CSV copies it to quarantine first.
    before = (data / "runs.csv").read_bytes()
    rb = await acts.rebuild_csv(RebuildInput(service=SVC, incident_id=inc, stamp=STAMP))
    assert rb.previous_copy == str(data / "quarantined" / STAMP / "runs.csv.pre-rebuild")
    assert Path(rb.previous_copy).read_bytes() == before  # noqa: ASYNC240

    # A flag that was already there is someone else's: not "created", never removed.
    flag = tmp_path / "app" / "READ_ONLY_MODE"
    flag.write_text("set by the on-call engineer\n")
    on = await acts.read_only(ReadOnlyInput(service=SVC, incident_id=inc, on=True))
    assert not on.changed and "existed" in on.detail
    off = await acts.read_only(ReadOnlyInput(service=SVC, incident_id=inc, on=False))
    assert not off.changed and "foreign" in off.detail and flag.exists()


async def test_dry_run_touches_nothing(sshd: SshServer, tmp_path: Path) -> None:
    acts, data = world(sshd, tmp_path, dry_run=True)
    originals = digests(tmp_path)
    inc = incident()
    scan = await acts.scan(ScanInput(service=SVC))  # read-only: still runs
    assert scan.counts.sessions_invalid == 3
    results = [
        await acts.read_only(ReadOnlyInput(service=SVC, incident_id=inc, on=True)),
        await acts.snapshot(SnapshotInput(service=SVC, incident_id=inc, stamp=STAMP)),
        await acts.quarantine(
            QuarantineInput(
                service=SVC, incident_id=inc, stamp=STAMP, paths=[b.path for b in scan.invalid]
            )
        ),
        await acts.restore(RestoreInput(service=SVC, incident_id=inc, paths=["sessions/a.json"])),
        await acts.rebuild_csv(RebuildInput(service=SVC, incident_id=inc, stamp=STAMP)),
    ]
    assert all(r.dry_run and r.detail.startswith("DRY RUN") for r in results)
    assert digests(tmp_path) == originals  # nothing written, moved or created


async def test_off_host_backups_and_evidence_through_the_inventory_commands(
    sshd: SshServer, tmp_path: Path
) -> None:
    """The runbook's S3 bucket, played by a directory the inventory's own commands copy
    from and to (as `aws s3 sync` / `aws s3 cp` would): the sync fills backup_dir so the
    scan finds a good copy it did not have; keyed, a retry copies nothing again; the
    evidence tar arrives off-host byte for byte; in dry-run nothing is copied."""
    bucket = tmp_path / "s3"
    write(bucket / "sessions", {"nobackup.json": json.dumps({"ts": "t", "agent_name": "eps"})})
    sync = CommandSpec(argv=["cp", "-R", "--", f"{bucket}/sessions/.", f"{tmp_path}/backup/"])
    upload = CommandSpec(
        argv=["cp", "-R", "--", f"{tmp_path}/app/evidence/.", f"{bucket}/forensics/"]
    )
    commands = {CommandKind.BACKUP_SYNC: sync, CommandKind.EVIDENCE_UPLOAD: upload}

    dry, _ = world(sshd, tmp_path / "dry", dry_run=True, commands=commands)
    dry_svc = ServiceActivities(dry.inventory)
    before = digests(tmp_path)
    inc = incident()
    for kind in commands:
        key = f"{inc}:{kind.value}"
        r = await dry_svc.run(ServiceCommandInput(service=SVC, command=kind, idempotency_key=key))
        assert r.dry_run and "DRY RUN: would run `cp -R" in r.result.stdout
    assert digests(tmp_path) == before

    acts, _ = world(sshd, tmp_path, commands=commands)
    svc = ServiceActivities(acts.inventory)
    assert "sessions/nobackup.json" not in (await acts.scan(ScanInput(service=SVC))).backup_covers
    key = ServiceCommandInput(
        service=SVC, command=CommandKind.BACKUP_SYNC, idempotency_key=f"{inc}:backup_sync"
    )
    first = await svc.run(key)
    assert first.result.ok and not first.replayed
    scan = await acts.scan(ScanInput(service=SVC))
    assert sorted(scan.backup_covers) == [
        "sessions/broken1.json",
        "sessions/broken2.json",
        "sessions/nobackup.json",
    ]
    (bucket / "sessions" / "nobackup.json").write_text("changed in the bucket")
    again = await svc.run(key)  # an activity retry after a crash: recorded, not re-run
    assert again.replayed and json.loads((tmp_path / "backup" / "nobackup.json").read_text())

    await acts.snapshot(SnapshotInput(service=SVC, incident_id=inc, stamp=STAMP))
    up = await svc.run(
        ServiceCommandInput(
            service=SVC,
            command=CommandKind.EVIDENCE_UPLOAD,
            idempotency_key=f"{inc}:evidence_upload",
        )
    )
    assert up.result.ok
    name = f"evidence-{STAMP}.tar.gz"
    local, remote = tmp_path / "app" / "evidence" / name, bucket / "forensics" / name
    assert remote.read_bytes() == local.read_bytes()


def test_off_host_commands_need_their_data_integrity_settings() -> None:
    sync = CommandSpec(argv=["aws", "s3", "sync", "s3://b/s/", "/b/"])
    with pytest.raises(ValueError, match="backup_sync fills data_integrity.backup_dir"):
        ServiceSpec(
            hosts=["h"],
            data_dir="/app/data",
            data_integrity=DataIntegritySpec(),
            commands={CommandKind.BACKUP_SYNC: sync},
        )
    with pytest.raises(ValueError, match="evidence_upload needs a data_integrity section"):
        ServiceSpec(hosts=["h"], commands={CommandKind.EVIDENCE_UPLOAD: sync})


async def test_scan_of_a_missing_data_dir_fails_non_retryably(
    sshd: SshServer, tmp_path: Path
) -> None:
    acts, data = world(sshd, tmp_path)
    data.rename(tmp_path / "gone")
    with pytest.raises(ApplicationError) as err:
        await acts.scan(ScanInput(service=SVC))
    assert err.value.type == "DataFileOpFailed" and err.value.non_retryable


def test_inventory_paths_default_from_data_dir() -> None:
    p = DataIntegritySpec().paths("/app/data")
    assert (p.read_only_flag, p.evidence_dir) == ("/app/READ_ONLY_MODE", "/app/evidence")
    assert (p.quarantine_dir, p.backup_dir) == ("/app/data/quarantined", None)
    with pytest.raises(ValueError, match="evidence_dir"):
        DataIntegritySpec(evidence_dir="evidence").paths("/app/data")
    with pytest.raises(ValueError, match="relative to data_dir"):
        DataIntegritySpec(sessions_glob="../etc/*.json")
    with pytest.raises(ValueError, match="data_dir"):
        ServiceSpec(hosts=["h"], data_integrity=DataIntegritySpec())

"""A World for DataCorruption: the data dir as a little state machine at the activity
boundary (which session files are valid, whether the CSV is, what the backup holds),
on top of fakes.World (policy, Slack, PagerDuty, incident log, post-mortem). Quarantine
moves files out of that state, restore puts back what the backup has, rebuild fixes
the CSV, scan and validate read it -- so the playbook's branches follow from the data,
not from scripted answers. The real activities are tested in
tests/activities/test_datafiles.py against the real sshd."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from tests.workflows.fakes import World
from workflows.contracts.datafiles import (
    DATAFILES_QUARANTINE,
    DATAFILES_READ_ONLY,
    DATAFILES_REBUILD_CSV,
    DATAFILES_RESTORE,
    DATAFILES_SCAN,
    DATAFILES_SNAPSHOT,
    DATAFILES_VALIDATE,
    BadFile,
    Counts,
    CsvReport,
    DataIntegrityPolicy,
    Moved,
    QuarantineInput,
    QuarantineResult,
    ReadOnlyInput,
    ReadOnlyResult,
    RebuildInput,
    RebuildResult,
    Restored,
    RestoreInput,
    RestoreResult,
    ScanInput,
    ScanReport,
    Skipped,
    SnapshotInput,
    SnapshotResult,
)
from workflows.contracts.policy import ServicePolicy
from workflows.contracts.service import CommandKind, ServiceCommandInput

SERVICE = "agent-lab"
CSV = "runs.csv"
# Side-effecting activities, as logged: the "nothing changed" checks look for these.
SIDE_EFFECTS = ("read_only:on", "read_only:off", "snapshot", "quarantine", "restore", "rebuild")


def data_policy(**kw: Any) -> ServicePolicy:
    di = DataIntegrityPolicy(configured=True, has_backup=True, has_write_log=True)
    di = di.model_copy(update=kw.pop("data_integrity", {}))
    base: dict[str, Any] = dict(
        service=SERVICE, hosts=["agent-lab-prod"], severity_default="P1", data_integrity=di
    )
    return ServicePolicy.model_validate(base | kw)


@dataclass
class DataWorld(World):
    # session path -> valid?
    sessions: dict[str, bool] = field(default_factory=lambda: {"sessions/a.json": True})
    csv_ok: bool = True
    backup: set[str] = field(default_factory=set)  # sessions with a valid backup copy
    stuck: set[str] = field(default_factory=set)  # files the quarantine cannot move
    flag_exists: bool = False  # read-only mode was on before the incident
    snapshot_fails: bool = False
    quarantined: list[str] = field(default_factory=list)
    # The off-host copies (the runbook's S3 bucket): backup_sync copies `remote` into
    # `backup`; evidence_upload fails with upload_exit != 0.
    remote: set[str] = field(default_factory=set)
    upload_exit: int = 0

    def command_hook(self, inp: ServiceCommandInput) -> tuple[int, str] | None:
        if inp.command == CommandKind.BACKUP_SYNC:
            self.backup |= self.remote
            return 0, "\n".join(f"download: s3://b/{p}" for p in sorted(self.remote))
        if inp.command == CommandKind.EVIDENCE_UPLOAD:
            return self.upload_exit, "upload: evidence.tar.gz" if self.upload_exit == 0 else ""
        return None

    def counts(self) -> Counts:
        bad = sum(1 for ok in self.sessions.values() if not ok)
        csv = CsvReport(
            path=CSV,
            exists=CSV not in self.quarantined or self.csv_ok,
            header_ok=True,
            rows=10,
            bad_rows=0 if self.csv_ok else 2,
        )
        return Counts(sessions_valid=len(self.sessions) - bad, sessions_invalid=bad, csv=csv)

    def activities(self) -> list[Callable[..., object]]:
        world = self

        @activity.defn(name=DATAFILES_SCAN.name)
        async def scan(inp: ScanInput) -> ScanReport:
            world.log("scan")
            bad = [p for p, ok in sorted(world.sessions.items()) if not ok]
            return ScanReport(
                counts=world.counts(),
                invalid=[BadFile(path=p, error="JSONDecodeError") for p in bad],
                recent=["sessions/a.json 120 bytes"],
                write_errors=["ERROR save failed"],
                backup_configured=world.policy.data_integrity.has_backup,
                backup_covers=[p for p in bad if p in world.backup],
            )

        @activity.defn(name=DATAFILES_VALIDATE.name)
        async def validate(inp: ScanInput) -> Counts:
            world.log("validate")
            return world.counts()

        @activity.defn(name=DATAFILES_READ_ONLY.name)
        async def read_only(inp: ReadOnlyInput) -> ReadOnlyResult:
            world.log(f"read_only:{'on' if inp.on else 'off'}")
            changed = inp.on != world.flag_exists
            world.flag_exists = inp.on if changed else world.flag_exists
            return ReadOnlyResult(flag="/app/READ_ONLY_MODE", changed=changed, detail="fake")

        @activity.defn(name=DATAFILES_SNAPSHOT.name)
        async def snapshot(inp: SnapshotInput) -> SnapshotResult:
            world.log("snapshot", inp.stamp)
            if world.snapshot_fails:
                raise ApplicationError("tar: disk full", type="SnapshotFailed", non_retryable=True)
            return SnapshotResult(
                path=f"h:/app/evidence/evidence-{inp.stamp}.tar.gz",
                size_bytes=2048,
                sha256="ab" * 32,
                members=12,
            )

        @activity.defn(name=DATAFILES_QUARANTINE.name)
        async def quarantine(inp: QuarantineInput) -> QuarantineResult:
            world.log("quarantine", ",".join(inp.paths))
            folder = f"/app/data/quarantined/{inp.stamp}"
            moved, skipped = [], []
            for p in inp.paths:
                if p in world.stuck:
                    skipped.append(Skipped(path=p, reason="not moved: permission denied"))
                    continue
                world.quarantined.append(p)
                world.sessions.pop(p, None)
                moved.append(Moved(path=p, to=f"{folder}/{p}", size_bytes=10, sha256="cd" * 32))
            return QuarantineResult(folder=folder, moved=moved, skipped=skipped)

        @activity.defn(name=DATAFILES_RESTORE.name)
        async def restore(inp: RestoreInput) -> RestoreResult:
            world.log("restore", ",".join(inp.paths))
            back = [p for p in inp.paths if p in world.backup]
            world.sessions |= {p: True for p in back}
            return RestoreResult(
                restored=[Restored(path=p, source=f"/backup/{p}", sha256="ef" * 32) for p in back],
                missing=[p for p in inp.paths if p not in world.backup],
            )

        @activity.defn(name=DATAFILES_REBUILD_CSV.name)
        async def rebuild(inp: RebuildInput) -> RebuildResult:
            world.log("rebuild", inp.stamp)
            world.csv_ok = True
            return RebuildResult(
                path="/app/data/runs.csv",
                rows=len(world.sessions),
                sessions_used=len(world.sessions),
            )

        return [
            *super().activities(),
            scan,
            validate,
            read_only,
            snapshot,
            quarantine,
            restore,
            rebuild,
        ]

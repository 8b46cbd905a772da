"""DataCorruption's host work: one activity per operation of the runbook -- scan, read-only
flag on/off, forensic snapshot, quarantine, restore from backup, rebuild the CSV,
validate. Each is a fixed script from this code base (activities/datafiles_host.py, or
a short sh script below) run over SSH with every path a separate argv word; the paths
come from the service's `data_integrity:` inventory section, never from an alert.

Side effects are keyed on the target (activities/service.run_keyed, key = incident +
operation), so an activity retried after a worker crash returns the recorded result
instead of moving files or writing a tar a second time. Scan and validate are
read-only and retry freely. In dry-run (inventory `safety.dry_run`) the side effects
say what they would do and touch nothing.

A script that ran and failed raises a non-retryable ApplicationError of type
`DataFileOpFailed` (`SnapshotFailed` for the tar): the same script on the same files
would fail the same way, and a keyed one would only replay its recorded failure.
"""

from __future__ import annotations

import json
import shlex

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.errors import app_error
from activities.inventory import CommandSpec, HostSpec, Inventory
from activities.scripts import DATAFILES_HOST_SCRIPT as HOST_SCRIPT
from activities.scripts import EVIDENCE_TAR_SCRIPT as SNAPSHOT_SCRIPT
from activities.scripts import READ_ONLY_OFF, READ_ONLY_ON
from activities.service import resolve_host, run_keyed
from activities.ssh import run_checked
from workflows.contracts.datafiles import (
    DATAFILES_QUARANTINE,
    DATAFILES_READ_ONLY,
    DATAFILES_REBUILD_CSV,
    DATAFILES_RESTORE,
    DATAFILES_SCAN,
    DATAFILES_SNAPSHOT,
    DATAFILES_VALIDATE,
    MAX_LISTED,
    Counts,
    DataIntegritySpec,
    DataPaths,
    QuarantineInput,
    QuarantineResult,
    ReadOnlyInput,
    ReadOnlyResult,
    RebuildInput,
    RebuildResult,
    RestoreInput,
    RestoreResult,
    ScanInput,
    ScanReport,
    SnapshotInput,
    SnapshotResult,
)
from workflows.contracts.ssh import CommandResult

MAX_OUTPUT_BYTES = 1024 * 1024  # a scan lists up to MAX_LISTED files


def failed(what: str, res: CommandResult) -> ApplicationError:
    return app_error(
        "DataFileOpFailed",
        f"{res.host}: {what}: exit {res.exit_status}: {(res.stderr or res.stdout)[-400:]}",
    )


def first_json(what: str, res: CommandResult) -> dict[str, object]:
    if not res.ok:
        raise failed(what, res)
    line = res.stdout.split("\n", 1)[0]
    try:
        doc = json.loads(line)
    except ValueError:
        raise failed(f"{what}: unreadable output", res) from None
    if not isinstance(doc, dict):
        raise failed(f"{what}: unexpected output", res)
    return doc


class DataFileActivities:
    def __init__(self, inventory: Inventory) -> None:
        self.inventory = inventory

    def _where(self, service: str) -> tuple[str, HostSpec, DataIntegritySpec, DataPaths]:
        svc = self.inventory.service(service)
        spec = svc.data_integrity
        if spec is None or svc.data_dir is None:
            raise app_error(
                "CommandNotConfigured", f"service {service!r} has no data_integrity section"
            )
        host_name = resolve_host(service, svc, None)
        return host_name, self.inventory.host(host_name), spec, spec.paths(svc.data_dir)

    def _py(self, spec: DataIntegritySpec, p: DataPaths, op: str, *args: str) -> list[str]:
        header = ",".join(spec.csv_header)
        return [
            spec.python,
            "-c",
            HOST_SCRIPT,
            op,
            p.data_dir,
            p.sessions_glob,
            p.csv,
            header,
            *args,
        ]

    def _dry(self, service: str) -> bool:
        return self.inventory.safety_for(service).dry_run

    async def _keyed(
        self, service: str, host_name: str, argv: list[str], key: str, timeout_s: float = 300
    ) -> tuple[CommandResult, bool]:
        spec = CommandSpec(argv=argv, timeout_s=timeout_s)
        return await run_keyed(
            self.inventory, service, host_name, spec, key=key, max_output_bytes=MAX_OUTPUT_BYTES
        )

    async def _scan(self, service: str, *, full: bool) -> ScanReport:
        host_name, host, spec, p = self._where(service)
        logs = self.inventory.service(service).log_files if full else []
        backup, pattern = (p.backup_dir or "", spec.write_error_pattern) if full else ("", "")
        argv = self._py(spec, p, "scan", backup, pattern, str(MAX_LISTED), *logs)
        res = await run_checked(
            self.inventory,
            service,
            host_name,
            argv,
            timeout_s=300,
            max_output_bytes=MAX_OUTPUT_BYTES,
        )
        doc = first_json("scan", res)
        lines = [ln for ln in res.stdout.split("\n")[1:] if ln.strip()]
        return ScanReport.model_validate(doc | {"write_errors": lines})

    @activity.defn(name=DATAFILES_SCAN.name)
    async def scan(self, inp: ScanInput) -> ScanReport:
        """Investigation: the runbook's JSON and CSV checks, the newest session files,
        write errors in the log, and which corrupt files the backup has good copies of."""
        return await self._scan(inp.service, full=True)

    @activity.defn(name=DATAFILES_VALIDATE.name)
    async def validate(self, inp: ScanInput) -> Counts:
        """Recovery's "Validate Data Integrity": valid/invalid sessions and the CSV."""
        return (await self._scan(inp.service, full=False)).counts

    @activity.defn(name=DATAFILES_READ_ONLY.name)
    async def read_only(self, inp: ReadOnlyInput) -> ReadOnlyResult:
        host_name, host, _, p = self._where(inp.service)
        verb = "on" if inp.on else "off"
        if self._dry(inp.service):
            what = f"touch {p.read_only_flag}" if inp.on else f"remove {p.read_only_flag}"
            return ReadOnlyResult(
                flag=p.read_only_flag, dry_run=True, detail=f"DRY RUN: would {what} on {host_name}"
            )
        script = READ_ONLY_ON if inp.on else READ_ONLY_OFF
        mark = f"remedy read-only mode for {inp.incident_id}"
        argv = ["sh", "-c", script, "remedy-read-only", p.read_only_flag, mark]
        res, replayed = await self._keyed(
            inp.service, host_name, argv, f"{inp.incident_id}:read-only:{verb}", 30
        )
        if not res.ok:
            raise failed(f"read-only {verb}", res)
        state = res.stdout.strip()
        return ReadOnlyResult(
            flag=p.read_only_flag,
            changed=state in ("created", "removed"),
            replayed=replayed,
            detail=f"{host_name}:{p.read_only_flag}: {state}",
        )

    @activity.defn(name=DATAFILES_SNAPSHOT.name)
    async def snapshot(self, inp: SnapshotInput) -> SnapshotResult:
        host_name, host, _, p = self._where(inp.service)
        argv = [
            "sh",
            "-c",
            SNAPSHOT_SCRIPT,
            "remedy-evidence",
            p.evidence_dir,
            inp.stamp,
            p.data_dir,
        ]
        if self._dry(inp.service):
            return SnapshotResult(
                dry_run=True,
                detail=f"DRY RUN: would tar {p.data_dir} into {host_name}:{p.evidence_dir}",
            )
        res, replayed = await self._keyed(
            inp.service, host_name, argv, f"{inp.incident_id}:evidence", 600
        )
        if not res.ok:
            raise app_error(
                "SnapshotFailed", f"{host_name}: exit {res.exit_status}: {res.stderr[-300:]}"
            )
        path, size, digest, members = res.stdout.strip().rsplit(" ", 3)
        return SnapshotResult(
            path=f"{host_name}:{path}",
            size_bytes=int(size),
            sha256=digest,
            members=int(members),
            replayed=replayed,
            detail=f"tar of {p.data_dir}",
        )

    @activity.defn(name=DATAFILES_QUARANTINE.name)
    async def quarantine(self, inp: QuarantineInput) -> QuarantineResult:
        host_name, host, spec, p = self._where(inp.service)
        if self._dry(inp.service):
            into = f"{p.quarantine_dir}/{inp.stamp}"
            what = f"DRY RUN: would move {shlex.join(inp.paths)} into {into}"
            return QuarantineResult(dry_run=True, detail=what)
        argv = self._py(spec, p, "quarantine", p.quarantine_dir, inp.stamp, *inp.paths)
        res, replayed = await self._keyed(
            inp.service, host_name, argv, f"{inp.incident_id}:quarantine"
        )
        doc = first_json("quarantine", res)
        return QuarantineResult.model_validate(doc | {"replayed": replayed})

    @activity.defn(name=DATAFILES_RESTORE.name)
    async def restore(self, inp: RestoreInput) -> RestoreResult:
        host_name, host, spec, p = self._where(inp.service)
        if p.backup_dir is None:
            raise app_error("CommandNotConfigured", f"service {inp.service!r} has no backup_dir")
        if self._dry(inp.service):
            return RestoreResult(
                dry_run=True,
                detail=f"DRY RUN: would copy {shlex.join(inp.paths)} from {p.backup_dir}",
            )
        argv = self._py(spec, p, "restore", p.backup_dir, *inp.paths)
        res, replayed = await self._keyed(
            inp.service, host_name, argv, f"{inp.incident_id}:restore"
        )
        doc = first_json("restore", res)
        return RestoreResult.model_validate(doc | {"replayed": replayed})

    @activity.defn(name=DATAFILES_REBUILD_CSV.name)
    async def rebuild_csv(self, inp: RebuildInput) -> RebuildResult:
        host_name, host, spec, p = self._where(inp.service)
        if self._dry(inp.service):
            what = f"DRY RUN: would rebuild {p.csv} from the sessions"
            return RebuildResult(dry_run=True, detail=what)
        argv = self._py(spec, p, "rebuild", p.quarantine_dir, inp.stamp)
        res, replayed = await self._keyed(
            inp.service, host_name, argv, f"{inp.incident_id}:rebuild-csv"
        )
        doc = first_json("rebuild", res)
        return RebuildResult.model_validate(doc | {"replayed": replayed})

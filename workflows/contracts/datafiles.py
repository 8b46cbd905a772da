"""Typed contracts of the DataCorruption playbook (Agent Lab "Playbook: Data Corruption",
P1): activity names, inputs/results, the inventory's `data_integrity:` section and the
names-and-numbers part of it a workflow may see.

Two levels, as for the `agent_lab:` section: `DataIntegritySpec` is the inventory
section (paths on the host; worker side only); `DataIntegrityPolicy` is what enters
workflow history inside ServicePolicy. Activities get a service *name* and resolve the
paths from the inventory. The file paths a result carries (which session files are
corrupt, where each was moved) come from the host, are recorded in the timeline -- every
move must be -- and go back to the host only as separate argv words that the host
script checks against the data dir before touching anything.

Backups are a directory on the host holding known-good copies of the session files.
Where the copies live elsewhere -- the runbook's `s3://agent-lab-backups/sessions/` --
the service's `backup_sync` command (e.g. `aws s3 sync s3://... <backup_dir>`) brings
them into that directory at the start of the Investigation, and its `evidence_upload`
command (e.g. `aws s3 cp --recursive <evidence_dir> s3://.../forensics/`) sends the
forensic tar off the host right after it is written. Both are inventory argv, run over
SSH like every service command, keyed so a retry does not copy twice.
"""

from __future__ import annotations

import posixpath
from datetime import timedelta

from pydantic import BaseModel, Field, field_validator

from workflows import policies
from workflows.contracts.base import Activity, Strict
from workflows.models import Phase

# The runbook's "Rebuild Missing Data" script writes exactly this header.
SEED_CSV_HEADER = [
    "ts",
    "agent_name",
    "model",
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "latency_ms",
    "cost_usd",
    "experiment_id",
    "task_label",
    "run_notes",
    "streaming",
    "model_list_source",
    "tool_web_enabled",
    "web_status",
    "aborted",
]


# The seed's "Post-Incident Actions": people's work, carried into the checklist.
DEFAULT_HUMAN_STEPS = [
    "Root cause analysis: determine the corruption cause (bug, disk failure, ...)",
    "Backup verification: improve backup integrity checks",
    "Data validation: add real-time corruption detection",
    "Recovery testing: regular DR tests including data corruption scenarios",
]


# Detection from the general process (0-5 min), then the playbook's Investigation
# (5-20 min), Containment (20-60 min) and Recovery (60-180 min); ends after detection.
DEFAULT_BUDGETS: dict[Phase, timedelta] = {
    Phase.DETECTION: timedelta(minutes=5),
    Phase.ASSESSMENT: timedelta(minutes=20),
    Phase.RESPONSE: timedelta(minutes=60),
    Phase.VERIFICATION: timedelta(minutes=180),
}


MAX_LISTED = 1000  # file names a scan lists (counts are always exact)


def _inside(path: str, base: str) -> bool:
    return path == base or path.startswith(base.rstrip("/") + "/")


# ---------------------------------------------------------------- inventory (worker side)
class DataPaths(BaseModel):
    """The section's paths resolved against the service's data_dir: all absolute."""

    data_dir: str
    sessions_glob: str  # relative to data_dir
    csv: str  # relative to data_dir
    backup_dir: str | None
    quarantine_dir: str
    evidence_dir: str
    read_only_flag: str


class DataIntegritySpec(Strict):
    """The inventory's `services.X.data_integrity:` section. Every field has a default
    derived from the service's `data_dir` (`data_integrity: {}` takes them all); relative
    paths are relative to data_dir."""

    sessions_glob: str = "sessions/*.json"
    csv_path: str = "runs.csv"
    csv_header: list[str] = Field(default_factory=lambda: list(SEED_CSV_HEADER), min_length=1)
    # Known-good copies of session files, by name (see activities/datafiles_host.py).
    backup_dir: str | None = None
    quarantine_dir: str = "quarantined"  # the runbook's data/quarantined/<timestamp>/
    evidence_dir: str | None = Field(default=None, description="default: <data_dir>/../evidence")
    read_only_flag: str | None = Field(
        default=None, description="default: <data_dir>/../READ_ONLY_MODE (the runbook's)"
    )
    write_error_pattern: str = "write|save|persist"  # grep -i in the service's log_files
    python: str = "python3"  # the interpreter on the host that runs the fixed scripts
    # More corrupt files than this is beyond automation: escalate before changing anything.
    max_files: int = Field(default=500, ge=1, le=MAX_LISTED)
    budgets: dict[Phase, float] = Field(default_factory=dict, description="seconds")
    human_steps: list[str] = Field(default_factory=lambda: list(DEFAULT_HUMAN_STEPS))

    @field_validator("sessions_glob", "csv_path")
    @classmethod
    def _relative(cls, v: str) -> str:
        # Scan, quarantine and restore work on files *in* the data dir, and the forensic
        # tar covers exactly the data dir: nothing they touch may be outside it.
        if v.startswith("/") or ".." in v.split("/") or not v.strip("/."):
            raise ValueError(f"{v!r} must be a path relative to data_dir, inside it")
        return v

    @field_validator("csv_header")
    @classmethod
    def _no_commas(cls, v: list[str]) -> list[str]:
        if any("," in h or not h for h in v):
            raise ValueError("header names must be non-empty and contain no comma")
        return v

    def paths(self, data_dir: str) -> DataPaths:
        """Resolve against data_dir; ValueError if the layout would defeat the playbook."""
        if not data_dir.startswith("/"):
            raise ValueError(f"data_dir {data_dir!r} must be absolute")
        data = posixpath.normpath(data_dir)
        parent = posixpath.dirname(data)

        def at(p: str | None, default: str) -> str:
            return posixpath.normpath(posixpath.join(data, p) if p else default)

        out = DataPaths(
            data_dir=data,
            sessions_glob=self.sessions_glob,
            csv=self.csv_path,
            backup_dir=at(self.backup_dir, "") if self.backup_dir else None,
            quarantine_dir=at(self.quarantine_dir, ""),
            evidence_dir=at(self.evidence_dir, posixpath.join(parent, "evidence")),
            read_only_flag=at(self.read_only_flag, posixpath.join(parent, "READ_ONLY_MODE")),
        )
        if _inside(out.evidence_dir, data):
            raise ValueError("evidence_dir must be outside data_dir (the tar would hold itself)")
        sessions = posixpath.dirname(posixpath.join(data, self.sessions_glob))
        if out.backup_dir and _inside(out.backup_dir, sessions):
            raise ValueError("backup_dir must not be where the sessions are scanned")
        if out.quarantine_dir == data:
            raise ValueError("quarantine_dir must not be data_dir itself")
        return out

    def policy(
        self, *, has_logs: bool, has_backup_sync: bool = False, has_evidence_upload: bool = False
    ) -> DataIntegrityPolicy:
        budgets = DEFAULT_BUDGETS | {p: timedelta(seconds=s) for p, s in self.budgets.items()}
        return DataIntegrityPolicy(
            configured=True,
            has_backup=self.backup_dir is not None,
            has_backup_sync=has_backup_sync,
            has_evidence_upload=has_evidence_upload,
            has_write_log=has_logs,
            max_files=self.max_files,
            budgets=budgets,
            human_steps=self.human_steps,
        )


# ---------------------------------------------------------------- what a workflow sees
class DataIntegrityPolicy(BaseModel):
    """Flags and numbers from the `data_integrity:` section: no path."""

    configured: bool = False
    has_backup: bool = False
    has_backup_sync: bool = False  # the service's `backup_sync` command (off-host backups)
    has_evidence_upload: bool = False  # its `evidence_upload` command
    has_write_log: bool = False
    max_files: int = 500
    budgets: dict[Phase, timedelta] = Field(default_factory=lambda: dict(DEFAULT_BUDGETS))
    human_steps: list[str] = Field(default_factory=lambda: list(DEFAULT_HUMAN_STEPS))


# ---------------------------------------------------------------- scan / validate
class BadFile(BaseModel):
    path: str = Field(description="relative to data_dir")
    error: str


class CsvReport(BaseModel):
    path: str
    exists: bool = False
    header_ok: bool = False
    rows: int = 0
    bad_rows: int = Field(default=0, description="rows whose length is not the header's")
    first_bad: list[tuple[int, int]] = Field(default_factory=list, description="(line, length)")
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.exists and self.header_ok and self.bad_rows == 0 and not self.error

    def summary(self) -> str:
        if not self.exists:
            return f"{self.path}: missing"
        state = (
            "ok"
            if self.ok
            else self.error
            or ", ".join(
                (["bad header"] if not self.header_ok else []) + [f"{self.bad_rows} bad rows"]
            )
        )
        return f"{self.path}: {self.rows} rows, {state}"


class Counts(BaseModel):
    """The runbook's "Valid sessions: N, Invalid: M", plus the CSV's state."""

    sessions_valid: int
    sessions_invalid: int
    csv: CsvReport

    @property
    def ok(self) -> bool:
        return self.sessions_invalid == 0 and self.csv.ok

    def line(self) -> str:
        return (
            f"Valid sessions: {self.sessions_valid}, Invalid: {self.sessions_invalid}; "
            + self.csv.summary()
        )


class ScanInput(BaseModel):
    service: str


class ScanReport(BaseModel):
    counts: Counts
    invalid: list[BadFile] = Field(default_factory=list, description=f"up to {MAX_LISTED}")
    recent: list[str] = Field(default_factory=list, description="newest session files")
    write_errors: list[str] = Field(default_factory=list, description="log lines, redacted")
    backup_configured: bool = False
    backup_covers: list[str] = Field(
        default_factory=list, description="invalid sessions with a valid copy in the backup"
    )
    missing_from_data: int = Field(default=0, description="backup files absent from data")


# ---------------------------------------------------------------- side effects (keyed)
class KeyedResult(BaseModel):
    replayed: bool = False  # the key had already run on the host: nothing ran again
    dry_run: bool = False  # the service is in dry-run: nothing ran, `detail` says what would
    detail: str = ""


class ReadOnlyInput(BaseModel):
    service: str
    incident_id: str
    on: bool


class ReadOnlyResult(KeyedResult):
    flag: str = ""
    # on: this call created the flag (False: it was already there, someone else's).
    # off: this call removed it.
    changed: bool = False


class SnapshotInput(BaseModel):
    service: str
    incident_id: str
    stamp: str = Field(pattern=r"^\d{8}_\d{6}$", description="%Y%m%d_%H%M%S, workflow time")


class SnapshotResult(KeyedResult):
    path: str = ""
    size_bytes: int = 0
    sha256: str = ""
    members: int = 0


class Moved(BaseModel):
    path: str = Field(description="relative to data_dir")
    to: str
    size_bytes: int
    sha256: str


class Skipped(BaseModel):
    path: str
    reason: str


class QuarantineInput(BaseModel):
    service: str
    incident_id: str
    stamp: str = Field(pattern=r"^\d{8}_\d{6}$")
    paths: list[str] = Field(description="relative to data_dir, from the scan")


class QuarantineResult(KeyedResult):
    folder: str = ""
    moved: list[Moved] = Field(default_factory=list)
    skipped: list[Skipped] = Field(default_factory=list)


class RestoreInput(BaseModel):
    service: str
    incident_id: str
    paths: list[str] = Field(description="session files to restore, relative to data_dir")


class Restored(BaseModel):
    path: str
    source: str
    sha256: str


class RestoreResult(KeyedResult):
    restored: list[Restored] = Field(default_factory=list)
    missing: list[str] = Field(default_factory=list, description="no valid backup copy")
    skipped: list[Skipped] = Field(default_factory=list)


class RebuildInput(BaseModel):
    service: str
    incident_id: str
    stamp: str = Field(pattern=r"^\d{8}_\d{6}$")


class RebuildResult(KeyedResult):
    path: str = ""
    rows: int = 0
    sessions_used: int = 0
    sessions_skipped: int = 0
    previous_copy: str | None = Field(
        default=None, description="where the CSV it replaced was copied (never overwritten)"
    )


# ---------------------------------------------------------------- activities
DATAFILES_SCAN = Activity("datafiles.scan", ScanInput, ScanReport, policies.DIAGNOSTIC)
DATAFILES_READ_ONLY = Activity(
    "datafiles.read_only", ReadOnlyInput, ReadOnlyResult, policies.SIDE_EFFECT
)
DATAFILES_SNAPSHOT = Activity(
    "datafiles.snapshot", SnapshotInput, SnapshotResult, policies.SIDE_EFFECT
)
DATAFILES_QUARANTINE = Activity(
    "datafiles.quarantine", QuarantineInput, QuarantineResult, policies.SIDE_EFFECT
)
DATAFILES_RESTORE = Activity("datafiles.restore", RestoreInput, RestoreResult, policies.SIDE_EFFECT)
DATAFILES_REBUILD_CSV = Activity(
    "datafiles.rebuild_csv", RebuildInput, RebuildResult, policies.SIDE_EFFECT
)
DATAFILES_VALIDATE = Activity("datafiles.validate", ScanInput, Counts, policies.DIAGNOSTIC)

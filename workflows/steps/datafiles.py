"""DataCorruption's steps: each calls one activity of activities/datafiles.py by name and
puts what it saw or did in the timeline. Every file moved, restored or rewritten gets
its own timeline entry (the runbook's "nothing lost" is auditable from the timeline
alone). A step whose activity failed is recorded by `Incident.act` and returns None:
the playbook decides what that means.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows.contracts.datafiles import (
        DATAFILES_QUARANTINE,
        DATAFILES_READ_ONLY,
        DATAFILES_REBUILD_CSV,
        DATAFILES_RESTORE,
        DATAFILES_SCAN,
        DATAFILES_SNAPSHOT,
        DATAFILES_VALIDATE,
        Counts,
        KeyedResult,
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
    )
    from workflows.contracts.service import (
        SERVICE_RUN,
        CommandKind,
        ServiceCommandInput,
    )
    from workflows.incident import Incident, StepFailed
    from workflows.models import Outcome
    from workflows.policies import SIDE_EFFECT

SHOWN = 5  # file names quoted in a summary line; the full lists are in the result


def _names(paths: list[str]) -> str:
    more = f" and {len(paths) - SHOWN} more" if len(paths) > SHOWN else ""
    return ", ".join(paths[:SHOWN]) + more


async def scan(inc: Incident) -> ScanReport | None:
    """Investigation: scope (JSON and CSV checks), source (recent writes, write errors in
    the log) and the backup (which corrupt files it holds a valid copy of)."""
    r = await inc.attempt("scan data files", DATAFILES_SCAN, ScanInput(service=inc.service))
    if r is None:
        return None
    c = r.counts
    bad = "; ".join(f"{b.path}: {b.error}" for b in r.invalid[:SHOWN])
    inc.record(
        "diagnosis: session files",
        "ok",
        f"Valid sessions: {c.sessions_valid}, Invalid: {c.sessions_invalid}"
        + (f" -- {bad}" if bad else ""),
    )
    rows = ", ".join(f"row at line {ln}: length {n}" for ln, n in c.csv.first_bad[:SHOWN])
    inc.record("diagnosis: csv", "ok", c.csv.summary() + (f" -- {rows}" if rows else ""))
    inc.record("diagnosis: recent writes", "ok", "\n".join(r.recent) or "no session files")
    if inc.has_policy and inc.policy.data_integrity.has_write_log:
        inc.record(
            "diagnosis: write errors in the log",
            "ok",
            "\n".join(r.write_errors) or "no write/save/persist lines",
        )
    if r.backup_configured:
        covers = f"valid copies of {len(r.backup_covers)} of {c.sessions_invalid} corrupt sessions"
        absent = f"{r.missing_from_data} backup files absent from the data dir"
        inc.record("diagnosis: backup", "ok", f"{covers}; {absent}")
    else:
        inc.record("diagnosis: backup", "ok", "no backup_dir configured")
    return r


async def validate(inc: Incident, step: str) -> Counts | None:
    try:
        return await inc.act(step, DATAFILES_VALIDATE, ScanInput(service=inc.service))
    except StepFailed:
        return None


def _outcome(res: KeyedResult) -> Outcome:
    return "skipped" if res.dry_run else "ok"


def _replayed(res: KeyedResult) -> str:
    return " (replayed: it had already run)" if res.replayed else ""


async def read_only(inc: Incident, on: bool) -> ReadOnlyResult | None:
    """The runbook's `touch /app/READ_ONLY_MODE` (on) -- and, at the end, its removal."""
    step = f"read-only mode {'on' if on else 'off'}"
    res = await inc.attempt(
        step,
        DATAFILES_READ_ONLY,
        ReadOnlyInput(service=inc.service, incident_id=inc.run_key, on=on),
    )
    if res is None:
        return None
    inc.record(step, _outcome(res), res.detail + _replayed(res))
    return res


async def offsite(inc: Incident, kind: CommandKind, step: str) -> bool:
    """The runbook's S3 copies (`aws s3 ls/cp`) as the service's own `backup_sync` /
    `evidence_upload` command on the data host. Keyed (incident + command): a retry
    after a crash does not copy twice; in dry-run it only says what it would run."""
    key = f"{inc.run_key}:{kind.value}"
    res = await inc.attempt(
        step,
        SERVICE_RUN,
        ServiceCommandInput(service=inc.service, command=kind, idempotency_key=key),
        policy=SIDE_EFFECT,
    )
    if res is None:
        return False
    r = res.result
    if res.dry_run:
        inc.record(step, "skipped", r.stdout)
        return True
    said = (r.stdout.strip() if r.ok else (r.stderr.strip() or r.stdout.strip()))[-300:]
    again = " (replayed: it had already run)" if res.replayed else ""
    inc.record(
        step,
        "ok" if r.ok else "failed",
        f"exit {r.exit_status}{again}" + (f": {said}" if said else ""),
    )
    return r.ok


async def snapshot(inc: Incident, stamp: str) -> bool:
    """Preserve Evidence: a tar of the data dir before anything in it changes."""
    res = await inc.attempt(
        "forensic copy",
        DATAFILES_SNAPSHOT,
        SnapshotInput(service=inc.service, incident_id=inc.run_key, stamp=stamp),
    )
    if res is None:
        return False
    got = (
        res.detail
        if res.dry_run
        else (
            f"{res.path}: {res.members} entries, {res.size_bytes} bytes, sha256 {res.sha256}; "
            f"{res.detail}"
        )
    )
    inc.record("forensic copy", _outcome(res), got + _replayed(res))
    return True


async def quarantine(inc: Incident, stamp: str, paths: list[str]) -> QuarantineResult | None:
    """Move (never delete) each corrupt file into the timestamped quarantine folder."""
    res = await inc.attempt(
        "quarantine",
        DATAFILES_QUARANTINE,
        QuarantineInput(service=inc.service, incident_id=inc.run_key, stamp=stamp, paths=paths),
    )
    if res is None:
        return None
    if res.dry_run:
        inc.record("quarantine", "skipped", res.detail)
        return res
    for m in res.moved:
        inc.record(
            f"quarantined: {m.path}",
            "ok",
            f"moved to {m.to} ({m.size_bytes} bytes, sha256 {m.sha256})",
        )
    for s in res.skipped:
        inc.record(f"quarantine: {s.path}", "skipped", s.reason)
    inc.record(
        "quarantine", "ok", f"{len(res.moved)} files moved into {res.folder}" + _replayed(res)
    )
    return res


async def restore(inc: Incident, paths: list[str]) -> RestoreResult | None:
    """Restore from Backup: a valid copy of each quarantined session, never overwriting."""
    res = await inc.attempt(
        "restore from backup",
        DATAFILES_RESTORE,
        RestoreInput(service=inc.service, incident_id=inc.run_key, paths=paths),
    )
    if res is None:
        return None
    if res.dry_run:
        inc.record("restore from backup", "skipped", res.detail)
        return res
    for r in res.restored:
        inc.record(f"restored: {r.path}", "ok", f"copied from {r.source} (sha256 {r.sha256})")
    for p in res.missing:
        inc.record(f"restore: {p}", "failed", "no valid copy in the backup")
    for s in res.skipped:
        inc.record(f"restore: {s.path}", "failed", s.reason)
    inc.record(
        "restore from backup",
        "ok" if len(res.restored) == len(paths) else "failed",
        f"{len(res.restored)} of {len(paths)} restored" + _replayed(res),
    )
    return res


async def rebuild_csv(inc: Incident, stamp: str) -> RebuildResult | None:
    """Rebuild Missing Data: the CSV from the (now valid) session files."""
    res = await inc.attempt(
        "rebuild csv",
        DATAFILES_REBUILD_CSV,
        RebuildInput(service=inc.service, incident_id=inc.run_key, stamp=stamp),
    )
    if res is None:
        return None
    if res.dry_run:
        inc.record("rebuild csv", "skipped", res.detail)
        return res
    prev = f"; the CSV it replaced copied to {res.previous_copy}" if res.previous_copy else ""
    inc.record(
        "rebuild csv",
        "ok",
        f"{res.path}: {res.rows} rows from {res.sessions_used} sessions "
        f"({res.sessions_skipped} corrupt skipped){prev}" + _replayed(res),
    )
    return res

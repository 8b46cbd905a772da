"""DataCorruption (Agent Lab playbook "Data Corruption", P1)."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows.contracts.datafiles import Counts, ScanReport
    from workflows.contracts.service import CommandKind
    from workflows.coverage import AGENT_LAB, asks, automated, declare, deviation
    from workflows.models import IncidentInput, Phase, PlaybookResult
    from workflows.playbook import Playbook
    from workflows.steps import datafiles as files
    from workflows.steps import notify, phases, safety
    from workflows.steps.resolution import close, escalate


@workflow.defn(name="DataCorruption")
class DataCorruption(Playbook):
    """Agent Lab "Playbook: Data Corruption" (P1), on the service's `data_integrity:` paths.

    Investigation (5-20 min): the JSON check of every session file and the CSV's header
    and row lengths, the newest session files, write errors in the log, and which
    corrupt files the backup holds a valid copy of. Nothing corrupt -> closed, nothing
    changed. Containment (20-60 min): read-only mode (the flag file), a forensic tar of
    the data dir *before anything in it changes* (no tar, no change), then the corrupt
    files -- sessions and the CSV -- moved into quarantined/<timestamp>/. Recovery
    (60-180 min): each quarantined session restored from the backup directory, the CSV
    rebuilt from the sessions if it was corrupt, and the runbook's validation, its
    counts before and after in the timeline. Resolved only when validation passes and
    every quarantined session was restored; read-only mode is then turned off if this
    incident turned it on. Otherwise a person takes over, read-only mode left on.

    Nothing is deleted (but the read-only flag this incident created): a file is moved
    to quarantine, restored beside its place and linked in, and a CSV is copied to
    quarantine before it is replaced. Every move is in the timeline. Every step on
    the host is keyed, so a retried activity never moves or tars twice. Backups are a
    directory on the host, filled first by the service's `backup_sync` command where the
    copies live elsewhere (the runbook's S3 bucket); its `evidence_upload` command sends
    the forensic tar off the host (workflows/datafile_contracts.py).
    """

    playbook = "DataCorruption"
    clock = phases.agent_lab(lambda p: p.data_integrity.budgets)

    @workflow.run
    @safety.escalates_when_refused  # containment requiring approval, not approved in time
    async def run(self, inp: IncidentInput) -> PlaybookResult:
        policy = await self.detect(inp)
        cfg = policy.data_integrity
        await notify.status_update(self, "Active", "alert received", "scan the data files")
        if not cfg.configured:
            return await escalate(self, "no `data_integrity:` section for this service")

        self.enter(Phase.ASSESSMENT)  # Investigation
        if cfg.has_backup_sync:  # Verify Backup Integrity: the latest copies, then the scan
            await files.offsite(self, CommandKind.BACKUP_SYNC, "fetch backups (backup_sync)")
        before = await files.scan(self)
        if before is None:
            return await escalate(self, "could not scan the data files: scope unknown")
        if before.counts.ok:
            return await close(self, "resolved_without_action", "none (no corrupt data found)")
        for step in cfg.human_steps:  # the runbook's Post-Incident Actions
            self.record(f"to do: {step}", "info", "post-incident: for people")
        await notify.status_update(
            self,
            "Investigating",
            before.counts.line(),
            "read-only mode, forensic copy, quarantine, restore from backup",
        )
        corrupt = before.counts.sessions_invalid
        if corrupt > cfg.max_files:
            return await escalate(
                self,
                f"{corrupt} corrupt session files: over {cfg.max_files}, "
                "beyond automation; nothing changed",
            )

        self.enter(Phase.RESPONSE)  # Containment
        targets = self.targets(before)
        await safety.clear(
            self,
            "containment",
            f"read-only mode, forensic copy, quarantine of {len(targets)} files",
        )
        flag = await files.read_only(self, on=True)
        if flag is None:
            return await escalate(self, "read-only mode could not be turned on; nothing changed")
        stamp = workflow.now().strftime("%Y%m%d_%H%M%S")  # evidence and quarantine names
        if not await files.snapshot(self, stamp):
            return await escalate(
                self, "forensic copy failed: no change without evidence (read-only mode on)"
            )
        if cfg.has_evidence_upload and not await files.offsite(
            self, CommandKind.EVIDENCE_UPLOAD, "upload evidence (evidence_upload)"
        ):  # the tar is still on the host: go on, but a person must copy it off
            self.record("to do: copy the forensic tar off the host", "info", "upload failed")
        q = await files.quarantine(self, stamp, targets) if targets else None
        if targets and q is None:
            return await escalate(self, "quarantine failed (read-only mode on)")
        moved = [m.path for m in q.moved] if q else []

        self.enter(Phase.VERIFICATION)  # Recovery
        lost = [p for p in moved if p != before.counts.csv.path]  # quarantined sessions
        restored = 0
        if lost and cfg.has_backup:
            r = await files.restore(self, lost)
            back = {x.path for x in r.restored} if r else set()
            restored, lost = len(back), [p for p in lost if p not in back]
        elif lost:
            self.record("restore from backup", "skipped", "no backup_dir configured")
        rebuilt = not before.counts.csv.ok and await files.rebuild_csv(self, stamp) is not None
        after = await files.validate(self, "validate data integrity")
        self.record_counts(before.counts, after)
        problems = self.problems(after, lost)
        if problems:
            return await escalate(self, "; ".join(problems) + " (read-only mode left on)")
        if flag.changed and await files.read_only(self, on=False) is None:
            return await escalate(self, "recovered, but read-only mode could not be turned off")
        if not flag.changed:
            self.record("read-only mode", "info", "left on: it was on before this incident")
        action = f"quarantined {len(moved)} files, restored {restored} sessions from backup" + (
            ", rebuilt the CSV" if rebuilt else ""
        )
        return await close(self, "resolved", action)

    def targets(self, before: ScanReport) -> list[str]:
        """The corrupt files to quarantine: invalid sessions, and the CSV if it exists but
        fails its check (a missing one is simply rebuilt)."""
        csv = before.counts.csv
        return [b.path for b in before.invalid] + ([csv.path] if csv.exists and not csv.ok else [])

    def record_counts(self, before: Counts, after: Counts | None) -> None:
        got = after.line() if after else "validation did not run"
        ok = after is not None and after.ok
        self.record(
            "valid/invalid", "ok" if ok else "failed", f"before: {before.line()}\nafter: {got}"
        )

    def problems(self, after: Counts | None, lost: list[str]) -> list[str]:
        out = []
        if after is None or not after.ok:
            out.append(f"validation still failing: {after.line() if after else 'did not run'}")
        if lost:
            shown = ", ".join(lost[:5]) + (f" and {len(lost) - 5} more" if len(lost) > 5 else "")
            out.append(
                f"{len(lost)} corrupt sessions quarantined with no backup copy restored "
                f"({shown}): data missing, a person decides"
            )
        return out


# Runbook coverage (remedy/coverage.py, `remedy coverage`): data only, never run.

_INV, _CON = "Investigation (5-20 minutes)", "Containment (20-60 minutes)"
_REC, _POST = "Recovery (60-180 minutes)", "Post-Incident Actions"
_TODO = "`to do:` (data_integrity.human_steps)"
COVERAGE = declare(
    "DataCorruption",
    AGENT_LAB,
    "Playbook: Data Corruption (P1)",
    [
        automated(_INV, "Assess Corruption Scope", "steps/datafiles.scan"),
        automated(
            _INV,
            "Identify Corruption Source",
            "steps/datafiles.scan (newest sessions, write errors in the log)",
        ),
        automated(
            _INV,
            "Verify Backup Integrity",
            "steps/datafiles.offsite (backup_sync), steps/datafiles.scan (valid backup copies)",
        ),
        deviation(
            _INV,
            "Assess Corruption Scope",
            "DataCorruption.run (data_integrity.max_files)",
            "more corrupt session files than `max_files` -> a person, nothing changed: "
            "a limit the runbook does not state",
        ),
        automated(_CON, "Stop Write Operations", "steps/datafiles.read_only(on=True)"),
        automated(_CON, "Quarantine Corrupted Data", "steps/datafiles.quarantine"),
        automated(
            _CON,
            "Preserve Evidence",
            "steps/datafiles.snapshot, steps/datafiles.offsite (evidence_upload)",
        ),
        deviation(
            _CON,
            "Preserve Evidence",
            "DataCorruption.run",
            "order changed for safety: the forensic tar is written before the quarantine "
            "moves anything (the runbook lists it after); no tar, no change",
        ),
        automated(_REC, "Restore from Backup", "steps/datafiles.restore (backup_dir)"),
        automated(_REC, "Rebuild Missing Data (if needed)", "steps/datafiles.rebuild_csv"),
        automated(_REC, "Validate Data Integrity", "steps/datafiles.validate"),
        asks(
            _POST,
            "Root Cause Analysis: Determine corruption cause (bug, disk failure, etc.)",
            _TODO,
        ),
        asks(_POST, "Backup Verification: Improve backup integrity checks", _TODO),
        asks(_POST, "Data Validation: Add real-time corruption detection", _TODO),
        asks(
            _POST,
            "Recovery Testing: Regular DR testing including data corruption scenarios",
            _TODO,
        ),
    ],
)

"""Crash evidence (`diagnostics.crash_evidence`), GenesisServiceDown: "Review Crash Logs",
"Identify Crash Reason" and step 4 "Collect crash dump".

The sources (activities/inventory/crash.py: the unit's journal, dmesg, syslog, the
service's `logs` command) are read-only argvs from the inventory. Each runs under the
fixed CRASH_SAVE_SCRIPT (activities/scripts.py), which keeps its whole output in
`<crash_dump.dir>/crash_<stamp>/<name>` on the host and prints back only its last lines.
Those of the sources that ran (redacted by the ssh layer) are matched against the
crash-reason patterns here, worker side, deterministically: the first reason (in
CRASH_PATTERNS order) with a matching line wins, its last matching line is the evidence,
and no match is "unknown, see crash dump"; a failed source's text is its error message.

`stamp` is the incident's detection time, so an activity retry rewrites the same
directory instead of making a second one. In dry-run nothing is written: the sources
are read directly (they are diagnostics) and the result says where the dump would be.
Without a `crash_dump` section only the `logs` command is read and nothing is kept.
"""

from __future__ import annotations

import posixpath
import re

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.errors import app_error
from activities.inventory import CommandSpec, Inventory, ServiceSpec, resolve_command
from activities.inventory.crash import CRASH_PATTERNS, CrashDumpSpec
from activities.scripts import CRASH_SAVE_SCRIPT
from activities.service import resolve_host
from activities.ssh import run_checked
from workflows.contracts.diagnostics import (
    CRASH_EVIDENCE,
    CrashEvidenceInput,
    CrashEvidenceResult,
    CrashReason,
    CrashSource,
    clip,
)
from workflows.contracts.service import CommandKind

CAPTURE_BYTES = 256 * 1024  # read off the channel at most: only the tail comes back


def classify(texts: list[str], patterns: dict[str, str] | None = None) -> tuple[CrashReason, str]:
    """The crash reason the texts show, and the line that shows it (the last match of
    the first reason, in CRASH_PATTERNS order, that matches at all)."""
    lines = [ln for t in texts for ln in t.splitlines()]
    for reason, pattern in (patterns or CRASH_PATTERNS).items():
        rx = re.compile(pattern)
        hits = [ln for ln in lines if rx.search(ln)]
        if hits:
            return reason, clip(hits[-1].strip())  # type: ignore[return-value]
    return "unknown", ""


def sources_for(name: str, svc: ServiceSpec) -> dict[str, CommandSpec]:
    """What the dump holds: the crash_dump sources, then the service's `logs` command."""
    out: dict[str, CommandSpec] = {}
    if svc.crash_dump is not None:
        for file, cmd in svc.crash_dump.default_sources().items():
            out[file] = CommandSpec(argv=cmd.argv, timeout_s=cmd.timeout_s)
    try:
        out.setdefault("app.log", resolve_command(name, svc, CommandKind.LOGS))
    except ApplicationError:
        pass  # CommandNotConfigured: the other sources still count
    return out


class CrashActivities:
    def __init__(self, inventory: Inventory) -> None:
        self.inventory = inventory

    @activity.defn(name=CRASH_EVIDENCE.name)
    async def crash_evidence(self, inp: CrashEvidenceInput) -> CrashEvidenceResult:
        svc = self.inventory.service(inp.service)
        host = resolve_host(inp.service, svc, None)
        spec = svc.crash_dump or CrashDumpSpec()
        sources = sources_for(inp.service, svc)
        if not sources:
            raise app_error(
                "CommandNotConfigured",
                f"service {inp.service!r} has no crash_dump section and no logs command",
            )
        dry = self.inventory.safety_for(inp.service).dry_run
        dump = posixpath.join(spec.dir, f"crash_{inp.stamp}") if spec.dir else None
        write = dump is not None and not dry
        texts: list[str] = []
        seen: list[CrashSource] = []
        for file, cmd in sources.items():
            inner = ["sh", "-c", cmd.argv[0]] if cmd.shell else cmd.argv
            argv = (
                [
                    "sh",
                    "-c",
                    CRASH_SAVE_SCRIPT,
                    "remedy-crash-save",
                    dump,
                    file,
                    str(spec.tail_lines),
                ]
                + inner
                if write and dump is not None
                else cmd.argv
            )
            try:
                res = await run_checked(
                    self.inventory,
                    inp.service,
                    host,
                    argv,
                    timeout_s=cmd.timeout_s,
                    max_output_bytes=CAPTURE_BYTES,
                    cwd=cmd.cwd,
                    shell=cmd.shell and not write,
                )
            except ApplicationError as err:
                if err.type != "CommandTimeout":
                    raise
                seen.append(CrashSource(name=file, ok=False, detail=f"timed out: {err}"[:300]))
                continue
            tail = res.stdout.splitlines()[-spec.tail_lines :]
            if res.ok:  # a failed source's text is its error message, not evidence
                texts.append("\n".join(tail))
            seen.append(
                CrashSource(
                    name=file,
                    ok=res.ok,
                    lines=len(tail),
                    detail=f"exit {res.exit_status}"
                    + (f": {res.stderr.strip()[:200]}" if not res.ok and res.stderr else ""),
                )
            )
        reason, evidence = classify(texts, spec.all_patterns())
        if write:
            kept, detail = f"{host}:{dump}", f"crash dump kept in {host}:{dump}"
        elif dump is not None:
            kept, detail = None, f"DRY RUN: would keep the crash dump in {host}:{dump}"
        else:
            kept, detail = None, "no crash dump kept: no crash_dump.dir in the inventory"
        return CrashEvidenceResult(
            reason=reason,
            evidence=evidence,
            dump_dir=kept,
            dry_run=dry,
            sources=seen,
            detail=detail,
        )

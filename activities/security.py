"""SecurityIncident's host work: read the access log, take a forensic snapshot, run an
approved containment step. One activity each (DESIGN: one module per system touched).

- Access-log analysis runs `tail` (argv, no shell) and counts on the worker: the log
  stays on the host and only counts, top sources and a few clipped, redacted sample
  lines enter history.
- The snapshot is a tar of the evidence paths into the inventory's evidence dir, keyed
  on the target (activities/service.run_keyed): a retried activity does not tar twice
  or overwrite evidence; its size and sha256 go in the timeline.
- The compromised-data assessment counts session files changed lately (`find ...
  -printf .`: one dot a file, so no session name leaves the host; `-newer` a marker
  file the operator keeps, else `-mmin -60`: read-only, nothing created on the host)
  and runs the inventory's bucket listing; only counts and the listing's clipped last
  lines enter history. Each part reports its own error: one failing keeps the other.
- A containment step is the inventory's own argv, allowlist-checked, keyed. The
  workflow calls it only after a person approved that step by name.
In dry-run (inventory `safety.dry_run`) the snapshot and containment say what they
would do and touch nothing; the analysis is read-only and still runs.
"""

from __future__ import annotations

import hashlib
import re
import shlex
from collections import Counter

from temporalio import activity

from activities.errors import app_error
from activities.inventory import CommandSpec, Inventory, SecuritySpec
from activities.inventory.services import tail_argv
from activities.scripts import SECURITY_SNAPSHOT_SCRIPT as SNAPSHOT_SCRIPT
from activities.service import resolve_host, run_keyed
from activities.ssh import run_checked
from activities.ssh_policy import check_service_command
from workflows.contracts.security import (
    SECURITY_ACCESS_LOG,
    SECURITY_CONTAIN,
    SECURITY_DATA_ASSESSMENT,
    SECURITY_SNAPSHOT,
    AccessLogInput,
    AccessLogReport,
    ContainInput,
    ContainResult,
    DataAssessmentInput,
    DataAssessmentReport,
    EvidenceInput,
    EvidenceResult,
    SourceCount,
)

SUSPICIOUS = re.compile(r"error|fail|invalid", re.IGNORECASE)  # the seed's grep -i
SAMPLES, SAMPLE_MAX = 5, 200
MAX_LOG_BYTES = 8 * 1024 * 1024


def evidence_name(key: str) -> str:
    """A file-name-safe form of the incident run's key. Long keys keep a hash of the
    whole key: cut short, two runs of one incident id would share one tar."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", key)
    if len(safe) <= 120:
        return safe
    return f"{safe[:100]}-{hashlib.sha256(key.encode()).hexdigest()[:16]}"


class SecurityActivities:
    def __init__(self, inventory: Inventory) -> None:
        self.inventory = inventory

    def _spec(self, service: str) -> SecuritySpec:
        svc = self.inventory.service(service)
        if svc.security is None:
            raise app_error("CommandNotConfigured", f"service {service!r} has no security section")
        return svc.security

    @activity.defn(name=SECURITY_ACCESS_LOG.name)
    async def access_log(self, inp: AccessLogInput) -> AccessLogReport:
        sec, svc = self._spec(inp.service), self.inventory.service(inp.service)
        host_name = resolve_host(inp.service, svc, None)

        async def tail(path: str) -> list[str]:
            res = await run_checked(
                self.inventory,
                inp.service,
                host_name,
                tail_argv(path, str(inp.max_lines)),
                timeout_s=60,
                max_output_bytes=MAX_LOG_BYTES,
            )
            if not res.ok:
                raise app_error("LogUnreadable", f"{host_name}:{path}: {res.stderr.strip()[:300]}")
            return res.stdout.splitlines()

        access = await tail(sec.access_log)
        app_log = sec.app_log or (svc.log_files[0] if svc.log_files else None)
        app = await tail(app_log) if app_log else []
        # Common/combined log format: the client address is the first field.
        sources = Counter(ln.split(maxsplit=1)[0] for ln in access if ln.strip())
        patterns = {p: re.compile(p, re.IGNORECASE) for p in sec.attack_patterns}
        hits = {p: sum(1 for ln in (*access, *app) if rx.search(ln)) for p, rx in patterns.items()}
        samples = [ln for ln in (*access, *app) if any(rx.search(ln) for rx in patterns.values())]
        k = inp.top
        return AccessLogReport(
            lines=len(access),
            top_sources=[SourceCount(source=s, requests=n) for s, n in sources.most_common(k)],
            suspicious=sum(1 for ln in access if SUSPICIOUS.search(ln)),
            attack_hits=hits,
            samples=[ln[:SAMPLE_MAX] for ln in samples[-SAMPLES:]],
        )

    @activity.defn(name=SECURITY_DATA_ASSESSMENT.name)
    async def data_assessment(self, inp: DataAssessmentInput) -> DataAssessmentReport:
        sec, svc = self._spec(inp.service), self.inventory.service(inp.service)
        host_name = resolve_host(inp.service, svc, None)
        r = DataAssessmentReport()
        find = sec.sessions_argv(svc.data_dir)
        if find is not None:
            r.sessions_dir = find[1]
            r.sessions_since = (
                f"newer than {sec.sessions_marker}"
                if sec.sessions_marker
                else f"in the last {sec.sessions_window_min} min"
            )
            res = await run_checked(
                self.inventory,
                inp.service,
                host_name,
                find,
                timeout_s=120,
                max_output_bytes=MAX_LOG_BYTES,
            )
            # find exits 1 when part of the tree is unreadable but still counts the rest.
            if res.ok or res.stdout:
                r.sessions_changed = res.stdout.count(".")
            if not res.ok:
                r.sessions_error = f"exit {res.exit_status}: {res.stderr.strip()[:300]}"
        if sec.bucket_listing is not None:
            cmd = sec.bucket_listing  # allowlist-checked by run_checked, like the rest
            r.bucket_command = cmd.argv[0] if cmd.shell else shlex.join(cmd.argv)
            res = await run_checked(
                self.inventory,
                inp.service,
                host_name,
                cmd.argv,
                shell=cmd.shell,
                cwd=cmd.cwd,
                timeout_s=cmd.timeout_s,
                max_output_bytes=MAX_LOG_BYTES,
            )
            if res.ok:
                lines = [ln for ln in res.stdout.splitlines() if ln.strip()]
                r.bucket_objects = len(lines)
                r.bucket_tail = [ln[:SAMPLE_MAX] for ln in lines[-inp.bucket_tail :]]
            else:
                r.bucket_error = f"exit {res.exit_status}: {res.stderr.strip()[:300]}"
        return r

    @activity.defn(name=SECURITY_SNAPSHOT.name)
    async def snapshot(self, inp: EvidenceInput) -> EvidenceResult:
        sec, svc = self._spec(inp.service), self.inventory.service(inp.service)
        host_name = resolve_host(inp.service, svc, None)
        paths = sec.evidence_paths or [
            p for p in (svc.data_dir, *svc.log_files, sec.access_log) if p
        ]
        safe_id = evidence_name(inp.incident_id)
        out = f"{sec.evidence_dir.rstrip('/')}/evidence-{safe_id}.tar.gz"
        if self.inventory.safety_for(inp.service).dry_run:
            return EvidenceResult(
                path=f"{host_name}:{out}",
                dry_run=True,
                detail=f"DRY RUN: would tar {shlex.join(paths)} into {host_name}:{out}",
            )
        spec = CommandSpec(
            argv=["sh", "-c", SNAPSHOT_SCRIPT, "remedy-snapshot", out, *paths], timeout_s=600
        )
        res, replayed = await run_keyed(
            self.inventory, inp.service, host_name, spec, key=f"{inp.incident_id}:snapshot"
        )
        if not res.ok:
            raise app_error(
                "SnapshotFailed", f"{host_name}:{out}: exit {res.exit_status}: {res.stderr[-300:]}"
            )
        size, _, digest = res.stdout.strip().partition(" ")
        return EvidenceResult(
            path=f"{host_name}:{out}",
            size_bytes=int(size or 0),
            sha256=digest,
            replayed=replayed,
            detail=f"{len(paths)} paths: {shlex.join(paths)}",
        )

    @activity.defn(name=SECURITY_CONTAIN.name)
    async def contain(self, inp: ContainInput) -> ContainResult:
        sec, svc = self._spec(inp.service), self.inventory.service(inp.service)
        step = sec.containment.get(inp.name)
        if step is None:
            raise app_error(
                "CommandNotConfigured",
                f"service {inp.service!r} has no containment step {inp.name!r} "
                f"(has: {', '.join(sec.containment) or 'none'})",
            )
        check_service_command(self.inventory, inp.service, step.command)
        host_name = resolve_host(inp.service, svc, None)
        if self.inventory.safety_for(inp.service).dry_run:
            argv = ["sh", "-c", *step.command.argv] if step.command.shell else step.command.argv
            what = f"DRY RUN: would run `{shlex.join(argv)}` on {host_name}"
            return ContainResult(name=inp.name, ok=True, dry_run=True, detail=what)
        res, replayed = await run_keyed(
            self.inventory,
            inp.service,
            host_name,
            step.command,
            key=f"{inp.incident_id}:containment:{inp.name}",
        )
        out = (res.stderr if not res.ok else res.stdout).strip()
        return ContainResult(
            name=inp.name,
            ok=res.ok,
            exit_status=res.exit_status,
            detail=f"exit {res.exit_status}" + (f": {out[-300:]}" if out else ""),
            replayed=replayed,
        )

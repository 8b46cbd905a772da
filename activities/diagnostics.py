"""Read-only host checks over SSH (workflows/contracts/diagnostics.py), for every playbook:

- log errors (`diagnostics.log_errors`), HighErrorRate's "Review Recent Errors":
  `tail -n 100 logs/genesis.log | grep ERROR` -- the service's `logs` command (inventory
  argv, or a tail of its log files); the ERROR lines are counted per error category
  (patterns from the service policy) and only the counts and the last few lines return;
- error groups (`agentlab.error_groups`): `grep 'ERROR' LOG | cut -d' ' -f4- | sort |
  uniq -c | sort -nr`, over the lines with ERROR or Exception (the runbook's first grep),
  as the fixed script ERROR_GROUPS_SCRIPT with the log path and the top N as argv words
  -- the pipeline runs on the host, so only N counted lines come back;
- recent changes (`agentlab.recent_changes`): `git log --oneline -N` in the service's
  checkout, an argv (no shell), with each commit's committer time;
- the Agent Lab runbooks' `ssh user@server "..."` lines (`agentlab.diagnose`):
  resources (inventory argv lists: `top -b -n1` with head_lines 20, `df -h`, `free -h`);
  network checks from the host (Streaming Failure: `ping -c 10 <upstream>`, `mtr`);
  log/stream errors (`grep -i PATTERN LOG | tail -20`, a fixed script with pattern, file
  and count as separate argv words, never pasted into the script); the data dir (`ls -la
  DATA_DIR`, `head -5 DATA_DIR/runs.csv`, fixed argv); the port (the inventory's `ss
  -tln` or equivalent, read here for `:PORT`).

The log itself stays on the host. Everything captured is bounded (lines, then
MAX_OUTPUT_CHARS) and was redacted by the ssh layer before it reaches a result, i.e.
before it enters workflow history.
"""

from __future__ import annotations

import posixpath
import re
from datetime import UTC, datetime

from temporalio import activity

from activities.errors import app_error
from activities.inventory import Inventory, ServiceSpec
from activities.inventory.services import (
    DATA_HEAD_LINES,
    data_dir_argv,
    data_file_head_argv,
    recent_changes_argv,
)
from activities.scripts import ERROR_GROUPS_SCRIPT, GREP_SCRIPT
from activities.service import resolve_command, resolve_host
from activities.ssh import run_checked
from workflows.contracts.diagnostics import (
    AGENTLAB_DIAGNOSE,
    ERROR_GROUPS,
    HOST_CHECK,
    LOG_ERRORS,
    MAX_OUTPUT_CHARS,
    RECENT_CHANGES,
    DiagCommand,
    DiagnoseInput,
    DiagnoseResult,
    ErrorGroup,
    ErrorGroupsInput,
    ErrorGroupsResult,
    HostCheckInput,
    HostCheckResult,
    LogErrorsInput,
    LogErrorsResult,
    RecentChangesInput,
    RecentChangesResult,
)
from workflows.contracts.diagnostics import clip as clip_line
from workflows.contracts.service import CommandKind

_ERROR = re.compile(r"\bERROR\b")
_LINE_MAX = 300
CAPTURE_BYTES = 256 * 1024  # what we read off the channel at most; we keep far less
__all__ = ["DATA_HEAD_LINES", "ERROR_GROUPS_SCRIPT", "GREP_SCRIPT"]  # re-exported


def error_summary(text: str, patterns: dict[str, str], keep: int) -> LogErrorsResult:
    compiled = {k: re.compile(p) for k, p in patterns.items()}
    lines = [ln for ln in text.splitlines() if _ERROR.search(ln)]
    counts: dict[str, int] = {}
    for ln in lines:
        cat = next((k for k, p in compiled.items() if p.search(ln)), "other")
        counts[cat] = counts.get(cat, 0) + 1
    return LogErrorsResult(
        error_lines=len(lines),
        categories=counts,
        last=[ln[:_LINE_MAX] for ln in lines[-keep:]] if keep > 0 else [],
    )


def issue_counts(text: str, patterns: dict[str, str]) -> dict[str, int]:
    """Each line counted under the first issue pattern it matches (HighErrorRate D)."""
    compiled = {k: re.compile(p) for k, p in patterns.items()}
    counts: dict[str, int] = {}
    for ln in text.splitlines():
        hit = next((k for k, p in compiled.items() if p.search(ln)), None)
        if hit is not None:
            counts[hit] = counts.get(hit, 0) + 1
    return counts


def last_number(text: str) -> float | None:
    """curl's `-w '%{time_total}\\n'`: the number on the last non-empty line."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    try:
        return float(lines[-1]) if lines else None
    except ValueError:
        return None


def parse_groups(stdout: str) -> tuple[int, list[ErrorGroup]]:
    lines = stdout.splitlines()
    total = int(lines[0].strip()) if lines and lines[0].strip().isdigit() else 0
    groups = []
    for ln in lines[1:]:
        count, _, message = ln.strip().partition(" ")
        if count.isdigit():
            groups.append(ErrorGroup(count=int(count), message=clip_line(message)))
    return total, groups


def parse_log(stdout: str) -> tuple[list[str], list[datetime]]:
    """`%h %ct %s` lines -> the `--oneline` lines (`%h %s`) and the committer times."""
    commits, times = [], []
    for ln in stdout.splitlines():
        sha, _, rest = ln.partition(" ")
        stamp, _, subject = rest.partition(" ")
        if not stamp.isdigit():  # not our format: shown as it came, no time
            commits.append(clip_line(ln))
            continue
        commits.append(clip_line(f"{sha} {subject}"))
        times.append(datetime.fromtimestamp(int(stamp), UTC))
    # Times only when every line had one: they must pair with `commits` by index.
    return commits, times if len(times) == len(commits) else []


def source_repo(svc: ServiceSpec) -> str | None:
    return svc.source_repo or (svc.rollback.repo_path if svc.rollback else None)


def clip(text: str, head_lines: int | None = None) -> tuple[str, bool]:
    lines = text.splitlines()
    cut = head_lines is not None and len(lines) > head_lines
    if cut:
        lines = lines[:head_lines]
    out = "\n".join(lines)
    if len(out) > MAX_OUTPUT_CHARS:
        return out[: MAX_OUTPUT_CHARS - 1] + "…", True
    return out, cut


_SIZE = re.compile(r"([0-9]+(?:[.,][0-9]+)?)([KMGTPE]i?)?B?")
_SCALE = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40, "P": 2**50, "E": 2**60}


def _size(word: str) -> float | None:
    m = _SIZE.fullmatch(word)
    if m is None:
        return None
    return float(m.group(1).replace(",", ".")) * _SCALE[(m.group(2) or "")[:1]]


def exhaustion(output: str, disk_full_pct: float, memory_available_pct: float) -> str | None:
    """Application Down "Scale Resources (if resource exhaustion)": what a resource
    command's output shows exhausted -- a `df` filesystem at least `disk_full_pct` used,
    or `free`'s available memory at most `memory_available_pct` of the total -- read
    from the output's shape, whichever command printed it. None: nothing (or a shape it
    does not know, e.g. top's)."""
    lines = output.splitlines()
    found: list[str] = []
    if lines and "Use%" in lines[0].split():
        for ln in lines[1:]:
            words = ln.split()
            pct = next((w for w in words if re.fullmatch(r"[0-9]{1,3}%", w)), None)
            if pct is not None and int(pct[:-1]) >= disk_full_pct:
                found.append(f"disk {words[-1]} {pct} used")
    for ln in lines:
        words = ln.split()
        if len(words) >= 7 and words[0] == "Mem:":  # total used free shared buff/cache avail
            total, avail = _size(words[1]), _size(words[6])
            if total and avail is not None and avail / total * 100 <= memory_available_pct:
                found.append(f"memory {words[6]} of {words[1]} available")
    return "; ".join(found) or None


def listening_on(ss_output: str, port: int) -> bool:
    """Any listening socket whose local address ends in :PORT (ss/netstat columns)."""
    pat = re.compile(rf"[:.]{port}$")
    return any(pat.search(word) for line in ss_output.splitlines() for word in line.split()[:5])


class DiagnosticsActivities:
    def __init__(self, inventory: Inventory) -> None:
        self.inventory = inventory

    def _host(self, service: str) -> tuple[ServiceSpec, str]:
        svc = self.inventory.service(service)
        return svc, resolve_host(service, svc, None)

    async def _run(
        self, service: str, host: str, argv: list[str], timeout_s: float
    ) -> tuple[int, str, str]:
        res = await run_checked(
            self.inventory,
            service,
            host,
            argv,
            timeout_s=timeout_s,
            max_output_bytes=CAPTURE_BYTES,
        )
        return res.exit_status, res.stdout, res.stderr

    # ------------------------------------------------------------ every service
    @activity.defn(name=LOG_ERRORS.name)
    async def log_errors(self, inp: LogErrorsInput) -> LogErrorsResult:
        svc = self.inventory.service(inp.service)
        spec = resolve_command(inp.service, svc, CommandKind.LOGS)
        host = resolve_host(inp.service, svc, None)
        res = await run_checked(
            self.inventory,
            inp.service,
            host,
            spec.argv,
            timeout_s=spec.timeout_s,
            max_output_bytes=1024 * 1024,
            cwd=spec.cwd,
            shell=spec.shell,
        )
        return error_summary(res.stdout, inp.patterns, inp.max_lines)

    @activity.defn(name=ERROR_GROUPS.name)
    async def error_groups(self, inp: ErrorGroupsInput) -> ErrorGroupsResult:
        svc, host = self._host(inp.service)
        if not svc.log_files:
            raise app_error("CommandNotConfigured", f"service {inp.service!r} has no log_files")
        log = svc.log_files[0]
        res = await run_checked(
            self.inventory,
            inp.service,
            host,
            ["sh", "-c", ERROR_GROUPS_SCRIPT, "remedy-error-groups", log, str(inp.top)],
            timeout_s=120,
            max_output_bytes=256 * 1024,
        )
        if not res.ok:
            # Not retried: a missing or unreadable log stays so; the playbook goes on.
            raise app_error(
                "LogUnreadable",
                f"{host}:{log}: exit {res.exit_status}: {res.stderr.strip()[:300]}",
            )
        total, groups = parse_groups(res.stdout)
        return ErrorGroupsResult(log_file=f"{host}:{log}", error_lines=total, groups=groups)

    @activity.defn(name=RECENT_CHANGES.name)
    async def recent_changes(self, inp: RecentChangesInput) -> RecentChangesResult:
        svc, host = self._host(inp.service)
        repo = source_repo(svc)
        if repo is None:
            raise app_error(
                "CommandNotConfigured", f"service {inp.service!r} has no source_repo or rollback"
            )
        argv = recent_changes_argv(repo, str(inp.count))
        res = await run_checked(
            self.inventory, inp.service, host, argv, timeout_s=60, max_output_bytes=64 * 1024
        )
        if not res.ok:
            raise app_error(
                "CommandFailed",
                f"{host}: git log in {repo}: exit {res.exit_status}: {res.stderr.strip()[:300]}",
            )
        commits, times = parse_log(res.stdout)
        return RecentChangesResult(repo=f"{host}:{repo}", commits=commits, committed_at=times)

    @activity.defn(name=HOST_CHECK.name)
    async def host_check(self, inp: HostCheckInput) -> HostCheckResult:
        """Genesis SLI runbook lines run on the service's host (DiagnosticsPolicy
        .host_checks): a non-zero exit is an answer (unreachable, no DNS), not an error."""
        svc, host = self._host(inp.service)
        hc = svc.diagnostics.host_checks
        if inp.kind == "validation_log":
            if not svc.log_files:
                raise app_error("CommandNotConfigured", f"service {inp.service!r} has no log_files")
            pattern, log, n = hc.validation_log_pattern, svc.log_files[0], hc.validation_log_lines
            argv = ["sh", "-c", GREP_SCRIPT, "remedy-grep", pattern, log, str(n)]
            cmd = DiagCommand(argv=argv, timeout_s=60.0)
        else:
            table = {"connectivity": hc.connectivity, "resource_hog": hc.resource_hogs}
            found = hc.llm_latency if inp.kind == "llm_latency" else table[inp.kind].get(inp.name)
            if found is None:
                raise app_error(
                    "CommandNotConfigured",
                    f"service {inp.service!r} has no {inp.kind} host check {inp.name!r} "
                    "(diagnostics.host_checks)",
                )
            cmd = found
        code, out, err = await self._run(inp.service, host, cmd.argv, cmd.timeout_s)
        text, cut = clip(out if code == 0 or out.strip() else err, cmd.head_lines)
        res = HostCheckResult(
            kind=inp.kind,
            name=inp.name,
            host=host,
            ok=code == 0,
            exit_status=code,
            output=text,
            truncated=cut,
            lines=len(out.splitlines()),
        )
        if inp.kind == "validation_log" and code == 0:
            res.counts = issue_counts(out, hc.validation_issues)
        if inp.kind == "llm_latency":
            res.seconds = last_number(out)
        return res

    # ------------------------------------------------------------ agent_lab section
    @activity.defn(name=AGENTLAB_DIAGNOSE.name)
    async def diagnose(self, inp: DiagnoseInput) -> DiagnoseResult:
        svc = self.inventory.service(inp.service)
        a = svc.agent_lab
        if a is None:
            raise app_error(
                "CommandNotConfigured", f"service {inp.service!r} has no agent_lab section"
            )
        host = resolve_host(inp.service, svc, None)
        if inp.kind == "resource":
            cmd = a.resources.get(inp.name)
            if cmd is None:
                raise app_error(
                    "CommandNotConfigured",
                    f"service {inp.service!r} has no resource command {inp.name!r}",
                )
            res = await self._command(inp, svc, host, cmd)
            found = exhaustion(res.output, a.disk_full_pct, a.memory_available_pct)
            return res.model_copy(update={"exhausted": found}) if res.ok else res
        if inp.kind == "network":
            net = (a.network or {}).get(inp.name)
            if net is None:
                raise app_error(
                    "CommandNotConfigured",
                    f"service {inp.service!r} has no network check {inp.name!r} "
                    "(agent_lab.network_target, upstream_url or agent_lab.network)",
                )
            return await self._command(inp, svc, host, net)
        if inp.kind == "port":
            if a.port is None:
                raise app_error("CommandNotConfigured", f"service {inp.service!r} has no port")
            res = await self._command(inp, svc, host, a.port_check)
            up = res.ok and listening_on(res.output, a.port)
            return res.model_copy(
                update={
                    "ok": up,
                    "listening": up if res.ok else None,
                    "detail": f":{a.port} {'listening' if up else 'not listening'}"
                    if res.ok
                    else res.detail,
                }
            )
        if inp.kind in ("log_errors", "stream_errors"):
            return await self._grep(inp, svc, host)
        return await self._data_dir(inp, svc, host)

    async def _command(
        self, inp: DiagnoseInput, svc: ServiceSpec, host: str, cmd: DiagCommand
    ) -> DiagnoseResult:
        code, out, err = await self._run(inp.service, host, cmd.argv, cmd.timeout_s)
        text, cut = clip(out if code == 0 else (err or out), cmd.head_lines)
        return DiagnoseResult(
            kind=inp.kind,
            name=inp.name,
            ok=code == 0,
            lines=len(out.splitlines()),
            output=text,
            truncated=cut,
            detail=f"exit {code}",
        )

    async def _grep(self, inp: DiagnoseInput, svc: ServiceSpec, host: str) -> DiagnoseResult:
        a = svc.agent_lab
        assert a is not None
        if not svc.log_files:
            raise app_error("CommandNotConfigured", f"service {inp.service!r} has no log_files")
        pattern = a.error_pattern if inp.kind == "log_errors" else a.stream_error_pattern
        outputs, total, failed = [], 0, []
        for f in svc.log_files:
            argv = ["sh", "-c", GREP_SCRIPT, "remedy-grep", pattern, f, str(a.error_lines)]
            code, out, err = await self._run(inp.service, host, argv, 60.0)
            if code != 0:
                failed.append(f"{f}: exit {code} {err.strip()[:200]}")
                continue
            total += len(out.splitlines())
            outputs.append(out.rstrip("\n"))
        text, cut = clip("\n".join(o for o in outputs if o))
        return DiagnoseResult(
            kind=inp.kind,
            ok=not failed,
            lines=total,
            output=text,
            truncated=cut,
            detail=(
                f"{total} lines matching /{pattern}/i (last {a.error_lines} per file)"
                + (f"; {'; '.join(failed)}" if failed else "")
            ),
        )

    async def _data_dir(self, inp: DiagnoseInput, svc: ServiceSpec, host: str) -> DiagnoseResult:
        a = svc.agent_lab
        assert a is not None
        if not svc.data_dir:
            raise app_error("CommandNotConfigured", f"service {inp.service!r} has no data_dir")
        problems: list[str] = []
        code, out, err = await self._run(inp.service, host, data_dir_argv(svc.data_dir), 30.0)
        if code != 0:
            problems.append(f"ls {svc.data_dir}: exit {code} {err.strip()[:200]}")
        entries = max(len(out.splitlines()) - 1, 0) if code == 0 else 0
        seen: list[str] = [f"{svc.data_dir}: {entries} entries"]
        for name in a.data_files:
            path = posixpath.join(svc.data_dir, name)
            argv = data_file_head_argv(svc.data_dir, name)
            fc, fout, ferr = await self._run(inp.service, host, argv, 30.0)
            if fc != 0:
                problems.append(f"head {path}: exit {fc} {ferr.strip()[:200]}")
                continue
            # Only the first line (a CSV header) goes into history: rows are user data.
            first = fout.splitlines()[0][:200] if fout else "(empty)"
            seen.append(f"{name}: readable, first line: {first}")
        return DiagnoseResult(
            kind="data_dir",
            ok=not problems,
            lines=entries,
            output=clip("\n".join(seen))[0],
            detail="; ".join(problems) or "data dir readable",
        )

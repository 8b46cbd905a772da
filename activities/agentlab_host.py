"""Agent Lab host checks over SSH: the runbook's `ssh user@server "..."` lines.

- resources: inventory argv lists (`top -b -n1` with head_lines 20, `df -h`, `free -h`);
- log errors / stream errors: `grep -i PATTERN LOG | tail -20`, a fixed script here with
  pattern, file and count as separate argv words (never pasted into the script);
- data dir: `ls -la DATA_DIR` and `head -5 DATA_DIR/runs.csv`, fixed argv;
- port: the inventory's `ss -tln` (or equivalent), read here for `:PORT`;
- maintenance mode on/off: inventory argv lists, run once per key (run_keyed).

Everything captured is bounded (lines, then MAX_OUTPUT_CHARS) and was redacted by the
ssh layer before it reaches a result, i.e. before it enters workflow history.
"""

from __future__ import annotations

import posixpath
import re

from temporalio import activity

from activities.errors import app_error
from activities.inventory import CommandSpec, Inventory, ServiceSpec
from activities.service import resolve_host, run_keyed
from activities.ssh import run_on_host
from activities.ssh_policy import allowed_programs
from workflows.contracts.diagnostics import (
    AGENTLAB_DIAGNOSE,
    MAX_OUTPUT_CHARS,
    DiagCommand,
    DiagnoseInput,
    DiagnoseResult,
)
from workflows.contracts.service import AGENTLAB_MAINTENANCE, MaintenanceInput, MaintenanceResult

CAPTURE_BYTES = 256 * 1024  # what we read off the channel at most; we keep far less
DATA_HEAD_LINES = 5

# $1 pattern (extended regex, case-insensitive) $2 file $3 lines. Exit 0 with the last
# matches (none is fine), 2 when the file cannot be read -- grep's own "no match" (1)
# must not look like a failure, and a pipeline's status is tail's, hence the test first.
GREP_SCRIPT = r"""set -u
[ -r "$2" ] || { echo "cannot read $2" >&2; exit 2; }
grep -i -E -e "$1" -- "$2" | tail -n "$3"
"""


def clip(text: str, head_lines: int | None = None) -> tuple[str, bool]:
    lines = text.splitlines()
    cut = head_lines is not None and len(lines) > head_lines
    if cut:
        lines = lines[:head_lines]
    out = "\n".join(lines)
    if len(out) > MAX_OUTPUT_CHARS:
        return out[: MAX_OUTPUT_CHARS - 1] + "…", True
    return out, cut


def listening_on(ss_output: str, port: int) -> bool:
    """Any listening socket whose local address ends in :PORT (ss/netstat columns)."""
    pat = re.compile(rf"[:.]{port}$")
    return any(pat.search(word) for line in ss_output.splitlines() for word in line.split()[:5])


def check_program(inventory: Inventory, service: str, svc: ServiceSpec, argv: list[str]) -> None:
    """The service allowlist, extended by default with the `agent_lab:` commands (they
    are the inventory's own commands too); an explicit allowed_commands is obeyed."""
    allowed = set(allowed_programs(service, svc))
    if svc.allowed_commands is None and svc.agent_lab is not None:
        a = svc.agent_lab
        cmds = [*a.resources.values(), a.port_check]
        if a.maintenance:
            cmds += [a.maintenance.enable, a.maintenance.disable]
        allowed |= {c.argv[0] for c in cmds}
    if argv[0] not in allowed:
        raise app_error(
            "CommandNotAllowed",
            f"service {service!r}: program {argv[0]!r} is not in its allowed_commands "
            f"{sorted(allowed)}; nothing was sent",
        )


class AgentLabHostActivities:
    def __init__(self, inventory: Inventory) -> None:
        self.inventory = inventory

    def _svc(self, service: str) -> tuple[ServiceSpec, str]:
        svc = self.inventory.service(service)
        if svc.agent_lab is None:
            raise app_error("CommandNotConfigured", f"service {service!r} has no agent_lab section")
        return svc, resolve_host(service, svc, None)

    async def _run(self, host: str, argv: list[str], timeout_s: float) -> tuple[int, str, str]:
        res = await run_on_host(
            host,
            self.inventory.host(host),
            argv,
            timeout_s=timeout_s,
            max_output_bytes=CAPTURE_BYTES,
        )
        return res.exit_status, res.stdout, res.stderr

    @activity.defn(name=AGENTLAB_DIAGNOSE.name)
    async def diagnose(self, inp: DiagnoseInput) -> DiagnoseResult:
        svc, host = self._svc(inp.service)
        a = svc.agent_lab
        assert a is not None
        if inp.kind == "resource":
            cmd = a.resources.get(inp.name)
            if cmd is None:
                raise app_error(
                    "CommandNotConfigured",
                    f"service {inp.service!r} has no resource command {inp.name!r}",
                )
            return await self._command(inp, svc, host, cmd)
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
        check_program(self.inventory, inp.service, svc, cmd.argv)
        code, out, err = await self._run(host, cmd.argv, cmd.timeout_s)
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
            code, out, err = await self._run(host, argv, 60.0)
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
        code, out, err = await self._run(host, ["ls", "-la", "--", svc.data_dir], 30.0)
        if code != 0:
            problems.append(f"ls {svc.data_dir}: exit {code} {err.strip()[:200]}")
        entries = max(len(out.splitlines()) - 1, 0) if code == 0 else 0
        seen: list[str] = [f"{svc.data_dir}: {entries} entries"]
        for name in a.data_files:
            path = posixpath.join(svc.data_dir, name)
            argv = ["head", "-n", str(DATA_HEAD_LINES), "--", path]
            fc, fout, ferr = await self._run(host, argv, 30.0)
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

    @activity.defn(name=AGENTLAB_MAINTENANCE.name)
    async def maintenance(self, inp: MaintenanceInput) -> MaintenanceResult:
        svc, host = self._svc(inp.service)
        m = svc.agent_lab.maintenance  # type: ignore[union-attr]
        if m is None:
            raise app_error(
                "CommandNotConfigured", f"service {inp.service!r} has no maintenance commands"
            )
        cmd = m.enable if inp.mode == "enable" else m.disable
        check_program(self.inventory, inp.service, svc, cmd.argv)
        if self.inventory.safety_for(inp.service).dry_run:
            return MaintenanceResult(
                mode=inp.mode,
                ok=True,
                exit_status=0,
                dry_run=True,
                detail=f"DRY RUN: would run `{' '.join(cmd.argv)}` on {host}",
            )
        spec = CommandSpec(argv=cmd.argv, timeout_s=cmd.timeout_s)
        res, replayed = await run_keyed(
            host, self.inventory.host(host), spec, key=inp.idempotency_key, max_output_bytes=4096
        )
        return MaintenanceResult(
            mode=inp.mode,
            ok=res.ok,
            exit_status=res.exit_status,
            replayed=replayed,
            detail=(res.stderr or res.stdout).strip()[:300],
        )

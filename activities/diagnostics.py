"""HighErrorRate's "Review Recent Errors": `tail -n 100 logs/genesis.log | grep ERROR`.

Runs the service's `logs` command (inventory argv, or a tail of its log files), keeps
the ERROR lines, counts them per error category (patterns from the service policy) and
returns only the counts and the last few lines, clipped: the log itself stays on the
host, and captured output is already redacted by the ssh layer.
"""

from __future__ import annotations

import re

from temporalio import activity

from activities.inventory import Inventory
from activities.service import resolve_command, resolve_host
from activities.ssh import run_on_host
from activities.ssh_policy import check_service_command
from workflows.contracts.diagnostics import LOG_ERRORS, LogErrorsInput, LogErrorsResult
from workflows.contracts.service import CommandKind

_ERROR = re.compile(r"\bERROR\b")
_LINE_MAX = 300


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


class DiagnosticsActivities:
    def __init__(self, inventory: Inventory) -> None:
        self.inventory = inventory

    @activity.defn(name=LOG_ERRORS.name)
    async def log_errors(self, inp: LogErrorsInput) -> LogErrorsResult:
        svc = self.inventory.service(inp.service)
        spec = resolve_command(inp.service, svc, CommandKind.LOGS)
        check_service_command(self.inventory, inp.service, spec)
        host_name = resolve_host(inp.service, svc, None)
        res = await run_on_host(
            host_name,
            self.inventory.host(host_name),
            spec.argv,
            timeout_s=spec.timeout_s,
            max_output_bytes=1024 * 1024,
            cwd=spec.cwd,
            shell=spec.shell,
        )
        return error_summary(res.stdout, inp.patterns, inp.max_lines)

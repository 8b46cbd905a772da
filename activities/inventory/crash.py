"""`services.X.crash_dump:` -- GenesisServiceDown's crash evidence (Diagnosis "Review
Crash Logs" / "Identify Crash Reason", Step 4 "Collect crash dump").

    crash_dump:
      dir: /home/genesis/genesis-rebuild/logs      # crash_<YYYYmmdd_HHMMSS>/ goes here
      unit: genesis-orchestration                   # service.log = its journal, 1 hour
      # sources: {name: argv}  -- replaces the defaults below when given
      # patterns: {reason: regex} -- merged over CRASH_PATTERNS

Default sources (the runbook's step 4): `service.log` = `journalctl -u UNIT --since "1
hour ago" --no-pager` (when `unit` is set), `dmesg.log` = `dmesg`, `syslog` = `cat
/var/log/syslog` (its `cp`), and `app.log` = the service's `logs` command where it has
one. Each is a read-only argv, admitted by the service's allowlist like any command the
inventory writes; a source that fails (no permission for dmesg, no syslog file) is
recorded and the others still count.

Without this section the crash reason is still identified, from the service's `logs`
command alone, and no dump directory is kept.
"""

from __future__ import annotations

import re

from pydantic import Field, field_validator

from workflows.contracts.base import Strict
from workflows.contracts.diagnostics import DiagCommand

# Ordered: the first reason with a matching line wins (contracts/diagnostics CrashReason).
CRASH_PATTERNS: dict[str, str] = {
    "oom_killer": r"(?i)out of memory|oom-kill|oom_reaper|invoked oom-killer|"
    r"result 'oom-kill'|\bOOMKilled\b|\bMemoryError\b",
    "segmentation_fault": r"(?i)segfault|segmentation fault|\bSIGSEGV\b|status=11/SEGV",
    "dependency_missing": r"ModuleNotFoundError|ImportError|No module named|"
    r"cannot open shared object file|error while loading shared libraries|"
    r"(?i:command not found)|status=203/EXEC",
    "configuration_error": r"(?i)configuration error|config(?:uration)? (?:file )?(?:is )?"
    r"invalid|invalid config|ConfigError|yaml\.(?:scanner|parser)|ScannerError|"
    r"status=78/CONFIG|failed to (?:load|parse) config",
    "unhandled_exception": r"Traceback \(most recent call last\)|(?i:unhandled exception)|"
    r"(?i:uncaught exception)|terminate called after throwing",
}
DEFAULT_TAIL_LINES = 200  # of each source, read back for the classification


class CrashDumpSpec(Strict):
    dir: str | None = Field(default=None, description="absolute; crash_<stamp>/ under it")
    unit: str | None = Field(default=None, pattern=r"^[A-Za-z0-9@._:-]+$")
    sources: dict[str, DiagCommand] | None = None
    patterns: dict[str, str] = Field(default_factory=dict)
    tail_lines: int = Field(default=DEFAULT_TAIL_LINES, ge=10, le=2000)

    @field_validator("dir")
    @classmethod
    def _absolute(cls, v: str | None) -> str | None:
        if v is not None and (not v.startswith("/") or ".." in v.split("/")):
            raise ValueError(f"crash_dump.dir {v!r} must be an absolute path without '..'")
        return v

    @field_validator("sources")
    @classmethod
    def _file_names(cls, v: dict[str, DiagCommand] | None) -> dict[str, DiagCommand] | None:
        for name in v or {}:
            if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", name):
                raise ValueError(f"crash_dump source {name!r} is not a plain file name")
        return v

    @field_validator("patterns")
    @classmethod
    def _known_reasons(cls, v: dict[str, str]) -> dict[str, str]:
        for reason, pattern in v.items():
            if reason not in CRASH_PATTERNS:
                raise ValueError(
                    f"crash_dump.patterns: {reason!r} is not one of {sorted(CRASH_PATTERNS)}"
                )
            try:
                re.compile(pattern)
            except re.error as err:
                raise ValueError(f"crash_dump.patterns.{reason}: {err}") from None
        return v

    def all_patterns(self) -> dict[str, str]:
        return {k: self.patterns.get(k, p) for k, p in CRASH_PATTERNS.items()}

    def default_sources(self) -> dict[str, DiagCommand]:
        """The runbook's step 4 files (the service's `logs` command is added by the
        activity, which resolves it)."""
        if self.sources is not None:
            return dict(self.sources)
        out: dict[str, DiagCommand] = {}
        if self.unit:
            out["service.log"] = DiagCommand(
                argv=["journalctl", "-u", self.unit, "--since", "1 hour ago", "--no-pager"]
            )
        out["dmesg.log"] = DiagCommand(argv=["dmesg"])
        out["syslog"] = DiagCommand(argv=["cat", "/var/log/syslog"])
        return out

"""What may be sent over SSH, and what captured output may keep (issue 8, SSH hardening).

- Command allowlist, per service, on the WHOLE argv. A command is sent only if it is
  1. one the inventory writes for that service, word for word: its `commands`, the
     steps derived from its settings (rollback, log tail), every command of its
     playbook sections (security containment, agent_lab resources/port/maintenance,
     testing checks, startup logs, import check, smoke test), and the read-only argvs
     Remedy builds from its paths (git log in its checkout, tail of its access log,
     ls/head of its data dir, tee -a of its incident log) with only their line counts
     open (digits); or, when the
     service sets `allowed_commands`, exactly one of those entries instead (literal
     words, `{re}` full-match words, `{shell}` exact strings:
     activities/inventory/allowlist.py);
  2. or one of Remedy's own fixed scripts, byte for byte (activities/scripts.py):
     `sh -c <text> <its $0> args...`, or `<data_integrity.python> -c <text> args...`;
     a wrapper script (keyed runner, test runner) is admitted only if the command it
     wraps passes this same check.
  A `shell: true` command is admitted only as the exact string the inventory wrote.
  Nothing else reaches `sh`, an interpreter or a launcher. Checked before a byte is
  sent (activities/ssh.py `run_checked`, activities/service.py `run_keyed`); a refusal
  is the non-retryable `CommandNotAllowed`.
- Redaction: captured stdout/stderr is scrubbed of secret-looking text before it
  becomes an activity result -- that is, before it enters workflow history. The
  patterns belong to the inventory's `redact:` section (activities/inventory/redact.py,
  where DEFAULT_REDACT, `redact` and MASK are defined); they are handed on from here.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable
from dataclasses import dataclass

from pydantic import BaseModel

from activities.errors import app_error
from activities.inventory import (
    ArgPattern,
    CommandSpec,
    Inventory,
    ServiceSpec,
    ShellCommand,
    resolve_command,
)
from activities.inventory.redact import (
    DEFAULT_PATTERNS,
    DEFAULT_REDACT,
    MASK,
    compile_patterns,
    redact,
)
from activities.inventory.services import (
    DEFAULT_IMPORT_CHECK,
    data_dir_argv,
    data_file_head_argv,
    incident_log_argv,
    recent_changes_argv,
    tail_argv,
)
from activities.scripts import Script, script_for
from workflows.contracts.diagnostics import DiagCommand
from workflows.contracts.service import CommandKind

__all__ = [
    "DEFAULT_PATTERNS",
    "DEFAULT_REDACT",
    "MASK",
    "Allowed",
    "allowlist",
    "check_argv",
    "check_service_command",
    "compile_patterns",
    "invoked_script",
    "redact",
]


# ---------------------------------------------------------------- allowlist
Word = str | re.Pattern[str]
COUNT = re.compile(r"[0-9]{1,6}")  # the one open word of Remedy's read-only argvs
_SLOT = "\0count\0"  # placeholder handed to the argv builders, replaced by COUNT
_MAX_DEPTH = 3  # wrapper in wrapper in wrapper: more is not something Remedy builds


@dataclass(frozen=True)
class Allowed:
    """One allowlist entry: a whole argv (literal words or full-match patterns), or an
    exact shell string. `rest`: one or more further words, each full-matching it
    (internal: the test isolation's node ids, limited to known_intermittent)."""

    words: tuple[Word, ...]
    shell: bool = False
    rest: re.Pattern[str] | None = None

    def matches(self, argv: list[str], shell: bool) -> bool:
        if self.shell:
            text = self.words[0]
            return argv == [text] if shell else argv == ["sh", "-c", text]
        if shell:
            return False
        n = len(self.words)
        if len(argv) != n if self.rest is None else len(argv) <= n:
            return False
        for w, a in zip(self.words, argv, strict=False):
            if not (w == a if isinstance(w, str) else w.fullmatch(a)):
                return False
        return self.rest is None or all(self.rest.fullmatch(a) for a in argv[n:])

    def show(self, width: int = 100) -> str:
        if self.shell:
            text = f"{{shell: {self.words[0]!r}}}"
        else:
            parts = [
                shlex.quote(w) if isinstance(w, str) else f"{{re: {w.pattern!r}}}"
                for w in self.words
            ]
            if self.rest is not None:
                parts.append(f"{{re: {self.rest.pattern!r}}}...")
            text = "[" + ", ".join(parts) + "]"
        return _clip(text, width)


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _exact(argv: Iterable[str], shell: bool = False) -> Allowed:
    return Allowed(words=tuple(argv), shell=shell)


def _counted(argv: list[str]) -> Allowed:
    return Allowed(words=tuple(COUNT if w == _SLOT else w for w in argv))


def _from_entry(e: list[str | ArgPattern] | ShellCommand) -> Allowed:
    if isinstance(e, ShellCommand):
        return _exact([e.shell], shell=True)
    return Allowed(words=tuple(w if isinstance(w, str) else re.compile(w.re) for w in e))


def _written_commands(obj: object) -> list[CommandSpec | DiagCommand]:
    """Every command written anywhere in a service's inventory entry (its `commands`,
    startup_logs, import_check, smoke_test, security containment, agent_lab resources,
    port_check and maintenance)."""
    if isinstance(obj, (CommandSpec, DiagCommand)):
        return [obj]
    if isinstance(obj, BaseModel):
        return [
            c
            for name in type(obj).model_fields
            if name != "allowed_commands"
            for c in _written_commands(getattr(obj, name))
        ]
    if isinstance(obj, dict):
        return [c for v in obj.values() for c in _written_commands(v)]
    if isinstance(obj, (list, tuple)):
        return [c for v in obj for c in _written_commands(v)]
    return []


def _own_commands(name: str, svc: ServiceSpec) -> list[Allowed]:
    """The default allowlist: what the inventory writes for the service, and what
    Remedy derives from its settings -- each a whole argv."""
    specs: list[CommandSpec | DiagCommand] = _written_commands(svc)
    # Derived through resolve_command so derived steps (rollback, log tail) stay in
    # step with what the service activity would actually run.
    for kind in CommandKind:
        try:
            specs.append(resolve_command(name, svc, kind))
        except Exception:  # noqa: BLE001, S112 -- CommandNotConfigured: nothing to allow
            continue
    out = [
        _exact(s.argv, shell=isinstance(s, CommandSpec) and s.shell)
        for s in specs
        # A fixed script (the derived config restore) is admitted as a script.
        if invoked_script(s.argv, svc) is None
    ]
    if svc.import_check is None:
        out.append(_exact(DEFAULT_IMPORT_CHECK))
    t = svc.testing
    out += [_exact(a) for a in (t.import_check, t.dependency_list) if a]
    if t.known_intermittent:
        ids = "|".join(re.escape(n) for n in t.known_intermittent)
        out.append(Allowed(words=tuple(t.isolate_argv), rest=re.compile(f"(?:{ids})")))
    repo = svc.source_repo or (svc.rollback.repo_path if svc.rollback else None)
    if repo:
        out.append(_counted(recent_changes_argv(repo, _SLOT)))
    if svc.incident_log:
        out.append(_exact(incident_log_argv(svc.incident_log)))
    if svc.data_dir and svc.agent_lab:
        out.append(_exact(data_dir_argv(svc.data_dir)))
        out += [_exact(data_file_head_argv(svc.data_dir, f)) for f in svc.agent_lab.data_files]
    if svc.agent_lab and svc.agent_lab.access_log:  # PerformanceDegradation's slow requests
        out.append(_counted(tail_argv(svc.agent_lab.access_log.path, _SLOT)))
    if svc.crash_dump:  # its default sources are derived, not written (inventory/crash.py)
        out += [_exact(c.argv) for c in svc.crash_dump.default_sources().values()]
    if svc.security:
        app_log = svc.security.app_log or (svc.log_files[0] if svc.log_files else None)
        for log in (svc.security.access_log, app_log):
            if log:
                out.append(_counted(tail_argv(log, _SLOT)))
        sessions = svc.security.sessions_argv(svc.data_dir)  # its bucket_listing is written
        if sessions:
            out.append(_exact(sessions))
    unique: dict[Allowed, None] = dict.fromkeys(out)  # first occurrence order
    return list(unique)


def allowlist(name: str, svc: ServiceSpec) -> tuple[list[Allowed], bool]:
    """The service's allowlist, and whether it is the explicit `allowed_commands`."""
    if svc.allowed_commands is not None:
        return [_from_entry(e) for e in svc.allowed_commands], True
    return _own_commands(name, svc), False


def invoked_script(argv: list[str], svc: ServiceSpec) -> Script | None:
    """The registered fixed script this argv runs (text byte-exact, its own $0; python
    only through the service's data_integrity interpreter), else None."""
    if len(argv) >= 4 and argv[0] == "sh" and argv[1] == "-c":
        s = script_for("sh", argv[2])
        return s if s is not None and argv[3] == s.name else None
    di = svc.data_integrity
    if len(argv) >= 3 and argv[1] == "-c" and di is not None and argv[0] == di.python:
        return script_for("python", argv[2])
    return None


def _admitted(
    argv: list[str], shell: bool, entries: list[Allowed], svc: ServiceSpec, depth: int = 0
) -> bool:
    if not argv:
        return False
    if any(e.matches(argv, shell) for e in entries):
        return True
    if shell or depth >= _MAX_DEPTH:
        return False
    script = invoked_script(argv, svc)
    if script is None:
        return False
    if script.wraps is None:
        return True
    inner = argv[4 + script.wraps :]
    return _admitted(inner, False, entries, svc, depth + 1)


def _display(argv: list[str], shell: bool, svc: ServiceSpec) -> str:
    """The refused command for a message: a fixed script by name, not its text."""
    if shell:
        return argv[0]
    script = invoked_script(argv, svc)
    if script is not None:
        return shlex.join([argv[0], "-c", f"<{script.key} script>", *argv[3:]])
    return shlex.join(argv)


def check_argv(inventory: Inventory, service: str, argv: list[str], *, shell: bool = False) -> None:
    """Refuse (CommandNotAllowed, nothing sent) an argv not on the service's allowlist."""
    svc = inventory.service(service)
    entries, explicit = allowlist(service, svc)
    if _admitted(list(argv), shell, entries, svc):
        return
    shown = _clip(_display(argv, shell, svc), 200)
    listed = ", ".join(e.show() for e in entries[:10]) or "nothing"
    if len(entries) > 10:
        listed += f", ... (+{len(entries) - 10} more)"
    which = "its allowed_commands" if explicit else "its own commands (no allowed_commands)"
    raise app_error(
        "CommandNotAllowed",
        f"service {service!r}: {'shell command' if shell else 'command'} `{shown}` is not "
        f"in the allowlist, {which}: [{listed}], plus Remedy's fixed scripts; "
        "nothing was sent",
    )


def check_service_command(inventory: Inventory, service: str, spec: CommandSpec) -> None:
    check_argv(inventory, service, spec.argv, shell=spec.shell)

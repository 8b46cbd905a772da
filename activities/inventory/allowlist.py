"""`services.X.allowed_commands` -- the whole commands a service may run over SSH.

Each entry is one whole command, matched against the whole argv that would be sent:

    allowed_commands:
      - [systemctl, is-active, genesis-orchestration]        # literal words: exact
      - [sudo, -n, systemctl, restart, genesis-orchestration]
      - [tail, -n, {re: "[0-9]{1,4}"}, /var/log/app.log]     # {re}: full-match pattern
      - {shell: "cd /app && ./health.sh | head -5"}           # a shell: true command, exact

A literal word must equal the argv word; `{re: ...}` must match the whole word
(`re.fullmatch`); the argv has exactly as many words as the entry. Unset, the allowlist
is the service's own commands (activities/ssh_policy.py); set, it is exactly this list.
Either way Remedy's own fixed scripts (activities/scripts.py) are admitted, and the
command a wrapper script runs must pass the same list.

Refused at load, so no pattern can open a generic command path:
- the old form, a list of program names (`allowed_commands: [systemctl, tail]`): it
  admitted *any* arguments, e.g. `sh -c ...` once `sh` was listed;
- a pattern as the program (the first word): `/tmp/x/systemctl` is another program;
- a pattern in an entry that names an interpreter or launcher (sh, bash, python*,
  perl, node, env, sudo, xargs, ...): such an entry must be spelled out exactly;
- a pattern that matches a code flag itself (`-c`, `-e`, `--command`, `-exec`, ...).
"""

from __future__ import annotations

import posixpath
import re
from typing import Any

from pydantic import Field, field_validator

from workflows.contracts.base import Strict

# Programs that run code given as data (or run another program named by an argument):
# never reachable through a pattern, only through an exact, spelled-out argv.
INTERPRETER = re.compile(
    r"(?:[a-z]*sh|busybox|python[0-9.]*|pypy[0-9.]*|perl[0-9.]*|ruby[0-9.]*|irb|"
    r"node(?:js)?|deno|bun|php[0-9.]*|lua(?:jit)?[0-9.]*|tclsh[0-9.]*|wish|expect|"
    r"[gmn]?awk|sed|pwsh|powershell|osascript|Rscript|julia|groovy|jshell|guile|gdb|"
    r"vim?|nvim|ed|emacs|"
    r"sudo|doas|su|runuser|pkexec|env|xargs|nice|ionice|nohup|timeout|stdbuf|setsid|"
    r"chroot|flock|time|taskset|watch|exec|command|builtin|eval|strace|ltrace|script|"
    r"find|parallel|ssh|unshare|nsenter|systemd-run|at|batch|crontab|make)"
)
# Arguments that make an interpreter run the next word as code.
CODE_FLAGS = ("-c", "-e", "-E", "--command", "--eval", "-exec", "-execdir")


def is_interpreter(word: str) -> bool:
    """`word` (a program, possibly path-prefixed) runs code or other programs."""
    return INTERPRETER.fullmatch(posixpath.basename(word)) is not None


class ArgPattern(Strict):
    """`{re: "..."}`: an argv word matching this regex as a whole (re.fullmatch)."""

    re: str = Field(min_length=1)

    @field_validator("re")
    @classmethod
    def _compiles(cls, v: str) -> str:
        try:
            rx = re.compile(v)
        except re.error as err:
            raise ValueError(f"invalid regex {v!r}: {err}") from None
        hit = next((p for p in CODE_FLAGS if rx.fullmatch(p)), None)
        if hit is not None:
            raise ValueError(
                f"pattern {v!r} matches {hit!r}: a pattern may never admit a flag that "
                "runs its argument as code; write that command out exactly"
            )
        return v

    def matches(self, word: str) -> bool:
        return re.fullmatch(self.re, word) is not None

    def __str__(self) -> str:
        return f"{{re: {self.re!r}}}"


class ShellCommand(Strict):
    """`{shell: "..."}`: a `shell: true` command, admitted only as this exact string."""

    shell: str = Field(min_length=1)


AllowedArgv = list[str | ArgPattern]
AllowedEntry = AllowedArgv | ShellCommand

MIGRATE = (
    "allowed_commands now lists whole commands, not program names: an entry like "
    "'systemctl' admitted any arguments (and 'sh' admitted any script). Write each "
    "allowed command as its full argv, e.g. "
    "[[systemctl, is-active, myservice], [tail, -n, {re: '[0-9]+'}, /var/log/app.log]], "
    "a shell: true command as {shell: 'the exact string'} -- or remove allowed_commands "
    "to allow exactly the service's own commands (README: Security)"
)


def refuse_program_names(v: Any) -> Any:
    """Before validation: the old list-of-program-names form is refused, with how to
    migrate (it cannot be made safe: a program name says nothing about its arguments)."""
    if isinstance(v, list) and any(isinstance(e, str) for e in v):
        names = [e for e in v if isinstance(e, str)]
        raise ValueError(f"{MIGRATE}; found program name(s) {names[:5]!r}")
    return v


def check_entries(v: list[AllowedEntry] | None) -> list[AllowedEntry] | None:
    """After validation: no pattern as a program, none near an interpreter."""
    for i, e in enumerate(v or []):
        if isinstance(e, ShellCommand):
            continue
        if not e:
            raise ValueError(f"[{i}]: an empty command")
        if not isinstance(e[0], str):
            raise ValueError(
                f"[{i}]: the program (first word) must be written out, not a pattern: "
                "a path ending in an allowed name is another program"
            )
        patterns = [w for w in e if isinstance(w, ArgPattern)]
        named = [w for w in e if isinstance(w, str) and is_interpreter(w)]
        if patterns and named:
            raise ValueError(
                f"[{i}]: {named[0]!r} runs code or other programs: an entry naming it must "
                f"be spelled out exactly, without patterns (found {patterns[0]})"
            )
    return v

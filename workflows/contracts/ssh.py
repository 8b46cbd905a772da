"""The result of one command run over SSH (argv, exit code, bounded and redacted output),
shared by every activity that runs a command on a host.

There is deliberately no activity here that takes an argv: a workflow names a service
and a command slot (workflows/contracts/service.py), and the argv is resolved -- and
allowlisted -- worker side. (`ssh.run`, a generic host + argv activity, was removed.)
"""

from __future__ import annotations

from pydantic import BaseModel


class CommandResult(BaseModel):
    host: str
    argv: list[str]
    exit_status: int
    stdout: str = ""
    stderr: str = ""
    truncated: bool = False
    duration_s: float = 0.0

    @property
    def ok(self) -> bool:
        return self.exit_status == 0

"""The result of one command run over SSH (argv, exit code, bounded and redacted output),
shared by every activity that runs a command on a host.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from workflows import policies
from workflows.contracts.base import Activity


# ---------------------------------------------------------------- activity names
# ---------------------------------------------------------------- ssh / service
class SshRunInput(BaseModel):
    """Run an argv on an inventory host. The argv is passed to the remote side quoted,
    one word per element; it never goes through a shell unless `use_shell` and the
    inventory command asked for it."""

    host: str = Field(description="inventory host name")
    argv: list[str] = Field(min_length=1)
    timeout_s: float = 60.0
    max_output_bytes: int = 64 * 1024


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


# ---------------------------------------------------------------- activities
SSH_RUN = Activity("ssh.run", SshRunInput, CommandResult, policies.SIDE_EFFECT)

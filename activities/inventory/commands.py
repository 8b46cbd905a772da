"""A command, wherever the inventory names one: `services.X.commands.<slot>`,
`startup_logs`, `import_check`, `smoke_test`, security `containment` steps."""

from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator

from workflows.contracts.base import Strict


class CommandSpec(Strict):
    """An argv, run without shell interpretation: every word is quoted for the remote
    shell. `shell: true` runs `sh -c <argv[0]>` and must be chosen explicitly."""

    argv: list[str] = Field(min_length=1)
    cwd: str | None = None
    timeout_s: float = Field(default=60.0, gt=0)
    shell: bool = False

    @model_validator(mode="before")
    @classmethod
    def _from_list(cls, data: Any) -> Any:
        # Shorthand: `restart: [systemctl, restart, genesis-orchestration]`.
        return {"argv": data} if isinstance(data, list) else data

    @model_validator(mode="after")
    def _shell_is_one_string(self) -> CommandSpec:
        if self.shell and len(self.argv) != 1:
            raise ValueError("a shell command is a single string (argv of length 1)")
        return self

"""`hosts:` -- where Remedy connects, and how strictly (activities/ssh_connect.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, PrivateAttr, field_validator

from workflows.contracts.base import Strict


class HostSpec(Strict):
    address: str
    port: int = Field(default=22, ge=1, le=65535)
    user: str
    private_key_file: Path
    known_hosts_file: Path
    connect_timeout_s: float = Field(default=10.0, gt=0)
    # Where idempotency markers live on the target (see activities/service.py).
    state_dir: str = ".remedy/state"
    # Finished markers older than this are pruned when a new keyed command runs. Must
    # outlast any retry of an activity (hours at most), so days are plenty.
    state_retention_days: int = Field(default=14, ge=1)
    # Another inventory host to tunnel through (direct-tcpip); its host key is checked
    # against its own known_hosts, this host's against this one's.
    jump_host: str | None = None
    # Bound by Inventory (activities/inventory/model.py): the resolved jump host's spec
    # and the compiled redaction patterns. Not fields: never in YAML, never in history.
    _jump: Any = PrivateAttr(default=None)
    _redact: Any = PrivateAttr(default=None)

    @field_validator("private_key_file", "known_hosts_file")
    @classmethod
    def _expand(cls, v: Path) -> Path:
        return v.expanduser()

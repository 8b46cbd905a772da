"""The inventory's building blocks: hosts, commands, rollback, security, CI rollback,
threshold and wait overrides, SLIs. `activities/inventory.py` composes them into
`ServiceSpec` and `Inventory` (and re-exports them: import from there).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from workflows.contracts.policy import RecurrencePolicy
from workflows.contracts.security import DEFAULT_ATTACK_PATTERNS, DEFAULT_HUMAN_STEPS


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class HostSpec(_Strict):
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
    # Bound by Inventory (activities/ssh_policy.py): the resolved jump host's spec and
    # the compiled redaction patterns. Not fields: never in YAML, never in history.
    _jump: Any = PrivateAttr(default=None)
    _redact: Any = PrivateAttr(default=None)

    @field_validator("private_key_file", "known_hosts_file")
    @classmethod
    def _expand(cls, v: Path) -> Path:
        return v.expanduser()


class CommandSpec(_Strict):
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


class RollbackSpec(_Strict):
    """The Genesis rollback_deployment.sh, as data."""

    repo_path: str
    remote: str = "origin"
    stable_ref: str = "deployment-stable"
    config_dir: str = "config"
    config_backup_dir: str = "config/backup"
    config_glob: str = "*.yaml"


class ContainmentStep(_Strict):
    """A SecurityIncident containment step: runs only after a person approves it."""

    description: str = Field(min_length=1)
    command: CommandSpec


class SecuritySpec(_Strict):
    """SecurityIncident: where the evidence is and what containment may do."""

    access_log: str = Field(description="web access log on the service's first host")
    app_log: str | None = Field(default=None, description="default: first of log_files")
    attack_patterns: list[str] = Field(default_factory=lambda: list(DEFAULT_ATTACK_PATTERNS))
    evidence_dir: str = Field(description="where the forensic tar is written, on the host")
    evidence_paths: list[str] = Field(
        default_factory=list, description="default: data_dir, log_files and access_log"
    )
    containment: dict[str, ContainmentStep] = Field(default_factory=dict)
    human_steps: list[str] = Field(default_factory=lambda: list(DEFAULT_HUMAN_STEPS))

    @field_validator("attack_patterns")
    @classmethod
    def _regexes(cls, v: list[str]) -> list[str]:
        for p in v:
            try:
                re.compile(p)
            except re.error as err:
                raise ValueError(f"invalid regex {p!r}: {err}") from None
        return v


class CiRollbackSpec(_Strict):
    """Agent Lab's `gh workflow run rollback.yml -R ORG/REPO -f reason=...` as a GitHub
    Actions workflow-dispatch call (activities/ci.py). The token is read on the worker
    from the environment variable `token_env`; it is never in this file or in history."""

    api_url: str = Field(default="https://api.github.com", pattern=r"^https?://")
    repo: str = Field(pattern=r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$", description="owner/name")
    workflow: str = Field(pattern=r"^[A-Za-z0-9_.-]+$", description="file name or id")
    ref: str = "main"
    token_env: str = Field(default="GITHUB_TOKEN", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    reason_input: str = "reason"
    # The workflow input carrying the incident's dispatch key; declare it in the
    # workflow and put it in its `run-name:` so a dispatched run can be found again.
    incident_input: str | None = "incident_id"


class ThresholdOverrides(_Strict):
    test_pass_rate_slo: float | None = None
    test_pass_rate_rollback: float | None = None
    error_rate_slo: float | None = None
    error_rate_rollback: float | None = None
    latency_p95_slo_s: float | None = None
    latency_p95_rollback_s: float | None = None


Seconds = Annotated[float, Field(gt=0)]


class WaitOverrides(_Strict):
    """Waits in seconds (YAML stays plain numbers)."""

    after_restart: Seconds | None = None
    after_rollback_start: Seconds | None = None
    incident_commander_after: Seconds | None = None
    verify_window: Seconds | None = None
    verify_interval: Seconds | None = None
    rollback_after: Seconds | None = None
    restore_budget: Seconds | None = None
    health_retry_interval: Seconds | None = None
    circuit_breaker_recovery: Seconds | None = None
    detection_budget: Seconds | None = None
    assessment_budget: Seconds | None = None
    response_budget: Seconds | None = None


class Defaults(_Strict):
    thresholds: ThresholdOverrides = Field(default_factory=ThresholdOverrides)
    waits: WaitOverrides = Field(default_factory=WaitOverrides)
    # Earlier incidents of the same alert: how far back, and when it is chronic.
    recurrence: RecurrencePolicy = Field(default_factory=RecurrencePolicy)


class SliSpec(_Strict):
    query: str
    comparison: str = Field(pattern="^(lt|le|gt|ge)$")
    threshold: float

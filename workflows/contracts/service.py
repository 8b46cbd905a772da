"""A service's inventory commands (status, restart, health check, logs, rollback steps),
its maintenance mode, and the deploy command used to roll a release back. The activity
gets the service *name* and the command *kind*; the argv stays in the inventory.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, Field

from workflows import policies
from workflows.contracts.base import Activity, Strict
from workflows.contracts.diagnostics import DiagCommand
from workflows.contracts.ssh import CommandResult


class CommandKind(StrEnum):
    """Inventory command slots of a service (plus the rollback steps derived from
    its repo / stable ref / config backup settings)."""

    STATUS = "status"
    START = "start"
    STOP = "stop"
    RESTART = "restart"
    HEALTH_CHECK = "health_check"
    TEST_SUITE = "test_suite"
    LOGS = "logs"  # crash evidence: journal / log tail
    # GenesisServiceDown Step 3 "Run smoke tests" (`pytest tests/test_production_health.py
    # ...`): `commands.smoke_test`, else the service's `smoke_test:` (Deployment Failure's).
    SMOKE_TEST = "smoke_test"
    ROLLBACK_FETCH = "rollback_fetch"
    ROLLBACK_RESET = "rollback_reset"
    ROLLBACK_CLEAN = "rollback_clean"
    ROLLBACK_RESTORE_CONFIG = "rollback_restore_config"
    # DataCorruption's off-host copies (the runbook's `aws s3 ...`): bring the backups into
    # data_integrity.backup_dir; send the evidence dir to safe keeping.
    BACKUP_SYNC = "backup_sync"
    EVIDENCE_UPLOAD = "evidence_upload"


class ServiceCommandInput(BaseModel):
    service: str
    command: CommandKind
    host: str | None = Field(default=None, description="default: the service's first host")
    idempotency_key: str | None = Field(
        default=None,
        description="set for side effects (workflow id + step): a retry with the same key "
        "returns the recorded result instead of running the command again",
    )


class ServiceCommandResult(BaseModel):
    service: str
    command: CommandKind
    result: CommandResult
    replayed: bool = Field(
        default=False, description="True when the idempotency key had already run on the target"
    )
    dry_run: bool = Field(
        default=False, description="the service is in dry-run: nothing ran, stdout says what would"
    )


class MaintenanceSpec(Strict):
    """Maintenance mode as two inventory commands (`cp maintenance.html index.html` and
    back). Named enable/disable: YAML 1.1 reads a bare `on:` key as the boolean true."""

    enable: DiagCommand
    disable: DiagCommand


class MaintenanceInput(BaseModel):
    service: str
    mode: Literal["enable", "disable"]
    idempotency_key: str


class MaintenanceResult(BaseModel):
    mode: Literal["enable", "disable"]
    ok: bool
    exit_status: int
    replayed: bool = False
    dry_run: bool = False
    detail: str = ""


# ---------------------------------------------------------------- deployment commands
# Read-only checks from the inventory; maintenance mode is the Agent Lab section's
# (workflows/agentlab_contracts.py AGENTLAB_MAINTENANCE), shared with ApplicationDown.
DeployCommandKind = Literal["startup_logs", "import_check", "smoke_test"]


class DeployCommandInput(BaseModel):
    service: str
    kind: DeployCommandKind


class DeployCommandResult(BaseModel):
    kind: DeployCommandKind
    configured: bool = True
    exit_status: int = 0
    excerpt: list[str] = Field(default_factory=list, description="last lines of output, clipped")

    @property
    def ok(self) -> bool:
        return self.configured and self.exit_status == 0


# ---------------------------------------------------------------- activities
SERVICE_RUN = Activity(
    "service.run", ServiceCommandInput, ServiceCommandResult, policies.DIAGNOSTIC
)
SERVICE_RESTART = Activity(
    "service.restart", ServiceCommandInput, ServiceCommandResult, policies.SIDE_EFFECT
)
AGENTLAB_MAINTENANCE = Activity(
    "agentlab.maintenance", MaintenanceInput, MaintenanceResult, policies.SIDE_EFFECT
)
DEPLOY_COMMAND = Activity(
    "agentlab.deploy_command", DeployCommandInput, DeployCommandResult, policies.DIAGNOSTIC
)

"""Typed contracts for the Agent Lab "High Error Rate" and "Deployment Failure"
playbooks: activity names, inputs/results, and the runbook's numbers.

Nothing here carries a secret: the CI token is named (an environment variable on the
worker) only in the inventory, and neither its name nor its value enters a contract.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import BaseModel, Field

ERROR_GROUPS = "agentlab.error_groups"
UPSTREAM_PROBE = "agentlab.upstream_probe"
RECENT_CHANGES = "agentlab.recent_changes"
DEPLOY_COMMAND = "agentlab.deploy_command"
CI_ROLLBACK_DISPATCH = "ci.rollback_dispatch"

# The runbook's numbers. "top N" error groups into the timeline; `for i in {1..5}` upstream
# probes; `git log --oneline -10` (High Error Rate) and `-5` (Deployment Failure).
TOP_ERROR_GROUPS = 10
UPSTREAM_PROBES = 5
RECENT_COMMITS_ERRORS = 10
RECENT_COMMITS_DEPLOY = 5
_LINE_MAX = 200


class PhaseBudgets(BaseModel):
    """When each Agent Lab phase should be over, counted from detection."""

    investigation: timedelta
    containment: timedelta
    recovery: timedelta


# High Error Rate: Investigation 5-15 min, Containment 15-45, Recovery 45-90.
ERRORS_BUDGETS = PhaseBudgets(
    investigation=timedelta(minutes=15),
    containment=timedelta(minutes=45),
    recovery=timedelta(minutes=90),
)
# Deployment Failure: Investigation 5-20 min, Containment 20-40, Recovery 40-90.
DEPLOY_BUDGETS = PhaseBudgets(
    investigation=timedelta(minutes=20),
    containment=timedelta(minutes=40),
    recovery=timedelta(minutes=90),
)


# ---------------------------------------------------------------- what a workflow sees
class ReleasePolicy(BaseModel):
    """Flags derived from the service's `ci_rollback`, `upstream_probe_url`,
    `source_repo`, `import_check` and `smoke_test` inventory fields: no URL, no argv."""

    has_ci_rollback: bool = False  # roll back by CI workflow dispatch (preferred over git)
    has_upstream_probe: bool = False
    has_source_repo: bool = False  # a checkout on the host to read `git log` from
    has_smoke_test: bool = False


# ---------------------------------------------------------------- error groups
class ErrorGroupsInput(BaseModel):
    service: str
    top: int = Field(default=TOP_ERROR_GROUPS, ge=1, le=50)


class ErrorGroup(BaseModel):
    count: int
    message: str = Field(max_length=_LINE_MAX + 1)


class ErrorGroupsResult(BaseModel):
    log_file: str
    error_lines: int
    groups: list[ErrorGroup] = Field(default_factory=list, description="most frequent first")


# ---------------------------------------------------------------- upstream probes
class UpstreamProbeInput(BaseModel):
    service: str
    attempts: int = Field(default=UPSTREAM_PROBES, ge=1, le=20)
    timeout_s: float = 10.0


class UpstreamSample(BaseModel):
    status_code: int | None = None
    latency_s: float | None = None
    error: str = ""


class UpstreamProbeResult(BaseModel):
    url: str = Field(description="the configured URL, credentials and query removed")
    samples: list[UpstreamSample]

    @property
    def failing(self) -> int:
        """Answers that show the upstream itself failing: no answer, 5xx, 429."""
        return sum(
            1
            for s in self.samples
            if s.status_code is None or s.status_code >= 500 or s.status_code == 429
        )

    @property
    def healthy(self) -> bool:
        return self.failing * 2 < len(self.samples)  # a majority answered normally


# ---------------------------------------------------------------- recent changes
class RecentChangesInput(BaseModel):
    service: str
    count: int = Field(default=RECENT_COMMITS_ERRORS, ge=1, le=50)


class RecentChangesResult(BaseModel):
    repo: str
    commits: list[str] = Field(description="`git log --oneline` lines, newest first")


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


# ---------------------------------------------------------------- CI rollback dispatch
class CiDispatchInput(BaseModel):
    service: str
    reason: str
    idempotency_key: str = Field(
        description="incident + step: sent as the workflow's incident input and looked for "
        "in the CI's recent runs before dispatching, so a retry does not dispatch twice"
    )


class CiDispatchResult(BaseModel):
    repo: str
    workflow: str
    ref: str
    accepted: bool
    status_code: int | None = None
    replayed: bool = Field(default=False, description="a run for this key was already in CI")
    dry_run: bool = False
    detail: str = ""


def clip(line: str) -> str:
    return line if len(line) <= _LINE_MAX else line[:_LINE_MAX] + "…"

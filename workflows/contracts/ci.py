"""CI workflow dispatch (the Agent Lab rollback through GitHub Actions). The token is
named only in the inventory; neither its name nor its value enters a contract.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from workflows import policies
from workflows.contracts.base import Activity


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


# ---------------------------------------------------------------- the dispatched run
class CiRunInput(BaseModel):
    service: str
    idempotency_key: str = Field(description="the dispatch's key: the run's name carries it")


class CiRunResult(BaseModel):
    """The rollback run dispatched under a key, as the runs API lists it."""

    found: bool = False
    run_id: int | None = None
    status: str = Field(default="", description="queued, in_progress, completed, ...")
    conclusion: str | None = Field(default=None, description="success, failure, cancelled...")
    url: str = ""


# ---------------------------------------------------------------- the broken deploy
class CiDeployInput(BaseModel):
    service: str


class CiDeployEvidence(BaseModel):
    """Deployment Failure's Investigation through the GitHub API: the latest failed run
    of the deploy workflow (`gh run view $RUN_ID --log`: its failed jobs' log tails),
    the workflow file (`cat .github/workflows/deploy.yml`) and what that run deployed
    against its parent (`git diff HEAD~1..HEAD`). Bounded and redacted."""

    repo: str
    workflow: str
    run_id: int | None = Field(default=None, description="None: no failed run listed")
    run_url: str = ""
    head_sha: str = ""
    failed_jobs: list[str] = Field(default_factory=list)
    log_tail: list[str] = Field(default_factory=list)
    workflow_file: list[str] = Field(default_factory=list)
    diff: list[str] = Field(default_factory=list, description="status path +adds -dels")
    detail: str = ""


class CiDisableInput(BaseModel):
    service: str
    idempotency_key: str


class CiDisableResult(BaseModel):
    repo: str
    workflow: str
    disabled: bool
    already: bool = Field(default=False, description="the workflow was disabled before")
    dry_run: bool = False
    status_code: int | None = None
    detail: str = ""


# ---------------------------------------------------------------- activities
CI_ROLLBACK_DISPATCH = Activity(
    "ci.rollback_dispatch", CiDispatchInput, CiDispatchResult, policies.CI_DISPATCH
)
# Read-only: polled between durable timers until the run completes.
CI_RUN_STATUS = Activity("ci.rollback_run", CiRunInput, CiRunResult, policies.DIAGNOSTIC)
CI_DEPLOY_EVIDENCE = Activity(
    "ci.deploy_evidence", CiDeployInput, CiDeployEvidence, policies.DIAGNOSTIC
)
# A change (the deploy workflow disabled), retried as the dispatch is: 429/5xx only.
CI_DISABLE_WORKFLOW = Activity(
    "ci.disable_workflow", CiDisableInput, CiDisableResult, policies.CI_DISPATCH
)

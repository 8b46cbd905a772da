"""`services.X.rollback` (git checkout + config backup, Genesis) and
`services.X.ci_rollback` (a GitHub Actions dispatch, Agent Lab)."""

from __future__ import annotations

from pydantic import Field

from workflows.contracts.base import Strict


class RollbackSpec(Strict):
    """The Genesis rollback_deployment.sh, as data."""

    repo_path: str
    remote: str = "origin"
    stable_ref: str = "deployment-stable"
    config_dir: str = "config"
    config_backup_dir: str = "config/backup"
    config_glob: str = "*.yaml"


class CiRollbackSpec(Strict):
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
    # After the 204, the dispatched run (found by that key) is polled this often until
    # it concludes or the playbook's Containment budget ends.
    poll_interval_s: float = Field(default=30.0, ge=5)
    # Deployment Failure: the runbook's deploy workflow (`cat .github/workflows/deploy.yml`,
    # `gh run view --log`, `gh workflow disable deploy.yml`), in the same repo; null: none.
    deploy_workflow: str | None = Field(default="deploy.yml", pattern=r"^[A-Za-z0-9_.-]+$")
    workflows_dir: str = Field(default=".github/workflows", pattern=r"^[A-Za-z0-9_./-]+$")

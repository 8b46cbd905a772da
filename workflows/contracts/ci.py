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


# ---------------------------------------------------------------- activities
CI_ROLLBACK_DISPATCH = Activity(
    "ci.rollback_dispatch", CiDispatchInput, CiDispatchResult, policies.CI_DISPATCH
)

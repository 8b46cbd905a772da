"""The inventory's named mitigations (flags, text replacements in a config file):
apply and restore, keyed per incident run with a backup of what they changed.
"""

from __future__ import annotations

from pydantic import BaseModel, Field, model_validator

from workflows import policies
from workflows.contracts.base import Activity, Strict


class TextReplace(Strict):
    old: str = Field(min_length=1)
    new: str


class MitigationSpec(Strict):
    """A named config change: write `content` to `path`, or replace text in it (the
    runbook's `sed -i 's/level=DEBUG/level=INFO/'`, literal, no regex). A relative path
    is relative to the service's rollback repo, else the login home."""

    path: str = Field(min_length=1)
    content: str | None = None
    replace: TextReplace | None = None
    restart: bool = True
    description: str = ""

    @model_validator(mode="after")
    def _one_change(self) -> MitigationSpec:
        if (self.content is None) == (self.replace is None):
            raise ValueError("a mitigation has exactly one of `content` or `replace`")
        return self


# ---------------------------------------------------------------- mitigations
class MitigationInput(BaseModel):
    service: str
    name: str = Field(description="inventory mitigation name, chosen by the playbook")
    incident_id: str


class MitigationResult(BaseModel):
    name: str
    path: str
    changed: bool
    restart: bool
    replayed: bool = False
    backup: str = ""
    detail: str = ""
    dry_run: bool = False  # the service is in dry-run: nothing was written, no backup


# ---------------------------------------------------------------- activities
MITIGATION_APPLY = Activity(
    "mitigation.apply", MitigationInput, MitigationResult, policies.SIDE_EFFECT
)
MITIGATION_RESTORE = Activity(
    "mitigation.restore", MitigationInput, MitigationResult, policies.SIDE_EFFECT
)

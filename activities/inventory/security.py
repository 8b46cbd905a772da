"""`services.X.security` (SecurityIncident): where the evidence is, and what
containment may do once a person approves it."""

from __future__ import annotations

import re

from pydantic import Field, field_validator

from activities.inventory.commands import CommandSpec
from workflows.contracts.base import Strict
from workflows.contracts.security import DEFAULT_ATTACK_PATTERNS, DEFAULT_HUMAN_STEPS


class ContainmentStep(Strict):
    """A SecurityIncident containment step: runs only after a person approves it."""

    description: str = Field(min_length=1)
    command: CommandSpec


class SecuritySpec(Strict):
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

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
    # "Compromised Data Assessment": session files changed lately, read-only (`find`
    # with `-newer` a marker file the operator keeps, else `-mmin`: nothing is created
    # on the host, so the evidence is not touched), and the backup bucket's listing.
    sessions_dir: str | None = Field(default=None, description="default: <data_dir>/sessions")
    sessions_marker: str | None = Field(
        default=None, description="count files newer than this file (find -newer)"
    )
    sessions_window_min: int = Field(
        default=60, ge=1, le=10080, description="else: changed in the last N minutes"
    )
    bucket_listing: CommandSpec | None = Field(
        default=None,
        description="e.g. [aws, s3, ls, s3://agent-lab-backups/, --recursive]; read-only",
    )
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

    def sessions_argv(self, data_dir: str | None) -> list[str] | None:
        """The runbook's `find data/sessions/ -newer ...` as a read-only argv that prints
        one dot per file (names stay on the host), or None when there is no dir."""
        d = self.sessions_dir or (f"{data_dir.rstrip('/')}/sessions" if data_dir else None)
        if d is None:
            return None
        since = (
            ["-newer", self.sessions_marker]
            if self.sessions_marker
            else ["-mmin", f"-{self.sessions_window_min}"]
        )
        return ["find", d, "-type", "f", *since, "-printf", "."]

"""Who is paged, when, and who comes next: the inventory's `paging:` per service.

The runbooks' people: Genesis's "Contact Information" (on-call engineer, incident
commander, engineering lead, CTO) and GenesisServiceDown's "IMMEDIATE: Activate Incident
Commander"; Agent Lab's "Acknowledge Alert: Confirm alert receipt within 2 minutes".
The defaults below are those runbooks; an inventory changes them per service.

No secret here (it all enters workflow history): a level names the *environment
variable* that holds its PagerDuty routing key on the worker, never the key.
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field, model_validator

from workflows.contracts.base import Strict

ON_CALL, COMMANDER, LEAD, CTO = "on-call", "incident-commander", "engineering-lead", "cto"


class PageLevel(Strict):
    name: str = Field(min_length=1, pattern=r"^[a-z0-9][a-z0-9-]*$")
    # The worker's environment variable (or <NAME>_FILE) holding this level's PagerDuty
    # Events v2 routing key; unset: REMEDY_PAGERDUTY_ROUTING_KEY, the default service.
    routing_key_env: str | None = Field(default=None, pattern=r"^[A-Z][A-Z0-9_]*$")


def _levels() -> list[PageLevel]:
    return [PageLevel(name=n) for n in (ON_CALL, COMMANDER, LEAD, CTO)]


class PagingPolicy(Strict):
    """`paging:` of a service. Levels in escalation order; who is paged at detection per
    severity; an unacknowledged page pages the next level after `ack_window`, for the
    severities in `chain`, until someone acknowledges or the last level is paged."""

    levels: list[PageLevel] = Field(default_factory=_levels, min_length=1)
    at_detection: dict[str, list[str]] = Field(
        default_factory=lambda: {"P0": [ON_CALL, COMMANDER], "P1": [ON_CALL]}
    )
    ack_window: timedelta = Field(default=timedelta(minutes=2), gt=timedelta(0))
    chain: list[str] = Field(default_factory=lambda: ["P0", "P1"])

    @model_validator(mode="after")
    def _names_known(self) -> PagingPolicy:
        names = [lv.name for lv in self.levels]
        if len(set(names)) != len(names):
            raise ValueError(f"paging.levels: a level is named twice: {names}")
        for sev, who in self.at_detection.items():
            if sev not in ("P0", "P1", "P2", "P3", "P4"):
                raise ValueError(f"paging.at_detection: {sev!r} is not a severity P0..P4")
            unknown = [w for w in who if w not in names]
            if unknown:
                raise ValueError(
                    f"paging.at_detection.{sev}: unknown level {unknown} (levels: {names})"
                )
        bad = [s for s in self.chain if s not in ("P0", "P1", "P2", "P3", "P4")]
        if bad:
            raise ValueError(f"paging.chain: {bad} are not severities P0..P4")
        return self

    def level(self, name: str) -> PageLevel | None:
        return next((lv for lv in self.levels if lv.name == name), None)

    def index(self, name: str) -> int:
        return next(i for i, lv in enumerate(self.levels) if lv.name == name)

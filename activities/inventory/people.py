"""`people:` -- the persons who answer incidents, by the name `approvers:` lists, with
the ids Slack and PagerDuty know them by:

    people:
      alice: {slack: U012ABCDEF, pagerduty: PABC123}
      bob: {slack: U034GHIJKL}
      carol: {}                   # answers from the CLI only (REMEDY_APPROVER=carol)
    approvers:                    # top level; a service's own `approvers:` overrides per kind
      default: [alice, bob]
      containment: [alice]

The bridge (bridge/interactions.py) turns a verified Slack click or PagerDuty
acknowledgement into the person's name; the workflow's validators then check that name
against the service's `approvers:` (workflows/contracts/approvers.py). User ids are not
secrets; they are what Slack and PagerDuty sign for us.
"""

from __future__ import annotations

from pydantic import Field

from workflows.contracts.base import Strict

# A name as `by` carries it into the timeline and as the CLI's REMEDY_APPROVER.
PERSON_NAME = r"^[a-z0-9][a-z0-9._-]{0,63}$"


class PersonSpec(Strict):
    # Slack member ids start with U (W on Enterprise Grid); PagerDuty user ids with P.
    slack: str | None = Field(default=None, pattern=r"^[UW][A-Z0-9]{2,30}$")
    pagerduty: str | None = Field(default=None, pattern=r"^P[A-Z0-9]{2,30}$")


def check_people(people: dict[str, PersonSpec]) -> None:
    """Each Slack and PagerDuty id belongs to one person: otherwise a click would be
    answered as whichever name came first."""
    for system in ("slack", "pagerduty"):
        seen: dict[str, str] = {}
        for name, p in people.items():
            uid = getattr(p, system)
            if uid is None:
                continue
            if uid in seen:
                raise ValueError(f"people.{name}.{system}: {uid} is also people.{seen[uid]}")
            seen[uid] = name

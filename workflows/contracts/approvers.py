"""Who may answer an incident: the inventory's `approvers:` (top level, and per service),
as the workflow's update validators read it from the service's policy.

Names only -- people are listed under the inventory's `people:` with their Slack and
PagerDuty user ids, which the bridge uses to turn a verified Slack click or PagerDuty
acknowledgement into one of these names (bridge/interactions.py). Nothing here is a
secret: the lists travel in ServicePolicy, i.e. in workflow history.

    approvers:
      default: [alice, bob]        # any kind not listed below
      containment: [alice]         # every "containment: NAME" step, and DataCorruption's
      acknowledge: [alice, bob, carol]

Semantics, chosen to fail closed once a service opts in:
* no `approvers:` at all (neither the service nor the top level): anyone may answer,
  as before approvers existed -- the timeline marks each answer "unverified". This is
  what incidents started before the change carry (their policy has no `approvers`), so
  an upgrade never strands a running incident's approval.
* any list configured: a step is answered only by the names of its kind, else of
  `default`; a kind with neither is answered by nobody (the validator says what to add).
  `acknowledge` falls back to `default`, then to everyone who may approve anything here.
"""

from __future__ import annotations

from typing import Literal

# The step kinds a person answers (workflows/steps/safety.py, security.py), plus the
# acknowledgement, plus `default` for a kind without its own list.
ApproverKind = Literal[
    "restart",
    "rollback",
    "mitigation",
    "containment",
    "over-limit",
    "fleet-hold",
    "acknowledge",
    "default",
]
KINDS: tuple[str, ...] = ApproverKind.__args__  # type: ignore[attr-defined]
ACKNOWLEDGE = "acknowledge"
# The ApplicationError type of a validator's refusal of an unlisted person: the bridge
# answers it 403, any other refusal (nothing pending, closed) 409.
NOT_AN_APPROVER = "NotAnApprover"

Approvers = dict[ApproverKind, list[str]]


def kind_of(step: str) -> str:
    """The approver kind of a pending step: "containment: block-ip" -> "containment";
    the kinds themselves ("restart", "over-limit", "fleet-hold") are their own."""
    head = step.split(":", 1)[0].strip()
    return head if head in KINDS else step


def who_may(approvers: Approvers, step: str) -> list[str] | None:
    """Names allowed to answer `step` (a pending step, or ACKNOWLEDGE); None when the
    service configures no approver at all (anyone may: see the module doc)."""
    if not approvers:
        return None
    kind = kind_of(step)
    if kind in approvers:
        return list(approvers[kind])  # type: ignore[index]
    if "default" in approvers:
        return list(approvers["default"])
    if kind == ACKNOWLEDGE:
        return sorted({n for names in approvers.values() for n in names})
    return []


def merge(*layers: Approvers | None) -> Approvers:
    """Top level, then the service: a service's list for a kind replaces the top level's
    list for that kind (an empty list means nobody), other kinds are inherited."""
    out: Approvers = {}
    for layer in layers:
        for kind, names in (layer or {}).items():
            out[kind] = list(names)
    return out

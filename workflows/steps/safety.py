"""The safety policy's gate before an action (restart, rollback, mitigation,
containment): a human approval where the inventory requires one, then a permit -- from
the fleet guard (workflows/fleet.py) for every kind, and from the service's governor
(workflows/governor.py) for restarts and rollbacks -- in one activity call.

A fleet-wide hold (an incident storm, or the fleet budget spent) is waited out: the
incident records who holds it and asks again every minute, up to the policy's
`fleet_hold_timeout_s`; a person may let this one action through (`remedy approve ID
fleet-hold`) or reject it. Diagnostics never come here, so they never wait.

A refusal -- nobody approved in time, or the governor cannot be reached -- raises
NotApproved; `escalates_when_refused` on a playbook's run turns it into an escalation,
so no step in between needs to know about it. Dry-run (the activities change nothing)
records what would be asked and asks nothing: a dry run must not use up real permits.
"""

from __future__ import annotations

import functools
import shlex
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import TypeVar

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows.contracts.safety import GOVERNOR_PERMIT, Decision, PermitDecision, PermitRequest
    from workflows.incident import Incident, StepFailed, patched
    from workflows.models import IncidentInput, PlaybookResult
    from workflows.steps import notify
    from workflows.steps.resolution import escalate

# workflow.patched id: incidents started before the safety policy existed replay
# without its gates. Once none of those remain, switch to workflow.deprecate_patch.
SAFETY_POLICY = "safety-policy"
# workflow.patched id: incidents started before the fleet guard ask no permit for
# mitigations/containment and do not wait out a fleet hold.
FLEET_HOLD = "fleet-hold"
# The step a person approves to let one held action through (`remedy approve ID fleet-hold`).
HOLD_STEP = "fleet-hold"

GOVERNED = ("restart", "rollback")

Inc = TypeVar("Inc", bound=Incident)


class NotApproved(Exception):
    """An action the safety policy did not clear; the incident escalates."""


def escalates_when_refused(
    run: Callable[[Inc, IncidentInput], Awaitable[PlaybookResult]],
) -> Callable[[Inc, IncidentInput], Awaitable[PlaybookResult]]:
    """Under @workflow.run: a refused action ends the incident as escalated."""

    @functools.wraps(run)
    async def wrapper(self: Inc, inp: IncidentInput) -> PlaybookResult:
        try:
            return await run(self, inp)
        except NotApproved as err:
            return await escalate(self, str(err))

    return wrapper


async def clear(inc: Incident, kind: str, what: str) -> None:
    """Return when `kind` (restart, rollback, mitigation) may go ahead; else NotApproved."""
    if not patched(SAFETY_POLICY):
        return
    safety = inc.policy.safety
    if safety.dry_run:
        if kind in safety.require_approval:
            inc.record(f"approval: {kind}", "skipped", f"DRY RUN: would ask for approval: {what}")
        return
    if kind in safety.require_approval:
        await wait_for_approval(inc, kind, what)
    service_governor = kind in GOVERNED and safety.governor
    fleet = safety.governor if safety.fleet is None else safety.fleet
    if patched(FLEET_HOLD) and fleet:
        await _permit(inc, kind, what, service_governor=service_governor, fleet=True)
    elif service_governor:
        await _permit(inc, kind, what)  # before the fleet guard, or this service outside it


async def wait_for_approval(inc: Incident, step: str, what: str) -> str:
    """Wait (durably) for a human's `approve` or `reject` of `step`; returns who approved.
    A rejection or no answer within the policy's approval timeout raises NotApproved."""
    answers = await wait_for_approvals(inc, {step: what})
    d = answers[step]
    if not d.approved:
        raise NotApproved(f"{step} rejected by {d.by}: {d.text}")
    return d.by


async def wait_for_approvals(inc: Incident, steps: dict[str, str]) -> dict[str, Decision]:
    """Ask for several steps at once (step -> what it does) and wait until each is
    answered; returns the answers. See ask() and answers()."""
    deadline = await ask(inc, steps)
    return await answers(inc, list(steps), deadline)


async def ask(inc: Incident, steps: dict[str, str]) -> datetime:
    """Put `steps` up for approval (status, timeline, Slack); returns the deadline."""
    timeout = timedelta(seconds=inc.policy.safety.approval_timeout_s)
    for step, what in steps.items():
        inc.decisions.pop(step, None)  # a fresh question: an earlier answer does not count
        inc.pending_approvals[step] = what
        how = f"remedy approve {inc.incident_id} {shlex.quote(step)}"
        inc.record(f"waiting for approval: {step}", "info", f"{what}; `{how}` within {timeout}")
    await notify.status_update(
        inc,
        "Investigating",
        actions_taken="waiting for approval: " + "; ".join(steps.values()),
        next_steps=f"approve or reject within {timeout} (`remedy approve|reject "
        f"{inc.incident_id} STEP`) or the incident escalates",
    )
    return workflow.now() + timeout


async def answers(
    inc: Incident, steps: list[str], deadline: datetime, *, until_first: bool = False
) -> dict[str, Decision]:
    """Wait until every step in `steps` is answered (or, with until_first, any one is);
    returns the answers so far. Past the deadline the unanswered ones are withdrawn -- a
    late approval cannot run them -- and NotApproved is raised."""

    def done() -> bool:
        got = [s for s in steps if s in inc.decisions]
        return bool(got) if until_first else len(got) == len(steps)

    try:
        remaining = max(deadline - workflow.now(), timedelta(0))
        inc.save_tags()
        await workflow.wait_condition(done, timeout=remaining)
    except TimeoutError:
        late = [s for s in steps if s not in inc.decisions]
        for s in late:
            inc.pending_approvals.pop(s, None)
            inc.record(f"approval: {s}", "failed", "nobody answered before the deadline")
        raise NotApproved(f"{', '.join(late)} not approved in time") from None
    return {s: inc.decisions[s] for s in steps if s in inc.decisions}


async def _permit(
    inc: Incident, kind: str, what: str, *, service_governor: bool = True, fleet: bool = False
) -> None:
    n = sum(1 for e in inc.timeline if e.step == f"permit: {kind}") + 1
    req = PermitRequest(
        service=inc.service,
        incident_id=inc.incident_id,
        kind=kind,  # type: ignore[arg-type]
        key=f"{inc.run_key}:{kind}:{n}",
        max_per_hour=inc.policy.safety.max_actions_per_hour,
        what=what,
        service_governor=service_governor,
        fleet=fleet,
    )
    decision = await _ask(inc, kind, req)
    if fleet and decision.held_by:
        req, decision = await _wait_out_hold(inc, kind, req, decision)
    if decision.granted:
        return
    by = await wait_for_approval(inc, "over-limit", f"{what} ({decision.detail})")
    await _ask(inc, kind, req.model_copy(update={"approved_by": by}))


async def _wait_out_hold(
    inc: Incident, kind: str, req: PermitRequest, held: PermitDecision
) -> tuple[PermitRequest, PermitDecision]:
    """Ask again every fleet_recheck_s until the fleet no longer holds the action (a person
    released the storm, the budget has room) or a person approves it through; returns
    the request as last sent and the decision. NotApproved past the policy's
    fleet_hold_timeout_s or on a rejection."""
    timeout = timedelta(seconds=inc.policy.safety.fleet_hold_timeout_s)
    # Polled: the guard cannot signal a held incident when the hold ends.
    recheck = timedelta(seconds=inc.policy.safety.fleet_recheck_s)
    since = workflow.now()
    deadline = since + timeout
    inc.decisions.pop(HOLD_STEP, None)
    inc.pending_approvals[HOLD_STEP] = f"{req.what} (held by {held.held_by})"
    how = f"remedy approve {inc.incident_id} {HOLD_STEP}"
    inc.record(
        f"held by {held.held_by}",
        "info",
        f"{req.what}: {held.detail}; asking again every {recheck} for up to {timeout}, "
        f"or `{how}` lets this one through",
    )
    d = held
    while d.held_by:
        remaining = deadline - workflow.now()
        if remaining <= timedelta(0):
            inc.pending_approvals.pop(HOLD_STEP, None)
            inc.record(f"permit: {kind}", "failed", f"still held by {d.held_by} after {timeout}")
            raise NotApproved(f"{kind} held by {d.held_by} for {timeout}")
        inc.save_tags()
        try:
            await workflow.wait_condition(
                lambda: HOLD_STEP in inc.decisions, timeout=min(recheck, remaining)
            )
        except TimeoutError:
            pass
        answer = inc.decisions.get(HOLD_STEP)
        if answer is not None and not answer.approved:
            raise NotApproved(f"{kind} held by {d.held_by}; rejected by {answer.by}: {answer.text}")
        if answer is not None:
            req = req.model_copy(update={"fleet_approved_by": answer.by})
        d = await _ask(inc, kind, req, record=False)
    inc.pending_approvals.pop(HOLD_STEP, None)
    waited = workflow.now() - since
    inc.record(
        f"permit: {kind}",
        "ok" if d.granted else "failed",
        f"{d.detail} (after {waited} held by {held.held_by})",
    )
    return req, d


async def _ask(
    inc: Incident, kind: str, req: PermitRequest, *, record: bool = True
) -> PermitDecision:
    step = f"permit: {kind}"
    try:
        d = await inc.act(step, GOVERNOR_PERMIT, req)
    except StepFailed as err:  # fail safe: no permit without the governor's answer
        inc.pending_approvals.pop(HOLD_STEP, None)
        raise NotApproved(f"no permit for {kind}: governor unavailable ({err.message})") from err
    if record:
        inc.record(step, "ok" if d.granted else "failed", d.detail)
    return d

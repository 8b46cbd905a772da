"""The safety policy's gate before an action (restart, rollback, mitigation): a human
approval where the inventory requires one, then a permit from the service's governor
(workflows/governor.py) for restarts and rollbacks.

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
    from workflows.incident import Incident, StepFailed
    from workflows.models import IncidentInput, PlaybookResult
    from workflows.steps import notify
    from workflows.steps.resolution import escalate

# workflow.patched id: incidents started before the safety policy existed replay
# without its gates. Once none of those remain, switch to workflow.deprecate_patch.
SAFETY_POLICY = "safety-policy"

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
    if not workflow.patched(SAFETY_POLICY):
        return
    safety = inc.policy.safety
    if safety.dry_run:
        if kind in safety.require_approval:
            inc.record(f"approval: {kind}", "skipped", f"DRY RUN: would ask for approval: {what}")
        return
    if kind in safety.require_approval:
        await wait_for_approval(inc, kind, what)
    if kind in GOVERNED and safety.governor:
        await _permit(inc, kind, what)


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
        await workflow.wait_condition(done, timeout=remaining)
    except TimeoutError:
        late = [s for s in steps if s not in inc.decisions]
        for s in late:
            inc.pending_approvals.pop(s, None)
            inc.record(f"approval: {s}", "failed", "nobody answered before the deadline")
        raise NotApproved(f"{', '.join(late)} not approved in time") from None
    return {s: inc.decisions[s] for s in steps if s in inc.decisions}


async def _permit(inc: Incident, kind: str, what: str) -> None:
    n = sum(1 for e in inc.timeline if e.step == f"permit: {kind}") + 1
    req = PermitRequest(
        service=inc.service,
        incident_id=inc.incident_id,
        kind=kind,  # type: ignore[arg-type]
        key=f"{inc.run_key}:{kind}:{n}",
        max_per_hour=inc.policy.safety.max_actions_per_hour,
        what=what,
    )
    decision = await _ask(inc, kind, req)
    if decision.granted:
        return
    by = await wait_for_approval(inc, "over-limit", f"{what} ({decision.detail})")
    await _ask(inc, kind, req.model_copy(update={"approved_by": by}))


async def _ask(inc: Incident, kind: str, req: PermitRequest) -> PermitDecision:
    step = f"permit: {kind}"
    try:
        d = await inc.act(step, GOVERNOR_PERMIT, req)
    except StepFailed as err:  # fail safe: no permit without the governor's answer
        raise NotApproved(f"no permit for {kind}: governor unavailable ({err.message})") from err
    inc.record(step, "ok" if d.granted else "failed", d.detail)
    return d

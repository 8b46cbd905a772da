"""The shape every SLI playbook shares (Genesis TestPassRateLow, HighErrorRate,
HighLatencyP95 and its Rollback Procedure):

    mitigate -> verify the SLO sustained for 10 minutes -> resolve
    roll back at once when the SLI crosses the rollback threshold
    roll back when still unresolved 30 minutes after detection
    after a rollback, verify again; unresolved 30 minutes after it -> a human

"Unresolved" is fail-safe: a window broken by a breach *or* a missing sample. Before
the rollback, the mitigations applied are undone (their backups restored).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows.contracts.policy import Sli
    from workflows.incident import Incident
    from workflows.models import Phase, PlaybookResult
    from workflows.steps import diagnostics, escalation, mitigation, notify, verify
    from workflows.steps.resolution import close, escalate
    from workflows.steps.rollback import rollback

_LOOSER = {"lt": "le", "le": "le", "gt": "ge", "ge": "ge"}


@dataclass(frozen=True)
class Goal:
    slo: Sli  # holds = healthy
    rollback: Sli  # breaks = roll back immediately

    def beyond_rollback(self, value: float | None) -> bool:
        return value is not None and not self.rollback.holds(value)


def goal(inc: Incident, sli: str, slo: float, rollback_at: float) -> Goal | None:
    """The service's SLI `sli` (its PromQL and direction) with the runbook's numbers from
    the policy thresholds, so a per-service threshold override applies everywhere."""
    base = inc.policy.slis.get(sli)
    if base is None:
        return None
    return Goal(
        slo=base.model_copy(update={"threshold": slo}),
        rollback=base.model_copy(
            update={
                "name": f"{sli} (rollback bound)",
                "comparison": _LOOSER[base.comparison],
                "threshold": rollback_at,
            }
        ),
    )


async def current(inc: Incident, g: Goal) -> float | None:
    return await diagnostics.value(
        inc, f"current {g.slo.name}", g.slo.query, "s" if "latency" in g.slo.name else ""
    )


async def ask_human(inc: Incident, what: str) -> None:
    """Something only a person can do (review code, fix a regression, scale up): page
    and say so, while the incident goes on -- the rollback deadline still applies."""
    inc.record("asked a human", "info", what)
    await escalation.page_incident_commander(inc, what)
    await notify.status_update(
        inc, "Investigating", actions_taken="diagnosis done", next_steps=what
    )


async def mitigated(inc: Incident, applied: list[str]) -> None:
    await notify.status_update(
        inc,
        "Investigating",
        actions_taken=f"mitigations: {', '.join(applied) or 'none'}",
        next_steps="verify the SLO sustained for 10 minutes",
    )


async def roll_back(inc: Incident, applied: list[str], why: str) -> bool:
    """Undo this incident's mitigations, then the Genesis rollback procedure."""
    inc.enter(Phase.RESPONSE)  # Playbook.enter: the phase and its budget
    await mitigation.undo(inc, applied)
    if not inc.policy.has_rollback:
        inc.record("rollback", "failed", f"{why}; no rollback configured for {inc.service}")
        return False
    return (await rollback(inc, why)).succeeded


def give_up_at(inc: Incident, rolled_back: bool) -> datetime:
    """The runbooks' "rollback if unresolved after 30 min": counted from detection, or
    from the rollback when it already happened (then a person takes over). Armed as a
    deadline so the timeline shows it; the caller checks it between its windows."""
    waits = inc.policy.waits

    async def noted() -> None:  # the deadline is checked between windows; this records it
        return None

    if rolled_back:
        give_up = workflow.now() + waits.rollback_after
        inc.escalate_after(give_up - inc.detected_at, "hand over if unresolved", noted)
    else:
        give_up = inc.detected_at + waits.rollback_after
        inc.escalate_after(waits.rollback_after, "roll back if unresolved", noted)
    return give_up


async def verify_or_roll_back(
    inc: Incident, g: Goal | None, action: str, applied: list[str], *, rolled_back: bool = False
) -> PlaybookResult:
    waits = inc.policy.waits
    if g is None:
        return await escalate(inc, "no SLI configured to verify the fix (fail safe)")

    give_up = give_up_at(inc, rolled_back)
    inc.enter(Phase.VERIFICATION)
    while True:
        res = await verify.sustained(inc, g.slo, waits.verify_window, waits.verify_interval)
        if res.held:
            return await close(inc, "resolved", action)
        overdue = workflow.now() >= give_up
        if rolled_back and overdue:
            return await escalate(
                inc, f"{g.slo.name} not restored {waits.rollback_after} after the rollback"
            )
        if not rolled_back and (g.beyond_rollback(res.value) or overdue):
            why = (
                f"{g.slo.name} = {res.value:g} crosses the rollback threshold "
                f"{g.rollback.threshold:g}"
                if g.beyond_rollback(res.value)
                else f"unresolved {waits.rollback_after} after detection"
            )
            if not await roll_back(inc, applied, why):
                return await escalate(inc, f"rollback failed or unavailable ({why})")
            return await verify_or_roll_back(inc, g, "rollback", [], rolled_back=True)
        await inc.sleep(waits.verify_interval)


async def rolled_back_at_assessment(
    inc: Incident, g: Goal | None, describe: Callable[[float], str]
) -> PlaybookResult | None:
    """In the runbooks' Assessment (the playbook has entered it): the SLI already past
    its rollback threshold -> roll back now (the result); otherwise None and the
    playbook goes on to diagnose.
    `describe(value)` says why, in the runbook's words."""
    if g is None:
        return None
    now = await current(inc, g)
    if now is None or not g.beyond_rollback(now):
        return None
    return await roll_back_then_verify(inc, g, describe(now))


async def roll_back_then_verify(inc: Incident, g: Goal | None, why: str) -> PlaybookResult:
    """Assessment found the SLI already past the rollback threshold: roll back now."""
    if not await roll_back(inc, [], why):
        return await escalate(inc, f"rollback failed or unavailable ({why})")
    return await verify_or_roll_back(inc, g, "rollback", [], rolled_back=True)

"""The Genesis general process's phase budgets: Detection 0-2 min, Assessment 2-5 min,
Response 5-30 min, each counted from detection (Waits.*_budget).

`enter` records the budget in the timeline with the phase; a watcher marks the phase
`phase overrun` (outcome failed) and posts a Slack status update if the incident is
still in that phase when its budget ends. Verification and Resolution "vary" in the
runbook: no budget.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows.contracts.policy import Waits
    from workflows.incident import Incident
    from workflows.models import Phase
    from workflows.steps import notify


def budget(waits: Waits, phase: Phase) -> timedelta | None:
    return {
        Phase.DETECTION: waits.detection_budget,
        Phase.ASSESSMENT: waits.assessment_budget,
        Phase.RESPONSE: waits.response_budget,
    }.get(phase)


def start(inc: Incident) -> None:
    """Arm the Detection budget (the incident is in Detection from its first moment)."""
    _arm(inc, Phase.DETECTION)


def enter(inc: Incident, phase: Phase) -> None:
    inc.enter(phase)
    _arm(inc, phase)


def overran(inc: Incident) -> list[str]:
    return [e.detail for e in inc.timeline if e.step.startswith("phase overrun")]


def _arm(inc: Incident, phase: Phase) -> None:
    assert inc.policy is not None
    arm(inc, phase, budget(inc.policy.waits, phase))


def arm(
    inc: Incident,
    phase: Phase,
    b: timedelta | None,
    *,
    label: str | None = None,
    once: bool = True,
    quiet_when_escalated: bool = False,
) -> None:
    """Record `phase`'s budget `b` (counted from detection) and watch it. `label` is the
    runbook's own name for the phase (Agent Lab: "Containment"); `once`: a re-entered
    phase is marked and told about once; `quiet_when_escalated`: no overrun notice once a
    person owns the incident."""
    if b is None:
        return
    ends = inc.detected_at + b
    inc.record(
        f"phase budget: {phase.value}",
        "info",
        (f"{label}: " if label else "") + f"ends {b} after detection",
    )
    if once and any(e.step == f"phase overrun: {phase.value}" for e in inc.timeline):
        return  # re-entered (e.g. Response again for a rollback): marked and told once
    inc.background(_watch(inc, phase, ends, b, label, quiet_when_escalated))


async def _watch(
    inc: Incident, phase: Phase, ends: object, b: timedelta, label: str | None, quiet: bool
) -> None:
    # Counted from detection, like the runbooks' "(10-30 minutes)": a phase entered late
    # has less of its budget left, and one entered after its end overruns at once.
    remaining = ends - workflow.now()  # type: ignore[operator]
    if remaining > timedelta(0):
        try:
            await workflow.wait_condition(
                lambda: inc.phase != phase or inc.finished, timeout=remaining
            )
            return
        except TimeoutError:
            pass
    elif inc.phase != phase or inc.finished:
        return
    if quiet and any(e.step == "escalated to a human" for e in inc.timeline):
        return  # a person owns it now: the runbook's clock is no longer Remedy's to report
    detail = f"{label or phase.value} still running {b} after detection (runbook budget)"
    inc.record(f"phase overrun: {phase.value}", "failed", detail)
    await notify.status_update(
        inc,
        "Investigating",
        actions_taken=f"{label} over its budget"
        if label
        else f"{phase.value} phase over its budget",
        next_steps=f"{detail}; Remedy continues the runbook",
    )

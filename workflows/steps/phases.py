"""Phase budgets: each runbook's "(10-30 minutes)" per phase, counted from detection.

A playbook's `Clock` says where its budgets come from (GENESIS: the general process's
Detection 0-2, Assessment 2-5, Response 5-30 minutes; the Agent Lab clocks: the
inventory's PhaseBudgets per playbook). `Playbook.enter` records the budget in the
timeline with the phase (workflows/playbook.py); a watcher marks the phase
`phase overrun` (outcome failed) and posts a Slack status update if the incident is
still in that phase when its budget ends. Verification and Resolution "vary" in the
runbook: no budget.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows.contracts.policy import ServicePolicy
    from workflows.incident import Incident
    from workflows.models import Phase
    from workflows.steps import notify


@dataclass(frozen=True)
class Clock:
    """How a runbook times its phases: each phase's budget (its end, counted from
    detection) read from the service's policy, the runbook's own names for the phases,
    and two rules that differ between the runbooks. A playbook names its clock once
    (`Playbook.clock`) and then only says `self.enter(Phase.X)`."""

    budgets: Callable[[ServicePolicy], Mapping[Phase, timedelta]]
    labels: Mapping[Phase, str] = field(default_factory=dict)
    once: bool = True  # a re-entered phase is marked and told about once
    quiet_when_escalated: bool = False  # no overrun notice once a person owns it
    arms_detection: bool = True  # Detection's budget runs from the first moment

    def budget(self, policy: ServicePolicy, phase: Phase) -> timedelta | None:
        return self.budgets(policy).get(phase)


# No phase budgets (ServiceDown's and Triage's runbooks give none; SecurityIncident's
# runs started before its budgets, `security-phase-budgets`).
UNTIMED = Clock(budgets=lambda _: {})

# The Genesis general process: Detection 0-2 min, Assessment 2-5, Response 5-30 (Waits).
GENESIS = Clock(
    budgets=lambda p: {
        Phase.DETECTION: p.waits.detection_budget,
        Phase.ASSESSMENT: p.waits.assessment_budget,
        Phase.RESPONSE: p.waits.response_budget,
    }
)

# The Agent Lab runbook's names for Remedy's phases.
AGENT_LAB_LABELS = {
    Phase.DETECTION: "Immediate Actions",
    Phase.ASSESSMENT: "Investigation",
    Phase.RESPONSE: "Containment",
    Phase.VERIFICATION: "Recovery",
}


def agent_lab(budgets: Callable[[ServicePolicy], Mapping[Phase, timedelta]]) -> Clock:
    """An Agent Lab playbook with an Immediate Actions budget (ApplicationDown,
    StreamingFailure, PerformanceDegradation, DataCorruption, SecurityIncident): phases
    may be re-entered (Containment again for a rollback) and go quiet once a person owns
    the incident."""
    return Clock(budgets, AGENT_LAB_LABELS, once=False, quiet_when_escalated=True)


def agent_lab_release(budgets: Callable[[ServicePolicy], Mapping[Phase, timedelta]]) -> Clock:
    """Agent Lab High Error Rate and Deployment Failure: budgets for Investigation,
    Containment and Recovery only (their runbooks time no Immediate Actions)."""
    return Clock(budgets, AGENT_LAB_LABELS, arms_detection=False)


def overran(inc: Incident) -> list[str]:
    return [e.detail for e in inc.timeline if e.step.startswith("phase overrun")]


def arm_clock(inc: Incident, clock: Clock, phase: Phase) -> None:
    """Record and watch `phase`'s budget on `clock` (nothing when it has none, or when
    the service's policy could not be loaded: Triage of a service not in the inventory)."""
    arm(
        inc,
        phase,
        clock.budget(inc.policy, phase) if inc.has_policy else None,
        label=clock.labels.get(phase),
        once=clock.once,
        quiet_when_escalated=clock.quiet_when_escalated,
    )


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

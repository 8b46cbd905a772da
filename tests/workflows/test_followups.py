"""The Agent Lab runbook's Post-Incident Actions are asked of people, never dropped:
`to do:` lines in the timeline at close (once each), named in the final Slack update,
and listed in the post-mortem draft's checklist ("left to people")."""

from __future__ import annotations

from temporalio.testing import WorkflowEnvironment

from tests.workflows.agentlab_world import LabWorld, lab_policy, run_lab
from workflows.models import Severity
from workflows.steps import followups
from workflows.steps.postincident import checklist

PB = "PerformanceDegradation"
RUNBOOK_ACTIONS = [
    "Performance Analysis: Identify bottleneck causes",
    "Capacity Planning: Review resource requirements",
    "Code Optimization: Implement performance improvements",
    "Load Testing: Regular performance regression testing",
]


def todos(res) -> list[str]:  # type: ignore[no-untyped-def]
    return [e.step.removeprefix("to do: ") for e in res.timeline if e.step.startswith("to do: ")]


async def test_resolved_incident_asks_for_each_action_once_and_names_them_in_slack(
    time_env: WorkflowEnvironment,
) -> None:
    w = LabWorld(lab_policy(), sli=[0.9, 0.3])
    res = await run_lab(time_env, w, PB)
    assert res.outcome == "resolved", [e.step for e in res.timeline]
    assert todos(res) == RUNBOOK_ACTIONS
    # Asked after the work, in the Resolution phase, before the incident closed.
    first = next(i for i, e in enumerate(res.timeline) if e.step.startswith("to do: "))
    closed = next(i for i, e in enumerate(res.timeline) if e.step == "incident closed")
    assert res.timeline[first].phase.value == "Resolution" and first < closed
    resolved = [m for m in w.slack_messages if m.status == "Resolved"]
    assert len(resolved) == 1
    for name in ("Performance Analysis", "Capacity Planning", "Code Optimization", "Load Testing"):
        assert name in resolved[0].next_steps


async def test_escalated_incident_still_lists_them(time_env: WorkflowEnvironment) -> None:
    w = LabWorld(lab_policy(slis={}, agent_lab={"has_load_probe": False}))
    res = await run_lab(time_env, w, PB)
    assert res.outcome == "escalated"
    assert todos(res) == RUNBOOK_ACTIONS


def test_the_checklist_lists_them_as_left_to_people() -> None:
    class Inc:  # the fields checklist() reads
        timeline = []  # type: ignore[var-annotated]
        playbook = PB
        severity = Severity.P1

        def record(self, step: str, outcome: str, detail: str = "") -> None:
            from datetime import UTC, datetime

            from workflows.models import Phase, TimelineEntry

            self.timeline.append(
                TimelineEntry(
                    at=datetime.now(UTC), phase=Phase.RESOLUTION, step=step, outcome=outcome
                )
            )

    inc = Inc()
    assert followups.record(inc) == tuple(RUNBOOK_ACTIONS)  # type: ignore[arg-type]
    assert followups.record(inc) == tuple(RUNBOOK_ACTIONS)  # type: ignore[arg-type]
    assert len(inc.timeline) == 4  # a second close does not ask twice
    lines = checklist(inc, "resolved")  # type: ignore[arg-type]
    for action in RUNBOOK_ACTIONS:
        assert f"- [ ] {action} — left to people" in lines


def test_every_playbook_in_the_table_exists_and_genesis_playbooks_have_none() -> None:
    from workflows.registry import PLAYBOOKS

    assert set(followups.ACTIONS) <= set(PLAYBOOKS)
    assert followups.for_playbook("ServiceDown") == ()
    assert followups.slack_line(()) == "post-incident review"

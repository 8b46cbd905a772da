"""The Agent Lab runbook's "Post-Incident Actions": work for people after the incident
(capacity planning, better tests, new alerts). Remedy does not do them; it asks for
them, so none is dropped silently: each becomes a `to do:` line in the timeline when
the incident closes, the post-mortem draft's checklist lists them ("left to people"),
and the final Slack update names them.

DataCorruption and SecurityIncident take theirs from the inventory
(`data_integrity.human_steps`, `security.human_steps`), so a team can edit them; the
playbooks below have a fixed list, the runbook's text. Recording a timeline line issues
no command, so adding an entry here never changes a history's events.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows.coverage import AGENT_LAB, Covers, asks, declare
    from workflows.incident import Incident

# Playbook name -> (runbook section, the Post-Incident Actions as the runbook words them).
ACTIONS: dict[str, tuple[str, tuple[str, ...]]] = {
    "ApplicationDown": (
        "Playbook: Application Down (P0)",
        (
            "Capacity Planning: Review resource allocation",
            "Monitoring Improvements: Add alerts for crash precursors",
        ),
    ),
    "AgentLabHighErrorRate": (
        "Playbook: High Error Rate (P1)",
        (
            "Error Analysis: Categorize and prioritize error types",
            "Testing Improvements: Add tests for error conditions",
            "Monitoring Enhancements: Add alerts for specific error patterns",
            "Capacity Planning: Review if load caused errors",
        ),
    ),
    "StreamingFailure": (
        "Playbook: Streaming Failure (P2)",
        (
            "Network Analysis: Investigate connectivity issues",
            "API Reliability: Review OpenRouter streaming reliability",
            "Client Improvements: Enhance Gradio streaming handling",
            "Fallback Options: Implement non-streaming fallback",
        ),
    ),
    "PerformanceDegradation": (
        "Playbook: Performance Degradation (P2)",
        (
            "Performance Analysis: Identify bottleneck causes",
            "Capacity Planning: Review resource requirements",
            "Code Optimization: Implement performance improvements",
            "Load Testing: Regular performance regression testing",
        ),
    ),
    "DeploymentFailure": (
        "Playbook: Deployment Failure (P1)",
        (
            "Deployment Analysis: Review pipeline and scripts",
            "Testing Improvements: Enhance pre-deployment testing",
            "Rollback Procedures: Test rollback processes regularly",
            "Change Management: Implement stricter change controls",
        ),
    ),
}
# ApplicationDown's other two (root cause analysis, documentation) are the post-mortem
# draft's own sections, declared in workflows/playbooks/application_down.py.


def for_playbook(playbook: str) -> tuple[str, ...]:
    return ACTIONS.get(playbook, ("", ()))[1]


def record(inc: Incident) -> tuple[str, ...]:
    """Each of the playbook's post-incident actions as a `to do:` timeline line, once
    per run (a retried close does not repeat them); returns them for the Slack update."""
    todo = for_playbook(inc.playbook)
    done = {e.step for e in inc.timeline}
    for step in todo:
        if f"to do: {step}" not in done:
            inc.record(f"to do: {step}", "info", "post-incident action: for people")
    return todo


def slack_line(todo: tuple[str, ...]) -> str:
    """The final status update's next steps: the review, and what people are asked."""
    if not todo:
        return "post-incident review"
    return "post-incident review; for people: " + "; ".join(t.split(":")[0] for t in todo)


_WHERE = (
    "steps/followups.record: `to do:` in the timeline at close, listed in the final "
    "Slack update and the post-mortem checklist"
)
COVERAGE: list[Covers] = [
    row
    for playbook, (section, todo) in ACTIONS.items()
    for row in declare(
        playbook,
        AGENT_LAB,
        section,
        [asks("Post-Incident Actions", step, _WHERE) for step in todo],
    )
]

"""Runbook coverage declarations: which runbook step each playbook carries out.

Data only. Each playbook module (workflows/playbooks/*.py) has a module-level
`COVERAGE` list beside its code, one `Covers` per runbook step it touches; the steps
every playbook shares (the general incident response process, the rollback procedure,
the post-incident checklist) are declared here in `SHARED`. Nothing here runs in a
workflow: building these lists at import time issues no command and calls no activity,
so declarations never change a workflow's behaviour or its history.

`remedy coverage` (remedy/coverage.py) reads the runbooks, lists their steps and joins
them to these declarations: a step nobody declares is *not covered*, and a declaration
naming a step the runbook does not have fails tests/test_coverage.py.

A declaration names its runbook (the file's stem), its section path (headings joined
with " > ", as remedy/coverage.py parses them) and the step's text, and says how:

- `automated`: Remedy does it; `where` names the code (module.function or playbook).
- `asks`: a person's step; Remedy pages or records it as `to do:` (`where`: how).
- `not_applicable`: not for automation, or not for this system; `why` says why.
- `deviation`: Remedy departs from the runbook here (a threshold the runbook does not
  state, an order changed for safety); a row of its own beside the step's coverage.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

How = Literal["automated", "asks a person", "not applicable", "deviation"]

GENESIS = "genesis-incident-response-playbook"
AGENT_LAB = "agent-lab-incident-playbooks"
EVERY_PLAYBOOK = "(every playbook)"


@dataclass(frozen=True)
class Covers:
    """One runbook step and how Remedy treats it."""

    section: str
    step: str
    how: How
    where: str = ""
    why: str = ""
    runbook: str = ""
    playbook: str = ""


def automated(section: str, step: str, where: str, why: str = "") -> Covers:
    return Covers(section, step, "automated", where, why)


def asks(section: str, step: str, where: str, why: str = "") -> Covers:
    return Covers(section, step, "asks a person", where, why)


def not_applicable(section: str, step: str, why: str) -> Covers:
    return Covers(section, step, "not applicable", "", why)


def deviation(section: str, step: str, where: str, why: str) -> Covers:
    return Covers(section, step, "deviation", where, why)


def declare(playbook: str, runbook: str, prefix: str, rows: list[Covers]) -> list[Covers]:
    """The rows of one playbook for one runbook; each row's section is under `prefix`
    (the runbook's top-level section, e.g. "Incident: GenesisServiceDown")."""
    return [
        replace(
            r,
            runbook=runbook,
            playbook=playbook,
            section=f"{prefix} > {r.section}" if r.section else prefix,
        )
        for r in rows
    ]


# ------------------------------------------------------------------ shared by every playbook
_G_PROCESS = "General Incident Response Process"
_NOTIFY = "steps/notify.status_update (Slack), steps/notify.pagerduty"
_CLOSE = "steps/resolution.close"

SHARED: list[Covers] = [
    *declare(
        EVERY_PLAYBOOK,
        GENESIS,
        _G_PROCESS,
        [
            automated(
                "Phase 1: Detection (0-2 minutes)",
                "Alert fires via Prometheus",
                "bridge/ (Alertmanager webhook) -> Incident.detect",
            ),
            automated(
                "Phase 1: Detection (0-2 minutes)",
                "Notification sent to Slack/PagerDuty",
                _NOTIFY,
            ),
            asks(
                "Phase 1: Detection (0-2 minutes)",
                "On-call engineer acknowledges",
                "steps/paging.at_detection pages on-call (P0/P1); `remedy acknowledge`, the "
                "Slack button or PagerDuty's acknowledge (bridge) stop the re-page chain",
            ),
            not_applicable(
                "Phase 2: Assessment (2-5 minutes)",
                "Review Grafana dashboard",
                "a person's view; Remedy queries the same Prometheus series (steps/diagnostics)",
            ),
            automated(
                "Phase 2: Assessment (2-5 minutes)",
                "Check system logs",
                "steps/recovery.collect_crash_evidence, steps/diagnostics.log_errors",
            ),
            automated(
                "Phase 2: Assessment (2-5 minutes)",
                "Determine severity (P0-P4)",
                "Incident.detect -> workflows/severity.decide (inventory override, the "
                "runbook's severity, the alert's label, the service default; RemedySeverity)",
            ),
            automated(
                "Phase 2: Assessment (2-5 minutes)",
                "Decide: investigate or escalate",
                "each playbook's run: its branches end in close() or escalate()",
            ),
            automated(
                "Phase 3: Response (5-30 minutes)",
                "Apply immediate mitigation",
                "steps/mitigation.apply, steps/recovery.restart_or_roll_back",
            ),
            automated(
                "Phase 3: Response (5-30 minutes)",
                "Monitor metrics for improvement",
                "steps/verify.sustained",
            ),
            automated(
                "Phase 3: Response (5-30 minutes)",
                "Document actions in incident log",
                "Incident timeline; steps/resolution.close (incident log line)",
            ),
            automated(
                "Phase 3: Response (5-30 minutes)",
                "Communicate status updates",
                "steps/notify.status_update",
            ),
            automated(
                "Phase 4: Resolution (varies)",
                "Verify metrics returned to SLO",
                "steps/verify.sustained, steps/recovery.wait_healthy",
            ),
            asks(
                "Phase 4: Resolution (varies)",
                "Root cause analysis",
                "post-mortem draft: root cause left to people (steps/postincident)",
            ),
            asks(
                "Phase 4: Resolution (varies)",
                "Update runbooks",
                "post-incident checklist item, left to people (steps/postincident)",
            ),
            automated(
                "Phase 4: Resolution (varies)",
                "Post-mortem (for P0-P1)",
                "steps/postincident.write (draft; a person completes it)",
            ),
        ],
    ),
    *declare(
        EVERY_PLAYBOOK,
        GENESIS,
        "Post-Incident Checklist",
        [
            automated(
                "",
                "Verify all SLOs restored (pass rate, error rate, latency)",
                "steps/verify.sustained (the incident's SLO only)",
                "the other SLOs are a checklist item left to people",
            ),
            automated(
                "",
                "Document incident in `/home/genesis/genesis-rebuild/logs/incidents.log`",
                _CLOSE + " (INCIDENT_LOG activity, the service's `incident_log`)",
            ),
            asks(
                "",
                "Update monitoring alerts (if false positive)",
                "post-incident checklist item (steps/postincident.checklist)",
            ),
            automated(
                "",
                "Create post-mortem (for P0-P1)",
                "steps/postincident.write (draft from the timeline)",
            ),
            asks(
                "",
                "Update runbooks with lessons learned",
                "post-incident checklist item (steps/postincident.checklist)",
            ),
            asks(
                "",
                "Test rollback procedure (if not already tested)",
                "checklist item; ticked when a rollback completed in the incident",
            ),
            automated(
                "",
                "Communicate resolution to stakeholders",
                "steps/notify.status_update 'Resolved'",
                "stakeholders outside the Slack channel are left to people",
            ),
        ],
    ),
    *declare(
        "Rollback",
        GENESIS,
        "Rollback Procedure",
        [
            automated(
                "When to Rollback",
                "Service is down and won't restart",
                "steps/recovery.restart_or_roll_back",
            ),
            automated(
                "When to Rollback",
                "Test pass rate <95%",
                "steps/sli_response (TestPassRateLow goal, rollback threshold)",
            ),
            automated(
                "When to Rollback",
                "Error rate >1%",
                "steps/sli_response (HighErrorRate goal, rollback threshold)",
            ),
            automated(
                "When to Rollback",
                "P95 latency >500ms (2.5x SLO)",
                "steps/sli_response (HighLatencyP95 goal, rollback threshold)",
            ),
            automated(
                "When to Rollback",
                "Unresolved P1 incident after 30 minutes",
                "steps/sli_response.verify_or_roll_back (`waits.rollback_after`)",
            ),
            deviation(
                "When to Rollback",
                "Unresolved P1 incident after 30 minutes",
                "steps/sli_response.verify_or_roll_back",
                '"unresolved" is fail-safe: a verification window broken by a missing '
                "sample counts as unresolved; after the one rollback, unresolved 30 "
                "minutes later -> a person (never a second rollback). Neither is in the runbook",
            ),
            deviation(
                "When to Rollback",
                "Unresolved P1 incident after 30 minutes",
                "steps/sli_response.roll_back",
                "before rolling back, the mitigations this incident applied are undone "
                "from their backups (the runbook does not say)",
            ),
            automated("Rollback Steps", "Stop current service", "steps/rollback.PROCEDURE"),
            automated(
                "Rollback Steps",
                "Revert code to last known good version",
                "steps/rollback.PROCEDURE (fetch, reset --hard to the stable ref, clean)",
            ),
            automated("Rollback Steps", "Restore configuration", "steps/rollback.PROCEDURE"),
            automated("Rollback Steps", "Restart service", "steps/rollback.PROCEDURE (start)"),
            automated(
                "Rollback Steps",
                "Verify",
                "steps/rollback.Rollback.run (sleep 10 s, status)",
            ),
            automated(
                "Rollback Steps",
                "Run health check",
                "steps/rollback.Rollback.run (health_check command)",
            ),
            deviation(
                "Rollback Steps",
                "Restore configuration",
                "steps/rollback.PROCEDURE",
                "an empty config backup fails the restore (the script's `cp *.yaml` under "
                "set -e would fail too; Remedy says so explicitly)",
            ),
        ],
    ),
    *declare(
        EVERY_PLAYBOOK,
        AGENT_LAB,
        _G_PROCESS,
        [
            automated(
                "Phase 1: Detection & Triage (0-5 minutes)",
                "Acknowledge Alert: Confirm alert receipt within 2 minutes",
                "bridge/ (Alertmanager webhook, signal-with-start); steps/paging: a page "
                "not acknowledged within 2 minutes (paging.ack_window) pages the next level",
            ),
            automated(
                "Phase 1: Detection & Triage (0-5 minutes)",
                "Assess Severity: Determine P0-P3 based on impact and scope",
                "Incident.detect -> workflows/severity.decide",
                "the runbook's severity of the playbook (or an inventory override); impact "
                "and scope are not assessed",
            ),
            automated(
                "Phase 1: Detection & Triage (0-5 minutes)",
                "Gather Initial Data: Collect basic system metrics and logs",
                "steps/agentlab_diagnosis.resources, steps/recovery.collect_crash_evidence",
            ),
            automated(
                "Phase 1: Detection & Triage (0-5 minutes)",
                "Notify Team: Alert appropriate responders based on severity",
                "steps/paging.at_detection (P0: on-call + incident commander, P1: on-call; "
                "paging.at_detection) and the Slack channel by severity (steps/notify)",
            ),
            not_applicable(
                "Phase 2: Investigation (5-30 minutes)",
                "Isolate Affected Systems: Prevent further impact",
                "general heading; each playbook's Containment says how (maintenance mode, "
                "read-only mode, approved security containment)",
            ),
            automated(
                "Phase 2: Investigation (5-30 minutes)",
                "Collect Evidence: Gather logs, metrics, and system state",
                "each playbook's Investigation steps, into the timeline",
            ),
            asks(
                "Phase 2: Investigation (5-30 minutes)",
                "Identify Root Cause: Determine what caused the incident",
                "post-mortem draft: root cause left to people",
            ),
            not_applicable(
                "Phase 2: Investigation (5-30 minutes)",
                "Assess Impact: Understand scope and user impact",
                "user impact is not measured by Remedy; the post-mortem leaves it to people",
            ),
            automated(
                "Phase 3: Containment & Recovery (30-120 minutes)",
                "Implement Mitigations: Apply temporary fixes",
                "steps/mitigation.apply",
            ),
            automated(
                "Phase 3: Containment & Recovery (30-120 minutes)",
                "Begin Recovery: Restore service using documented procedures",
                "steps/recovery.restart_or_roll_back, steps/agentlab_release.roll_back",
            ),
            automated(
                "Phase 3: Containment & Recovery (30-120 minutes)",
                "Validate Fixes: Ensure recovery is successful",
                "steps/recovery.wait_healthy, steps/verify.sustained",
            ),
            automated(
                "Phase 3: Containment & Recovery (30-120 minutes)",
                "Monitor Recovery: Watch for side effects or regressions",
                "steps/verify.sustained (the verification window)",
            ),
            automated(
                "Phase 4: Post-Incident (2-24 hours)",
                "Document Timeline: Record all actions and findings",
                "Incident timeline; steps/postincident.write",
            ),
            asks(
                "Phase 4: Post-Incident (2-24 hours)",
                "Conduct Post-Mortem: Analyze root cause and improvements",
                "post-mortem draft written; analysis left to people",
            ),
            asks(
                "Phase 4: Post-Incident (2-24 hours)",
                "Implement Fixes: Apply permanent solutions",
                "post-incident checklist, left to people",
            ),
            asks(
                "Phase 4: Post-Incident (2-24 hours)",
                "Update Documentation: Improve playbooks and monitoring",
                "post-incident checklist: update runbooks / monitoring alerts",
            ),
        ],
    ),
]

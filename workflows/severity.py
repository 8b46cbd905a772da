"""An incident's severity: the runbook's, unless an operator says otherwise.

The runbooks give each incident type its priority (Genesis "**Severity:** P0 -
Critical" under GenesisServiceDown, Agent Lab's "Playbook: Streaming Failure (P2)").
Remedy used to take the alert's label or a per-service default instead, so a service
default of P1 ran GenesisServiceDown as P1 and paged PagerDuty "critical" for a P2
streaming failure. The order now, first answer wins:

1. the inventory's `severity_overrides: {<alertname>: P2}` for this service (an operator
   who knows this service better than the runbook: staging, a non-critical tenant);
2. the runbook's severity of the playbook (`RUNBOOK` below);
3. the alert's `severity` label, mapped by `LABELS` (Triage: no runbook names it);
4. the service's `severity:` in the inventory (default P1).

Pure functions: they run inside the workflow and in the bridge.
"""

from __future__ import annotations

from workflows.models import Severity

# Playbook -> the priority its runbook section states.
RUNBOOK: dict[str, Severity] = {
    "ServiceDown": Severity.P0,  # Genesis "Incident: GenesisServiceDown": P0 - Critical
    "ApplicationDown": Severity.P0,  # Agent Lab "Playbook: Application Down (P0)"
    "SecurityIncident": Severity.P0,  # "Playbook: Security Incident (P0)"
    "TestPassRateLow": Severity.P1,  # Genesis: P1 - Critical
    "HighErrorRate": Severity.P1,  # Genesis: P1 - Critical
    "HighLatencyP95": Severity.P1,  # Genesis: P1 - Critical
    "AgentLabHighErrorRate": Severity.P1,  # "Playbook: High Error Rate (P1)"
    "DataCorruption": Severity.P1,  # "Playbook: Data Corruption (P1)"
    "DeploymentFailure": Severity.P1,  # "Playbook: Deployment Failure (P1)"
    "StreamingFailure": Severity.P2,  # "Playbook: Streaming Failure (P2)"
    "PerformanceDegradation": Severity.P2,  # "Playbook: Performance Degradation (P2)"
    # Triage and Rollback: none (Triage takes the alert's; Rollback is a child step).
}

# An Alertmanager `severity` label -> priority. The runbooks' P0-P4 are taken as they
# are; the Prometheus conventions map to the runbooks' words ("P1 - Critical").
LABELS: dict[str, Severity] = {
    **{s.value: s for s in Severity},
    "CRITICAL": Severity.P1,
    "ERROR": Severity.P2,
    "WARNING": Severity.P2,
    "INFO": Severity.P3,
    "NONE": Severity.P4,
}


def from_label(value: str | None) -> Severity | None:
    """The priority an alert's `severity` label names, or None (absent, unknown)."""
    return LABELS.get((value or "").strip().upper())


def decide(
    playbook: str,
    alertname: str,
    label: Severity | None,
    overrides: dict[str, str],
    service_default: str,
) -> tuple[Severity, str]:
    """The severity and where it came from (said in the timeline)."""
    if alertname in overrides:
        return Severity(overrides[alertname]), f"inventory severity_overrides[{alertname}]"
    if playbook in RUNBOOK:
        return RUNBOOK[playbook], f"runbook ({playbook})"
    if label is not None:
        return label, "alert label"
    return Severity(service_default), "service default (inventory `severity:`)"

"""The explicit registry: every playbook the worker runs and every alert the bridge routes.

Plain dicts on purpose (DESIGN principle 9): what runs is what is listed here, and a
test checks that every playbook has tests.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows.fleet import FleetGuard, Storm
    from workflows.governor import Governor
    from workflows.playbooks.agentlab_high_error_rate import AgentLabHighErrorRate
    from workflows.playbooks.application_down import ApplicationDown
    from workflows.playbooks.data_corruption import DataCorruption
    from workflows.playbooks.deployment_failure import DeploymentFailure
    from workflows.playbooks.high_error_rate import HighErrorRate
    from workflows.playbooks.high_latency import HighLatencyP95
    from workflows.playbooks.performance_degradation import PerformanceDegradation
    from workflows.playbooks.security_incident import SecurityIncident
    from workflows.playbooks.service_down import ServiceDown
    from workflows.playbooks.streaming_failure import StreamingFailure
    from workflows.playbooks.test_pass_rate import TestPassRateLow
    from workflows.playbooks.triage import Triage
    from workflows.steps.rollback import Rollback

PLAYBOOKS: dict[str, type] = {
    "ServiceDown": ServiceDown,
    "Rollback": Rollback,
    "Triage": Triage,
    "TestPassRateLow": TestPassRateLow,
    "HighErrorRate": HighErrorRate,
    "HighLatencyP95": HighLatencyP95,
    "AgentLabHighErrorRate": AgentLabHighErrorRate,
    "DeploymentFailure": DeploymentFailure,
    "SecurityIncident": SecurityIncident,
    "ApplicationDown": ApplicationDown,
    "StreamingFailure": StreamingFailure,
    "PerformanceDegradation": PerformanceDegradation,
    "DataCorruption": DataCorruption,
}

# Workflows the worker runs that no alert routes to (not playbooks, so not in PLAYBOOKS:
# the bridge routes to and the replay test covers exactly PLAYBOOKS). Governor: the
# per-service blast-radius governor, started by the governor.permit activity; FleetGuard
# and its Storm: the fleet-wide storm breaker and action budget (workflows/fleet.py).
# What an alert may be routed to: every playbook but Rollback, which runs only as an
# incident's child (workflows/steps/rollback.py); the inventory refuses a route to it.
ROUTABLE: frozenset[str] = frozenset(PLAYBOOKS) - {"Rollback"}

SUPPORT_WORKFLOWS: dict[str, type] = {
    "Governor": Governor,
    "FleetGuard": FleetGuard,
    "Storm": Storm,
}

# Where an alert goes when no route matches or its service is not in the inventory.
FALLBACK_PLAYBOOK = "Triage"

# Default routes: alertname -> playbook name. The inventory may add or override routes.
ROUTES: dict[str, str] = {
    "GenesisServiceDown": "ServiceDown",
    "ApplicationDown": "ApplicationDown",
    "TestPassRateLow": "TestPassRateLow",
    "HighErrorRate": "HighErrorRate",
    "HighLatencyP95": "HighLatencyP95",
    "DeploymentFailure": "DeploymentFailure",
    "SecurityIncident": "SecurityIncident",
    "StreamingFailure": "StreamingFailure",
    "PerformanceDegradation": "PerformanceDegradation",
    "DataCorruption": "DataCorruption",
}

"""Severity from the runbooks (workflows/severity.py): the inventory's per-alert
override, then the runbook, then the alert's label, then the service default."""

from __future__ import annotations

import re
from pathlib import Path

from workflows import severity
from workflows.models import Severity
from workflows.registry import PLAYBOOKS

ROOT = Path(__file__).resolve().parent.parent


def test_every_playbook_but_triage_and_rollback_has_its_runbook_severity() -> None:
    assert set(severity.RUNBOOK) == set(PLAYBOOKS) - {"Triage", "Rollback"}


def test_the_table_matches_the_runbooks_text() -> None:
    """Each Agent Lab heading says "(P0)"; Genesis says "**Severity:** P1 - Critical"."""
    lab = (ROOT / "docs/runbooks/agent-lab-incident-playbooks.md").read_text()
    headings = dict(re.findall(r"^## Playbook: (.+?) \((P\d)\)$", lab, re.M))
    lab_names = {
        "Application Down": "ApplicationDown",
        "High Error Rate": "AgentLabHighErrorRate",
        "Data Corruption": "DataCorruption",
        "Streaming Failure": "StreamingFailure",
        "Performance Degradation": "PerformanceDegradation",
        "Security Incident": "SecurityIncident",
        "Deployment Failure": "DeploymentFailure",
    }
    assert set(headings) == set(lab_names)
    for title, playbook in lab_names.items():
        assert severity.RUNBOOK[playbook] == Severity(headings[title]), playbook
    genesis = (ROOT / "docs/runbooks/genesis-incident-response-playbook.md").read_text()
    sections = re.findall(r"^## Incident: (\w+)\n(?:.*\n)*?\*\*Severity:\*\* (P\d)", genesis, re.M)
    by_alert = {"GenesisServiceDown": "ServiceDown"}
    assert len(sections) == 4
    for alertname, sev in sections:
        assert severity.RUNBOOK[by_alert.get(alertname, alertname)] == Severity(sev), alertname


def test_order_override_runbook_label_default() -> None:
    d = severity.decide
    # The operator's override for this service and alert wins over the runbook.
    assert (
        d("ServiceDown", "GenesisServiceDown", Severity.P3, {"GenesisServiceDown": "P2"}, "P1")[0]
        == Severity.P2
    )
    # An override for another alert does not apply.
    sev, why = d("ServiceDown", "GenesisServiceDown", Severity.P3, {"Other": "P4"}, "P1")
    assert (sev, why) == (Severity.P0, "runbook (ServiceDown)")
    # No runbook severity (Triage): the label, then the service default.
    assert d("Triage", "Whatever", Severity.P3, {}, "P1") == (Severity.P3, "alert label")
    sev, why = d("Triage", "Whatever", None, {}, "P4")
    assert sev == Severity.P4 and why.startswith("service default")
    # Agent Lab P2 playbooks are P2 whatever the service default says.
    assert d("StreamingFailure", "StreamingFailure", None, {}, "P0")[0] == Severity.P2

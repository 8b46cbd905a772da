"""Severity from the runbooks (workflows/severity.py): the inventory's per-alert
override, then the runbook, then the alert's label, then the service default."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

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


def _inventory(tmp_path: Path, extra: str) -> Path:
    p = tmp_path / "inv.yaml"
    p.write_text(
        "hosts:\n  h1: {address: 127.0.0.1, user: root, known_hosts_file: /dev/null,\n"
        "       private_key_file: /dev/null}\n"
        "services:\n  svc:\n    hosts: [h1]\n" + extra,
        encoding="utf-8",
    )
    return p


def test_inventory_paging_and_overrides_reach_the_policy(tmp_path: Path) -> None:
    from activities.inventory import load_inventory

    inv = load_inventory(
        _inventory(
            tmp_path,
            "    severity_overrides: {HighLatencyP95: P2}\n"
            "    paging:\n"
            "      levels: [{name: on-call}, {name: boss, routing_key_env: PD_BOSS}]\n"
            "      at_detection: {P0: [on-call, boss]}\n"
            "      ack_window: 300\n",
        )
    )
    policy = inv.policy("svc")
    assert policy.severity_overrides == {"HighLatencyP95": "P2"}
    assert [lv.name for lv in policy.paging.levels] == ["on-call", "boss"]
    assert policy.paging.level("boss").routing_key_env == "PD_BOSS"  # type: ignore[union-attr]
    assert policy.paging.ack_window.total_seconds() == 300


def test_the_example_inventory_pages_as_the_runbooks_say() -> None:
    from activities.inventory import load_inventory

    inv = load_inventory(ROOT / "examples/inventory.yaml")
    for name in inv.services:
        paging = inv.policy(name).paging
        assert paging.at_detection == {"P0": ["on-call", "incident-commander"], "P1": ["on-call"]}
        assert paging.ack_window.total_seconds() == 120


@pytest.mark.parametrize(
    ("extra", "said"),
    [
        ("    severity_overrides: {X: critical}\n", "severity_overrides.X"),
        ("    paging: {at_detection: {P0: [nobody]}}\n", "unknown level ['nobody']"),
        ("    paging: {at_detection: {P9: [on-call]}}\n", "'P9' is not a severity"),
        ("    paging: {levels: [{name: a}, {name: a}]}\n", "a level is named twice"),
        ("    paging: {levels: [{name: a, routing_key_env: 'sk_live_123'}]}\n", "routing_key_env"),
        ("    paging: {ack_window: 0}\n", "ack_window"),
    ],
)
def test_bad_paging_or_severity_is_refused_with_its_path(
    tmp_path: Path, extra: str, said: str
) -> None:
    from activities.inventory import InventoryError, load_inventory

    with pytest.raises(InventoryError) as err:
        load_inventory(_inventory(tmp_path, extra))
    assert said in str(err.value), str(err.value)

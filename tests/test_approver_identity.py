"""The pieces of "approvals with a verified identity" that need no server: the
inventory's `people:` / `approvers:` checks, the Slack buttons Remedy renders, the
signature checks, and who the CLI answers as. The answering itself (validators, the
bridge endpoints, a restart on the real sshd) is in tests/workflows/test_approvers.py
and tests/bridge/test_interactions.py."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from pydantic import ValidationError

from activities.inventory import Inventory
from activities.notify import render_slack
from bridge.interactions import (
    Refused,
    check_pagerduty,
    check_slack,
    pagerduty_signature,
    slack_signature,
)
from remedy.cli_incident import answerer
from workflows.contracts.notify import SlackMessageInput

HOSTS = {
    "h": {
        "address": "127.0.0.1",
        "user": "remedy",
        "private_key_file": "/nonexistent/key",
        "known_hosts_file": "/nonexistent/known_hosts",
    }
}


def inventory(**extra: Any) -> Inventory:
    base: dict[str, Any] = {"hosts": HOSTS, "services": {"api": {"hosts": ["h"]}}}
    return Inventory.model_validate(base | extra)


# ---------------------------------------------------------------- inventory
def test_service_approvers_override_the_top_level_per_kind() -> None:
    inv = inventory(
        people={"alice": {"slack": "U0ALICE01", "pagerduty": "PALICE1"}, "bob": {}},
        approvers={"default": ["alice"], "restart": ["alice"]},
        services={"api": {"hosts": ["h"], "approvers": {"restart": ["bob"]}}},
    )
    assert inv.policy("api").safety.approvers == {"default": ["alice"], "restart": ["bob"]}
    assert inv.person_by("slack", "U0ALICE01") == "alice"
    assert inv.person_by("pagerduty", "PALICE1") == "alice"
    assert inv.person_by("slack", "U0NOBODY1") is None
    assert inventory().policy("api").safety.approvers == {}  # none: the open default


@pytest.mark.parametrize(
    ("extra", "problem"),
    [
        (
            {"approvers": {"restart": ["alcie"]}},
            "approvers.restart[0]: 'alcie' is not under people",
        ),
        (
            {"services": {"api": {"hosts": ["h"], "approvers": {"rollback": ["eve"]}}}},
            "services.api.approvers.rollback[0]: 'eve' is not under people (listed: alice)",
        ),
        ({"approvers": {"reboot": ["alice"]}}, "approvers.reboot"),  # not a kind
        ({"people": {"bob": {"slack": "U0BOB0001"}, "eve": {"slack": "U0BOB0001"}}}, "is also"),
        ({"people": {"Alice Smith": {}}}, "people.Alice Smith: a name is lower case"),
        ({"people": {"alice": {"slack": "alice"}}}, "people.alice.slack"),
    ],
)
def test_bad_people_or_approvers_are_refused_at_load(extra: dict[str, Any], problem: str) -> None:
    people = {"people": {"alice": {"slack": "U0ALICE01"}}}
    with pytest.raises(ValidationError) as e:
        inventory(**(people | extra))
    assert problem in str(e.value)


# ---------------------------------------------------------------- Slack buttons
def test_slack_message_carries_approve_reject_and_acknowledge_buttons() -> None:
    msg = SlackMessageInput(
        incident_id="incident:SecurityIncident:api",
        run_key="incident:SecurityIncident:api@0195-run",
        title="t",
        status="Investigating",
        impact="i",
        timeline="tl",
        actions_taken="a",
        next_steps="n",
        approvals=["containment: block-ip", "containment: rotate-credentials"],
        acknowledge=True,
    )
    [actions] = [b for b in render_slack(msg)["blocks"] if b["type"] == "actions"]
    got = [(b["action_id"], json.loads(b["value"]), b.get("style")) for b in actions["elements"]]
    run = "incident:SecurityIncident:api@0195-run"
    assert got == [
        ("remedy:approve:0", {"incident": run, "step": "containment: block-ip"}, "primary"),
        ("remedy:reject:0", {"incident": run, "step": "containment: block-ip"}, "danger"),
        (
            "remedy:approve:1",
            {"incident": run, "step": "containment: rotate-credentials"},
            "primary",
        ),
        ("remedy:reject:1", {"incident": run, "step": "containment: rotate-credentials"}, "danger"),
        ("remedy:acknowledge:0", {"incident": run}, None),
    ]
    # Nothing to answer: no buttons (and messages from before them render as before).
    plain = msg.model_copy(update={"approvals": [], "acknowledge": False})
    assert not [b for b in render_slack(plain)["blocks"] if b["type"] == "actions"]


# ---------------------------------------------------------------- signatures
SECRET = "s" * 32


def test_slack_signature_is_checked_over_timestamp_and_body() -> None:
    now = time.time()
    ts = str(int(now))
    body = b"payload=%7B%7D"
    good = {"x-slack-request-timestamp": ts, "x-slack-signature": slack_signature(SECRET, ts, body)}
    check_slack(SECRET, good, body, now)  # accepted
    assert slack_signature(SECRET, ts, body).startswith("v0=")
    for headers, at, reason in [
        ({}, now, "unsigned"),
        (good | {"x-slack-signature": slack_signature("t" * 32, ts, body)}, now, "bad_signature"),
        (good, now + 301, "stale"),  # 5 minutes and a second later
        (good, now - 301, "stale"),  # from the future
        (good | {"x-slack-request-timestamp": "soon"}, now, "stale"),
    ]:
        with pytest.raises(Refused) as e:
            check_slack(SECRET, headers, body, at)
        assert (e.value.code, e.value.reason) == (401, reason)
    with pytest.raises(Refused):
        check_slack(SECRET, good, body + b"x", now)  # another body, same signature


def test_pagerduty_signature_accepts_any_of_several() -> None:
    body = b'{"event": {}}'
    good = pagerduty_signature(SECRET, body)
    other = pagerduty_signature("o" * 32, body)
    check_pagerduty(SECRET, {"x-pagerduty-signature": f"{other},{good}"}, body)
    for header in ("", other, good.replace("v1=", "v0="), f"{other}, v1=00"):
        with pytest.raises(Refused) as e:
            check_pagerduty(SECRET, {"x-pagerduty-signature": header}, body)
        assert e.value.code == 401


# ---------------------------------------------------------------- the CLI's identity
def test_the_cli_answers_as_the_configured_approver(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REMEDY_APPROVER", raising=False)
    assert answerer("carol") == "carol"  # --as wins
    monkeypatch.setenv("REMEDY_APPROVER", "alice")
    assert answerer(None) == "alice"
    assert answerer("carol") == "carol"

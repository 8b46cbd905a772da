"""Contract: the payloads a real Alertmanager 0.25 POSTed, replayed into the bridge,
checked against what Temporal durably recorded (workflow type, input, signals)."""

from __future__ import annotations

import asyncio
import os
import subprocess

import pytest

from tests.bridge.conftest import HarnessFactory
from tests.bridge.helpers import (
    AGENT_LAB_ID,
    GENESIS_ID,
    Harness,
    describe,
    payload,
    payload_json,
    run_history,
    runs_of,
    workflow_ids,
)


async def test_firing_starts_one_incident_with_the_alert(harness: Harness) -> None:
    r = await harness.post(payload("firing"))
    assert r.status_code == 200, r.text
    [applied] = r.json()["applied"]
    assert applied["action"] == "started" and applied["incident"] == GENESIS_ID
    assert await workflow_ids(harness.client) == [GENESIS_ID]
    h = await run_history(harness.client, GENESIS_ID)
    assert h.workflow_type == "ServiceDown"
    assert h.task_queue == harness.bridge.settings.task_queue
    alert = h.input.alert
    recorded = payload_json("firing")["alerts"][0]
    assert (alert.alertname, alert.service, alert.status) == (
        "GenesisServiceDown",
        "genesis-orchestration",
        "firing",
    )
    assert alert.fingerprint == recorded["fingerprint"] and alert.labels == recorded["labels"]
    assert alert.severity == "P0" and alert.annotations == {"summary": "orchestrator down"}
    assert (
        not h.input.flapping
        and h.input.route_reason == "default route GenesisServiceDown -> ServiceDown"
    )
    assert h.signal_names() == ["alert_fired"]  # delivered with the start, atomically
    assert (
        harness.metric(
            "remedy_bridge_incidents_started_total", playbook="ServiceDown", flapping="false"
        )
        == 1
    )
    assert (
        harness.metric("remedy_bridge_alerts_received_total", status="firing", route="ServiceDown")
        == 1
    )


async def test_repeats_cost_no_round_trip_and_join_the_same_incident(harness: Harness) -> None:
    assert (await harness.post(payload("firing"))).status_code == 200
    calls = harness.temporal_calls()
    assert calls == 2  # describe (flap guard) + signal-with-start
    for _ in range(20):
        r = await harness.post(payload("repeated"))
        assert r.status_code == 200 and r.json()["applied"][0]["action"] == "deduplicated"
    assert harness.temporal_calls() == calls
    assert harness.metric("remedy_bridge_alerts_deduplicated_total") == 20
    assert await workflow_ids(harness.client) == [GENESIS_ID]
    assert len(await runs_of(harness.client, GENESIS_ID)) == 1
    assert (await run_history(harness.client, GENESIS_ID)).signal_names() == ["alert_fired"]


async def test_a_restarted_bridge_repeats_the_signal_harmlessly(
    make_harness: HarnessFactory,
) -> None:
    first = await make_harness()
    assert (await first.post(payload("firing"))).status_code == 200
    second = await make_harness(settings=first.bridge.settings)  # empty cache
    r = await second.post(payload("repeated"))
    assert r.status_code == 200 and r.json()["applied"][0]["action"] == "signalled"
    assert (
        second.metric(
            "remedy_bridge_incidents_started_total", playbook="ServiceDown", flapping="false"
        )
        == 0
    )
    assert len(await runs_of(first.client, GENESIS_ID)) == 1
    h = await run_history(first.client, GENESIS_ID)
    assert h.signal_names() == ["alert_fired", "alert_fired"]


async def test_several_instances_join_one_incident(harness: Harness) -> None:
    r = await harness.post(payload("multi_instance"))
    assert r.status_code == 200, r.text
    assert [a["action"] for a in r.json()["applied"]] == ["started", "signalled"]
    assert await workflow_ids(harness.client) == [AGENT_LAB_ID]
    h = await run_history(harness.client, AGENT_LAB_ID)
    fps = [a["fingerprint"] for a in payload_json("multi_instance")["alerts"]]
    assert [(n, a.fingerprint) for n, a in h.signals] == [("alert_fired", fp) for fp in fps]
    # The same group again: both instances already signalled for this episode.
    r = await harness.post(payload("multi_instance"))
    assert [a["action"] for a in r.json()["applied"]] == ["deduplicated", "deduplicated"]
    # One instance resolves: a resolution signal, the other instance stays joined.
    r = await harness.post(payload("multi_instance_partly_resolved"))
    assert r.status_code == 200
    assert [a["action"] for a in r.json()["applied"]] == ["resolved", "signalled"]
    h = await run_history(harness.client, AGENT_LAB_ID)
    assert h.signal_names() == ["alert_fired", "alert_fired", "alert_resolved", "alert_fired"]
    assert h.signals[2][1].fingerprint == fps[0] and h.signals[2][1].status == "resolved"
    assert len(await runs_of(harness.client, AGENT_LAB_ID)) == 1


async def test_resolution_signals_the_open_incident_and_starts_nothing(harness: Harness) -> None:
    assert (await harness.post(payload("firing"))).status_code == 200
    r = await harness.post(payload("resolved"))
    assert r.status_code == 200 and r.json()["applied"][0]["action"] == "resolved"
    h = await run_history(harness.client, GENESIS_ID)
    assert h.signal_names() == ["alert_fired", "alert_resolved"]
    assert len(await runs_of(harness.client, GENESIS_ID)) == 1
    assert harness.metric("remedy_bridge_signals_sent_total", signal="alert_resolved") == 1
    # The resolution dropped the cache entry: the next firing is asked of Temporal again.
    calls = harness.temporal_calls()
    r = await harness.post(payload("repeated"))
    assert r.json()["applied"][0]["action"] == "signalled" and harness.temporal_calls() > calls


async def test_resolution_without_an_open_incident_is_recorded_and_acked(harness: Harness) -> None:
    r = await harness.post(payload("resolved"))
    assert r.status_code == 200 and r.json()["applied"][0]["action"] == "resolved_no_incident"
    assert await describe(harness.client, GENESIS_ID) is None
    assert harness.metric("remedy_bridge_resolved_without_incident_total") == 1
    # Closed incident: still nothing started by a resolution.
    assert (await harness.post(payload("firing"))).status_code == 200
    await harness.client.get_workflow_handle(GENESIS_ID).terminate("test: incident over")
    r = await harness.post(payload("resolved"))
    assert r.json()["applied"][0]["action"] == "resolved_no_incident"
    assert len(await runs_of(harness.client, GENESIS_ID)) == 1


async def test_shell_metacharacters_reach_no_shell_and_route_to_triage(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    spawned: list[object] = []

    def refuse(*args: object, **kw: object) -> None:
        spawned.append(args)
        raise AssertionError(f"the bridge spawned a process: {args}")

    async def refuse_async(*args: object, **kw: object) -> None:
        refuse(*args)

    for mod, name in [
        (subprocess, "Popen"),
        (os, "system"),
        (os, "posix_spawn"),
        (os, "execv"),
        (asyncio, "create_subprocess_shell"),
        (asyncio, "create_subprocess_exec"),
    ]:
        monkeypatch.setattr(mod, name, refuse_async if name.startswith("create_") else refuse)
    r = await harness.post(payload("shell_metachar_service"))
    monkeypatch.undo()
    assert r.status_code == 200, r.text
    assert not spawned
    [wid] = await workflow_ids(harness.client)
    # Escaped, not replaced (bridge/routing.py safe_id_part): no shell metacharacter
    # survives, and two different hostile values cannot share an id.
    assert wid.startswith("incident:GenesisServiceDown:genesis%3Brm%20-rf%20") and wid.isascii()
    assert all(c.isalnum() or c in ":._-%~" for c in wid)
    h = await run_history(harness.client, wid)
    assert h.workflow_type == "Triage"
    evil = payload_json("shell_metachar_service")["alerts"][0]["labels"]["service"]
    assert h.input.alert.service == evil  # data for the record, verbatim
    assert "is not in the inventory: triage" in h.input.route_reason


async def test_unknown_alertname_routes_to_triage(harness: Harness) -> None:
    r = await harness.post(payload("unknown_route"))
    assert r.status_code == 200
    h = await run_history(harness.client, "incident:NoSuchRunbook:genesis-orchestration")
    assert h.workflow_type == "Triage"
    assert h.input.route_reason == "no route for alertname 'NoSuchRunbook': triage"
    assert (
        harness.metric("remedy_bridge_alerts_received_total", status="firing", route="Triage") == 1
    )

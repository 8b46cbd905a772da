"""Flapping: an alert that fires and resolves every few seconds, driven through the real
bridge app (Alertmanager's recorded payloads, new startsAt per episode) into a real dev
server, with ServiceDown running on a worker whose activities are the fakes (the bridge
and the playbook are under test here, not SSH).

Expected: one incident id; its first run restarts once; every later episode re-fires
within the cool-down after the previous run closed, so it starts in flapping mode,
which diagnoses and pages (once, on its own run's dedup key) but never restarts. The number of
restarts is bounded (exactly 1) however long the alert flaps.

Real time: REMEDY_FLAP_SECONDS (default 90) of flapping, one fire/resolve cycle every
3 s, with the runbook's real 30 s wait in the first run.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections import Counter
from datetime import UTC, datetime

import pytest
from temporalio.worker import Worker

from remedy.temporal import ensure_search_attributes
from tests.bridge.conftest import HarnessFactory, make_settings
from tests.bridge.helpers import GENESIS_ID, payload_json, run_history, runs_of
from tests.histories.record import policy
from tests.workflows.fakes import World
from workflows.registry import PLAYBOOKS

pytestmark = pytest.mark.slow

FLAP_SECONDS = float(os.environ.get("REMEDY_FLAP_SECONDS", "90"))
PERIOD_S = 3.0


def episode(status: str, starts_at: datetime) -> bytes:
    p = payload_json(status)
    ts = starts_at.isoformat().replace("+00:00", "Z")
    for a in p["alerts"]:
        a["startsAt"] = ts
        if status == "resolved":
            a["endsAt"] = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    return json.dumps(p).encode()


async def test_flapping_alert_restarts_once_not_a_storm(
    make_harness: HarnessFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = make_settings(flap_cooldown_s=600.0)
    h = await make_harness(settings=settings)
    # The bridge tests' namespaces never run a workflow; ours do, and upserting an
    # unregistered search attribute would fail every workflow task.
    await ensure_search_attributes(h.client)
    world = World(policy(has_health_url=False))
    actions: Counter[str] = Counter()
    cycles = 0
    async with Worker(
        h.client,
        task_queue=settings.task_queue,
        workflows=list(PLAYBOOKS.values()),
        activities=world.activities(),
    ):
        end = time.monotonic() + FLAP_SECONDS
        while time.monotonic() < end:
            starts = datetime.now(UTC)
            for status in ("firing", "resolved"):
                r = await h.post(episode(status, starts))
                assert r.status_code == 200, r.text
                actions.update(a["action"] for a in r.json()["applied"])
                await asyncio.sleep(PERIOD_S / 2)
            cycles += 1
        # The flapping incident ignores resolutions and waits for a person: acknowledge it.
        runs = await runs_of(h.client, GENESIS_ID, at_least=1)
        from workflows.models import AckRequest, IncidentStatus

        st = await h.client.get_workflow_handle(GENESIS_ID).execute_update(
            "acknowledge", AckRequest(by="oncall"), result_type=IncidentStatus
        )
        assert st.outcome is None and st.alerts_received > 1  # re-fires joined it
        deadline = time.monotonic() + 60
        for run_id in runs:
            handle = h.client.get_workflow_handle(GENESIS_ID, run_id=run_id)
            await asyncio.wait_for(handle.result(), max(deadline - time.monotonic(), 1))
    inputs = [(await run_history(h.client, GENESIS_ID, r)).input for r in runs]
    flapping = sum(i.flapping for i in inputs)
    pages = [c.detail for c in world.calls if c.name == "pagerduty:trigger"]
    with capsys.disabled():
        print(
            f"\nflapping: {cycles} fire/resolve cycles in {FLAP_SECONDS:.0f} s -> 1 incident id,"
            f" {len(runs)} runs ({len(runs) - flapping} normal, {flapping} in flapping mode),"
            f" restarts {world.restarts}, pages {len(pages)} on {len(set(pages))} dedup key(s),"
            f" bridge actions {dict(actions)}"
        )
    assert world.restarts == 1  # bounded: the storm is one restart, however long it flaps
    assert len(runs) - flapping == 1  # one normal run (the first)
    # ... and one flapping run that every later re-fire joined: one page, not a storm.
    assert flapping == 1 and len(pages) == 1
    # The page lands on the flapping run's own PagerDuty key (the run's key, not the
    # bare workflow id: an earlier incident's page may still be open in PagerDuty).
    assert all(p.startswith(f"{GENESIS_ID}@") for p in pages), pages
    assert world.names().count("restart") == 1

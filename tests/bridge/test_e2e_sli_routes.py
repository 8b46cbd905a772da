"""End to end: each new alert name, POSTed as Alertmanager sent it, goes through the
real bridge to a real Temporal dev server and starts its own playbook there, which a
worker (activities faked at the boundary) runs: its first steps show in the status."""

from __future__ import annotations

import asyncio
import json

from temporalio.client import Client
from temporalio.worker import Worker

from tests.bridge.conftest import HarnessFactory, make_settings
from tests.bridge.helpers import payload_json, run_history, workflow_ids
from tests.workflows.sli_world import SliWorld, sli_policy
from workflows.models import IncidentStatus
from workflows.registry import PLAYBOOKS

ALERTS = ["TestPassRateLow", "HighErrorRate", "HighLatencyP95"]


def firing(alertname: str) -> bytes:
    body = payload_json("firing")
    for labels in [
        body["groupLabels"],
        body["commonLabels"],
        *(a["labels"] for a in body["alerts"]),
    ]:
        labels["alertname"] = alertname
        labels.pop("severity", None)
    body["groupKey"] = body["groupKey"].replace("GenesisServiceDown", alertname)
    return json.dumps(body).encode()


async def test_each_alert_routed_to_its_playbook(
    temporal: Client, make_harness: HarnessFactory
) -> None:
    from remedy.temporal import ensure_search_attributes

    await ensure_search_attributes(temporal)
    settings = make_settings()
    h = await make_harness(settings=settings)
    # Slow SLIs keep every incident open (in its verification window) during the test.
    world = SliWorld(sli_policy(), sli=[0.005], error_samples={"llm": 1})
    async with Worker(
        temporal,
        task_queue=settings.task_queue,
        workflows=list(PLAYBOOKS.values()),
        activities=world.activities(),
    ):
        for name in ALERTS:
            r = await h.post(firing(name))
            assert r.status_code == 200, r.text
        ids = await workflow_ids(temporal, at_least=len(ALERTS))
        assert ids == sorted(f"incident:{n}:genesis-orchestration" for n in ALERTS)
        for name in ALERTS:
            wid = f"incident:{name}:genesis-orchestration"
            hist = await run_history(temporal, wid)
            assert hist.workflow_type == name and hist.input.alert.alertname == name
            handle = temporal.get_workflow_handle(wid)
            deadline = asyncio.get_running_loop().time() + 20
            while True:
                st = await handle.query("status", result_type=IncidentStatus)
                if any(e.step == "phase: Assessment" for e in st.timeline):
                    break
                assert asyncio.get_running_loop().time() < deadline, st.timeline
                await asyncio.sleep(0.05)
            assert st.playbook == name and st.service == "genesis-orchestration"
            await handle.terminate("test over")

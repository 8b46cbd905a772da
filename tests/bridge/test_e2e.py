"""End to end: a real Alertmanager -> the bridge served by uvicorn on loopback -> a real
Temporal dev server -> a worker running the real ServiceDown playbook.

Only the activities are fakes (tests/workflows/fakes.py): the service's health never
passes, so the incident stays open inside its 10-minute restore budget for the whole
test, which is what lets us watch repeats and the resolution arrive at one open incident.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx
from temporalio.client import Client
from temporalio.worker import Worker

from bridge.server import build_server, serve
from remedy.temporal import ensure_search_attributes
from tests.bridge.conftest import make_inventory, make_settings
from tests.bridge.helpers import GENESIS_ID, TOKEN, payload, run_history, runs_of, workflow_ids
from tests.fixtures.alertmanager import AlertmanagerFactory
from tests.fixtures.sshd import free_port
from tests.workflows.fakes import World
from workflows.contracts.policy import ServicePolicy
from workflows.models import IncidentStatus
from workflows.registry import PLAYBOOKS

LABELS = ("GenesisServiceDown", "service=genesis-orchestration")
ACTIONS = {
    "restart",
    "stop",
    "start",
    "rollback_fetch",
    "rollback_reset",
    "rollback_clean",
    "rollback_restore_config",
}


async def until(pred: Callable[[], object], what: str, timeout_s: float = 20) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not pred():
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


async def test_alertmanager_to_one_incident_and_its_resolution(
    temporal: Client, alertmanager: AlertmanagerFactory
) -> None:
    await ensure_search_attributes(temporal)  # ServiceDown tags its incident with them
    settings = make_settings()
    world = World(
        ServicePolicy(
            service="genesis-orchestration",
            hosts=["h1"],
            severity_default="P0",
            has_rollback=True,
            has_health_url=True,
        ),
        healthy_after_calls=10_000,
    )
    port = free_port()
    server = build_server(settings, make_inventory(), "127.0.0.1", port, client=temporal)
    metrics = server.bridge.metrics
    worker = Worker(
        temporal,
        task_queue=settings.task_queue,
        workflows=list(PLAYBOOKS.values()),
        activities=world.activities(),
    )
    async with worker:
        serving = asyncio.create_task(server.serve())
        try:
            await until(lambda: server.started, "uvicorn to listen")
            am = alertmanager.start(
                f"http://127.0.0.1:{port}/alertmanager",
                TOKEN,
                group_interval="250ms",
                repeat_interval="250ms",
            )

            def received() -> float:
                return metrics.value(
                    "remedy_bridge_alerts_received_total", status="firing", route="ServiceDown"
                )

            # amtool alert add -> exactly one incident, running the real playbook.
            await asyncio.to_thread(am.amtool, "alert", "add", *LABELS)
            await until(lambda: world.restarts == 1, "the playbook's restart")
            assert await workflow_ids(temporal) == [GENESIS_ID]
            incident = temporal.get_workflow_handle(GENESIS_ID)
            status = await incident.query("status", result_type=IncidentStatus)
            assert status.playbook == "ServiceDown" and status.alert_firing

            # Alertmanager's repeats (repeat_interval 1 s) and the same alert added again.
            await until(
                lambda: metrics.value("remedy_bridge_alerts_deduplicated_total") >= 1, "a repeat"
            )
            seen = received()
            await asyncio.to_thread(am.amtool, "alert", "add", *LABELS)
            await until(lambda: received() > seen, "the re-added alert to arrive")
            assert await workflow_ids(temporal) == [GENESIS_ID]
            assert len(await runs_of(temporal, GENESIS_ID)) == 1
            assert (
                metrics.value(
                    "remedy_bridge_incidents_started_total",
                    playbook="ServiceDown",
                    flapping="false",
                )
                == 1
            )

            # Resolve it: the resolution lands in the timeline, and nothing else happens.
            before = list(world.calls)
            past = (datetime.now(UTC) - timedelta(seconds=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
            await asyncio.to_thread(am.amtool, "alert", "add", *LABELS, f"--end={past}")

            deadline = asyncio.get_running_loop().time() + 20
            while True:
                st = await incident.query("status", result_type=IncidentStatus)
                if any(e.step == "alert resolved (Alertmanager)" for e in st.timeline):
                    break
                assert asyncio.get_running_loop().time() < deadline, (
                    "resolution not in the timeline"
                )
                await asyncio.sleep(0.05)
            assert not st.alert_firing and st.outcome is None  # still working its budget
            await asyncio.sleep(1.0)  # time for anything the resolution might (wrongly) set off
            assert [c.name for c in world.calls[len(before) :] if c.name in ACTIONS] == []
            assert world.restarts == 1
            assert await workflow_ids(temporal) == [GENESIS_ID]
            assert metrics.value("remedy_bridge_signals_sent_total", signal="alert_resolved") == 1
            h = await run_history(temporal, GENESIS_ID)
            assert h.signal_names()[0] == "alert_fired" and h.signal_names()[-1] == "alert_resolved"
            assert "alert_resolved" not in h.signal_names()[:-1]
        finally:
            server.should_exit = True
            await serving


async def test_serve_connects_from_settings_alone(temporal: Client) -> None:
    """`serve()` as `remedy bridge` runs it: Temporal address and namespace from the
    settings (TEMPORAL_ADDRESS / TEMPORAL_NAMESPACE), a real socket, bearer auth."""
    settings = make_settings(
        TEMPORAL_ADDRESS=temporal.service_client.config.target_host,
        TEMPORAL_NAMESPACE=temporal.namespace,
    )
    port = free_port()
    serving = asyncio.create_task(serve(settings, make_inventory(), "127.0.0.1", port))
    url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=url, timeout=5) as http:
            deadline = asyncio.get_running_loop().time() + 10
            while True:
                try:
                    health = await http.get("/healthz")
                    break
                except httpx.TransportError:
                    assert asyncio.get_running_loop().time() < deadline, "bridge never listened"
                    await asyncio.sleep(0.05)
            assert health.status_code == 200, health.text
            headers = {"authorization": f"Bearer {TOKEN}", "content-type": "application/json"}
            r = await http.post("/alertmanager", content=payload("firing"), headers=headers)
            assert r.status_code == 200, r.text
        assert await workflow_ids(temporal) == [GENESIS_ID]
    finally:
        serving.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await serving

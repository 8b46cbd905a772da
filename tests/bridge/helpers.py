"""Shared by the bridge tests: recorded payloads, a bridge app bound to a real Temporal
namespace, and readers for what actually landed in Temporal (history, not mocks)."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowExecutionDescription
from temporalio.service import RPCError, RPCStatusCode

from bridge.app import Bridge
from workflows.models import Alert, IncidentInput

PAYLOADS = Path(__file__).parents[1] / "fixtures" / "alertmanager_payloads"
RECORDING: dict[str, Any] = json.loads((PAYLOADS / "_recording.json").read_text())
TOKEN = "s3cret-test-token-0123456789abcdef"
GENESIS_ID = "incident:GenesisServiceDown:genesis-orchestration"
AGENT_LAB_ID = "incident:ApplicationDown:agent-lab-api"
_UNSET: Any = object()


def payload(name: str) -> bytes:
    """The bytes a real Alertmanager 0.25 POSTed (see tests/fixtures/alertmanager.py)."""
    return (PAYLOADS / f"{name}.json").read_bytes()


def payload_json(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(payload(name))
    return data


def combined(*names: str) -> bytes:
    """One webhook carrying the recorded alerts of several payloads (as a group with
    several incidents would)."""
    base = payload_json(names[0])
    base["alerts"] = [a for n in names for a in payload_json(n)["alerts"]]
    return json.dumps(base).encode()


@dataclass
class Harness:
    app: FastAPI
    http: httpx.AsyncClient
    client: Client

    @property
    def bridge(self) -> Bridge:
        bridge: Bridge = self.app.state.bridge
        return bridge

    async def post(
        self,
        body: bytes | dict[str, Any],
        *,
        token: str | None = _UNSET,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        # The headers Alertmanager sent when the payloads were recorded.
        h = {k: v for k, v in RECORDING["headers"].items() if k != "authorization"}
        tok = TOKEN if token is _UNSET else token
        if tok is not None:
            h["authorization"] = f"Bearer {tok}"
        h.update(headers or {})
        return await self.http.post("/alertmanager", content=raw, headers=h)

    def metric(self, name: str, **labels: str) -> float:
        return self.bridge.metrics.value(name, **labels)

    def temporal_calls(self) -> float:
        m = self.bridge.metrics
        return sum(
            m.value("remedy_bridge_temporal_calls_total", call=c)
            for c in ("describe", "signal_with_start", "signal")
        )


@dataclass
class RunHistory:
    run_id: str
    workflow_type: str
    task_queue: str
    input: IncidentInput
    signals: list[tuple[str, Alert]] = field(default_factory=list)

    def signal_names(self) -> list[str]:
        return [n for n, _ in self.signals]


async def describe(client: Client, workflow_id: str) -> WorkflowExecutionDescription | None:
    try:
        return await client.get_workflow_handle(workflow_id).describe()
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return None
        raise


async def run_history(client: Client, workflow_id: str, run_id: str | None = None) -> RunHistory:
    """Decode what Temporal durably recorded for one run: its input and every signal."""
    history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
    conv = client.data_converter
    out: RunHistory | None = None
    for ev in history.events:
        if ev.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
            a = ev.workflow_execution_started_event_attributes
            [inp] = await conv.decode(list(a.input.payloads), [IncidentInput])
            out = RunHistory(
                run_id=a.original_execution_run_id,
                workflow_type=a.workflow_type.name,
                task_queue=a.task_queue.name,
                input=inp,
            )
        elif ev.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
            s = ev.workflow_execution_signaled_event_attributes
            [alert] = await conv.decode(list(s.input.payloads), [Alert])
            assert out is not None
            out.signals.append((s.signal_name, alert))
    assert out is not None, f"no history for {workflow_id}"
    return out


async def _listed(client: Client, query: str | None, at_least: int, field: str) -> list[str]:
    """List the namespace (its own per test) through visibility, which lags the start
    by a few milliseconds: wait until `at_least` show, then once more after a pause so
    a surplus (an unwanted second workflow) has the same chance to show up."""
    deadline = asyncio.get_running_loop().time() + 10

    async def once() -> list[str]:
        # The bridge also reports each new incident to the fleet guard (bridge/storm.py,
        # `fleet:<task queue>`): not an incident, so not listed here.
        return sorted(
            [
                getattr(w, field)
                async for w in client.list_workflows(query)
                if w.workflow_type not in ("FleetGuard", "Storm")
            ]
        )

    while len(found := await once()) < at_least:
        assert asyncio.get_running_loop().time() < deadline, f"only {found} became visible"
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.1)
    return await once()


async def workflow_ids(client: Client, at_least: int = 1) -> list[str]:
    """Every workflow id in the test's namespace."""
    return await _listed(client, None, at_least, "id")


async def runs_of(client: Client, workflow_id: str, at_least: int = 1) -> list[str]:
    return await _listed(client, f"WorkflowId = '{workflow_id}'", at_least, "run_id")

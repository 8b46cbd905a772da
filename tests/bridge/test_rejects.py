"""Every way a webhook is refused or only partly applied -- and that a refusal changes
nothing in Temporal -- plus /healthz, /metrics and the no-token start refusal."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest
from temporalio.client import (
    Client,
    Interceptor,
    OutboundInterceptor,
    StartWorkflowInput,
    WorkflowHandle,
)
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError, RPCStatusCode

from bridge.app import BridgeConfigError, create_app
from remedy.temporal import connect
from tests.bridge.conftest import HarnessFactory, make_inventory, make_settings
from tests.bridge.helpers import (
    GENESIS_ID,
    TOKEN,
    Harness,
    describe,
    payload,
    payload_json,
    workflow_ids,
)
from tests.fixtures.sshd import free_port

TRIAGE_ID = "incident:NoSuchRunbook:genesis-orchestration"


async def assert_nothing_changed(h: Harness) -> None:
    assert await describe(h.client, GENESIS_ID) is None
    assert await workflow_ids(h.client, at_least=0) == []
    assert len(h.bridge.cache) == 0


@pytest.mark.parametrize(
    "auth",
    [
        None,
        "Bearer wrong-token",
        "Basic czNjcmV0LXRlc3QtdG9rZW4tMDEyMzQ1Njc4OWFiY2RlZg==",
        "Bearer",
        "s3cret-test-token-0123456789abcdef",
    ],
)
async def test_401_without_the_right_bearer_token(harness: Harness, auth: str | None) -> None:
    r = await harness.post(
        payload("firing"), token=None, headers={"authorization": auth} if auth else None
    )
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    assert "token" in r.json()["error"]
    assert harness.metric("remedy_bridge_rejects_total", reason="unauthorized") == 1
    await assert_nothing_changed(harness)


async def test_bearer_scheme_is_case_insensitive(harness: Harness) -> None:
    r = await harness.post(
        payload("firing"),
        token=None,
        headers={"authorization": "bearer s3cret-test-token-0123456789abcdef"},
    )
    assert r.status_code == 200


@pytest.mark.parametrize("body", [payload("firing")[:-10], b"\xff\xfe{}", b""])
async def test_400_on_malformed_json(harness: Harness, body: bytes) -> None:
    r = await harness.post(body)
    assert r.status_code == 400 and r.json()["error"].startswith("malformed JSON")
    await assert_nothing_changed(harness)


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda p: p["alerts"][0]["labels"].pop("alertname"), "alerts[0].labels"),
        (lambda p: p.update(version="3"), "version"),
        (lambda p: p["alerts"][0].update(startsAt="yesterday"), "alerts[0].startsAt"),
        (lambda p: p["alerts"][0].update(status="pending"), "alerts[0].status"),
        (lambda p: p.pop("alerts"), "alerts"),
    ],
)
async def test_422_names_the_field(harness: Harness, mutate: object, field: str) -> None:
    p = payload_json("firing")
    mutate(p)  # type: ignore[operator]
    r = await harness.post(p)
    assert r.status_code == 422
    body = r.json()
    assert field in [f["field"] for f in body["fields"]] and field in body["error"]
    assert harness.metric("remedy_bridge_rejects_total", reason="invalid_schema") == 1
    await assert_nothing_changed(harness)


async def test_413_by_content_length_and_by_streamed_size(make_harness: HarnessFactory) -> None:
    h = await make_harness(settings=make_settings(bridge_max_body_bytes=2048))
    padded = payload("firing") + b" " * 2048  # still valid JSON: only the size is wrong
    r = await h.post(padded)
    assert r.status_code == 413 and "2048 bytes" in r.json()["error"]

    async def chunks() -> AsyncIterator[bytes]:  # chunked: no Content-Length to trust
        for i in range(0, len(padded), 512):
            yield padded[i : i + 512]

    r = await h.http.post(
        "/alertmanager",
        content=chunks(),
        headers={"authorization": "Bearer s3cret-test-token-0123456789abcdef"},
    )
    assert r.status_code == 413
    assert h.metric("remedy_bridge_rejects_total", reason="too_large") == 2
    await assert_nothing_changed(h)
    assert (await h.post(payload("firing") + b" " * 100)).status_code == 200  # under the limit


async def test_503_when_temporal_is_unreachable(make_harness: HarnessFactory) -> None:
    dead = f"127.0.0.1:{free_port()}"
    h = await make_harness(client=None, client_factory=lambda: connect(dead))
    r = await h.http.get("/healthz")
    # No error text: it would name the address (and needs no token).
    assert r.status_code == 503 and r.json() == {"bridge": "ok", "temporal": "degraded"}
    r = await h.post(payload("multi_instance"))
    assert r.status_code == 503, r.text
    b = r.json()
    assert b["status"] == "error" and b["applied"] == [] and len(b["not_applied"]) == 2
    assert all(a["action"] == "failed" and a["error"] for a in b["not_applied"])
    assert h.metric("remedy_bridge_rejects_total", reason="temporal_unavailable") == 1
    # Nothing reached the real server, which the same namespace is on.
    assert await workflow_ids(h.client, at_least=0) == []


class FailStarts(Interceptor):
    """Temporal answering one call with an error, at the client boundary."""

    def __init__(self, workflow_id: str, status: RPCStatusCode | None) -> None:
        self.workflow_id, self.status, self.active = workflow_id, status, True

    def intercept_client(self, next: OutboundInterceptor) -> OutboundInterceptor:
        outer = self

        class Out(OutboundInterceptor):
            async def start_workflow(self, input: StartWorkflowInput) -> WorkflowHandle:  # type: ignore[type-arg]
                if outer.active and input.id == outer.workflow_id:
                    if outer.status is None:
                        await asyncio.sleep(3600)  # a frontend that never answers
                    raise RPCError("injected failure", outer.status, b"")  # type: ignore[arg-type]
                return await super().start_workflow(input)

        return Out(next)


async def client_with(temporal: Client, interceptor: Interceptor) -> Client:
    return await Client.connect(
        temporal.service_client.config.target_host,
        namespace=temporal.namespace,
        data_converter=pydantic_data_converter,
        interceptors=[interceptor],
    )


def two_incidents() -> bytes:
    p = payload_json("firing")
    p["alerts"] += payload_json("unknown_route")["alerts"]
    return json.dumps(p).encode()


async def test_partial_application_says_which_alerts_landed(
    make_harness: HarnessFactory, temporal: Client
) -> None:
    fail = FailStarts(TRIAGE_ID, RPCStatusCode.UNAVAILABLE)
    h = await make_harness(client=await client_with(temporal, fail))
    r = await h.post(two_incidents())
    assert r.status_code == 503
    b = r.json()
    assert b["status"] == "partial"
    assert [(a["incident"], a["action"]) for a in b["applied"]] == [(GENESIS_ID, "started")]
    [failed] = b["not_applied"]
    assert failed["incident"] == TRIAGE_ID and "injected failure" in failed["error"]
    assert await workflow_ids(temporal) == [GENESIS_ID]
    # Alertmanager retries the whole notification: the applied alert is not applied twice.
    fail.active = False
    r = await h.post(two_incidents())
    assert r.status_code == 200
    assert [a["action"] for a in r.json()["applied"]] == ["deduplicated", "started"]
    assert await workflow_ids(temporal, at_least=2) == [GENESIS_ID, TRIAGE_ID]


async def test_permanent_errors_are_500_and_hanging_temporal_is_503(
    make_harness: HarnessFactory, temporal: Client
) -> None:
    h = await make_harness(
        client=await client_with(temporal, FailStarts(GENESIS_ID, RPCStatusCode.INVALID_ARGUMENT))
    )
    r = await h.post(payload("firing"))
    assert r.status_code == 500 and r.json()["not_applied"][0]["action"] == "failed"
    h = await make_harness(
        settings=make_settings(bridge_temporal_timeout_s=0.3),
        client=await client_with(temporal, FailStarts(GENESIS_ID, None)),
    )
    r = await h.post(payload("firing"))
    assert r.status_code == 503 and "TimeoutError" in r.json()["not_applied"][0]["error"]
    assert await describe(temporal, GENESIS_ID) is None


async def test_healthz_and_metrics(harness: Harness) -> None:
    r = await harness.http.get("/healthz")
    assert r.status_code == 200 and r.json()["temporal"] == "ok"
    await harness.post(payload("firing"))
    await harness.post(payload("firing"), token="nope")
    assert (await harness.http.get("/metrics")).status_code == 401  # metrics need the token
    auth = {"authorization": f"Bearer {TOKEN}"}
    text = (await harness.http.get("/metrics", headers=auth)).text
    for line in [
        'remedy_bridge_alerts_received_total{route="ServiceDown",status="firing"} 1.0',
        'remedy_bridge_incidents_started_total{flapping="false",playbook="ServiceDown"} 1.0',
        'remedy_bridge_signals_sent_total{signal="alert_fired"} 1.0',
        'remedy_bridge_rejects_total{reason="unauthorized"} 1.0',
        'remedy_bridge_request_duration_seconds_count{code="200",endpoint="/alertmanager"} 1.0',
        'remedy_bridge_request_duration_seconds_count{code="401",endpoint="/alertmanager"} 1.0',
    ]:
        assert line in text, line


def test_refuses_to_start_without_a_token_unless_insecure_dev() -> None:
    with pytest.raises(BridgeConfigError, match="REMEDY_BRIDGE_TOKEN"):
        create_app(make_settings(bridge_token=None), make_inventory())
    create_app(make_settings(bridge_token=None, bridge_insecure_dev=True), make_inventory())


async def test_insecure_dev_mode_needs_no_token(make_harness: HarnessFactory) -> None:
    h = await make_harness(settings=make_settings(bridge_token=None, bridge_insecure_dev=True))
    assert (await h.post(payload("firing"), token=None)).status_code == 200

"""HttpProbeActivities over real loopback HTTP (tests/fixtures/httpsink.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from temporalio.exceptions import ApplicationError

from activities.http_probe import BODY_EXCERPT_BYTES, HttpProbeActivities
from activities.inventory import Inventory
from tests.fixtures.httpsink import HttpSink, SinkResponse
from tests.fixtures.prometheus import free_port
from workflows.contracts.http import HttpProbeInput


def _inventory(health_url: str | None) -> Inventory:
    return Inventory.model_validate(
        {
            "hosts": {
                "h1": {
                    "address": "127.0.0.1",
                    "user": "remedy",
                    "private_key_file": "/nonexistent/key",
                    "known_hosts_file": "/nonexistent/known_hosts",
                }
            },
            "services": {"api": {"hosts": ["h1"], "health_url": health_url}},
        }
    )


@pytest.fixture
async def probe(httpsink: HttpSink) -> AsyncIterator[HttpProbeActivities]:
    acts = HttpProbeActivities(_inventory(httpsink.url + "/health"))
    yield acts
    await acts.close()


async def test_get_ok(probe: HttpProbeActivities, httpsink: HttpSink) -> None:
    httpsink.default = SinkResponse(200, '{"status": "healthy"}')
    r = await probe.probe(HttpProbeInput(url=httpsink.url + "/x"))
    assert r.ok and r.status_code == 200 and r.error == ""
    assert r.latency_s is not None and 0 < r.latency_s < 5
    assert r.body_excerpt == '{"status": "healthy"}'
    assert httpsink.requests[0].method == "GET"
    assert httpsink.requests[0].path == "/x"


async def test_unexpected_status(probe: HttpProbeActivities, httpsink: HttpSink) -> None:
    httpsink.default = SinkResponse(503, "down for maintenance")
    r = await probe.probe(HttpProbeInput(url=httpsink.url))
    assert not r.ok
    assert r.status_code == 503
    assert "unexpected status 503" in r.error
    assert r.body_excerpt == "down for maintenance"


async def test_expected_status_list(probe: HttpProbeActivities, httpsink: HttpSink) -> None:
    httpsink.default = SinkResponse(204, "")
    r = await probe.probe(HttpProbeInput(url=httpsink.url, expected_status=[200, 204]))
    assert r.ok and r.status_code == 204


async def test_redirect_is_not_followed(probe: HttpProbeActivities, httpsink: HttpSink) -> None:
    httpsink.default = SinkResponse(302, "", headers={"Location": "/login"})
    r = await probe.probe(HttpProbeInput(url=httpsink.url))
    assert not r.ok and r.status_code == 302
    assert len(httpsink.requests) == 1


async def test_connection_refused_is_a_result(probe: HttpProbeActivities) -> None:
    r = await probe.probe(HttpProbeInput(url=f"http://127.0.0.1:{free_port()}/health"))
    assert not r.ok
    assert r.status_code is None
    assert "ConnectError" in r.error


async def test_timeout_is_a_result(probe: HttpProbeActivities, httpsink: HttpSink) -> None:
    httpsink.default = SinkResponse(200, "late", delay_s=3)
    r = await probe.probe(HttpProbeInput(url=httpsink.url, timeout_s=0.3))
    assert not r.ok
    assert r.status_code is None
    assert "timeout after 0.3s" in r.error
    assert r.latency_s is not None and r.latency_s < 2


async def test_post_json_body(probe: HttpProbeActivities, httpsink: HttpSink) -> None:
    body = '{"prompt": "ping", "stream": true}'
    r = await probe.probe(HttpProbeInput(url=httpsink.url + "/chat", method="POST", json_body=body))
    assert r.ok
    req = httpsink.requests[0]
    assert req.method == "POST" and req.path == "/chat"
    assert req.headers["content-type"] == "application/json"
    assert req.json() == {"prompt": "ping", "stream": True}


async def test_body_excerpt_is_bounded(probe: HttpProbeActivities, httpsink: HttpSink) -> None:
    httpsink.default = SinkResponse(200, "a" * 100_000)
    r = await probe.probe(HttpProbeInput(url=httpsink.url))
    assert r.ok
    assert r.body_excerpt == "a" * BODY_EXCERPT_BYTES + "…"


async def test_url_from_inventory(probe: HttpProbeActivities, httpsink: HttpSink) -> None:
    r = await probe.probe(HttpProbeInput(service="api"))
    assert r.ok
    assert r.url == httpsink.url + "/health"
    assert httpsink.requests[0].path == "/health"


async def test_missing_url_is_not_configured(probe: HttpProbeActivities) -> None:
    with pytest.raises(ApplicationError) as ei:
        await probe.probe(HttpProbeInput(service="api", target="health_detailed"))
    assert ei.value.type == "ProbeNotConfigured"
    assert ei.value.non_retryable
    assert "health_detailed_url" in str(ei.value)

    with pytest.raises(ApplicationError) as ei:
        await probe.probe(HttpProbeInput())
    assert ei.value.type == "ProbeNotConfigured"


async def test_unknown_service(probe: HttpProbeActivities) -> None:
    with pytest.raises(ApplicationError) as ei:
        await probe.probe(HttpProbeInput(service="nope"))
    assert ei.value.type == "UnknownService"
    assert ei.value.non_retryable

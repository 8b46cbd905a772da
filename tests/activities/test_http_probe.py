"""HttpProbeActivities over real loopback HTTP (tests/fixtures/httpsink.py): the health
probe; the Agent Lab smoke request's method and JSON body; both upstream probes (one
implementation: no credentials sent, every answer timed); the streaming probe over real
chunked responses (complete, cut off, trickling, endless, without its done marker)."""

from __future__ import annotations

import threading
import time
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.http_probe import BODY_EXCERPT_BYTES, HttpProbeActivities
from activities.inventory import HostSpec, Inventory, ServiceSpec
from tests.fixtures.httpsink import HttpSink, SinkResponse
from tests.fixtures.prometheus import free_port
from workflows.contracts.http import (
    AgentLabProbeInput,
    HttpProbeInput,
    HttpRequestSpec,
    StreamingSpec,
    UpstreamProbeInput,
)
from workflows.contracts.policy import AgentLabSpec

SVC = "agent-lab"


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


# ---------------------------------------------------------------- Agent Lab checks
def inventory(health_url: str | None = None, **lab: Any) -> Inventory:
    host = HostSpec(
        address="127.0.0.1", user="u", private_key_file=Path("k"), known_hosts_file=Path("kh")
    )
    return Inventory(
        hosts={"h": host},
        services={
            SVC: ServiceSpec(hosts=["h"], health_url=health_url, agent_lab=AgentLabSpec(**lab)),
            "other": ServiceSpec(hosts=["h"], health_url="http://other.internal:8080/health"),
        },
    )


def probe_in() -> AgentLabProbeInput:
    return AgentLabProbeInput(service=SVC)


# ---------------------------------------------------------------- smoke and upstream
async def test_smoke_posts_the_configured_json(httpsink: HttpSink) -> None:
    body = {"name": "test", "model": "gpt-3.5-turbo", "system_prompt": "test"}
    smoke = HttpRequestSpec(
        url=f"{httpsink.url}/api/agents", method="POST", json=body, expected_status=[200, 201]
    )
    a = HttpProbeActivities(inventory(smoke=smoke))
    httpsink.script(201, 500)
    ok = await a.smoke(probe_in())
    assert ok.ok and ok.status_code == 201
    req = httpsink.requests[0]
    assert (req.method, req.path, req.json()) == ("POST", "/api/agents", body)
    assert req.headers["content-type"] == "application/json"
    bad = await a.smoke(probe_in())
    assert not bad.ok and bad.status_code == 500 and "unexpected status 500" in bad.error


async def test_upstream_reachable_on_any_answer_and_sends_no_credentials(
    httpsink: HttpSink,
) -> None:
    a = HttpProbeActivities(inventory(upstream_url=f"{httpsink.url}/api/v1/models"))
    httpsink.script(401)
    res = await a.upstream(probe_in())
    assert res.ok and res.status_code == 401  # an answer, even "unauthorized", is reachable
    assert "authorization" not in httpsink.requests[0].headers
    down = HttpProbeActivities(inventory(upstream_url=f"http://127.0.0.1:{free_port()}/"))
    res = await down.upstream(probe_in())
    assert not res.ok and "ConnectError" in res.error


def upstream_inventory(url: str) -> Inventory:
    inv = inventory()
    inv.services[SVC].upstream_probe_url = url
    return inv


async def test_upstream_probes_timed_without_credentials(httpsink: HttpSink) -> None:
    httpsink.script(200, 200, SinkResponse(503), SinkResponse(200, delay_s=0.3), 401)
    url = httpsink.url.replace("http://", "http://user:pw@") + "/api/v1/models?key=abc"
    a = HttpProbeActivities(upstream_inventory(url))
    res = await ActivityEnvironment().run(a.upstream_probe, UpstreamProbeInput(service=SVC))
    assert [s.status_code for s in res.samples] == [200, 200, 503, 200, 401]
    assert res.samples[3].latency_s is not None and res.samples[3].latency_s >= 0.3
    assert res.failing == 1 and res.healthy  # a 401 is an answer: the API is up
    assert len(httpsink.requests) == 5
    assert all(r.method == "GET" and r.path == "/api/v1/models?key=abc" for r in httpsink.requests)
    # Userinfo in the URL would become Basic auth: it is not the probe's to send.
    assert all("authorization" not in r.headers for r in httpsink.requests)
    assert "pw" not in res.url and "key=abc" not in res.url


async def test_upstream_down_is_unhealthy() -> None:
    a = HttpProbeActivities(upstream_inventory(f"http://127.0.0.1:{free_port()}/"))
    res = await ActivityEnvironment().run(
        a.upstream_probe, UpstreamProbeInput(service=SVC, attempts=3, timeout_s=2)
    )
    assert len(res.samples) == 3 and res.failing == 3 and not res.healthy
    assert all(s.status_code is None and "ConnectError" in s.error for s in res.samples)


async def test_both_upstream_probes_strip_credentials_and_redact(httpsink: HttpSink) -> None:
    """`agentlab.upstream` (one request) and `agentlab.upstream_probe` (N) are one
    implementation: neither sends user:password@ as Basic auth, both redact the URL."""
    url = httpsink.url.replace("http://", "http://bot:s3cret@") + "/v1?api_key=abc&q=1"
    a = HttpProbeActivities(inventory(upstream_url=url))
    httpsink.script(401, 200)
    one = await a.upstream(probe_in())
    assert one.ok and one.status_code == 401 and one.latency_s is not None
    assert "s3cret" not in one.url and "abc" not in one.url and "q=1" in one.url
    many = await a.upstream_probe(UpstreamProbeInput(service=SVC, attempts=1))
    assert [s.status_code for s in many.samples] == [200] and "s3cret" not in many.url
    assert [r.path for r in httpsink.requests] == ["/v1?api_key=abc&q=1"] * 2
    assert all("authorization" not in r.headers for r in httpsink.requests)


# ---------------------------------------------------------------- streaming
class StreamServer:
    """Chunked responses by path: /ok, /cut (dies mid-stream), /slow (trickles),
    /endless, /sse (ends with data: [DONE])."""

    def __init__(self) -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def chunk(self, data: bytes) -> None:
                self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                self.wfile.flush()

            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                try:
                    if self.path == "/endless":
                        while True:
                            self.chunk(b"x" * 1024)
                    n = {"/ok": 5, "/cut": 2, "/slow": 100, "/sse": 3}[self.path]
                    for i in range(n):
                        self.chunk(f"data: token {i}\n\n".encode())
                        time.sleep(0.3 if self.path == "/slow" else 0.02)
                    if self.path == "/sse":
                        self.chunk(b"data: [DONE]\n\n")
                    if self.path == "/cut":
                        self.connection.shutdown(2)  # no terminating chunk: cut off
                        return
                    self.wfile.write(b"0\r\n\r\n")
                except (BrokenPipeError, ConnectionResetError, OSError):
                    pass

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return H


@pytest.fixture
def streams() -> Iterator[StreamServer]:
    s = StreamServer()
    yield s
    s.server.shutdown()
    s.server.server_close()


async def stream(srv: StreamServer, path: str, **kw: Any) -> Any:
    spec = StreamingSpec(url=f"{srv.url}{path}", **kw)
    return await HttpProbeActivities(inventory(streaming=spec)).stream(probe_in())


async def test_stream_complete(streams: StreamServer) -> None:
    res = await stream(streams, "/ok", min_chunks=3)
    assert res.ok and res.completed and res.chunks >= 3 and res.status_code == 200
    assert res.first_byte_s is not None and res.first_byte_s < res.duration_s


async def test_stream_cut_off_is_a_failure(streams: StreamServer) -> None:
    res = await stream(streams, "/cut")
    assert not res.ok and not res.completed and res.chunks >= 1
    assert "RemoteProtocolError" in res.error


async def test_stream_trickling_past_the_timeout_is_cut(streams: StreamServer) -> None:
    started = time.monotonic()
    res = await stream(streams, "/slow", timeout_s=1.0)
    assert time.monotonic() - started < 3
    assert not res.ok and "not finished within 1s" in res.error and res.chunks >= 2


async def test_endless_stream_is_read_only_to_max_bytes(streams: StreamServer) -> None:
    res = await stream(streams, "/endless", max_bytes=64 * 1024)
    assert res.ok and res.capped and 64 * 1024 <= res.bytes < 64 * 1024 + 70_000


async def test_stream_done_marker(streams: StreamServer) -> None:
    assert (await stream(streams, "/sse", done_marker="[DONE]")).ok
    res = await stream(streams, "/ok", done_marker="[DONE]")
    assert not res.ok and "ended without '[DONE]'" in res.error

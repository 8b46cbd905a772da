"""The Agent Lab HTTP checks against real servers on 127.0.0.1: the smoke request's
method and JSON body, the upstream probe (no credentials sent), the streaming probe
over real chunked responses (complete, cut off, trickling, endless, without its done
marker), and the load probe: bounded in time, percentiles and errors reported, and
refused for any target that is neither loopback nor an inventory service's origin."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from temporalio.exceptions import ApplicationError

from activities.agentlab_probes import (
    AgentLabProbeActivities,
    check_load_target,
    percentile,
    shown,
)
from activities.inventory import HostSpec, Inventory, ServiceSpec
from tests.fixtures.httpsink import HttpSink, SinkResponse
from tests.fixtures.sshd import free_port
from workflows.contracts.http import (
    AgentLabProbeInput,
    HttpRequestSpec,
    LoadProbeInput,
    LoadProbeSpec,
    StreamingSpec,
)
from workflows.contracts.policy import AgentLabSpec
from workflows.contracts.safety import SafetyOverrides

SVC = "agent-lab"


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
    a = AgentLabProbeActivities(inventory(smoke=smoke))
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
    a = AgentLabProbeActivities(inventory(upstream_url=f"{httpsink.url}/api/v1/models"))
    httpsink.script(401)
    res = await a.upstream(probe_in())
    assert res.ok and res.status_code == 401  # an answer, even "unauthorized", is reachable
    assert "authorization" not in httpsink.requests[0].headers
    down = AgentLabProbeActivities(inventory(upstream_url=f"http://127.0.0.1:{free_port()}/"))
    res = await down.upstream(probe_in())
    assert not res.ok and "ConnectError" in res.error


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
    return await AgentLabProbeActivities(inventory(streaming=spec)).stream(probe_in())


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


# ---------------------------------------------------------------- load probe
async def test_load_probe_reports_percentiles(httpsink: HttpSink) -> None:
    a = AgentLabProbeActivities(
        inventory(f"{httpsink.url}/health", load_probe=LoadProbeSpec(requests=300, concurrency=10))
    )
    res = await a.load(LoadProbeInput(service=SVC))
    assert res.ok and res.completed == 300 and res.errors == 0 and not res.capped
    assert len(httpsink.requests) == 300 and {r.path for r in httpsink.requests} == {"/health"}
    assert res.p50_s is not None and res.p95_s is not None and res.max_s is not None
    assert res.p50_s <= res.p95_s <= res.max_s
    assert res.status_counts == {"200": 300}


async def test_load_probe_counts_errors(httpsink: HttpSink) -> None:
    httpsink.default = SinkResponse(503)
    a = AgentLabProbeActivities(
        inventory(f"{httpsink.url}/health", load_probe=LoadProbeSpec(requests=50, concurrency=5))
    )
    res = await a.load(LoadProbeInput(service=SVC))
    assert not res.ok and res.errors == 50 and "errors 50/50" in res.detail


async def test_load_probe_hard_time_cap(httpsink: HttpSink) -> None:
    httpsink.default = SinkResponse(200, delay_s=0.3)
    spec = LoadProbeSpec(requests=1000, concurrency=2, max_duration_s=1.0)
    a = AgentLabProbeActivities(inventory(f"{httpsink.url}/health", load_probe=spec))
    started = time.monotonic()
    res = await a.load(LoadProbeInput(service=SVC))
    assert time.monotonic() - started < 2.5
    assert res.capped and not res.ok and res.completed < 20 and "time cap 1s" in res.detail


async def test_load_probe_sends_nothing_in_dry_run(httpsink: HttpSink) -> None:
    inv = inventory(f"{httpsink.url}/health", load_probe=LoadProbeSpec(requests=300))
    inv.services[SVC].safety = SafetyOverrides(dry_run=True)
    res = await AgentLabProbeActivities(inv).load(LoadProbeInput(service=SVC))
    assert res.dry_run and res.ok and res.completed == 0
    assert res.detail.startswith("DRY RUN: would send 300 GETs at concurrency 10 to")
    assert httpsink.requests == []  # not one request
    with pytest.raises(ApplicationError, match="neither loopback"):  # still checked first
        await AgentLabProbeActivities(inv).load(LoadProbeInput(service=SVC, url="http://x.io/"))


async def test_load_probe_refuses_foreign_targets(httpsink: HttpSink) -> None:
    a = AgentLabProbeActivities(inventory(f"{httpsink.url}/health"))
    for url in (
        "http://example.com/health",
        "http://10.0.0.8:7860/health",
        "http://agent-lab.internal.evil.com/",
        "ftp://127.0.0.1/x",
    ):
        with pytest.raises(ApplicationError) as err:
            await a.load(LoadProbeInput(service=SVC, url=url))
        assert err.value.type == "ProbeTargetRefused" and err.value.non_retryable, url
    # The inventory's own load_probe.url does not vouch for itself.
    own = AgentLabProbeActivities(
        inventory(load_probe=LoadProbeSpec(url="http://example.com/", requests=1))
    )
    with pytest.raises(ApplicationError, match="neither loopback"):
        await own.load(LoadProbeInput(service=SVC))
    assert httpsink.requests == []  # refused before a single request


def test_load_targets_allowed() -> None:
    inv = inventory("http://agent-lab.internal:7860/health")
    check_load_target(inv, "http://127.0.0.1:9/x")
    check_load_target(inv, "http://localhost/health")
    check_load_target(inv, "http://[::1]:7860/health")
    check_load_target(inv, "http://agent-lab.internal:7860/other")  # same origin as health_url
    check_load_target(inv, "http://other.internal:8080/health")  # another inventory service
    with pytest.raises(ApplicationError):
        check_load_target(inv, "http://agent-lab.internal:7861/health")  # other port


def test_percentile_nearest_rank() -> None:
    v = [float(i) for i in range(1, 101)]
    assert percentile(v, 0.5) == 50 and percentile(v, 0.95) == 95 and percentile([], 0.5) is None


def test_credentials_in_urls_never_reach_a_result() -> None:
    assert shown("https://bot:s3cret@api.example.com/v1?q=1") == "https://api.example.com/v1?q=1"
    assert shown("http://127.0.0.1:8/health") == "http://127.0.0.1:8/health"

"""`agentlab.upstream_stream` over a real loopback HTTP server standing in for OpenRouter:
the runbook's streaming `curl -N -X POST` with `Authorization: Bearer $KEY`. The server
checks the header and the body and streams SSE chunks; the key comes from the worker's
environment variable the inventory names (or its _FILE), and never reaches a result."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from temporalio.exceptions import ApplicationError

from activities.http_client import redact_text
from activities.http_probe import HttpProbeActivities
from activities.inventory import HostSpec, Inventory, ServiceSpec
from workflows.contracts.http import UPSTREAM_STREAM_BODY, AgentLabProbeInput, UpstreamStreamSpec
from workflows.contracts.policy import AgentLabSpec

KEY = "sk-or-v1-test-0123456789abcdef"
SVC = "agent-lab"


class OpenRouter:
    """POST /api/v1/chat/completions: 401 without `Bearer KEY`, else 3 SSE chunks and
    `data: [DONE]`. Records each request's Authorization header and JSON body."""

    def __init__(self) -> None:
        self.seen: list[tuple[str | None, Any]] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/api/v1/chat/completions"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        srv = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                auth = self.headers.get("Authorization")
                srv.seen.append((auth, body))
                if auth != f"Bearer {KEY}":
                    msg = b'{"error": {"message": "No auth credentials found", "code": 401}}'
                    self.send_response(401)
                    self.send_header("Content-Length", str(len(msg)))
                    self.end_headers()
                    self.wfile.write(msg)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                for data in [b'data: {"choices":[{"delta":{"content":"Hi"}}]}\n\n'] * 3 + [
                    b"data: [DONE]\n\n"
                ]:
                    self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                    self.wfile.flush()
                self.wfile.write(b"0\r\n\r\n")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return H


@pytest.fixture
def openrouter() -> Iterator[OpenRouter]:
    s = OpenRouter()
    yield s
    s.server.shutdown()
    s.server.server_close()


def acts(url: str, environ: dict[str, str], key_env: str | None = "OPENROUTER_API_KEY") -> Any:
    host = HostSpec(
        address="127.0.0.1", user="u", private_key_file=Path("k"), known_hosts_file=Path("kh")
    )
    lab = AgentLabSpec(
        upstream_stream=UpstreamStreamSpec(url=url, min_chunks=3, done_marker="[DONE]"),
        upstream_api_key_env=key_env,
    )
    inv = Inventory(hosts={"h": host}, services={SVC: ServiceSpec(hosts=["h"], agent_lab=lab)})
    return HttpProbeActivities(inv, environ=environ)


async def test_streams_with_the_bearer_key_from_the_named_variable(
    openrouter: OpenRouter,
) -> None:
    a = acts(openrouter.url, {"OPENROUTER_API_KEY": KEY})
    r = await a.upstream_stream(AgentLabProbeInput(service=SVC))
    assert r.ok and r.completed and r.status_code == 200 and r.chunks >= 3
    assert r.auth == "Bearer key from $OPENROUTER_API_KEY"
    assert openrouter.seen == [(f"Bearer {KEY}", UPSTREAM_STREAM_BODY)]  # the runbook's body
    assert KEY not in r.model_dump_json()
    assert KEY not in redact_text(f"oops {KEY}")  # registered for redaction


async def test_key_from_a_file(openrouter: OpenRouter, tmp_path: Path) -> None:
    (tmp_path / "key").write_text(KEY + "\n")
    a = acts(openrouter.url, {"OPENROUTER_API_KEY_FILE": str(tmp_path / "key")})
    r = await a.upstream_stream(AgentLabProbeInput(service=SVC))
    assert r.ok and r.auth == "Bearer key from $OPENROUTER_API_KEY_FILE"
    assert openrouter.seen[0][0] == f"Bearer {KEY}"


@pytest.mark.parametrize(
    ("key_env", "environ", "said"),
    [
        (None, {"OPENROUTER_API_KEY": KEY}, "no key: agent_lab.upstream_api_key_env not set"),
        ("OPENROUTER_API_KEY", {}, "no key: $OPENROUTER_API_KEY (or $OPENROUTER_API_KEY_FILE)"),
    ],
)
async def test_no_key_probes_without_one_and_says_so(
    openrouter: OpenRouter, key_env: str | None, environ: dict[str, str], said: str
) -> None:
    a = acts(openrouter.url, environ, key_env)
    r = await a.upstream_stream(AgentLabProbeInput(service=SVC))
    assert openrouter.seen[0][0] is None  # sent, without any Authorization header
    assert not r.ok and r.status_code == 401 and "unexpected status 401" in r.error
    assert r.auth.startswith(said)


async def test_unreadable_key_file_is_a_configuration_error(openrouter: OpenRouter) -> None:
    a = acts(openrouter.url, {"OPENROUTER_API_KEY_FILE": "/nonexistent/key"})
    with pytest.raises(ApplicationError) as err:
        await a.upstream_stream(AgentLabProbeInput(service=SVC))
    assert err.value.type == "ProbeNotConfigured" and openrouter.seen == []

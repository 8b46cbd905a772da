"""The second incident of the same alert on the same service applies and restores its
own mitigation, for real.

Real parts: the production worker (`worker.build_worker`, every real activity) runs the
StreamingFailure playbook on the time-skipping server; the `disable_streaming`
mitigation is written and restored over a real OpenSSH sshd (loopback, current user, so
the config file F is a local file); the streaming probe reads a real chunked HTTP
stream from a loopback server that behaves like the app -- it streams only once it has
seen F hold the "streaming disabled" content during the current incident, and it
records what F held at every request.

Scenario (the issue's words): incident 1 writes and later restores F (original content
A); between incidents an operator changes F to B; incident 2 -- the same workflow id
`incident:StreamingFailure:<service>`, a new run -- applies and then restores: F is B
again, not A.

What it proves, and how it would fail under the old keying (side effects keyed by the
workflow id alone):
- incident 2's apply really writes F (the endpoint saw the disabled content during
  incident 2, and the timeline's mitigation step is not "(replayed)"). Replayed from
  incident 1's marker, F would stay B, every probe would fail and incident 2 would
  escalate;
- incident 2's restore puts back *its* original, B -- not incident 1's backup, A;
- each run has its own backup dir under the host's `mitigations/`, and its own run key.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

import worker
from activities.inventory import Inventory, ServiceSpec
from remedy.settings import Settings
from tests.fixtures.sshd import HOST_NAME, SshServer
from workflows.contracts.http import StreamingSpec
from workflows.contracts.mitigation import MitigationSpec
from workflows.contracts.policy import AgentLabSpec
from workflows.contracts.safety import SafetyOverrides
from workflows.models import Alert, IncidentInput, PlaybookResult
from workflows.playbooks.streaming_failure import StreamingFailure

ORIGINAL = "streaming:\n  enabled: true\n"  # A: before incident 1
OPERATOR = "streaming:\n  enabled: true\n  chunk_size: 512  # tuned by an operator\n"  # B
DISABLED = "streaming:\n  enabled: false\n"  # what the mitigation writes


class StreamingApp:
    """The app's streaming endpoint: fails (503) until it has seen F disabled during the
    current incident, then streams. Failing only *until* then lets the playbook's final
    probe -- after re-enabling, i.e. with F restored -- pass; and an incident whose
    apply never reached F can never pass at all."""

    def __init__(self, config: Path) -> None:
        self.config = config
        self.seen: list[str | None] = []  # F's content at each request, this incident
        self.recovered = False
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/api/stream/test"

    def next_incident(self) -> None:
        self.seen.clear()
        self.recovered = False

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        app = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                text = app.config.read_text() if app.config.exists() else None
                app.seen.append(text)
                app.recovered |= text == DISABLED
                if not app.recovered:
                    self.send_response(503)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                for i in range(3):
                    data = f"data: token {i}\n\n".encode()
                    self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return H


@pytest.fixture
def config(tmp_path: Path) -> Path:
    f = tmp_path / "app" / "config" / "streaming.yaml"
    f.parent.mkdir(parents=True)
    f.write_text(ORIGINAL)
    return f


@pytest.fixture
def app(config: Path) -> Iterator[StreamingApp]:
    a = StreamingApp(config)
    yield a
    a.server.shutdown()
    a.server.server_close()


def inventory(sshd: SshServer, svc: str, config: Path, app: StreamingApp, state: Path) -> Inventory:
    spec = ServiceSpec(
        hosts=[HOST_NAME],
        mitigations={
            # No restart: the app reads the file per request, and no commands are needed.
            "disable_streaming": MitigationSpec(path=str(config), content=DISABLED, restart=False)
        },
        agent_lab=AgentLabSpec(
            streaming=StreamingSpec(url=app.url, timeout_s=5),
            # Fewer real HTTP probes should incident 2 never recover (the old bug): the
            # Recovery budget (60 min, virtual) then holds ~12 probes, not ~60.
            stream_retry_interval_s=300,
        ),
    )
    # A state dir of this test's own: the sshd fixture is shared by the session, and the
    # backup dirs counted below must be this test's only.
    inv = sshd.inventory({svc: spec}, state_dir=str(state))
    # Governor off: on the time-skipping server its permit can stall (test_end_to_end.py).
    return inv.model_copy(update={"safety": SafetyOverrides(governor=False)})


async def run_incident(
    env: WorkflowEnvironment, inv: Inventory, settings: Settings, svc: str, wf_id: str
) -> PlaybookResult:
    async with worker.build_worker(env.client, inv, settings):
        return await env.client.execute_workflow(
            StreamingFailure.run,
            IncidentInput(alert=Alert(alertname="StreamingFailure", service=svc)),
            id=wf_id,
            task_queue=settings.task_queue,
        )


# Sync helpers (ASYNC240): local reads and writes of a few bytes, between incidents.
def content(f: Path) -> str:
    return f.read_text()


def operator_edits(f: Path, text: str) -> None:
    f.write_text(text)


def step_detail(res: PlaybookResult, step: str) -> str:
    hits = [e for e in res.timeline if e.step == step]
    assert len(hits) == 1, (step, res.timeline)
    assert hits[0].outcome == "ok", hits[0]
    return hits[0].detail


async def test_second_incident_applies_and_restores_its_own_mitigation(
    time_env: WorkflowEnvironment,
    sshd: SshServer,
    config: Path,
    app: StreamingApp,
    tmp_path: Path,
) -> None:
    svc = f"agent-lab-{uuid.uuid4().hex[:8]}"
    wf_id = f"incident:StreamingFailure:{svc}"  # the same id for both incidents
    state = tmp_path / "state"
    inv = inventory(sshd, svc, config, app, state)
    settings = Settings(
        data_dir=tmp_path / "data",
        incident_log_fallback=tmp_path / "incidents.log",
        prometheus_url="http://127.0.0.1:9",  # not used: the service has no SLIs
        task_queue=f"second-incident-{uuid.uuid4()}",
    )

    # Incident 1: F is A; disabled, probe recovers, re-enabled (A back), verified.
    first = await run_incident(time_env, inv, settings, svc, wf_id)
    assert first.outcome == "resolved", first.timeline
    assert first.action == "streaming disabled, recovered, re-enabled"
    assert app.seen == [ORIGINAL, DISABLED, ORIGINAL]  # probe, retry #1, verify
    assert content(config) == ORIGINAL

    # Between incidents an operator changes F.
    operator_edits(config, OPERATOR)
    app.next_incident()

    # Incident 2: the same workflow id, a new run.
    second = await run_incident(time_env, inv, settings, svc, wf_id)
    assert second.incident_id == first.incident_id == wf_id
    assert second.run_key and first.run_key and second.run_key != first.run_key
    assert second.outcome == "resolved", second.timeline
    applied = step_detail(second, "mitigation: disable_streaming")
    assert applied.startswith("changed:") and "(replayed)" not in applied, applied
    restored = step_detail(second, "restore: disable_streaming")
    assert restored.startswith("restored:"), restored
    # F really held the disabled content during incident 2 (its apply wrote it), and
    # the stream saw the operator's B before the apply and after the restore.
    assert app.seen == [OPERATOR, DISABLED, OPERATOR]
    assert content(config) == OPERATOR  # B again, not incident 1's A

    # One backup per run, each holding the original *that* run found.
    backups = sorted((state / "mitigations").iterdir())
    assert len(backups) == 2, backups
    originals = {(b / "original").read_text() for b in backups}
    assert originals == {ORIGINAL, OPERATOR}
    assert all((b / "path").read_text().strip() == str(config) for b in backups)

"""Encrypted payloads, proven on what the server stores: a ServiceDown incident runs on
a real Temporal dev server with the production worker, over the real sshd, with the
codec on; then the raw history (protobuf bytes, as the server hands them out) holds
neither the alert's labels and annotations nor the command output -- while the same
history decoded with the key, directly or through the codec server, does.

Not encrypted, by Temporal's design: the workflow id and search attributes (alertname,
service, phase, severity), which the server must index. They name, they carry no contents.
"""

from __future__ import annotations

import base64
import uuid
from pathlib import Path

import httpx
from google.protobuf import json_format
from google.protobuf.message import Message
from pydantic import SecretStr
from temporalio.api.common.v1 import Payload
from temporalio.api.workflowservice.v1 import GetWorkflowExecutionHistoryRequest

import worker
from activities.inventory import CommandSpec, WaitOverrides
from remedy.codec import ENCODING, AesGcmCodec, new_key_spec, parse_keys
from remedy.codec_server import create_codec_app
from remedy.settings import Settings
from remedy.temporal import connect, ensure_search_attributes
from tests.fixtures.sshd import SshServer, Supervisor
from tests.security.conftest import DevServer
from workflows.contracts.service import CommandKind
from workflows.models import Alert, IncidentInput
from workflows.playbooks.service_down import ServiceDown


def payloads(msg: Message) -> list[Payload]:
    """Every Payload in a history event, except search attributes (indexed by the
    server, so never encoded: see the module doc)."""
    if isinstance(msg, Payload):
        return [msg]
    found: list[Payload] = []
    for field, value in msg.ListFields():
        if field.name == "search_attributes":
            continue
        if field.message_type is None:
            continue
        if field.message_type.GetOptions().map_entry:
            values = list(value.values())
        elif field.is_repeated:
            values = list(value)
        else:
            values = [value]
        for v in values:
            if isinstance(v, Message):
                found += payloads(v)
    return found


async def test_history_holds_no_plaintext(
    security_server: DevServer, sshd: SshServer, supervisor: Supervisor, tmp_path: Path
) -> None:
    m = uuid.uuid4().hex[:12]
    secrets = {
        "label": f"lbl-{m}",
        "annotation": f"ann-{m}",
        # printf joins them on the host: the output is in no argv, only in the result.
        "output": f"cmdout-{m}",
    }
    keys = f"{new_key_spec('k2')},{new_key_spec('k1')}"
    s = Settings(
        _env_file=None,  # type: ignore[call-arg]
        codec_keys=SecretStr(keys),
        task_queue=f"codec-{m}",
        data_dir=tmp_path,
        incident_log_fallback=tmp_path / "incidents.log",
        prometheus_url="http://127.0.0.1:9",
    )
    client = await connect(security_server.target, "security-codec", settings=s)
    await ensure_search_attributes(client)
    spec = supervisor.service_spec(
        waits=WaitOverrides(after_restart=0.2, health_retry_interval=0.5, restore_budget=20),
    )
    spec.commands[CommandKind.HEALTH_CHECK] = CommandSpec(argv=["printf", "%s-%s", "cmdout", m])
    inv = sshd.inventory({"demo": spec})
    alert = Alert(
        alertname="GenesisServiceDown",
        service="demo",
        labels={"alertname": "GenesisServiceDown", "service": "demo", "instance": secrets["label"]},
        annotations={"summary": secrets["annotation"]},
    )
    wf_id = f"incident:GenesisServiceDown:demo:{m}"
    async with worker.build_worker(client, inv, s):
        res = await client.execute_workflow(
            ServiceDown.run, IncidentInput(alert=alert), id=wf_id, task_queue=s.task_queue
        )
    assert res.outcome == "resolved", res.timeline

    raw = b""
    events = []
    token = b""
    while True:
        page = await client.workflow_service.get_workflow_execution_history(
            GetWorkflowExecutionHistoryRequest(
                namespace="security-codec",
                execution={"workflow_id": wf_id},
                next_page_token=token,
            )
        )
        raw += page.history.SerializeToString()
        events += list(page.history.events)
        token = page.next_page_token
        if not token:
            break
    for what, value in secrets.items():
        assert value.encode() not in raw, f"{what} stored in plaintext"
        assert base64.b64encode(value.encode()) not in raw

    # Patch markers (workflow.patched) are written by the SDK core, outside the codec:
    # they hold the patch id, a constant from the workflow code, never incident data.
    # A local activity's marker (LEAN_HISTORY) holds core's own bookkeeping in its "data"
    # detail (sequence number, activity type, attempt: no incident data, and the plaintext
    # check above covers it); its "result" detail is our payload, encoded like any other.
    def ours(e: object) -> list[Payload]:
        m = e.marker_recorded_event_attributes  # type: ignore[attr-defined]
        if m.marker_name == "core_local_activity":
            return list(m.details["result"].payloads) if "result" in m.details else []
        return payloads(e)  # type: ignore[arg-type]

    stored = [
        p
        for e in events
        if e.marker_recorded_event_attributes.marker_name != "core_patch"
        for p in ours(e)
    ]
    assert any(
        e.marker_recorded_event_attributes.marker_name == "core_local_activity" for e in events
    ), "no local activity in this history: the filter above is dead code"
    assert len(stored) > 10
    assert all(p.metadata.get("encoding") == ENCODING for p in stored)
    # The first key encrypts; the older one only decrypts.
    assert {p.metadata["encryption-key-id"] for p in stored} == {b"k2"}

    # The same history, decoded with the key, does hold every secret: the test is real.
    codec = AesGcmCodec(parse_keys(keys))
    clear = b"".join(p.SerializeToString() for p in await codec.decode(stored))
    for what, value in secrets.items():
        assert value.encode() in clear, f"{what} never reached history at all"

    # And so does the codec server, for a caller with the token (the UI's protocol).
    s_srv = s.model_copy(
        update={"codec_server_token": SecretStr("ui-token-0123456789abcdef0123456789")}
    )
    app = create_codec_app(s_srv)
    body = {"payloads": [json_format.MessageToDict(p) for p in stored]}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://c") as h:
        assert (await h.post("/decode", json=body)).status_code == 401
        r = await h.post(
            "/decode",
            json=body,
            headers={"Authorization": "Bearer ui-token-0123456789abcdef0123456789"},
        )
        assert r.status_code == 200
        decoded = [json_format.ParseDict(p, Payload()) for p in r.json()["payloads"]]
        assert secrets["output"].encode() in b"".join(p.data for p in decoded)

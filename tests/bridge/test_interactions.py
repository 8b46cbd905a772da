"""People answering through the bridge (bridge/interactions.py): Slack's interactive
buttons at POST /slack/interactions and PagerDuty's v3 webhook at POST /pagerduty.

A correctly signed click from a listed approver answers the workflow; no signature, a
wrong one, a timestamp 6 minutes old, a user not under `people:` or a person the service
does not list is 401/403 -- and the workflow's history is exactly as long as before
(a real dev server: a rejected update's speculative workflow task leaves no event).
The last test clicks the Approve button of the Slack message the production worker
posted (to a loopback sink) and the restart then runs over a real sshd.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlencode

import httpx
from pydantic import SecretStr
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

import worker
from activities.inventory import Inventory
from activities.inventory.people import PersonSpec
from activities.notify import render_slack
from bridge.app import create_app
from bridge.interactions import pagerduty_signature, slack_signature
from remedy.settings import Settings
from remedy.temporal import ensure_search_attributes
from tests.bridge.conftest import make_inventory, make_settings
from tests.fixtures.httpsink import HttpSink
from tests.fixtures.sshd import SshServer, Supervisor
from tests.workflows.fakes import World
from tests.workflows.test_safety import WORKFLOWS, pending, policy
from workflows.contracts.safety import SafetyOverrides
from workflows.models import Alert, IncidentInput, IncidentStatus
from workflows.playbooks.service_down import ServiceDown

T = TypeVar("T")
SLACK_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"  # Slack's are 32 hex-like characters
PD_SECRET = "pd-webhook-secret-" + "0123456789abcdef0123456789"
ALICE, BOB, NOBODY = "U0ALICE01", "U0BOB0001", "U0NOBODY1"
ALICE_PD, BOB_PD = "PALICE1", "PBOB001"
PEOPLE = {
    "alice": PersonSpec(slack=ALICE, pagerduty=ALICE_PD),
    "bob": PersonSpec(slack=BOB, pagerduty=BOB_PD),
}
# What the service allows (ServicePolicy, as the worker's inventory would give it).
APPROVERS = {"restart": ["alice"], "acknowledge": ["alice"]}


def with_people(inv: Inventory) -> Inventory:
    return Inventory.model_validate(inv.model_dump() | {"people": PEOPLE})


def settings(**kw: Any) -> Settings:
    return make_settings(
        slack_signing_secret=SecretStr(SLACK_SECRET),
        pagerduty_webhook_secret=SecretStr(PD_SECRET),
        **kw,
    )


def bridge_http(client: Client, s: Settings, inv: Inventory) -> httpx.AsyncClient:
    app = create_app(s, inv, client)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bridge")


# ---------------------------------------------------------------- Slack requests
def click(user: str, button: dict[str, Any]) -> bytes:
    """The form body Slack POSTs when `user` clicks `button` (a block_actions payload)."""
    payload = {
        "type": "block_actions",
        "user": {"id": user, "username": "someone", "team_id": "T0TEAM001"},
        "team": {"id": "T0TEAM001", "domain": "example"},
        "actions": [
            {
                "type": "button",
                "block_id": "remedy-answers",
                "action_id": button["action_id"],
                "value": button["value"],
                "action_ts": f"{time.time():.6f}",
            }
        ],
        "response_url": "https://hooks.slack.com/actions/T0TEAM001/1/x",
    }
    return urlencode({"payload": json.dumps(payload)}).encode()


def slack_headers(body: bytes, *, age_s: float = 0, secret: str = SLACK_SECRET) -> dict[str, str]:
    ts = str(int(time.time() - age_s))
    return {
        "content-type": "application/x-www-form-urlencoded",
        "x-slack-request-timestamp": ts,
        "x-slack-signature": slack_signature(secret, ts, body),
    }


def button(blocks: list[dict[str, Any]], verb: str, step: str | None = None) -> dict[str, Any]:
    [actions] = [b for b in blocks if b["type"] == "actions"]
    for b in actions["elements"]:
        value = json.loads(b["value"])
        if b["action_id"].startswith(f"remedy:{verb}:") and value.get("step") == step:
            return dict(b)
    raise AssertionError(f"no {verb} button for {step!r} in {actions}")


# ---------------------------------------------------------------- PagerDuty requests
def pd_event(
    user: str,
    incident_key: str,
    *,
    age_s: float = 0,
    event_type: str = "incident.acknowledged",
    agent_type: str = "user_reference",
) -> bytes:
    """A v3 webhook as PagerDuty sends it (trimmed to the fields that matter here)."""
    at = datetime.now(UTC) - timedelta(seconds=age_s)
    return json.dumps(
        {
            "event": {
                "id": str(uuid.uuid4()),
                "event_type": event_type,
                "resource_type": "incident",
                "occurred_at": at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                "agent": {
                    "html_url": f"https://example.pagerduty.com/users/{user}",
                    "id": user,
                    "self": f"https://api.pagerduty.com/users/{user}",
                    "summary": "Someone",
                    "type": agent_type,
                },
                "client": None,
                "data": {
                    "id": "Q0RIJJZL24RC6W",
                    "type": "incident",
                    "number": 42,
                    "status": "acknowledged",
                    "incident_key": incident_key,
                    "title": "GenesisServiceDown on genesis-orchestration",
                },
            }
        }
    ).encode()


def pd_headers(body: bytes, *signatures: str) -> dict[str, str]:
    sig = ",".join(signatures) if signatures else pagerduty_signature(PD_SECRET, body)
    return {"content-type": "application/json", "x-pagerduty-signature": sig}


# ---------------------------------------------------------------- an incident waiting
async def history_length(handle: WorkflowHandle) -> int:
    return len((await handle.fetch_history()).events)


async def settled_history_length(handle: WorkflowHandle) -> int:
    """The history's length once the workflow is idle, waiting for the approval (its
    Slack post answered): the same over three polls."""
    seen: list[int] = []
    for _ in range(100):
        seen.append(await history_length(handle))
        if len(seen) >= 3 and seen[-1] == seen[-2] == seen[-3]:
            return seen[-1]
        await asyncio.sleep(0.2)
    raise AssertionError(f"the workflow never settled: {seen}")


async def waiting_incident(client: Client, world: World, tq: str) -> WorkflowHandle:
    handle = await client.start_workflow(
        ServiceDown.run,
        IncidentInput(alert=Alert(alertname="GenesisServiceDown", service="genesis-orchestration")),
        id=f"incident:GenesisServiceDown:genesis-orchestration-{uuid.uuid4().hex[:6]}",
        task_queue=tq,
    )
    await pending(handle, "restart")
    return handle


async def eventually(get: Callable[[], list[T]]) -> list[T]:
    """The approval is pending before its Slack message is out: wait for the message."""
    for _ in range(200):
        if got := get():
            return got
        await asyncio.sleep(0.05)
    raise AssertionError("never happened")


def run_key(handle: WorkflowHandle) -> str:
    return f"{handle.id}@{handle.result_run_id}"


async def test_slack_refusals_change_nothing_then_a_listed_approver_approves(
    temporal: Client,
) -> None:
    await ensure_search_attributes(temporal)
    world = World(policy(require_approval=["restart"], approvers=APPROVERS))
    tq = f"tq-{uuid.uuid4()}"
    async with (
        Worker(temporal, task_queue=tq, workflows=WORKFLOWS, activities=world.activities()),
        bridge_http(temporal, settings(), with_people(make_inventory())) as http,
    ):
        handle = await waiting_incident(temporal, world, tq)
        # The buttons of the approval message the workflow itself asked Slack to post.
        msg = (await eventually(lambda: [m for m in world.slack_messages if m.approvals]))[-1]
        assert msg.approvals == ["restart"] and msg.run_key == run_key(handle)
        approve = button(render_slack(msg)["blocks"], "approve", "restart")
        before = await settled_history_length(handle)

        body = click(ALICE, approve)
        tampered = body.replace(b"restart", b"rollback")
        cases = {
            "unsigned": (body, {"content-type": "application/x-www-form-urlencoded"}, 401),
            "wrong secret": (body, slack_headers(body, secret="x" * 32), 401),
            "6 minutes old": (body, slack_headers(body, age_s=360), 401),
            "body changed after signing": (tampered, slack_headers(body), 401),
            "not under people": (b := click(NOBODY, approve), slack_headers(b), 403),
            "not an approver": (b := click(BOB, approve), slack_headers(b), 403),
        }
        answers = {}
        for name, (content, headers, want) in cases.items():
            r = await http.post("/slack/interactions", content=content, headers=headers)
            answers[name] = r.json().get("error", r.text)
            assert r.status_code == want, (name, r.text)
        assert "who may: alice" in answers["not an approver"]  # the validator's words
        assert await history_length(handle) == before  # nothing reached the history
        st = await handle.query("status", result_type=IncidentStatus)
        assert "restart" in st.pending_approvals and world.restarts == 0

        r = await http.post("/slack/interactions", content=body, headers=slack_headers(body))
        assert r.status_code == 200, r.text
        assert r.json() | {"incident": handle.id, "by": "alice"} == r.json()
        await eventually(lambda: [world.restarts] if world.restarts else [])
        assert world.restarts == 1
        st = await handle.query("status", result_type=IncidentStatus)
        [entry] = [e for e in st.timeline if e.step == "approved: restart"]
        assert entry.detail == f"by alice via slack ({ALICE})"
        # The Acknowledge button of the same message, clicked by alice: acknowledged.
        ack = button(render_slack(msg)["blocks"], "acknowledge")
        r = await http.post(
            "/slack/interactions", content=(b := click(ALICE, ack)), headers=slack_headers(b)
        )
        assert r.status_code == 200, r.text
        st = await handle.query("status", result_type=IncidentStatus)
        assert st.acknowledged_by == "alice"
        # The same approval click again: answered, so refused (409), still one answer.
        r = await http.post("/slack/interactions", content=body, headers=slack_headers(body))
        assert r.status_code == 409 and "no pending approval" in r.json()["error"]
        await handle.terminate("test done")


async def test_pagerduty_acknowledge_refusals_change_nothing(temporal: Client) -> None:
    await ensure_search_attributes(temporal)
    world = World(policy(require_approval=["restart"], approvers=APPROVERS))
    tq = f"tq-{uuid.uuid4()}"
    async with (
        Worker(temporal, task_queue=tq, workflows=WORKFLOWS, activities=world.activities()),
        bridge_http(temporal, settings(), with_people(make_inventory())) as http,
    ):
        handle = await waiting_incident(temporal, world, tq)
        key = run_key(handle)  # = the dedup_key Remedy sends PagerDuty (Incident.run_key)
        before = await settled_history_length(handle)
        body = pd_event(ALICE_PD, key)
        cases = {
            "unsigned": (body, {"content-type": "application/json"}, 401),
            "wrong secret": (body, pd_headers(body, pagerduty_signature("y" * 40, body)), 401),
            "6 minutes old": (b := pd_event(ALICE_PD, key, age_s=360), pd_headers(b), 401),
            "not under people": (b := pd_event("PNOBODY", key), pd_headers(b), 403),
            "not an acknowledger": (b := pd_event(BOB_PD, key), pd_headers(b), 403),
            "not a user": (
                b := pd_event("PSERVICE", key, agent_type="service_reference"),
                pd_headers(b),
                403,
            ),
        }
        answers = {}
        for name, (content, headers, want) in cases.items():
            r = await http.post("/pagerduty", content=content, headers=headers)
            answers[name] = r.json().get("error", "")
            assert r.status_code == want, (name, r.text)
        assert "who may: alice" in answers["not an acknowledger"]
        # Not about a Remedy incident, or not an acknowledgement: 200, nothing done.
        for other in (
            pd_event(ALICE_PD, "some-other-integration-key"),
            pd_event(ALICE_PD, key, event_type="incident.resolved"),
        ):
            r = await http.post("/pagerduty", content=other, headers=pd_headers(other))
            assert r.status_code == 200 and r.json()["status"] == "ignored", r.text
        assert await history_length(handle) == before
        st = await handle.query("status", result_type=IncidentStatus)
        assert st.acknowledged_by is None

        # Signed with the old and the new secret while rotating: one match is enough.
        old = pagerduty_signature("z" * 40, body)
        r = await http.post(
            "/pagerduty",
            content=body,
            headers=pd_headers(body, old, pagerduty_signature(PD_SECRET, body)),
        )
        assert r.status_code == 200 and r.json()["status"] == "ok", r.text
        st = await handle.query("status", result_type=IncidentStatus)
        assert st.acknowledged_by == "alice"
        assert st.timeline[-1].detail == f"by alice via pagerduty ({ALICE_PD}): in PagerDuty"
        # PagerDuty delivering it again: already acknowledged, answered 200 so it stops.
        r = await http.post("/pagerduty", content=body, headers=pd_headers(body))
        assert r.status_code == 200 and r.json()["status"] == "ignored"
        await handle.terminate("test done")


async def test_endpoints_without_a_secret_are_off(temporal: Client) -> None:
    async with bridge_http(temporal, make_settings(), make_inventory()) as http:
        body = b"payload=%7B%7D"
        r = await http.post("/slack/interactions", content=body, headers=slack_headers(body))
        assert r.status_code == 404 and "REMEDY_SLACK_SIGNING_SECRET" in r.json()["error"]
        r = await http.post("/pagerduty", content=b"{}", headers=pd_headers(b"{}"))
        assert r.status_code == 404 and "REMEDY_PAGERDUTY_WEBHOOK_SECRET" in r.json()["error"]


async def test_a_signed_slack_approval_runs_the_restart_on_the_real_host(
    time_env: WorkflowEnvironment,
    sshd: SshServer,
    supervisor: Supervisor,
    httpsink: HttpSink,
    tmp_path: Path,
) -> None:
    """Production worker, real sshd and supervisord: the restart waits for approval; the
    Approve button of the Slack message it posted, clicked by alice and signed, lets it
    run -- after a click by bob (not listed) was refused."""
    subprocess.run(supervisor.argv("stop", "demo"), check=True, capture_output=True)  # noqa: ASYNC221
    assert supervisor.pid() == 0
    inv = sshd.inventory({"demo": supervisor.service_spec()})
    inv = Inventory.model_validate(
        inv.model_dump()
        | {"people": PEOPLE, "approvers": {"restart": ["alice"]}}
        # governor off: see tests/test_end_to_end.py (a permit stalls on this server)
        | {"safety": SafetyOverrides(require_approval=["restart"], governor=False).model_dump()}
    )
    s = settings(
        data_dir=tmp_path,
        incident_log_fallback=tmp_path / "incidents.log",
        prometheus_url="http://127.0.0.1:9",
        slack_webhook_url=SecretStr(httpsink.url + "/services/T0/B0/slack-webhook-path"),
    )
    async with (
        worker.build_worker(time_env.client, inv, s),
        bridge_http(time_env.client, s, inv) as http,
    ):
        handle = await time_env.client.start_workflow(
            ServiceDown.run,
            IncidentInput(alert=Alert(alertname="GenesisServiceDown", service="demo")),
            id=f"incident:GenesisServiceDown:demo:{uuid.uuid4().hex[:8]}",
            task_queue=s.task_queue,
        )
        await pending(handle, "restart")
        posted = await eventually(
            lambda: [r.json() for r in httpsink.requests if b"remedy:approve" in r.body]
        )
        approve = button(posted[-1]["blocks"], "approve", "restart")
        assert (
            SLACK_SECRET not in json.dumps(posted) and "slack-webhook-path" not in approve["value"]
        )

        refused = click(BOB, approve)
        r = await http.post("/slack/interactions", content=refused, headers=slack_headers(refused))
        assert r.status_code == 403 and "who may: alice" in r.json()["error"]
        assert supervisor.pid() == 0  # still down: nothing ran

        body = click(ALICE, approve)
        r = await http.post("/slack/interactions", content=body, headers=slack_headers(body))
        assert r.status_code == 200, r.text
        res = await handle.result()
    assert res.outcome == "resolved" and res.action == "restart", res.timeline
    assert supervisor.pid() > 0  # really running again, restarted over SSH
    steps = {e.step: e.detail for e in res.timeline}
    assert steps["approved: restart"] == f"by alice via slack ({ALICE})"

"""The second incident of the same alert is remediated too -- real parts end to end.

A process under a real supervisord, restarted over a real OpenSSH sshd (strict
known_hosts), by the production worker's real activities, on a real Temporal dev
server, with the alert arriving as Alertmanager's webhook at the real bridge app. The
service crashes, GenesisServiceDown fires, ServiceDown restarts it and resolves; after
the flap cool-down it crashes again and the same alert fires again: the same incident
id (the bridge's dedup key) runs a second time, and that run must restart the service
again. Keyed on the workflow id alone (before incident runs), the first incident's
idempotency marker on the host answered the second restart "already done, not
repeated" and the service stayed down.

Counted on the target, not in the workflow: supervisord's own log of spawns. Records:
two post-mortem files, two incident-log lines. The second run's timeline and its
chronic page (threshold 1 here, through the inventory) come from real Temporal
visibility (activities/incident_history.py) and a real HTTP PagerDuty sink.

The runbook's 30 s wait after a restart is shortened through the inventory's `waits`
(configuration, as `remedy demo` does), not in code: its real length is tested on the
time-skipping server.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from temporalio.client import Client

import worker
from activities.inventory import Defaults, WaitOverrides
from remedy.settings import Settings
from remedy.temporal import ensure_search_attributes
from tests.bridge.conftest import HarnessFactory, dev_server, make_harness, temporal  # noqa: F401
from tests.bridge.helpers import TOKEN, payload_json
from tests.fixtures.httpsink import HttpSink
from tests.fixtures.sshd import SshServer, Supervisor
from workflows.contracts.policy import RecurrencePolicy
from workflows.models import IncidentStatus, PlaybookResult

SERVICE = "demo"
WID = f"incident:GenesisServiceDown:{SERVICE}"
COOL_DOWN_S = 2.0


def webhook(status: str, starts_at: datetime) -> dict[str, Any]:
    """Alertmanager's recorded v4 payload, for our service and this firing episode."""
    p = payload_json("firing")
    ts = starts_at.isoformat().replace("+00:00", "Z")
    for a in p["alerts"]:
        a["labels"]["service"] = SERVICE
        a["status"], a["startsAt"] = status, ts
        a["fingerprint"] = "demo-" + ts  # one episode, one fingerprint
        if status == "resolved":
            a["endsAt"] = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    p["status"] = status
    p["commonLabels"]["service"] = p["groupLabels"]["service"] = SERVICE
    return p


def spawns(supervisor: Supervisor) -> int:
    """How many times supervisord started the program: the target's own count."""
    log = supervisor.conf.parent / "supervisord.log"
    return log.read_text().count(f"spawned: '{supervisor.program}'")


def crash(supervisor: Supervisor) -> None:
    subprocess.run(supervisor.argv("stop", supervisor.program), check=True, capture_output=True)
    assert supervisor.pid() == 0


async def closed_runs(client: Client, n: int, timeout_s: float = 60) -> list[PlaybookResult]:
    """The results of the incident id's first `n` runs, oldest first, once all closed."""
    deadline = time.monotonic() + timeout_s
    while True:
        runs = [
            wf
            async for wf in client.list_workflows(f"WorkflowId = '{WID}'")
            if wf.status is not None and wf.status.name != "RUNNING"
        ]
        if len(runs) >= n:
            break
        if time.monotonic() > deadline:  # say where the open run stands
            st = await client.get_workflow_handle(WID).query("status", result_type=IncidentStatus)
            last = [f"{e.step} ({e.outcome}) {e.detail}" for e in st.timeline[-6:]]
            raise AssertionError(f"{len(runs)} of {n} runs closed in {timeout_s} s: {last}")
        await asyncio.sleep(0.5)
    runs.sort(key=lambda wf: wf.start_time)
    return [
        await client.get_workflow_handle(WID, run_id=wf.run_id, result_type=PlaybookResult).result()
        for wf in runs
    ]


def steps(res: PlaybookResult, name: str) -> list[str]:
    return [f"{e.outcome}: {e.detail}" for e in res.timeline if e.step == name]


async def test_the_same_alert_after_its_incident_closed_is_remediated_again(
    temporal: Client,  # noqa: F811
    make_harness: HarnessFactory,  # noqa: F811
    sshd: SshServer,
    supervisor: Supervisor,
    httpsink: HttpSink,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    await ensure_search_attributes(temporal)
    spec = supervisor.service_spec(severity="P0", waits=WaitOverrides(after_restart=1))
    inventory = sshd.inventory({SERVICE: spec}, state_dir=str(tmp_path / "state"))
    # Chronic from the second incident on, so one test shows the page as well.
    inventory = inventory.model_copy(
        update={"defaults": Defaults(recurrence=RecurrencePolicy(chronic_count=1))}
    )
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=tmp_path / "data",
        incident_log_fallback=tmp_path / "incidents.log",
        prometheus_url="http://127.0.0.1:9",
        task_queue=f"second-{uuid.uuid4().hex[:8]}",
        bridge_token=SecretStr(TOKEN),
        flap_cooldown_s=COOL_DOWN_S,
        pagerduty_routing_key=SecretStr("test-routing-key-0123456789abcdef"),
        pagerduty_url=f"{httpsink.url}/v2/enqueue",
    )
    bridge = await make_harness(settings=settings, inventory=inventory, client=temporal)
    before = spawns(supervisor)

    async with worker.build_worker(temporal, inventory, settings):
        for n in (1, 2):
            crash(supervisor)
            starts = datetime.now(UTC)
            r = await bridge.post(webhook("firing", starts))
            assert r.status_code == 200 and r.json()["applied"][0]["action"] == "started", r.text
            await closed_runs(temporal, n)
            assert supervisor.pid() > 0, f"incident {n}: the service is still down"
            # Alertmanager resolves the alert once the service is back; the flap guard
            # counts the cool-down from the close, so wait it out before the next crash.
            assert (await bridge.post(webhook("resolved", starts))).status_code == 200
            await asyncio.sleep(COOL_DOWN_S + 0.5)
        first, second = await closed_runs(temporal, 2)

    # Two restarts on the target, two resolved runs, nothing "already done".
    assert spawns(supervisor) - before == 2
    for res in (first, second):
        assert res.outcome == "resolved" and res.action == "restart", res.timeline
        (restart,) = steps(res, "restart")
        assert restart.startswith("ok: exit 0") and "not repeated" not in restart
    assert first.run_key != second.run_key and second.run_key.startswith(f"{WID}@")
    # The blast-radius governor (a real Governor workflow here) grants the second
    # incident its own permit: keyed on the workflow id it said "already granted".
    for res in (first, second):
        (permit,) = steps(res, "permit: restart")
        assert permit.startswith("ok:") and "already granted" not in permit, permit

    # Records: one post-mortem and one incident-log line per incident.
    reports = sorted((tmp_path / "data" / "postmortems").rglob("*.md"))
    assert len(reports) == 2 and all(WID.replace(":", "_") in str(p) for p in reports)
    assert (tmp_path / "incidents.log").read_text().splitlines() == [
        "Incident: GenesisServiceDown - Resolved via restart"
    ] * 2

    # Recurrence, read from the dev server's visibility: none before the first...
    assert steps(first, "earlier incidents") == ["ok: none in the last 14 days: first occurrence"]
    # ... one before the second, with how it ended.
    (note,) = steps(second, "recurrence")
    assert note.startswith("info: recurred: 1 earlier incident of this alert on this service")
    assert note.endswith("resolved via restart)")
    # Chronic (threshold 1 here): paged on its own dedup key, the earlier one listed.
    pages = [json.loads(q.body) for q in httpsink.requests if q.path == "/v2/enqueue"]
    chronic = [p for p in pages if p["dedup_key"] == f"chronic:{WID}"]
    assert len(chronic) == 1 and chronic[0]["event_action"] == "trigger"
    assert "resolved via restart" in chronic[0]["payload"]["summary"]
    assert not steps(first, "chronic problem")  # the first incident is not chronic

    def lookup_s(res: PlaybookResult) -> float:  # policy loaded -> earlier runs known
        at = {e.step: e.at for e in res.timeline}
        done = at.get("recurrence") or at["earlier incidents"]
        return (done - at["alert received"]).total_seconds()

    with capsys.disabled():
        print(
            f"\nsecond incident: restarts {spawns(supervisor) - before} (supervisord), "
            f"runs resolved {[r.outcome for r in (first, second)]}, post-mortems {len(reports)}, "
            f"incident-log lines 2; detection incl. the visibility lookup "
            f"{lookup_s(first):.3f} s / {lookup_s(second):.3f} s"
        )

"""Two of everything (issue 19): an Alertmanager HA pair, two bridges, two workers, one
Temporal server -- every part a real process -- and still one incident per alert, one
restart on the target, one page per paging level.

* Two real Alertmanagers clustered on loopback, each notifying its own bridge (its own
  bearer token). Every alert is posted to both, as a Prometheus HA pair does. The pair
  deduplicates notifications only by gossip and timing (the second in line waits
  `--cluster.peer-timeout` for the first's notification log); it runs with 0s here, so
  BOTH deliver every notification and every repeat -- a partition, or gossip slower
  than the wait. Remedy must make one incident of it anyway: one workflow id per
  incident, signal-with-start, and the per-run keys of restarts and pages.
* Two bridges (`python -m bridge.server`), sharing nothing but Temporal.
* Two workers (`python worker.py`) on the one task queue. Once every restart has run,
  the worker that holds an incident (the identity on its last workflow task) is killed
  with SIGKILL in the runbook's wait after the restart; the other must finish it
  (Temporal moves the incident once the dead worker's sticky queue times out) without
  repeating a side effect.
* The target is a real supervisord driven over the real sshd; every restart goes
  through tests/durability/stack.py's effect.sh, which logs one line per execution.
  PagerDuty is a loopback HTTP receiver (REMEDY_PAGERDUTY_URL), one routing key per
  paging level. ServiceDown is P0 by its runbook: on-call and incident commander are
  paged at detection.

The wait after the restart is shortened to AFTER_RESTART_S (the inventory's
`waits.after_restart`) to keep this under a minute; the runbook's 30 s runs in
tests/durability/test_chaos.py and on the time-skipping server. The same shape at
volume is bench/ha.py (docs/benchmarks.md).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.client import Client, WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter

from activities.inventory import load_inventory
from remedy.devstack import wait_for_frontend
from tests.durability.stack import ROOT, Target, WorkerProcess, dev_server, write_inventory
from tests.fixtures.alertmanager import Alertmanager, running_ha_pair
from tests.fixtures.httpsink import HttpSink, SinkResponse
from tests.fixtures.process import free_port, http_ready, running
from tests.fixtures.sshd import SshServer
from workflows.models import PlaybookResult

pytestmark = pytest.mark.slow

SERVICES = [f"ha-{i}" for i in range(3)]
ALERTNAME = "GenesisServiceDown"
AFTER_RESTART_S = 8
# One PagerDuty service (routing key) per paging level, named by variable in the
# inventory and set on both workers only.
LEVEL_KEYS = {"on-call": "HA_PD_ONCALL_KEY", "incident-commander": "HA_PD_IC_KEY"}


@dataclass
class BridgeProcess:
    """`python -m bridge.server` as deployed, with its own token and port."""

    name: str
    dir: Path
    token: str
    port: int
    pid: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self, temporal: str, inventory: Path) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("REMEDY_", "TEMPORAL_"))}
        return env | {
            "TEMPORAL_ADDRESS": temporal,
            "REMEDY_INVENTORY": str(inventory),
            "REMEDY_BRIDGE_TOKEN": self.token,
            "REMEDY_BRIDGE_HOST": "127.0.0.1",
            "REMEDY_BRIDGE_PORT": str(self.port),
            "PYTHONUNBUFFERED": "1",
        }

    def metric(self, name: str) -> float:
        """Sum of a counter's samples (every label set) on /metrics."""
        auth = {"Authorization": f"Bearer {self.token}"}
        resp = httpx.get(f"{self.url}/metrics", headers=auth, timeout=5)
        text = resp.raise_for_status().text
        return sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith(f"{name}_total")
        )


def pd_events(sink: HttpSink, keys: dict[str, str]) -> Counter[tuple[str, str, str]]:
    """(paging level by routing key, dedup key, action) -> events PagerDuty received."""
    level_of = {keys[var]: level for level, var in LEVEL_KEYS.items()}
    out: Counter[tuple[str, str, str]] = Counter()
    for r in list(sink.requests):
        ev = r.json()
        out[(level_of.get(ev["routing_key"], "?"), ev["dedup_key"], ev["event_action"])] += 1
    return out


def post_both(pair: tuple[Alertmanager, Alertmanager], alerts: list[dict[str, Any]]) -> None:
    for am in pair:
        am.post_alerts(alerts)


def alerts(ended: bool = False) -> list[dict[str, Any]]:
    end = {"endsAt": (datetime.now(UTC) - timedelta(seconds=1)).isoformat()} if ended else {}
    return [
        {
            "labels": {"alertname": ALERTNAME, "service": s, "instance": "local", "severity": "P0"},
            "annotations": {"summary": f"{s} is down"},
        }
        | end
        for s in SERVICES
    ]


async def last_task_worker(client: Client, wid: str) -> str:
    """The identity ("pid@host") of the worker that completed the incident's latest
    workflow task: the one holding it in its cache."""
    hist = await client.get_workflow_handle(wid).fetch_history()
    done = [
        e.workflow_task_completed_event_attributes.identity
        for e in hist.events
        if e.HasField("workflow_task_completed_event_attributes")
    ]
    return done[-1]


async def starter(client: Client, wid: str) -> str:
    """The identity of the client whose call created the run: the bridge that won."""
    hist = await client.get_workflow_handle(wid).fetch_history()
    return hist.events[0].workflow_execution_started_event_attributes.identity


async def identities_after(client: Client, wid: str, t: datetime) -> set[str]:
    """Who completed workflow tasks and started activities of `wid` after `t`."""
    hist = await client.get_workflow_handle(wid).fetch_history()
    who: set[str] = set()
    for e in hist.events:
        if e.event_time.ToDatetime(UTC) <= t:
            continue
        if e.HasField("workflow_task_completed_event_attributes"):
            who.add(e.workflow_task_completed_event_attributes.identity)
        if e.HasField("activity_task_started_event_attributes"):
            who.add(e.activity_task_started_event_attributes.identity)
    return who


@pytest.mark.timeout(150)
async def test_ha_pair_two_bridges_two_workers_one_incident_each(
    sshd: SshServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    t0 = time.monotonic()
    keys = {var: secrets.token_hex(16) for var in LEVEL_KEYS.values()}
    pagerduty = HttpSink()
    pagerduty.default = SinkResponse(
        202, '{"status":"success"}', {"Content-Type": "application/json"}
    )
    pagerduty.start()
    target = Target(tmp_path / "target", SERVICES)
    target.dir.mkdir()
    inv = tmp_path / "inventory.yaml"
    paging = {"levels": [{"name": n, "routing_key_env": v} for n, v in LEVEL_KEYS.items()]}
    spec = {"waits": {"after_restart": AFTER_RESTART_S}, "paging": paging}
    write_inventory(inv, sshd, target, {s: {"restart_ok": True, "spec": spec} for s in SERVICES})
    load_inventory(inv)  # fail here, readably, if the workers would refuse it
    target.start()
    server = dev_server(tmp_path / "temporal")
    workers: list[WorkerProcess] = []
    bridges = [
        BridgeProcess(f"bridge-{i}", tmp_path / f"bridge-{i}", secrets.token_hex(24), free_port())
        for i in range(2)
    ]
    procs: list[Any] = []
    try:
        await asyncio.to_thread(server.start)
        await wait_for_frontend(server.address)
        for i in range(2):
            w = WorkerProcess(server.address, inv, tmp_path / f"worker-{i}")
            w.dir.mkdir()
            w.env |= keys | {
                "REMEDY_PAGERDUTY_ROUTING_KEY": secrets.token_hex(16),
                "REMEDY_PAGERDUTY_URL": f"{pagerduty.url}/v2/enqueue",
            }
            workers.append(w)

        async def enter(cm: Any) -> Any:
            entered = await asyncio.to_thread(cm.__enter__)
            procs.append(cm)
            return entered

        for b in bridges:
            b.dir.mkdir()
        bridge_cms = [
            running(
                [sys.executable, "-m", "bridge.server"],
                b.dir / "bridge.log",
                http_ready(f"{b.url}/healthz"),
                name=b.name,
                timeout_s=60,
                env=b.env(server.address, inv),
                cwd=ROOT,
            )
            for b in bridges
        ]
        pair_cm = running_ha_pair(
            tmp_path / "alertmanagers",
            [(f"{b.url}/alertmanager", b.token) for b in bridges],
            peer_timeout="0s",
            group_interval="1s",
            repeat_interval="1s",
        )
        # All at once: nothing is posted to the Alertmanagers before every part is up.
        started: list[Any] = await asyncio.gather(
            *(asyncio.to_thread(w.start) for w in workers),
            *(enter(cm) for cm in [*bridge_cms, pair_cm]),
            return_exceptions=True,
        )
        for res in started:
            if isinstance(res, BaseException):
                raise res
        *_, bridge0, bridge1, pair = started
        bridges[0].pid, bridges[1].pid = bridge0.pid, bridge1.pid
        client = await Client.connect(server.address, data_converter=pydantic_data_converter)
        t_setup = time.monotonic() - t0

        # ---- the alerts, to both Alertmanagers
        post_both(pair, alerts())
        deadline = time.monotonic() + 60
        while not all(target.effects(s)["restart"] for s in SERVICES):
            assert time.monotonic() < deadline, {s: target.effects(s) for s in SERVICES}
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.5)  # the restarts' results recorded: every incident waits
        # Alertmanager keeps repeating the firing alerts (every second, both) meanwhile.

        # ---- kill -9 the worker holding the first incident, in the wait after restart
        ids = [f"incident:{ALERTNAME}:{s}" for s in SERVICES]
        holder = await last_task_worker(client, ids[0])
        [victim] = [w for w in workers if holder.startswith(f"{w.proc.pid}@")]  # type: ignore[union-attr]
        [survivor] = [w for w in workers if w is not victim]
        held = [wid for wid in ids if await last_task_worker(client, wid) == holder]
        killed_at = datetime.now(UTC)
        victim.kill9()
        await asyncio.sleep(2)
        post_both(pair, alerts(ended=True))  # the services are back: Prometheus resolves

        handles: list[WorkflowHandle[Any, PlaybookResult]] = [
            client.get_workflow_handle(wid, result_type=PlaybookResult) for wid in ids
        ]
        results = [await asyncio.wait_for(h.result(), 60) for h in handles]
        await asyncio.sleep(2.5)  # the repeats and resolutions still in flight, delivered
        survivor_id = f"{survivor.proc.pid}@{socket.gethostname()}"  # type: ignore[union-attr]
        took_over = {wid: await identities_after(client, wid, killed_at) for wid in held}
        runs: dict[str, set[str]] = {}
        async for wf in client.list_workflows('WorkflowType = "ServiceDown"'):
            runs.setdefault(wf.id, set()).add(wf.run_id)
        received = [b.metric("remedy_bridge_alerts_received") for b in bridges]
        counted = [b.metric("remedy_bridge_incidents_started") for b in bridges]
        starters = Counter([await starter(client, wid) for wid in ids])
        survivor_alive, victim_alive = survivor.alive(), victim.alive()
        running_again = {
            s: subprocess.run(target.ctl("status", s), capture_output=True, text=True).stdout  # noqa: ASYNC221
            for s in SERVICES
        }
    finally:
        for w in workers:
            w.stop()
        while procs:
            procs.pop().__exit__(None, None, None)
        server.stop()
        target.stop()
        pagerduty.stop()

    effects = {s: dict(target.effects(s)) for s in SERVICES}
    pages = pd_events(pagerduty, keys)
    logged = [
        line
        for w in workers
        if (w.dir / "incidents.log").exists()
        for line in (w.dir / "incidents.log").read_text().splitlines()
    ]
    with capsys.disabled():
        print(
            f"\ntwo of everything: setup {t_setup:.0f} s, total {time.monotonic() - t0:.0f} s; "
            f"alerts received per bridge {received}, incidents started per bridge "
            f"{[starters[f'{b.pid}@{socket.gethostname()}'] for b in bridges]} (counted as "
            f"started by each bridge itself {counted}); "
            f"worker {victim.proc.pid} killed holding {len(held)} of {len(ids)} incidents; "  # type: ignore[union-attr]
            f"effects {effects}; PagerDuty {dict(Counter(k[2] for k in pages.elements()))}"
        )

    # One incident per alert, though both Alertmanagers delivered every one to a bridge.
    assert all(r > 0 for r in received), received  # each bridge was delivered to
    assert sum(received) >= 2 * len(SERVICES), received  # firing, at least twice each
    assert sorted(runs) == sorted(ids) and all(len(r) == 1 for r in runs.values()), runs
    # Signal-with-start on the incident id: whichever bridge came first started the run,
    # the other joined it. (A bridge that lost the race may still count the incident as
    # started in its own metric: it cannot tell a join from a start. Temporal's history
    # is the record.)
    bridge_ids = {f"{b.pid}@{socket.gethostname()}" for b in bridges}
    assert set(starters) <= bridge_ids and sum(starters.values()) == len(SERVICES), starters
    assert sum(counted) >= len(SERVICES), counted
    # Each resolved by its one restart; the survivor finished the killed worker's share.
    for s, res in zip(SERVICES, results, strict=True):
        assert (res.outcome, res.action) == ("resolved", "restart"), (s, res.timeline)
        assert effects[s] == {"restart": 1}, (s, effects[s])
    assert not victim_alive and survivor_alive
    for wid, who in took_over.items():
        assert who == {survivor_id}, (wid, who)
    assert sorted(logged) == [f"Incident: {ALERTNAME} - Resolved via restart"] * len(SERVICES)
    # One trigger and one resolve per paging level and incident run, nothing else.
    dedup_keys = {k[1] for k in pages}
    assert len(dedup_keys) == len(SERVICES), pages
    want = Counter(
        {
            (lv, key, action): 1
            for lv in LEVEL_KEYS
            for key in dedup_keys
            for action in ("trigger", "resolve")
        }
    )
    assert pages == want, pages
    assert all(key.startswith(f"incident:{ALERTNAME}:ha-") for key in dedup_keys)
    assert held  # the killed worker held at least one incident
    assert all("RUNNING" in out for out in running_again.values()), running_again


def test_worker_slots_and_cache_are_settings() -> None:
    """README "Production shape": the slots and the sticky cache per worker are set from
    the environment, and left to the SDK's defaults when unset."""
    import worker
    from remedy.settings import Settings

    unset = worker.tuning(Settings(_env_file=None))  # type: ignore[call-arg]
    for knob in ("max_concurrent_activities", "max_concurrent_workflow_tasks"):
        assert knob not in unset
    assert "max_cached_workflows" not in unset
    env = {
        "REMEDY_WORKER_MAX_CONCURRENT_ACTIVITIES": "7",
        "REMEDY_WORKER_MAX_CONCURRENT_WORKFLOW_TASKS": "9",
        "REMEDY_WORKER_MAX_CACHED_WORKFLOWS": "0",
    }
    with pytest.MonkeyPatch.context() as mp:
        for k, v in env.items():
            mp.setenv(k, v)
        set_ = worker.tuning(Settings(_env_file=None))  # type: ignore[call-arg]
    assert set_["max_concurrent_activities"] == 7
    assert set_["max_concurrent_workflow_tasks"] == 9
    assert set_["max_cached_workflows"] == 0  # 0 is a value (no cache), not "unset"

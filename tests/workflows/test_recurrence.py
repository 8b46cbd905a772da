"""The second incident of the same alert, on the time-skipping server: the same workflow
id (the dedup key) runs again as a new run, with its own side-effect keys; what
Temporal visibility says about earlier runs lands in the timeline and in Slack, and a
chronic recurrence pages a person while the playbook still runs.

Visibility itself (the time-skipping server has none) is answered by the World fake
here; activities/incident_history.py runs against a real dev server in
tests/test_second_incident.py."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from activities.inventory import InventoryError, load_inventory
from tests.workflows.fakes import World
from tests.workflows.test_service_down import policy, run_incident
from workflows.contracts.policy import RecurrencePolicy
from workflows.contracts.records import EarlierIncident, EarlierIncidentsResult
from workflows.models import PlaybookResult


async def incident(env: WorkflowEnvironment, world: World, wid: str) -> PlaybookResult:
    res, _ = await run_incident(env, world, wid)
    return res


def earlier(*ago: timedelta) -> Callable[[datetime], EarlierIncidentsResult]:
    """Earlier runs started `ago` before the server's now, each resolved via restart."""
    return lambda now: _earlier(now, ago)


def _earlier(now: datetime, ago: tuple[timedelta, ...]) -> EarlierIncidentsResult:
    runs = [
        EarlierIncident(
            run_id=f"r{i}",
            started_at=now - a,
            closed_at=now - a + timedelta(minutes=2),  # noqa: E501
            status="COMPLETED",
            outcome="resolved",
            action="restart",
        )
        for i, a in enumerate(ago)
    ]
    return EarlierIncidentsResult(available=True, total=len(runs), incidents=runs)


def details(res: PlaybookResult, step: str) -> list[str]:
    return [e.detail for e in res.timeline if e.step == step]


async def test_second_incident_of_the_same_alert_restarts_again(
    time_env: WorkflowEnvironment,
) -> None:
    wid = f"incident:GenesisServiceDown:{uuid.uuid4()}"
    first_world, second_world = World(policy()), World(policy())
    first = await incident(time_env, first_world, wid)
    second = await incident(time_env, second_world, wid)
    assert first.outcome == second.outcome == "resolved"
    assert first_world.restarts == second_world.restarts == 1
    k1 = first_world.calls[first_world.names().index("restart")].detail
    k2 = second_world.calls[second_world.names().index("restart")].detail
    # One identity per run: same workflow id, different keys, each naming its run.
    assert k1 != k2 and k1.startswith(f"{wid}@") and k2.startswith(f"{wid}@")
    assert first.run_key != second.run_key and k2 == f"{second.run_key}:restart"
    # The second run asked visibility about earlier runs, excluding itself.
    (asked,) = second_world.earlier_asked
    assert asked.incident_id == wid and asked.window_days == 14
    assert asked.run_id not in first.run_key and second.run_key.endswith(asked.run_id)


async def test_recurrence_is_in_the_timeline_and_in_slack(time_env: WorkflowEnvironment) -> None:
    world = World(policy())
    world.earlier = earlier(timedelta(hours=30), timedelta(days=3))
    res = await incident(time_env, world, f"incident:GenesisServiceDown:{uuid.uuid4()}")
    now = res.detected_at  # the server's clock, as the fake saw it
    assert res.outcome == "resolved" and world.restarts == 1
    (note,) = details(res, "recurrence")
    assert note.startswith(
        "recurred: 2 earlier incidents of this alert on this service in the last 14 days"
    )
    last = now - timedelta(hours=30)
    assert f"(last: {last:%Y-%m-%d %H}:" in note and "UTC, resolved via restart)" in note
    assert world.slack_messages and all(note in m.timeline for m in world.slack_messages)
    # Two in 3 days is not chronic (default: 3 earlier within 24 h): nobody is paged.
    assert "pagerduty:trigger" not in world.names()


async def test_chronic_recurrence_pages_and_still_remediates(time_env: WorkflowEnvironment) -> None:
    wid = f"incident:GenesisServiceDown:{uuid.uuid4()}"
    world = World(policy())
    world.earlier = earlier(*(timedelta(hours=h) for h in (1, 5, 20, 40)))
    res = await incident(time_env, world, wid)
    assert res.outcome == "resolved" and world.restarts == 1  # the playbook still ran
    pages = [c.detail for c in world.calls if c.name == "pagerduty:trigger"]
    assert pages == [f"chronic:{wid}"]  # its own dedup key: later recurrences join it
    (why,) = details(res, "chronic problem")
    assert why.startswith("CHRONIC: GenesisServiceDown on genesis-orchestration -- incident 4 ")
    assert why.count("resolved via restart") == 3  # the three inside 24 h are listed


async def test_chronic_threshold_comes_from_the_inventory(time_env: WorkflowEnvironment) -> None:
    world = World(policy(recurrence=RecurrencePolicy(chronic_count=1, chronic_window_hours=2)))
    world.earlier = earlier(timedelta(hours=1))
    res = await incident(time_env, world, f"incident:GenesisServiceDown:{uuid.uuid4()}")
    assert [c.name for c in world.calls].count("pagerduty:trigger") == 1
    assert details(res, "chronic problem")


async def test_no_visibility_changes_nothing(time_env: WorkflowEnvironment) -> None:
    world = World(policy())  # the default fake: a server that cannot list
    res = await incident(time_env, world, f"incident:GenesisServiceDown:{uuid.uuid4()}")
    assert res.outcome == "resolved" and world.restarts == 1
    assert details(res, "earlier incidents") == ["fake: no list"]
    assert not details(res, "recurrence")


# ------------------------------------------------------------------ the inventory's knobs
def _inventory(tmp_path: Path, recurrence: str) -> Path:
    path = tmp_path / "inventory.yaml"
    path.write_text(
        "defaults:\n  recurrence: " + recurrence + "\n"
        "hosts:\n  h:\n    address: 127.0.0.1\n    user: u\n"
        "    private_key_file: /k\n    known_hosts_file: /kh\n"
        "services:\n  svc:\n    hosts: [h]\n"
        "  other:\n    hosts: [h]\n    recurrence: {chronic_count: 1}\n"
    )
    return path


def test_recurrence_defaults_and_overrides_from_the_inventory(tmp_path: Path) -> None:
    inv = load_inventory(_inventory(tmp_path, "{window_days: 7, chronic_window_hours: 6}"))
    assert inv.policy("svc").recurrence == RecurrencePolicy(window_days=7, chronic_window_hours=6)
    assert inv.policy("other").recurrence == RecurrencePolicy(chronic_count=1)


@pytest.mark.parametrize(
    ("bad", "where"),
    [
        ("{chronic_count: 0}", "defaults.recurrence.chronic_count"),
        ("{window_days: -1}", "defaults.recurrence.window_days"),
        ("{chronic_after: 3}", "defaults.recurrence.chronic_after"),  # a typo is refused
    ],
)
def test_bad_recurrence_settings_are_refused_with_their_path(
    tmp_path: Path, bad: str, where: str
) -> None:
    with pytest.raises(InventoryError, match=re.escape(where)):
        load_inventory(_inventory(tmp_path, bad))

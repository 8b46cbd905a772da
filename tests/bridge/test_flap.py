"""The flap guard: an alert re-firing within the cool-down after its incident closed
starts the next incident with flapping=True -- decided before the start, because the
flag is part of the workflow input."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta

from tests.bridge.conftest import HarnessFactory, make_settings
from tests.bridge.helpers import GENESIS_ID, Harness, describe, payload_json, run_history, runs_of


def firing_at(starts_at: datetime) -> bytes:
    """The recorded firing payload, as a new firing episode starting at `starts_at`."""
    p = payload_json("firing")
    p["alerts"][0]["startsAt"] = starts_at.isoformat().replace("+00:00", "Z")
    return json.dumps(p).encode()


async def close_incident(h: Harness) -> datetime:
    await h.client.get_workflow_handle(GENESIS_ID).terminate("test: incident over")
    desc = await describe(h.client, GENESIS_ID)
    assert desc is not None and desc.close_time is not None
    return desc.close_time


async def test_refiring_within_the_cool_down_starts_a_flapping_incident(harness: Harness) -> None:
    assert (await harness.post(firing_at(datetime.now().astimezone()))).status_code == 200
    closed = await close_incident(harness)
    harness.bridge.cache.drop(GENESIS_ID)  # as after a bridge restart: the describe path
    r = await harness.post(firing_at(closed + timedelta(seconds=30)))
    assert r.status_code == 200
    assert (
        r.json()["applied"][0] | {"flapping": True, "action": "started"} == r.json()["applied"][0]
    )
    assert len(await runs_of(harness.client, GENESIS_ID, at_least=2)) == 2
    h = await run_history(harness.client, GENESIS_ID)
    assert h.input.flapping
    assert "flapping: re-fired 30 s after the previous incident" in h.input.route_reason
    assert (
        harness.metric(
            "remedy_bridge_incidents_started_total", playbook="ServiceDown", flapping="true"
        )
        == 1
    )


async def test_still_firing_when_the_incident_closed_is_flapping(harness: Harness) -> None:
    started = datetime.now().astimezone() - timedelta(hours=2)
    await harness.post(firing_at(started))
    await close_incident(harness)
    harness.bridge.cache.drop(GENESIS_ID)
    # Alertmanager's repeat of the same, never-resolved episode, hours later.
    await harness.post(firing_at(started))
    h = await run_history(harness.client, GENESIS_ID)
    assert h.input.flapping and "while it was still firing" in h.input.route_reason


async def test_refiring_after_the_cool_down_is_a_normal_incident(harness: Harness) -> None:
    await harness.post(firing_at(datetime.now().astimezone()))
    closed = await close_incident(harness)
    harness.bridge.cache.drop(GENESIS_ID)
    r = await harness.post(firing_at(closed + timedelta(seconds=601)))
    assert r.json()["applied"][0]["action"] == "started"
    h = await run_history(harness.client, GENESIS_ID)
    assert not h.input.flapping and "flapping" not in h.input.route_reason


async def test_cached_open_incident_that_closed_meanwhile_needs_no_describe(
    harness: Harness,
) -> None:
    t0 = datetime.now().astimezone()
    await harness.post(firing_at(t0))
    await close_incident(harness)  # the bridge does not know
    # The same episode repeated: answered from the cache (at most TTL <= cool-down).
    assert (await harness.post(firing_at(t0))).json()["applied"][0]["action"] == "deduplicated"
    describes = harness.metric("remedy_bridge_temporal_calls_total", call="describe")
    r = await harness.post(firing_at(t0 + timedelta(seconds=5)))  # a new episode
    assert (
        r.json()["applied"][0] | {"action": "started", "flapping": True} == r.json()["applied"][0]
    )
    assert harness.metric("remedy_bridge_temporal_calls_total", call="describe") == describes
    assert (await run_history(harness.client, GENESIS_ID)).input.flapping


async def test_cache_entries_expire(make_harness: HarnessFactory) -> None:
    h = await make_harness(settings=make_settings(bridge_cache_ttl_s=0.2))
    t0 = datetime.now().astimezone()
    await h.post(firing_at(t0))
    assert (await h.post(firing_at(t0))).json()["applied"][0]["action"] == "deduplicated"
    await asyncio.sleep(0.25)
    calls = h.temporal_calls()
    assert (await h.post(firing_at(t0))).json()["applied"][0]["action"] == "signalled"
    assert h.temporal_calls() == calls + 2  # describe + signal-with-start
    assert len(await runs_of(h.client, GENESIS_ID)) == 1


async def test_cache_ttl_is_capped_at_the_cool_down(make_harness: HarnessFactory) -> None:
    h = await make_harness(settings=make_settings(bridge_cache_ttl_s=300, flap_cooldown_s=45))
    assert h.bridge.cache.ttl_s == 45


async def test_zero_cool_down_disables_the_flap_guard(make_harness: HarnessFactory) -> None:
    h = await make_harness(settings=make_settings(flap_cooldown_s=0))
    await h.post(firing_at(datetime.now().astimezone()))
    closed = await close_incident(h)
    await h.post(firing_at(closed + timedelta(seconds=1)))
    assert not (await run_history(h.client, GENESIS_ID)).input.flapping

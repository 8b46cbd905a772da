"""activities/load_probe.py against real servers on 127.0.0.1: bounded in time,
percentiles and errors reported, nothing sent in dry-run, and refused for any target
that is neither loopback nor an inventory service's origin."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from temporalio.exceptions import ApplicationError

from activities.inventory import HostSpec, Inventory, ServiceSpec
from activities.load_probe import LoadProbeActivities, check_load_target, percentile
from tests.fixtures.httpsink import HttpSink, SinkResponse
from workflows.contracts.http import LoadProbeInput, LoadProbeSpec
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


# ---------------------------------------------------------------- load probe
async def test_load_probe_reports_percentiles(httpsink: HttpSink) -> None:
    a = LoadProbeActivities(
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
    a = LoadProbeActivities(
        inventory(f"{httpsink.url}/health", load_probe=LoadProbeSpec(requests=50, concurrency=5))
    )
    res = await a.load(LoadProbeInput(service=SVC))
    assert not res.ok and res.errors == 50 and "errors 50/50" in res.detail


async def test_load_probe_hard_time_cap(httpsink: HttpSink) -> None:
    httpsink.default = SinkResponse(200, delay_s=0.3)
    spec = LoadProbeSpec(requests=1000, concurrency=2, max_duration_s=1.0)
    a = LoadProbeActivities(inventory(f"{httpsink.url}/health", load_probe=spec))
    started = time.monotonic()
    res = await a.load(LoadProbeInput(service=SVC))
    assert time.monotonic() - started < 2.5
    assert res.capped and not res.ok and res.completed < 20 and "time cap 1s" in res.detail


async def test_load_probe_sends_nothing_in_dry_run(httpsink: HttpSink) -> None:
    inv = inventory(f"{httpsink.url}/health", load_probe=LoadProbeSpec(requests=300))
    inv.services[SVC].safety = SafetyOverrides(dry_run=True)
    res = await LoadProbeActivities(inv).load(LoadProbeInput(service=SVC))
    assert res.dry_run and res.ok and res.completed == 0
    assert res.detail.startswith("DRY RUN: would send 300 GETs at concurrency 10 to")
    assert httpsink.requests == []  # not one request
    with pytest.raises(ApplicationError, match="neither loopback"):  # still checked first
        await LoadProbeActivities(inv).load(LoadProbeInput(service=SVC, url="http://x.io/"))


async def test_load_probe_refuses_foreign_targets(httpsink: HttpSink) -> None:
    a = LoadProbeActivities(inventory(f"{httpsink.url}/health"))
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
    own = LoadProbeActivities(
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

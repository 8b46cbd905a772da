"""What a hostile or broken sender can no longer do to the bridge: crash it with deeply
nested JSON, make /healthz cost a Temporal call (or read an address from it), start a
workflow per alertname, or put Markdown into what the Temporal UI renders."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from markdown_it import MarkdownIt
from temporalio.client import Client
from temporalio.service import ServiceClient

from bridge.dispatch import NewIncidentWindow
from bridge.routing import Route, ui_summary
from remedy.temporal import connect
from tests.bridge.conftest import HarnessFactory, make_settings
from tests.bridge.helpers import GENESIS_ID, Harness, payload, payload_json
from tests.bridge.helpers import workflow_ids as all_workflow_ids
from tests.fixtures.sshd import free_port
from workflows.models import Alert, Severity


@pytest.mark.parametrize("depth", [10_000, 100_000])
async def test_deeply_nested_json_is_a_400_not_a_500(harness: Harness, depth: int) -> None:
    for body in (b"[" * depth + b"]" * depth, b'{"a":' * depth + b"1" + b"}" * depth):
        r = await harness.post(body)
        assert r.status_code == 400, r.text
        assert r.json()["error"].startswith("malformed JSON")
    assert await workflow_ids(harness.client, at_least=0) == []


async def test_healthz_is_cached_no_rpc_per_call_and_no_error_text(
    make_harness: HarnessFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = 0
    real = ServiceClient.check_health

    async def counting(self: ServiceClient, **kw: Any) -> bool:
        nonlocal calls
        calls += 1
        return await real(self, **kw)

    monkeypatch.setattr(ServiceClient, "check_health", counting)
    h = await make_harness(settings=make_settings(bridge_health_interval_s=3600))
    codes = [(await h.http.get("/healthz")).status_code for _ in range(15)]
    assert codes == [200] * 15
    assert calls == 1  # one check, then answers from it
    assert h.metric("remedy_bridge_temporal_calls_total", call="check_health") == 1
    body = (await h.http.get("/healthz")).json()
    assert body == {"bridge": "ok", "temporal": "ok"}  # no namespace, address or error

    # A stale result is refreshed in the background, once, however many ask meanwhile.
    h.bridge.health.interval_s = 0.0
    await asyncio.gather(*(h.http.get("/healthz") for _ in range(10)))
    await asyncio.sleep(0.2)
    assert 2 <= calls <= 3


async def test_healthz_down_says_degraded_only(make_harness: HarnessFactory) -> None:
    dead = f"127.0.0.1:{free_port()}"
    h = await make_harness(client=None, client_factory=lambda: connect(dead))
    for _ in range(5):
        r = await h.http.get("/healthz")
        assert r.status_code == 503 and r.json() == {"bridge": "ok", "temporal": "degraded"}
        assert "127.0.0.1" not in r.text and dead not in r.text
    assert h.metric("remedy_bridge_temporal_calls_total", call="check_health") == 1


async def test_healthz_is_rate_limited_in_its_own_bucket(make_harness: HarnessFactory) -> None:
    h = await make_harness(
        settings=make_settings(bridge_health_rate_limit_rps=1.0, bridge_health_rate_limit_burst=3)
    )
    codes = [(await h.http.get("/healthz")).status_code for _ in range(5)]
    assert codes == [200, 200, 200, 429, 429]
    assert (await h.post(payload("firing"))).status_code == 200  # webhooks: other bucket


async def workflow_ids(client: Client, at_least: int = 1) -> list[str]:
    """The incidents in the test's namespace (not the storm breaker's fleet guard)."""
    return [w for w in await all_workflow_ids(client, at_least) if w.startswith("incident:")]


def storm(n: int, service: str | None = None) -> bytes:
    """One webhook with `n` distinct alertnames, each a new (Triage) incident: about
    460 KB at 5,000, the finding's payload."""
    p = payload_json("firing")
    a = p["alerts"][0]
    labels = {"service": service} if service else {}
    p["alerts"] = [
        {
            "status": "firing",
            "labels": {"alertname": f"Storm{i:05d}", **labels},
            "startsAt": a["startsAt"],
            "fingerprint": f"{i:016x}",
        }
        for i in range(n)
    ]
    return json.dumps(p).encode()


async def test_a_storm_of_new_incidents_starts_at_most_the_per_request_cap(
    harness: Harness,
) -> None:
    cap = harness.bridge.settings.bridge_max_new_incidents_per_request
    assert cap == 100  # the default
    r = await harness.post(storm(5000))
    assert r.status_code == 503, r.text[:300]  # retried by Alertmanager (a 4xx is not)
    assert r.headers["retry-after"] == "1"
    b = r.json()
    started = [a for a in b["applied"] if a["action"] == "started"]
    deferred = [a for a in b["not_applied"] if a["action"] == "deferred"]
    # Under load an alert may also time out (failed, retryable); never more than the cap.
    assert len(started) <= cap and len(deferred) >= 5000 - cap
    assert len(started) + len(b["not_applied"]) == 5000
    assert {a["action"] for a in b["not_applied"]} <= {"deferred", "failed"}
    assert "new-incident cap" in deferred[0]["error"]
    assert harness.metric("remedy_bridge_alerts_deferred_total", cap="request") == len(deferred)
    assert harness.metric("remedy_bridge_rejects_total", reason="new_incident_cap") == 1
    on_server = await workflow_ids(harness.client, at_least=len(started))
    assert len(started) <= len(on_server) <= cap  # on the real server
    assert harness.bridge.dispatcher.new_incidents_in_window()[1] == len(deferred)

    # Alertmanager's retry: the started ones are deduplicated, up to 100 more start.
    r = await harness.post(storm(5000))
    assert r.status_code == 503
    assert len(await workflow_ids(harness.client, at_least=len(on_server))) <= 2 * cap


async def test_the_per_minute_cap_holds_across_webhooks_and_open_incidents_pass(
    make_harness: HarnessFactory, temporal: Client
) -> None:
    h = await make_harness(
        settings=make_settings(
            bridge_max_new_incidents_per_request=3, bridge_max_new_incidents_per_minute=5
        )
    )
    svc = "genesis-orchestration"
    r = await h.post(storm(4, svc))
    assert r.status_code == 503 and r.headers["retry-after"] == "1"  # per request: 3
    r = await h.post(storm(4, svc))  # the retry: 3 deduplicated, and the fourth starts
    assert r.status_code == 200, r.text
    r = await h.post(storm(8, svc))  # 4 open, 4 new: the minute allows 1 more
    assert r.status_code == 503
    assert 1 <= int(r.headers["retry-after"]) <= 60
    assert [a["action"] for a in r.json()["not_applied"]].count("deferred") == 3
    assert h.metric("remedy_bridge_alerts_deferred_total", cap="minute") == 3
    open_ids = await workflow_ids(temporal, at_least=5)
    assert len(open_ids) == 5
    # A restarted bridge (empty cache) whose minute is used up: alerts of the open
    # incidents still pass, a new incident waits.
    h2 = await make_harness(
        settings=make_settings(
            bridge_max_new_incidents_per_request=0, bridge_max_new_incidents_per_minute=1
        )
    )
    assert (await h2.post(payload("firing"))).status_code == 200  # the minute's one
    opened = json.loads(storm(1, svc))
    template = opened["alerts"][0]
    opened["alerts"] = [
        {**template, "labels": {"alertname": wid.split(":")[1], "service": svc}} for wid in open_ids
    ]
    r = await h2.post(opened)
    assert r.status_code == 200, r.text
    assert [a["action"] for a in r.json()["applied"]] == ["signalled"] * 5
    r = await h2.post(storm(9, svc))  # Storm00000-08: four or so were never started
    assert r.status_code == 503
    late = r.json()["not_applied"]
    assert late and {a["action"] for a in late} == {"deferred"}
    assert {a["incident"] for a in late}.isdisjoint(open_ids)
    assert GENESIS_ID in await workflow_ids(temporal, at_least=6)


def test_new_incident_window_slides() -> None:
    now = [1000.0]
    w = NewIncidentWindow(per_minute=2, clock=lambda: now[0])
    assert w.admit() and w.admit() and not w.admit()
    assert w.retry_after() == 60
    now[0] += 30
    assert w.retry_after() == 30 and not w.admit()
    w.refund()
    assert w.admit() and w.started_in_window() == 2
    now[0] += 31  # the first two left the minute (one of them refunded)
    assert w.started_in_window() == 1 and w.admit()
    now[0] += 60
    assert w.started_in_window() == 0
    assert w.deferred() and not w.deferred()  # logged once per minute
    assert w.deferred_in_window() == 2


HOSTILE = {
    "alertname": "Disk`** [click](https://evil.example/x) `full",
    "service": "svc` [svc](https://evil.example/s) ![i](https://evil.example/i.png) <b>x</b>",
    "summary": "see [the runbook](https://evil.example/r) `code` www.evil.example a@evil.example",
}


def rendered(markdown: str) -> str:
    return MarkdownIt("commonmark").enable(["table", "strikethrough"]).render(markdown)


def test_markdown_injection_is_shown_literally() -> None:
    alert = Alert(
        alertname=HOSTILE["alertname"],
        service=HOSTILE["service"],
        severity=Severity.P1,
        annotations={"summary": HOSTILE["summary"]},
    )
    route = Route("Triage", alert.alertname, alert.service, "incident:x:y", "triage")
    summary, details = ui_summary(alert, route)
    for md in (summary, details):
        html = rendered(md)
        assert "<a " not in html and "<img" not in html and "<b>" not in html, html
    text = rendered(details)
    assert "[click](https://evil.example/x)" in text  # shown, as text
    assert "[the runbook](https://evil.example/r) `code`" in text.replace("\\", "")
    assert "www\\.evil.example" in details and "a\\@evil.example" in details  # no autolinks
    # Not escaped beyond need: names read as they are.
    plain = Alert(alertname="HighErrorRate", service="genesis-orchestration")
    s, d = ui_summary(plain, route)
    assert s.startswith("HighErrorRate on genesis-orchestration") and "`genesis-orchestration`" in d


async def test_static_details_of_a_started_incident_show_injection_literally(
    harness: Harness,
) -> None:
    p = payload_json("firing")
    p["alerts"][0]["labels"].update(alertname=HOSTILE["alertname"], service=HOSTILE["service"])
    p["alerts"][0]["annotations"]["summary"] = HOSTILE["summary"]
    r = await harness.post(p)
    assert r.status_code == 200, r.text
    [wid] = await workflow_ids(harness.client)
    desc = await harness.client.get_workflow_handle(wid).describe()
    details = await desc.static_details()
    summary = await desc.static_summary()
    assert details and summary
    for md in (summary, details):
        html = rendered(md)
        assert "<a " not in html and "<img" not in html and "<b>" not in html, html
    assert "[click](https://evil.example/x)" in rendered(details)

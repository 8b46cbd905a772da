"""activities/ci.py against a real HTTP server on loopback standing in for the GitHub
API: the request it sends (path, body, auth header), what it retries, what it refuses,
the dispatch-once check -- and that the token never comes back in a result or error."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from temporalio.exceptions import ApplicationError

from activities.ci import CiActivities
from activities.inventory import CiRollbackSpec, HostSpec, Inventory, ServiceSpec
from tests.fixtures.httpsink import HttpSink, SinkResponse
from workflows.contracts.ci import CiDispatchInput
from workflows.contracts.safety import SafetyOverrides

TOKEN = "ghp_s3cretTOKENvalue0123456789"
KEY = "incident:HighErrorRate:agent-lab:ci:1"
WF = "/repos/your-org/agent-lab/actions/workflows/rollback.yml"


def ci(sink: HttpSink, env: dict[str, str] | None = None, **svc: Any) -> CiActivities:
    spec = CiRollbackSpec(
        api_url=sink.url,
        repo="your-org/agent-lab",
        workflow="rollback.yml",
        ref="main",
        token_env="AGENT_LAB_GITHUB_TOKEN",
    )
    host = HostSpec(
        address="x", user="u", private_key_file=Path("/k"), known_hosts_file=Path("/kh")
    )
    inv = Inventory(
        services={"agent-lab": ServiceSpec(hosts=["h"], ci_rollback=spec, **svc)}, hosts={"h": host}
    )
    return CiActivities(inv, {"AGENT_LAB_GITHUB_TOKEN": TOKEN} if env is None else env)


def inp() -> CiDispatchInput:
    return CiDispatchInput(
        service="agent-lab", reason="High error rate detected", idempotency_key=KEY
    )


def runs(*titles: str) -> SinkResponse:
    body = {"total_count": len(titles), "workflow_runs": [{"display_title": t} for t in titles]}
    return SinkResponse(200, json.dumps(body), {"Content-Type": "application/json"})


async def test_dispatch_sends_the_github_actions_call(httpsink: HttpSink) -> None:
    httpsink.script(runs("rollback incident:other:1"), SinkResponse(204, ""))
    res = await ci(httpsink).rollback_dispatch(inp())
    assert res.accepted and res.status_code == 204 and not res.replayed
    listing, post = httpsink.requests
    assert listing.method == "GET" and listing.path.startswith(f"{WF}/runs?")
    assert "event=workflow_dispatch" in listing.path and "branch=main" in listing.path
    assert post.method == "POST" and post.path == f"{WF}/dispatches"
    assert post.json() == {
        "ref": "main",
        "inputs": {"reason": "High error rate detected", "incident_id": KEY},
    }
    for r in (listing, post):
        assert r.headers["authorization"] == f"Bearer {TOKEN}"
        assert r.headers["accept"] == "application/vnd.github+json"
        assert r.headers["x-github-api-version"] == "2022-11-28"
    assert TOKEN not in res.model_dump_json()


async def test_a_run_already_in_ci_is_not_dispatched_again(httpsink: HttpSink) -> None:
    # A retry after a crash (or a 5xx that in fact dispatched): the run is there.
    httpsink.script(runs(f"rollback {KEY}"))
    res = await ci(httpsink).rollback_dispatch(inp())
    assert res.accepted and res.replayed
    assert [r.method for r in httpsink.requests] == ["GET"]  # no POST


@pytest.mark.parametrize(
    "title",
    [
        f"rollback {KEY}2",  # incident run ...:ci:12 is not ...:ci:1
        f"rollback {KEY}0 (High error rate)",
        f"rollback x{KEY}",  # a longer key ending in this one
        f"rollback {KEY}:retry",
    ],
)
async def test_a_longer_key_is_not_this_run(httpsink: HttpSink, title: str) -> None:
    # Substring matching took `...:ci:12` for `...:ci:1`: the rollback of the run that
    # needed it was never dispatched. Only the whole key counts.
    httpsink.script(runs(title), SinkResponse(204, ""))
    res = await ci(httpsink).rollback_dispatch(inp())
    assert res.accepted and not res.replayed
    assert [r.method for r in httpsink.requests] == ["GET", "POST"]


@pytest.mark.parametrize("title", [KEY, f"Rollback ({KEY})", f"rollback: {KEY}, reason: x"])
async def test_the_whole_key_in_any_run_name_is_this_run(httpsink: HttpSink, title: str) -> None:
    httpsink.script(runs(title))
    res = await ci(httpsink).rollback_dispatch(inp())
    assert res.accepted and res.replayed
    assert [r.method for r in httpsink.requests] == ["GET"]


@pytest.mark.parametrize("status", [500, 502, 429])
async def test_5xx_and_429_are_retryable(httpsink: HttpSink, status: int) -> None:
    httpsink.script(runs(), SinkResponse(status, f"busy; Authorization: Bearer {TOKEN}"))
    with pytest.raises(ApplicationError) as err:
        await ci(httpsink).rollback_dispatch(inp())
    assert err.value.type == "CiUnavailable" and not err.value.non_retryable
    assert TOKEN not in str(err.value)


@pytest.mark.parametrize("status", [401, 404, 422])
async def test_other_4xx_are_not_retried(httpsink: HttpSink, status: int) -> None:
    httpsink.script(runs(), SinkResponse(status, '{"message":"Unexpected inputs provided"}'))
    with pytest.raises(ApplicationError) as err:
        await ci(httpsink).rollback_dispatch(inp())
    assert err.value.type == "CiRejected" and err.value.non_retryable
    assert f"HTTP {status}" in str(err.value) and TOKEN not in str(err.value)


async def test_missing_token_sends_nothing(httpsink: HttpSink) -> None:
    with pytest.raises(ApplicationError) as err:
        await ci(httpsink, env={}).rollback_dispatch(inp())
    assert err.value.type == "CiRejected" and "AGENT_LAB_GITHUB_TOKEN" in str(err.value)
    assert httpsink.requests == []


async def test_dry_run_sends_nothing(httpsink: HttpSink) -> None:
    res = await ci(httpsink, safety=SafetyOverrides(dry_run=True)).rollback_dispatch(inp())
    assert res.dry_run and not res.accepted and "DRY RUN" in res.detail
    assert httpsink.requests == []


async def test_unreachable_api_is_retryable() -> None:
    from tests.fixtures.sshd import free_port

    class Dead:
        url = f"http://127.0.0.1:{free_port()}"

    with pytest.raises(ApplicationError) as err:
        await ci(Dead()).rollback_dispatch(inp())  # type: ignore[arg-type]
    assert err.value.type == "CiUnavailable" and not err.value.non_retryable

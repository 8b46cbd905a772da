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
from workflows.contracts.ci import CiDeployInput, CiDisableInput, CiDispatchInput, CiRunInput
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


# ---------------------------------------------------------------- the dispatched run
def run_list(*runs: dict[str, Any]) -> SinkResponse:
    body = {"total_count": len(runs), "workflow_runs": list(runs)}
    return SinkResponse(200, json.dumps(body), {"Content-Type": "application/json"})


def a_run(title: str, status: str, conclusion: str | None, run_id: int = 1) -> dict[str, Any]:
    return {
        "id": run_id,
        "display_title": title,
        "status": status,
        "conclusion": conclusion,
        "html_url": f"https://github.com/your-org/agent-lab/actions/runs/{run_id}?token=x",
    }


async def test_run_status_finds_this_keys_run_and_its_conclusion(httpsink: HttpSink) -> None:
    httpsink.script(
        run_list(
            a_run(f"rollback {KEY}2", "completed", "success", 12),  # another incident's
            a_run(f"rollback {KEY}", "completed", "failure", 7),
        )
    )
    res = await ci(httpsink).rollback_run(CiRunInput(service="agent-lab", idempotency_key=KEY))
    assert res.found and res.run_id == 7 and res.status == "completed"
    assert res.conclusion == "failure" and "token" not in res.url  # the query dropped
    [req] = httpsink.requests
    assert req.method == "GET" and req.path.startswith(f"{WF}/runs?")
    assert "event=workflow_dispatch" in req.path
    assert req.headers["authorization"] == f"Bearer {TOKEN}"


async def test_run_status_not_listed_yet_and_in_progress(httpsink: HttpSink) -> None:
    httpsink.script(run_list(), run_list(a_run(f"rollback {KEY}", "in_progress", None)))
    inp = CiRunInput(service="agent-lab", idempotency_key=KEY)
    first = await ci(httpsink).rollback_run(inp)
    assert not first.found and first.conclusion is None
    second = await ci(httpsink).rollback_run(inp)
    assert second.found and second.status == "in_progress" and second.conclusion is None


async def test_run_status_without_incident_input_is_a_config_error(httpsink: HttpSink) -> None:
    acts = ci(httpsink)
    spec = acts.inventory.service("agent-lab").ci_rollback
    assert spec is not None
    spec.incident_input = None
    with pytest.raises(ApplicationError) as err:
        await acts.rollback_run(CiRunInput(service="agent-lab", idempotency_key=KEY))
    assert err.value.type == "CommandNotConfigured" and "incident_input" in str(err.value)
    assert httpsink.requests == []


@pytest.mark.parametrize(("status", "kind"), [(503, "CiUnavailable"), (401, "CiRejected")])
async def test_run_status_errors(httpsink: HttpSink, status: int, kind: str) -> None:
    httpsink.script(SinkResponse(status, "no"))
    with pytest.raises(ApplicationError) as err:
        await ci(httpsink).rollback_run(CiRunInput(service="agent-lab", idempotency_key=KEY))
    assert err.value.type == kind


# ---------------------------------------------------------------- the broken deploy
REPO = "/repos/your-org/agent-lab"
DEPLOY = f"{REPO}/actions/workflows/deploy.yml"


def js(body: object) -> SinkResponse:
    return SinkResponse(200, json.dumps(body), {"Content-Type": "application/json"})


async def test_deploy_evidence_reads_failed_run_logs_workflow_file_and_diff(
    httpsink: HttpSink,
) -> None:
    log = "\n".join(f"2024-05-01T10:00:{i:02d}.0000000Z step {i}" for i in range(60))
    log += f"\n2024-05-01T10:01:00.0000000Z ModuleNotFoundError; Authorization: Bearer {TOKEN}"
    httpsink.script(
        js(
            {
                "workflow_runs": [
                    {
                        "id": 99,
                        "head_sha": "0123456789abcdef0123",
                        "html_url": "https://github.com/your-org/agent-lab/actions/runs/99",
                    }
                ]
            }
        ),
        js(
            {
                "jobs": [
                    {"id": 1, "name": "test", "conclusion": "success"},
                    {"id": 2, "name": "deploy", "conclusion": "failure"},
                ]
            }
        ),
        # The job log: a redirect to a signed URL (here: the same stand-in, another path).
        SinkResponse(302, "", {"Location": f"{httpsink.url}/blob/log.txt?sig=abc"}),
        SinkResponse(200, log),
        SinkResponse(200, "name: deploy\non: push\n" + "# line\n" * 200),
        js(
            {
                "files": [
                    {
                        "filename": "app.py",
                        "status": "modified",
                        "additions": 1,
                        "deletions": 1,
                        "patch": "@@ -1 +1 @@\n-import os\n+import nonexistent_module",
                    }
                ]
            }
        ),
    )
    res = await ci(httpsink).deploy_evidence(CiDeployInput(service="agent-lab"))
    assert res.run_id == 99 and res.head_sha.startswith("0123") and res.failed_jobs == ["deploy"]
    # The last 40 lines, timestamps gone, the token masked.
    assert res.log_tail[0] == "[deploy]" and len(res.log_tail) == 1 + 40
    assert res.log_tail[-1].startswith("ModuleNotFoundError") and TOKEN not in res.log_tail[-1]
    assert res.workflow_file[:2] == ["name: deploy", "on: push"] and len(res.workflow_file) == 80
    assert res.diff[0] == "modified app.py +1 -1" and "+import nonexistent_module" in res.diff
    paths = [r.path for r in httpsink.requests]
    assert paths[0].startswith(f"{DEPLOY}/runs?") and "status=failure" in paths[0]
    assert paths[1].startswith(f"{REPO}/actions/runs/99/jobs")
    assert paths[2] == f"{REPO}/actions/jobs/2/logs"
    assert paths[3] == "/blob/log.txt?sig=abc"
    assert paths[4].startswith(f"{REPO}/contents/.github/workflows/deploy.yml?ref=main")
    assert paths[5] == f"{REPO}/commits/0123456789abcdef0123"
    # The signed URL gets no token; the API calls do.
    assert "authorization" not in httpsink.requests[3].headers
    assert httpsink.requests[4].headers["accept"] == "application/vnd.github.raw+json"
    assert TOKEN not in res.model_dump_json()


async def test_deploy_evidence_without_a_failed_run(httpsink: HttpSink) -> None:
    httpsink.script(js({"workflow_runs": []}), SinkResponse(200, "name: deploy\n"))
    res = await ci(httpsink).deploy_evidence(CiDeployInput(service="agent-lab"))
    assert res.run_id is None and res.workflow_file == ["name: deploy"] and res.diff == []
    assert "no failed run" in res.detail and len(httpsink.requests) == 2


async def test_disable_puts_once_and_reports_an_already_disabled_workflow(
    httpsink: HttpSink,
) -> None:
    httpsink.script(js({"id": 5, "state": "active"}), SinkResponse(204, ""))
    inp = CiDisableInput(service="agent-lab", idempotency_key="incident:x@r:ci:disable")
    res = await ci(httpsink).disable_workflow(inp)
    assert res.disabled and not res.already and res.status_code == 204
    get, put = httpsink.requests
    assert get.method == "GET" and get.path == DEPLOY
    assert put.method == "PUT" and put.path == f"{DEPLOY}/disable"
    assert put.headers["authorization"] == f"Bearer {TOKEN}"
    # A retry (or a person first): the state says so, no second PUT.
    httpsink.script(js({"id": 5, "state": "disabled_manually"}))
    again = await ci(httpsink).disable_workflow(inp)
    assert (
        again.disabled
        and again.already
        and [r.method for r in httpsink.requests]
        == [
            "GET",
            "PUT",
            "GET",
        ]
    )


async def test_disable_dry_run_and_refusal(httpsink: HttpSink) -> None:
    inp = CiDisableInput(service="agent-lab", idempotency_key="k")
    dry = await ci(httpsink, safety=SafetyOverrides(dry_run=True)).disable_workflow(inp)
    assert dry.dry_run and not dry.disabled and "DRY RUN: would PUT" in dry.detail
    assert httpsink.requests == []
    httpsink.script(js({"state": "active"}), SinkResponse(403, '{"message":"Forbidden"}'))
    with pytest.raises(ApplicationError) as err:
        await ci(httpsink).disable_workflow(inp)
    assert err.value.type == "CiRejected" and err.value.non_retryable


async def test_no_deploy_workflow_configured(httpsink: HttpSink) -> None:
    acts = ci(httpsink)
    spec = acts.inventory.service("agent-lab").ci_rollback
    assert spec is not None
    spec.deploy_workflow = None
    with pytest.raises(ApplicationError) as err:
        await acts.disable_workflow(CiDisableInput(service="agent-lab", idempotency_key="k"))
    assert err.value.type == "CommandNotConfigured" and "deploy_workflow" in str(err.value)

"""What a person sees in the Temporal UI after `remedy demo`: the incidents listed,
each with the summary and details the bridge gave it. Headless Chromium (Debian
`chromium`) screenshots the workflow list and reads the DOM; the UI's own HTTP API
confirms what the page was built from.

The demo's Temporal data is SQLite in its kept directory: a new dev server on that
file serves the UI after the demo has torn its world down."""

from __future__ import annotations

import asyncio
import base64
import json
import shutil
import subprocess
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from urllib.parse import quote, unquote

import httpx
import pytest
from temporalio import activity
from temporalio.worker import Worker

from remedy.devstack import DevServer
from remedy.settings import Settings
from remedy.temporal import connect
from tests.fixtures.sshd import free_port
from tests.test_demo import DemoRun, demo_run  # noqa: F401 -- the session's one demo run
from workflows.contracts import declared_activities
from workflows.registry import PLAYBOOKS

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SUMMARIES = {
    "incident:HighErrorRate:demo-api": "HighErrorRate on demo-api (P1)",
    "incident:ApplicationDown:demo-api": "ApplicationDown on demo-api (P1)",
}
QUERY = 'RemedyService="demo-api"'


@pytest.fixture
def ui_server(demo_run: DemoRun, tmp_path: Path) -> Iterator[DevServer]:  # noqa: F811
    if CHROMIUM is None:
        pytest.skip("Chromium is not installed (apt-get install -y chromium)")
    assert demo_run.returncode == 0, demo_run.output
    data = tmp_path / "data"
    shutil.copytree(demo_run.dir / "data", data)  # the demo's SQLite, left as it was
    server = DevServer(data_dir=data, port=free_port(), ui_port=free_port())
    server.start()
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{server.ui_url}/api/v1/namespaces", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "Temporal UI did not answer"
            time.sleep(0.3)
        yield server
    finally:
        server.stop()


def _never_called(name: str) -> Callable[..., Awaitable[None]]:
    @activity.defn(name=name)
    async def stand_in(*_: object) -> None:
        raise AssertionError(f"{name}: a replay answering a query ran an activity")

    return stand_in


def chromium(*args: str) -> str:
    assert CHROMIUM is not None
    res = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--virtual-time-budget=5000",
            "--window-size=1400,900",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    return res.stdout


async def test_incidents_listed_with_their_summaries(ui_server: DevServer, tmp_path: Path) -> None:
    ui = ui_server.ui_url
    # The UI's HTTP API: the list behind the page, and each incident's user metadata.
    async with httpx.AsyncClient(base_url=f"{ui}/api/v1/namespaces/default", timeout=10) as http:
        listed = (await http.get("/workflows", params={"query": QUERY})).json()["executions"]
        runs = {e["execution"]["workflowId"]: e["execution"]["runId"] for e in listed}
        assert set(runs) == set(SUMMARIES)
        assert {e["status"] for e in listed} == {"WORKFLOW_EXECUTION_STATUS_COMPLETED"}
        for wid, summary in SUMMARIES.items():
            desc = (await http.get(f"/workflows/{quote(wid, safe='')}")).json()
            meta = desc["executionConfig"]["userMetadata"]
            text = {k: json.loads(base64.b64decode(v["data"])) for k, v in meta.items()}
            assert text["summary"] == summary
            assert "- service: `demo-api`" in text["details"]
            assert "- severity: P1" in text["details"]

    # The workflow list as a browser renders it, filtered by service.
    list_url = f"{ui}/namespaces/default/workflows?query={quote(QUERY)}"
    shot = tmp_path / "workflows.png"
    await asyncio.to_thread(chromium, f"--screenshot={shot}", list_url)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000
    dom = await asyncio.to_thread(chromium, "--dump-dom", list_url)
    for wid in SUMMARIES:
        assert wid in dom, dom[-2000:]
    # The Type column (the playbook): the ids name them once, the column once more.
    assert dom.count("HighErrorRate") >= 2 and dom.count("ApplicationDown") >= 2

    # Each incident's page shows its summary and details (the UI renders them in
    # sandboxed frames whose src carries the text) and its current details, which the
    # UI reads with a query: a worker replays the closed run to answer it.
    client = await connect(ui_server.address)
    async with Worker(
        client,
        task_queue=Settings().task_queue,
        workflows=list(PLAYBOOKS.values()),
        # Replaying a run with local activities (LEAN_HISTORY) needs them registered,
        # though a replay never calls them: stand-ins under the declared names.
        activities=[_never_called(name) for name in declared_activities()],
    ):
        for wid, summary in SUMMARIES.items():
            page = (
                f"{ui}/namespaces/default/workflows/{quote(wid, safe='')}/{runs[wid]}/user-metadata"
            )
            dom = unquote(await asyncio.to_thread(chromium, "--dump-dom", page))
            assert summary in dom
            assert "- severity: P1" in dom
            assert "phase **Resolution**" in dom  # current details, at the end

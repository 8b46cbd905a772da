"""The worker's Prometheus endpoint (REMEDY_WORKER_METRICS_ADDRESS): the real worker
(worker.run_worker) on a real Temporal server serves the SDK's metrics for the
activities it ran, labelled with its task queue -- what an SRE scales workers on."""

from __future__ import annotations

import asyncio
import contextlib
import re
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from remedy.settings import Settings
from remedy.temporal import metrics_runtime
from tests.conftest import venv_binary
from tests.fixtures.sshd import free_port
from worker import run_worker
from workflows.models import Alert, IncidentInput

ROOT = Path(__file__).resolve().parents[1]


async def scrape_until(url: str, pattern: str, timeout_s: float = 20) -> str:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    text = ""
    async with httpx.AsyncClient() as http:
        while loop.time() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                text = (await http.get(url, timeout=2)).text
                if re.search(pattern, text):
                    return text
            await asyncio.sleep(0.2)
    raise AssertionError(f"{pattern!r} not in {url} after {timeout_s}s:\n{text[-2000:]}")


@pytest_asyncio.fixture
async def own_env() -> AsyncIterator[WorkflowEnvironment]:
    """A time-skipping server of this test's own. Not the shared session one: a worker
    stopped while it holds an activity task leaves that server's clock locked until the
    task times out -- in virtual time, i.e. never -- and every later test would hang."""
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=pydantic_data_converter,
        test_server_existing_path=venv_binary("temporal-test-server"),
    )
    async with env:
        yield env


async def test_worker_serves_sdk_metrics_for_what_it_ran(
    own_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    time_env = own_env
    addr = f"127.0.0.1:{free_port()}"
    tq = f"metrics-{uuid.uuid4().hex[:8]}"
    settings = Settings(
        temporal_address=time_env.client.service_client.config.target_host,
        task_queue=tq,
        worker_metrics_address=addr,
        inventory=ROOT / "examples" / "inventory.yaml",
        data_dir=tmp_path,
    )
    worker = asyncio.create_task(run_worker(settings))
    handle = None
    try:
        url = f"http://{addr}/metrics"
        # Polling before any incident: the pollers are there, with our task queue.
        await scrape_until(url, rf'temporal_num_pollers\{{[^}}]*task_queue="{tq}"')
        handle = await time_env.client.start_workflow(
            "ServiceDown",
            IncidentInput(
                alert=Alert(alertname="GenesisServiceDown", service="genesis-orchestration")
            ),
            id=f"incident:metrics:{uuid.uuid4().hex[:8]}",
            task_queue=tq,
        )
        text = await scrape_until(
            url,
            # The restart is a task-queue activity (the policy load is local since
            # LEAN_HISTORY): the activity metrics name the activity type.
            r'temporal_activity_execution\w*\{[^}]*activity_type="service\.restart"',
        )
        assert f'task_queue="{tq}"' in text
        assert re.search(r'temporal_workflow_task_execution_latency\w*\{[^}]*"ServiceDown"', text)
    finally:
        if handle is not None:
            await handle.terminate("test over")
        worker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await worker


def test_a_taken_or_malformed_address_is_a_clear_error() -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        taken = f"127.0.0.1:{s.getsockname()[1]}"
        with pytest.raises(RuntimeError, match=f"worker metrics on {taken}: .*in use"):
            metrics_runtime(taken)
    with pytest.raises(RuntimeError, match="expected host:port"):
        metrics_runtime("9464")

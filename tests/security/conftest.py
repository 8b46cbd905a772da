"""A real Temporal dev server for the security tests (encrypted history, bridge fuzzing),
with its own namespaces so nothing here collides with the bridge tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

from tests.conftest import venv_binary

NAMESPACES = ("security-codec", "security-fuzz")


@dataclass
class DevServer:
    target: str


@pytest_asyncio.fixture(scope="session")
async def security_server() -> AsyncIterator[DevServer]:
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=venv_binary("temporal"),
        dev_server_extra_args=[a for n in NAMESPACES for a in ("--namespace", n)],
    )
    async with env:
        yield DevServer(env.client.service_client.config.target_host)

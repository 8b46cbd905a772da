"""A real Temporal dev server for the security tests (encrypted history, bridge fuzzing),
with its own namespaces so nothing here collides with the bridge tests."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

from tests.conftest import venv_binary

NAMESPACES = ("security-codec", "security-fuzz")

# A fresh key (remedy.codec.new_key_spec: 32 random bytes, base64) in a parameter.
_RANDOM_KEY = re.compile(r"(?<=:)[A-Za-z0-9+/]{43}=")


def pytest_make_parametrize_id(config: object, val: object, argname: str) -> str | None:
    """Test ids name random keys `<key>`, not their bytes: pytest-xdist's workers each
    collect the suite and must all find the same test ids (test_codec.py's
    test_bad_key_specs has a parameter made of two new_key_spec() keys)."""
    if isinstance(val, str) and _RANDOM_KEY.search(val):
        return _RANDOM_KEY.sub("<key>", val)
    return None


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

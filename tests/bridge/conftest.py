"""Fixtures for the bridge: a real Temporal dev server (the `temporal` CLI from the venv)
with one fresh namespace per test, so workflow ids (`incident:<alertname>:<service>`,
fixed by design) never collide between tests and "nothing was started" can be checked
by listing the whole namespace.

The dev server rather than the time-skipping one: the bridge never waits on workflow
timers, and the dev server has real visibility (list) and real close times (flap guard).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from pydantic import SecretStr
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from activities.inventory import HostSpec, Inventory, ServiceSpec
from bridge.app import create_app
from remedy.settings import Settings
from tests.bridge.helpers import TOKEN, Harness
from tests.conftest import BRIDGE_NAMESPACES, BridgeDevServer

# The one session-wide dev server (tests/conftest.py), whichever module imports this.
NAMESPACES = BRIDGE_NAMESPACES
DevServer = BridgeDevServer


@pytest.fixture(scope="session")
def dev_server(bridge_dev_server: DevServer) -> DevServer:
    return bridge_dev_server


@pytest_asyncio.fixture
async def temporal(dev_server: DevServer) -> Client:
    """A client on a namespace no other test uses."""
    ns = next(dev_server.namespaces, None)
    if ns is None:
        pytest.fail(f"out of pre-created namespaces: raise NAMESPACES ({NAMESPACES})")
    return await Client.connect(
        dev_server.target, namespace=ns, data_converter=pydantic_data_converter
    )


def make_inventory(**routes: str) -> Inventory:
    host = HostSpec(
        address="127.0.0.1",
        user="remedy",
        private_key_file=Path("/nonexistent/key"),
        known_hosts_file=Path("/nonexistent/known_hosts"),
    )
    return Inventory(
        hosts={"h1": host},
        services={
            "genesis-orchestration": ServiceSpec(hosts=["h1"], severity="P0"),
            "agent-lab-api": ServiceSpec(hosts=["h1"]),
        },
        routes=routes,
    )


def make_settings(**overrides: Any) -> Settings:
    base: dict[str, Any] = {
        "bridge_token": SecretStr(TOKEN),
        "task_queue": f"bridge-{uuid.uuid4().hex[:8]}",
        "flap_cooldown_s": 600.0,
        "bridge_temporal_timeout_s": 3.0,
    }
    return Settings(_env_file=None, **(base | overrides))  # type: ignore[call-arg]


HarnessFactory = Callable[..., Awaitable[Harness]]


@pytest_asyncio.fixture
async def make_harness(temporal: Client) -> AsyncIterator[HarnessFactory]:
    """`await make_harness(settings=..., client=..., client_factory=...)` -> a bridge app
    served in-process over httpx's ASGI transport; several may share one namespace (a
    second app is a restarted bridge with an empty cache)."""
    opened: list[httpx.AsyncClient] = []

    async def make(
        settings: Settings | None = None,
        inventory: Inventory | None = None,
        client: Client | None = temporal,
        **kw: Any,
    ) -> Harness:
        app = create_app(settings or make_settings(), inventory or make_inventory(), client, **kw)
        http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bridge")
        opened.append(http)
        return Harness(app, http, temporal)

    yield make
    for http in opened:
        await http.aclose()


@pytest_asyncio.fixture
async def harness(make_harness: HarnessFactory) -> Harness:
    return await make_harness()

"""Run the bridge under uvicorn, in-process (no uvicorn CLI, no import strings): the
embedded dev stack runs it next to the worker in one event loop, and tests serve it on
a loopback port.

    python -m bridge.server        # or: remedy bridge
"""

from __future__ import annotations

import asyncio
import logging
import sys

import uvicorn
from temporalio.client import Client

from activities.inventory import Inventory, InventoryError, load_inventory
from bridge.app import Bridge, BridgeConfigError, ClientFactory, create_app
from remedy.settings import Settings

log = logging.getLogger("remedy.bridge")


class BridgeServer(uvicorn.Server):
    """A uvicorn server that keeps a typed handle on the bridge it serves (metrics,
    cache, Temporal link) for the dev stack and tests."""

    def __init__(self, config: uvicorn.Config, bridge: Bridge) -> None:
        super().__init__(config)
        self.bridge = bridge


def build_server(
    settings: Settings,
    inventory: Inventory,
    host: str | None = None,
    port: int | None = None,
    *,
    client: Client | None = None,
    client_factory: ClientFactory | None = None,
) -> BridgeServer:
    """A uvicorn server for the bridge app (not started). `server.started` turns true once
    it listens; set `server.should_exit = True` to stop it gracefully."""
    app = create_app(settings, inventory, client=client, client_factory=client_factory)
    config = uvicorn.Config(
        app,
        host=host or settings.bridge_host,
        port=settings.bridge_port if port is None else port,
        lifespan="off",  # the app has no startup work: Temporal is connected on first use
        log_config=None,  # the hosting process owns logging (CLI, dev stack, tests)
        access_log=False,
        server_header=False,
    )
    return BridgeServer(config, app.state.bridge)


async def serve(
    settings: Settings,
    inventory: Inventory,
    host: str | None = None,
    port: int | None = None,
    *,
    client: Client | None = None,
    client_factory: ClientFactory | None = None,
) -> None:
    """Serve the bridge until cancelled or signalled (SIGINT/SIGTERM)."""
    server = build_server(
        settings, inventory, host, port, client=client, client_factory=client_factory
    )
    try:
        await server.bridge.link.get()
    except Exception as err:  # noqa: BLE001 -- keep serving: /healthz says 503, Alertmanager retries
        log.warning(
            "Temporal at %s not reachable yet (%s); will retry per request",
            settings.temporal_address,
            err,
        )
    log.info(
        "alert bridge on http://%s:%s/alertmanager (namespace %s, task queue %s)",
        server.config.host,
        server.config.port,
        settings.temporal_namespace,
        settings.task_queue,
    )
    await server.serve()


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    settings = Settings()
    try:
        inventory = load_inventory(settings.inventory)
        create_app(settings, inventory)  # fail on configuration before binding a port
    except (InventoryError, BridgeConfigError) as err:
        print(f"remedy bridge: {err}", file=sys.stderr)
        sys.exit(2)
    try:
        asyncio.run(serve(settings, inventory))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()

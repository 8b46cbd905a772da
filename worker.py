"""The Remedy worker: runs every registered playbook and every activity.

    python worker.py            # or: remedy worker

Reads settings from the environment (TEMPORAL_ADDRESS, REMEDY_INVENTORY, ...; see
remedy/settings.py). The inventory is loaded and validated once at start: a broken
inventory stops the worker with the file, YAML path and problem, before any incident
can trip over it.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Callable
from typing import Any

from temporalio.client import Client
from temporalio.worker import Worker

from activities.agentlab_diagnostics import AgentLabDiagnosticsActivities
from activities.agentlab_host import AgentLabHostActivities
from activities.agentlab_probes import AgentLabProbeActivities
from activities.ci import CiActivities
from activities.datafiles import DataFileActivities
from activities.diagnostics import DiagnosticsActivities
from activities.governor import GovernorActivities
from activities.http_probe import HttpProbeActivities
from activities.incident_history import IncidentHistoryActivities
from activities.inventory import Inventory, InventoryActivities, InventoryError, load_inventory
from activities.mitigation import MitigationActivities
from activities.notify import NotifyActivities
from activities.prometheus import PrometheusActivities
from activities.records import RecordsActivities
from activities.reports import ReportActivities
from activities.security import SecurityActivities
from activities.service import ServiceActivities
from activities.ssh import SshActivities
from activities.testsuite import TestSuiteActivities
from remedy.settings import Settings
from remedy.temporal import connect, ensure_search_attributes, metrics_runtime
from workflows.registry import PLAYBOOKS, SUPPORT_WORKFLOWS

log = logging.getLogger("remedy.worker")


def activities_for(inventory: Inventory, settings: Settings) -> list[Callable[..., Any]]:
    """Every activity callable, bound to its worker-side configuration."""
    objs = [
        InventoryActivities(inventory),
        SshActivities(inventory),
        ServiceActivities(inventory),
        HttpProbeActivities(inventory),
        PrometheusActivities(settings),
        NotifyActivities(settings),
        RecordsActivities(inventory, settings),
        TestSuiteActivities(inventory),
        MitigationActivities(inventory),
        DiagnosticsActivities(inventory),
        ReportActivities(settings),
        GovernorActivities(),
        IncidentHistoryActivities(),
        AgentLabDiagnosticsActivities(inventory),
        AgentLabHostActivities(inventory),
        AgentLabProbeActivities(inventory),
        CiActivities(inventory),
        SecurityActivities(inventory),
        DataFileActivities(inventory),
    ]
    out: list[Callable[..., Any]] = []
    for obj in objs:
        for name in dir(obj):
            fn = getattr(obj, name)
            if callable(fn) and hasattr(fn, "__temporal_activity_definition"):
                out.append(fn)
    return out


def build_worker(client: Client, inventory: Inventory, settings: Settings) -> Worker:
    return Worker(
        client,
        task_queue=settings.task_queue,
        workflows=[*PLAYBOOKS.values(), *SUPPORT_WORKFLOWS.values()],
        activities=activities_for(inventory, settings),
    )


async def run_worker(settings: Settings, inventory: Inventory | None = None) -> None:
    inventory = inventory or load_inventory(settings.inventory)
    runtime = None
    if settings.worker_metrics_address:
        runtime = metrics_runtime(settings.worker_metrics_address)
        log.info("SDK metrics on http://%s/metrics", settings.worker_metrics_address)
    client = await connect(
        settings.temporal_address, settings.temporal_namespace, settings=settings, runtime=runtime
    )
    added = await ensure_search_attributes(client)
    if added:
        log.info("registered search attributes: %s", ", ".join(added))
    log.info(
        "worker on %s (namespace %s, task queue %s): %d playbooks, %d services in %s",
        settings.temporal_address,
        settings.temporal_namespace,
        settings.task_queue,
        len(PLAYBOOKS),
        len(inventory.services),
        settings.inventory,
    )
    await build_worker(client, inventory, settings).run()


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    try:
        asyncio.run(run_worker(Settings()))
    except InventoryError as err:
        print(f"remedy worker: {err}", file=sys.stderr)
        sys.exit(2)
    except RuntimeError as err:  # Temporal unreachable, metrics port taken, TLS config
        print(f"remedy worker: {err}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()

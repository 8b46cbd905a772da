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
from temporalio.worker import PollerBehaviorSimpleMaximum, Worker

from activities.ci import CiActivities
from activities.crash import CrashActivities
from activities.datafiles import DataFileActivities
from activities.deploy import DeployActivities
from activities.diagnostics import DiagnosticsActivities
from activities.governor import GovernorActivities
from activities.http_probe import HttpProbeActivities
from activities.incident_history import IncidentHistoryActivities
from activities.inventory import Inventory, InventoryActivities, InventoryError, load_inventory
from activities.load_probe import LoadProbeActivities
from activities.mitigation import MitigationActivities
from activities.notify import NotifyActivities
from activities.performance import PerformanceActivities
from activities.prometheus import PrometheusActivities
from activities.records import RecordsActivities
from activities.reports import ReportActivities
from activities.security import SecurityActivities
from activities.service import ServiceActivities
from activities.testsuite import TestSuiteActivities
from remedy.settings import Settings
from remedy.temporal import connect, ensure_search_attributes, metrics_runtime
from workflows.contracts import (
    ci,
    datafiles,
    declared_activities,
    diagnostics,
    policy,
    prometheus,
    safety,
    security,
    service,
    testsuite,
)
from workflows.contracts import http as http_c
from workflows.contracts import mitigation as mitigation_c
from workflows.contracts import notify as notify_c
from workflows.contracts import performance as performance_c
from workflows.contracts import records as records_c
from workflows.contracts.base import Activity
from workflows.registry import PLAYBOOKS, SUPPORT_WORKFLOWS

log = logging.getLogger("remedy.worker")


def implementations(inventory: Inventory, settings: Settings) -> dict[Activity[Any, Any], Any]:
    """The explicit registry: each declared activity (workflows/contracts/) and the
    method that carries it out, bound to its worker-side configuration. A declared
    activity without a method here, or a method for an undeclared one, stops the worker
    at start (`activities_for`) and fails tests/test_registry.py."""
    inv = InventoryActivities(inventory)
    svc = ServiceActivities(inventory)
    http = HttpProbeActivities(inventory)
    prom = PrometheusActivities(settings)
    notify = NotifyActivities(settings)
    records = RecordsActivities(inventory, settings)
    reports = ReportActivities(settings)
    history = IncidentHistoryActivities()
    tests = TestSuiteActivities(inventory)
    mitigation = MitigationActivities(inventory)
    diag = DiagnosticsActivities(inventory)
    crash = CrashActivities(inventory)
    governor = GovernorActivities(settings.fleet_actions_per_hour)
    deploy = DeployActivities(inventory)
    load = LoadProbeActivities(inventory)
    ci_acts = CiActivities(inventory)
    sec = SecurityActivities(inventory)
    data = DataFileActivities(inventory)
    return {
        # policy: what a workflow may know of a service
        policy.SERVICE_POLICY: inv.service_policy,
        # service: commands on a service's host (no activity takes an argv)
        service.SERVICE_RUN: svc.run,
        service.SERVICE_RESTART: svc.restart,
        service.AGENTLAB_MAINTENANCE: deploy.maintenance,
        service.DEPLOY_COMMAND: deploy.deploy_command,
        # diagnostics: read-only host checks over SSH
        diagnostics.AGENTLAB_DIAGNOSE: diag.diagnose,
        diagnostics.LOG_ERRORS: diag.log_errors,
        diagnostics.ERROR_GROUPS: diag.error_groups,
        diagnostics.RECENT_CHANGES: diag.recent_changes,
        diagnostics.HOST_CHECK: diag.host_check,
        diagnostics.CRASH_EVIDENCE: crash.crash_evidence,  # writes the crash_<stamp> dump
        # http: probes of a service and its upstream (one upstream implementation)
        http_c.HTTP_PROBE: http.probe,
        http_c.AGENTLAB_SMOKE: http.smoke,
        http_c.AGENTLAB_UPSTREAM: http.upstream,
        http_c.AGENTLAB_STREAM_PROBE: http.stream,
        http_c.AGENTLAB_UPSTREAM_STREAM: http.upstream_stream,
        http_c.AGENTLAB_LOAD_PROBE: load.load,
        http_c.UPSTREAM_PROBE: http.upstream_probe,
        # prometheus, notify, records
        prometheus.PROMETHEUS_QUERY: prom.query,
        notify_c.SLACK_POST: notify.slack,
        notify_c.PAGERDUTY_EVENT: notify.pagerduty,
        notify_c.USER_NOTICE: notify.user_notice,
        records_c.INCIDENT_LOG: records.incident_log,
        records_c.POSTMORTEM_WRITE: reports.postmortem,
        records_c.EARLIER_INCIDENTS: history.earlier_incidents,
        # testsuite, mitigation, ci
        testsuite.TESTSUITE_RUN: tests.run,
        testsuite.TESTSUITE_CHECK: tests.check,
        mitigation_c.MITIGATION_APPLY: mitigation.apply,
        mitigation_c.MITIGATION_RESTORE: mitigation.restore,
        ci.CI_ROLLBACK_DISPATCH: ci_acts.rollback_dispatch,
        ci.CI_RUN_STATUS: ci_acts.rollback_run,
        ci.CI_DEPLOY_EVIDENCE: ci_acts.deploy_evidence,
        ci.CI_DISABLE_WORKFLOW: ci_acts.disable_workflow,
        # security, datafiles, safety
        security.SECURITY_ACCESS_LOG: sec.access_log,
        security.SECURITY_SNAPSHOT: sec.snapshot,
        security.SECURITY_DATA_ASSESSMENT: sec.data_assessment,
        performance_c.SLOW_REQUESTS: PerformanceActivities(inventory).slow_requests,
        security.SECURITY_CONTAIN: sec.contain,
        datafiles.DATAFILES_SCAN: data.scan,
        datafiles.DATAFILES_VALIDATE: data.validate,
        datafiles.DATAFILES_READ_ONLY: data.read_only,
        datafiles.DATAFILES_SNAPSHOT: data.snapshot,
        datafiles.DATAFILES_QUARANTINE: data.quarantine,
        datafiles.DATAFILES_RESTORE: data.restore,
        datafiles.DATAFILES_REBUILD_CSV: data.rebuild_csv,
        safety.GOVERNOR_PERMIT: governor.permit,
    }


def activities_for(inventory: Inventory, settings: Settings) -> list[Callable[..., Any]]:
    """Exactly the declared activities, each with its method; refuses a gap either way."""
    table = implementations(inventory, settings)
    declared = set(declared_activities())
    given = {ref.name for ref in table}
    if declared != given:
        raise RuntimeError(
            f"activity registry out of step with workflows/contracts/: declared but not "
            f"implemented {sorted(declared - given)}, implemented but not declared "
            f"{sorted(given - declared)}"
        )
    return list(table.values())


def tuning(settings: Settings) -> dict[str, Any]:
    """Worker options beyond the SDK's defaults (README "First response first"): more
    workflow task polls, half of them on the task queue itself, where every new
    incident's first workflow task waits (a cached incident's later ones go to this
    worker's sticky queue), so new incidents are not served by one poll in five."""
    return {
        "workflow_task_poller_behavior": PollerBehaviorSimpleMaximum(
            settings.worker_workflow_pollers
        ),
        "nonsticky_to_sticky_poll_ratio": settings.worker_nonsticky_poll_ratio,
    } | {
        # Slots and the sticky cache: only where set, else the SDK's defaults.
        k: v
        for k, v in {
            "max_concurrent_workflow_tasks": settings.worker_max_concurrent_workflow_tasks,
            "max_concurrent_activities": settings.worker_max_concurrent_activities,
            "max_cached_workflows": settings.worker_max_cached_workflows,
        }.items()
        if v is not None
    }


def build_worker(client: Client, inventory: Inventory, settings: Settings) -> Worker:
    return Worker(
        client,
        task_queue=settings.task_queue,
        workflows=[*PLAYBOOKS.values(), *SUPPORT_WORKFLOWS.values()],
        activities=activities_for(inventory, settings),
        **tuning(settings),
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

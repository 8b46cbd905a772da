"""The bridge's part of the storm breaker (workflows/fleet.py): every *new* incident the
bridge starts is reported to the fleet guard, `fleet:<task queue>`, by signal-with-start,
with this bridge's storm thresholds (REMEDY_STORM_INCIDENTS, REMEDY_STORM_WINDOW_S), so
the guard counts openings across both bridges of an HA pair and every bridge restart.

Best effort, after the incident started: a report that fails is logged and never fails
the alert (the incident runs either way; answering 503 would make Alertmanager retry an
alert that already started its incident, and the retry would not report it again). A
repeat joining an open incident is not an opening and is not reported.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy

from remedy.settings import Settings
from workflows.contracts.safety import (
    FleetInput,
    Opening,
    OpeningSignal,
    StormThresholds,
    fleet_guard_id,
)
from workflows.models import Alert

log = logging.getLogger("remedy.bridge")

REPORT_TIMEOUT = timedelta(seconds=2)


@dataclass
class StormReporter:
    task_queue: str
    thresholds: StormThresholds = field(default_factory=StormThresholds)
    reported: int = 0
    failed: int = 0

    @classmethod
    def from_settings(cls, task_queue: str, settings: Settings) -> StormReporter:
        return cls(
            task_queue,
            StormThresholds(incidents=settings.storm_incidents, window_s=settings.storm_window_s),
        )

    async def opened(
        self, client: Client, workflow_id: str, run_id: str, playbook: str, alert: Alert
    ) -> None:
        """Report one new incident to the fleet guard (starting it if need be)."""
        sig = OpeningSignal(
            opening=Opening(
                incident_id=workflow_id,
                run_id=run_id,
                alertname=alert.alertname,
                service=alert.service,
                playbook=playbook,
                at=datetime.now(UTC),
            ),
            thresholds=self.thresholds,
        )
        wid = fleet_guard_id(self.task_queue)
        try:
            await client.start_workflow(
                "FleetGuard",
                FleetInput(thresholds=self.thresholds),
                id=wid,
                task_queue=self.task_queue,
                start_signal="incident_opened",
                start_signal_args=[sig],
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                rpc_timeout=REPORT_TIMEOUT,
            )
        except Exception as err:  # noqa: BLE001 -- see module doc: never fails the alert
            self.failed += 1
            log.warning("opening of %s not reported to %s: %s", workflow_id, wid, err)
            return
        self.reported += 1

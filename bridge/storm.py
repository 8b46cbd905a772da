"""The bridge's part of the storm breaker (workflows/fleet.py): every *new* incident the
bridge starts is reported to the fleet guard, `fleet:<task queue>`, by signal-with-start,
with this bridge's storm thresholds (REMEDY_STORM_INCIDENTS, REMEDY_STORM_WINDOW_S), so
the guard counts openings across both bridges of an HA pair and every bridge restart.

Openings that arrive together are reported together: `opened` waits `linger_s` for
others to join it and sends them in one `openings` signal -- one signal and one workflow
task on the one guard for a whole burst, which is exactly when the guard is busiest
(answering every incident's permits too). `opened` still returns only once its opening
was reported (or failed to be).

Best effort, after the incident started: a report that fails is logged and never fails
the alert (the incident runs either way; answering 503 would make Alertmanager retry an
alert that already started its incident, and the retry would not report it again). A
repeat joining an open incident is not an opening and is not reported.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy

from remedy.settings import Settings
from workflows.contracts.safety import (
    FleetInput,
    Opening,
    OpeningsSignal,
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
    signals: int = 0
    linger_s: float = 0.2  # a storm is counted in minutes; fewer signals to the busy guard
    max_batch: int = 500
    _pending: list[tuple[Opening, asyncio.Future[None]]] = field(default_factory=list)
    _runner: asyncio.Task[None] | None = None

    @classmethod
    def from_settings(cls, task_queue: str, settings: Settings) -> StormReporter:
        return cls(
            task_queue,
            StormThresholds(incidents=settings.storm_incidents, window_s=settings.storm_window_s),
        )

    async def opened(
        self, client: Client, workflow_id: str, run_id: str, playbook: str, alert: Alert
    ) -> None:
        """Report one new incident to the fleet guard (starting it if need be), with the
        others opened within `linger_s`; returns once reported or given up on."""
        await asyncio.shield(self.report(client, workflow_id, run_id, playbook, alert))

    def report(
        self, client: Client, workflow_id: str, run_id: str, playbook: str, alert: Alert
    ) -> asyncio.Future[None]:
        """As `opened`, without waiting: the bridge answers Alertmanager at once (the
        incident has started; its report is best effort, see the module doc). The
        future is done once the batch it went in was sent or given up on."""
        opening = Opening(
            incident_id=workflow_id,
            run_id=run_id,
            alertname=alert.alertname,
            service=alert.service,
            playbook=playbook,
            at=datetime.now(UTC),
        )
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        self._pending.append((opening, done))
        if self._runner is None or self._runner.done() or self._runner.get_loop() is not loop:
            self._runner = loop.create_task(self._run(client))
        return done

    async def _run(self, client: Client) -> None:
        # No await between the last check and the end: a later opening starts a new run.
        while self._pending:
            await asyncio.sleep(self.linger_s)
            batch = self._pending[: self.max_batch]
            del self._pending[: self.max_batch]
            try:
                await self._send(client, [o for o, _ in batch])
            finally:
                for _, done in batch:
                    if not done.done():
                        done.set_result(None)

    async def _send(self, client: Client, openings: list[Opening]) -> None:
        wid = fleet_guard_id(self.task_queue)
        try:
            await client.start_workflow(
                "FleetGuard",
                FleetInput(thresholds=self.thresholds),
                id=wid,
                task_queue=self.task_queue,
                start_signal="openings",
                start_signal_args=[OpeningsSignal(openings=openings, thresholds=self.thresholds)],
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                rpc_timeout=REPORT_TIMEOUT,
            )
        except Exception as err:  # noqa: BLE001 -- see module doc: never fails the alert
            self.failed += len(openings)
            names = ", ".join(o.incident_id for o in openings[:5])
            more = f" (+{len(openings) - 5})" if len(openings) > 5 else ""
            log.warning("openings of %s%s not reported to %s: %s", names, more, wid, err)
            return
        self.signals += 1
        self.reported += len(openings)

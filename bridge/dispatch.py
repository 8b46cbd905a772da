"""Apply the alerts of one webhook to Temporal: start, join, or resolve incidents.

Per alert (alerts of one incident in payload order, incidents concurrently):

* firing, already signalled for this episode (cache)  -> nothing, 0 round trips
* firing, incident known open (cache)                 -> signal-with-start, 1 round trip
* firing, otherwise (new incident, restart, expiry)   -> describe + signal-with-start, 2
* resolved                                            -> signal `alert_resolved`, 1; never a start

Flap guard. `flapping` is part of the workflow *input*, so it must be decided before the
signal-with-start, which only uses the input if it starts a new run. Deciding after
(e.g. from the response's run id) would need a way to tell an already running playbook
"you are flapping" that the workflows do not have. So on a cache miss the bridge
describes the incident id first: the latest run's close time against the new alert's
startsAt says whether the alert re-fired within the cool-down (startsAt, not the bridge's
clock: a notification retried or delayed by Alertmanager still counts from when the
alert fired, and an alert that never stopped firing while its incident closed is the
clearest flap of all). The describe costs about as much as the signal-with-start itself
(~2.5 ms vs ~3.7 ms median on a local dev server) and is paid once per incident and per
cache TTL, never on Alertmanager's repeats.

When the incident is believed open (the describe said running, or the cache holds a run
confirmed open less than TTL ago, and the app caps TTL at the cool-down), the input says
flapping=True: it is only used if that run has closed in between, which was then less
than the cool-down ago -- by definition a flap. Everything else about the input is
ignored by Temporal when the run is still open, so this costs nothing.

New-incident caps. One webhook can name thousands of distinct alertnames (a broken rule,
a hostile sender): each would start a workflow. So a *new* incident -- a firing alert
whose id has no open run -- needs a slot: at most `per_request` per webhook and
`per_minute` per bridge process (a sliding minute, `NewIncidentWindow`). An alert over a
cap is not dropped: its outcome is "deferred", the webhook is answered 503 with
Retry-After (Alertmanager retries 5xx; the alerts that did land are deduplicated on the
retry), it is counted in `remedy_bridge_alerts_deferred_total{cap}` and the first one
in each minute is logged. Alerts for open incidents and resolutions never need a slot.
The fleet-wide storm breaker reads this process's recent starts and deferrals through
`Dispatcher.new_incidents_in_window()`.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.service import RPCError, RPCStatusCode

from bridge.cache import IncidentCache
from bridge.metrics import BridgeMetrics
from bridge.models import WebhookAlert
from bridge.routing import Route, Router, to_alert, ui_summary
from bridge.storm import StormReporter
from bridge.temporal_link import TemporalLink, describe_error, is_transient
from workflows.models import Alert, IncidentInput

log = logging.getLogger("remedy.bridge")

Action = Literal[
    "started",
    "signalled",
    "deduplicated",
    "resolved",
    "resolved_no_incident",
    "failed",
    "deferred",  # a new incident over a cap: not started, the webhook is answered 503
]
Cap = Literal["request", "minute"]
# Groups (incidents) of one webhook applied at once: a webhook naming thousands of
# incidents must not put thousands of RPCs in flight (each would then time out).
GROUP_CONCURRENCY = 64
# The reason a new run gets if the run believed open closed just before the alert.
_JUST_CLOSED = "; flapping: the previous incident closed moments before this alert"


@dataclass
class Outcome:
    index: int
    alertname: str
    fingerprint: str
    status: str
    incident: str
    playbook: str
    action: Action
    flapping: bool = False
    error: str | None = None
    transient: bool = False
    deferred_by: Cap | None = None

    @property
    def applied(self) -> bool:
        return self.action not in ("failed", "deferred")

    def as_json(self) -> dict[str, object]:
        # vars(), not dataclasses.asdict: every field is a scalar, and asdict's recursive
        # copy was ~12 % of the bridge's CPU in an alert storm (docs/benchmarks.md).
        return {
            k: v
            for k, v in vars(self).items()
            if v is not None and k not in ("transient", "deferred_by")
        }


class NewIncidentWindow:
    """New incidents started (and deferred) by this process over the last minute, in
    one-second buckets; admits a start while fewer than `per_minute` (0: no cap) are in
    the window. Single-threaded: used from the app's event loop only."""

    WINDOW_S = 60

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute
        self._clock = clock
        self._buckets: deque[list[int]] = deque()  # [second, started, deferred]
        self._logged_at: float | None = None

    def _now(self) -> int:
        now = int(self._clock())
        while self._buckets and self._buckets[0][0] <= now - self.WINDOW_S:
            self._buckets.popleft()
        return now

    def _bucket(self) -> list[int]:
        now = self._now()
        if not self._buckets or self._buckets[-1][0] != now:
            self._buckets.append([now, 0, 0])
        return self._buckets[-1]

    def _sum(self, column: int, window_s: float) -> int:
        now = self._now()
        return sum(b[column] for b in self._buckets if b[0] > now - window_s)

    def started_in_window(self, window_s: float = WINDOW_S) -> int:
        """New incidents started in the last `window_s` seconds (at most 60)."""
        return self._sum(1, window_s)

    def deferred_in_window(self, window_s: float = WINDOW_S) -> int:
        """Alerts for new incidents deferred by a cap in the last `window_s` s (<= 60)."""
        return self._sum(2, window_s)

    def admit(self) -> bool:
        """Take a slot for a new incident now, if the minute has one."""
        if self.per_minute > 0 and self.started_in_window() >= self.per_minute:
            return False
        self._bucket()[1] += 1
        return True

    def refund(self) -> None:
        """Give back the latest slot: the start it was taken for did not happen."""
        for b in reversed(self._buckets):
            if b[1] > 0:
                b[1] -= 1
                return

    def deferred(self) -> bool:
        """Count one deferral; True if it is the first in the last minute (log it)."""
        self._bucket()[2] += 1
        now = self._clock()
        if self._logged_at is None or now - self._logged_at >= self.WINDOW_S:
            self._logged_at = now
            return True
        return False

    def retry_after(self) -> int:
        """Seconds until the minute has a free slot again (at least 1)."""
        now = self._now()
        if self.per_minute <= 0 or self.started_in_window() < self.per_minute:
            return 1
        oldest = next((b[0] for b in self._buckets if b[1] > 0), now)
        return max(1, oldest + self.WINDOW_S - now)


class _RequestBudget:
    """The new-incident slots left to one webhook (None: no per-request cap)."""

    def __init__(self, limit: int) -> None:
        self.left: int | None = limit if limit > 0 else None

    def available(self) -> bool:
        return self.left is None or self.left > 0

    def take(self) -> None:
        if self.left is not None:
            self.left -= 1


class Dispatcher:
    def __init__(
        self,
        link: TemporalLink,
        router: Router,
        cache: IncidentCache,
        metrics: BridgeMetrics,
        *,
        task_queue: str,
        flap_cooldown_s: float,
        max_new_per_request: int = 0,
        max_new_per_minute: int = 0,
        storm: StormReporter | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.link = link
        self.router = router
        self.cache = cache
        self.metrics = metrics
        self.task_queue = task_queue
        self.cooldown_s = flap_cooldown_s
        self.max_new_per_request = max_new_per_request
        self.new_incidents = NewIncidentWindow(max_new_per_minute, clock)
        # Openings -> the fleet guard (storm breaker); thresholds from the app's settings.
        self.storm = storm or StormReporter(task_queue)
        # One lock per open incident id: concurrent webhooks for one incident apply in
        # arrival order (a resolution never overtakes the firing it resolves). Weak
        # values: a lock disappears when no request holds it.
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    def _lock(self, workflow_id: str) -> asyncio.Lock:
        lock = self._locks.get(workflow_id)
        if lock is None:
            lock = self._locks[workflow_id] = asyncio.Lock()
        return lock

    def new_incidents_in_window(self, window_s: float = 60.0) -> tuple[int, int]:
        """(new incidents started, alerts for new incidents deferred by a cap) by this
        bridge process in the last `window_s` seconds (at most 60). The hook for the
        storm breaker: a sudden rise in either is a storm of new incidents."""
        w = self.new_incidents
        return w.started_in_window(window_s), w.deferred_in_window(window_s)

    async def apply(self, alerts: list[WebhookAlert]) -> list[Outcome]:
        budget = _RequestBudget(self.max_new_per_request)
        by_incident: dict[str, list[tuple[int, WebhookAlert, Route]]] = defaultdict(list)
        for i, a in enumerate(alerts):
            route = self.router.route(a.labels)
            self.metrics.alerts_received.labels(a.status, route.playbook).inc()
            by_incident[route.workflow_id].append((i, a, route))
        out: list[Outcome] = []
        pending: list[list[tuple[int, WebhookAlert, Route]]] = []
        for items in by_incident.values():
            repeats = self._repeats(items)
            if repeats is None:
                pending.append(items)
            else:
                out += repeats
        if pending:
            slots = asyncio.Semaphore(GROUP_CONCURRENCY)

            async def bounded(g: list[tuple[int, WebhookAlert, Route]]) -> list[Outcome]:
                async with slots:
                    return await self._apply_group(g, budget)

            groups = await asyncio.gather(*(bounded(g) for g in pending))
            out += (o for g in groups for o in g)
        return sorted(out, key=lambda o: o.index)

    def _repeats(self, items: list[tuple[int, WebhookAlert, Route]]) -> list[Outcome] | None:
        """The outcomes if every alert of this incident is a repeat the cache answers
        (what `_apply_group` would return without awaiting anything), else None.

        An alert storm is mostly such repeats; answering them inline skips a task, the
        lock and an Alert model per alert (task creation alone was ~7 % of the bridge's
        CPU, docs/benchmarks.md). Only when the incident's lock is free: otherwise an
        earlier request for it is in flight and order is kept by waiting for it."""
        wid = items[0][2].workflow_id
        lock = self._locks.get(wid)
        if lock is not None and lock.locked():
            return None
        for _, a, _ in items:
            if a.status != "firing" or not self.cache.seen(wid, a.identity, a.starts_at):
                return None
        self.metrics.deduplicated.inc(len(items))
        return [
            Outcome(i, route.alertname, a.identity, a.status, wid, route.playbook, "deduplicated")
            for i, a, route in items
        ]

    async def _apply_group(
        self, items: list[tuple[int, WebhookAlert, Route]], budget: _RequestBudget
    ) -> list[Outcome]:
        out: list[Outcome] = []
        async with self._lock(items[0][2].workflow_id):
            for i, a, route in items:
                base = Outcome(
                    i,
                    route.alertname,
                    a.identity,
                    a.status,
                    route.workflow_id,
                    route.playbook,
                    "failed",
                )
                if out and not out[-1].applied:
                    # Keep per-incident order: after a failure, a later alert (say the
                    # resolution) must not land before the earlier one is retried.
                    base.error, base.transient = "not attempted: an earlier alert failed", True
                    out.append(base)
                    continue
                try:
                    async with asyncio.timeout(self.link.timeout_s):
                        out.append(await self._apply_one(base, a, route, budget))
                except Exception as err:  # noqa: BLE001 -- reported per alert, never lost
                    # Unknown whether it landed: forget the incident so the retry re-asks.
                    self.cache.drop(route.workflow_id)
                    base.error = describe_error(err, self.link.timeout_s)
                    base.transient = is_transient(err)
                    log.warning("alert %s for %s not applied: %s", i, route.workflow_id, base.error)
                    out.append(base)
        return out

    async def _apply_one(
        self, base: Outcome, a: WebhookAlert, route: Route, budget: _RequestBudget
    ) -> Outcome:
        alert = to_alert(a, route)
        if a.status == "resolved":
            return await self._resolve(base, alert, route)
        if self.cache.seen(route.workflow_id, alert.fingerprint, a.starts_at):
            self.metrics.deduplicated.inc()
            base.action = "deduplicated"
            return base
        return await self._fire(base, alert, a, route, budget)

    async def _resolve(self, base: Outcome, alert: Alert, route: Route) -> Outcome:
        self.cache.drop(route.workflow_id)
        client = await self.link.get()
        # No run id: the latest run, which is the open incident if there is one.
        handle = client.get_workflow_handle(route.workflow_id)
        self.metrics.temporal_calls.labels("signal").inc()
        try:
            await handle.signal("alert_resolved", alert, rpc_timeout=self.rpc_timeout)
        except RPCError as err:
            if err.status != RPCStatusCode.NOT_FOUND:
                raise
            # Never started, or already closed: a resolution starts nothing.
            self.metrics.resolved_without_incident.inc()
            base.action = "resolved_no_incident"
            return base
        self.metrics.signals_sent.labels("alert_resolved").inc()
        base.action = "resolved"
        return base

    async def _fire(
        self, base: Outcome, alert: Alert, a: WebhookAlert, route: Route, budget: _RequestBudget
    ) -> Outcome:
        client = await self.link.get()
        reason = route.reason
        open_run = self.cache.open_run(route.workflow_id)
        flapping, why = self.cooldown_s > 0, _JUST_CLOSED  # believed open: see module doc
        if open_run is None:
            open_run, flapping, why = await self._previous_run(client, route.workflow_id, a)
        if open_run is None:
            # No open run: this call would start a new incident, which takes a slot.
            cap = self._admit(budget)
            if cap is not None:
                return self._defer(base, cap)
        if flapping:
            reason += why
        try:
            return await self._start(base, alert, a, route, reason, open_run, flapping)
        except BaseException:
            if open_run is None:
                self.new_incidents.refund()  # uncertain or failed: the retry asks again
            raise

    def _admit(self, budget: _RequestBudget) -> Cap | None:
        """None if a new incident may start now, else the cap that stops it."""
        if not budget.available():
            return "request"
        if not self.new_incidents.admit():
            return "minute"
        budget.take()
        return None

    def _defer(self, base: Outcome, cap: Cap) -> Outcome:
        self.metrics.deferred.labels(cap).inc()
        limit = (
            f"{self.max_new_per_request} per webhook"
            if cap == "request"
            else f"{self.new_incidents.per_minute} per minute"
        )
        if self.new_incidents.deferred():
            log.warning(
                "new-incident cap reached (%s): alerts for new incidents are answered 503 "
                "until it frees; counted in remedy_bridge_alerts_deferred_total, logged "
                "at most once a minute",
                limit,
            )
        base.action, base.transient, base.deferred_by = "deferred", True, cap
        base.error = f"new-incident cap reached ({limit}); retry later"
        return base

    async def _start(
        self,
        base: Outcome,
        alert: Alert,
        a: WebhookAlert,
        route: Route,
        reason: str,
        open_run: str | None,
        flapping: bool,
    ) -> Outcome:
        client = await self.link.get()
        self.metrics.temporal_calls.labels("signal_with_start").inc()
        summary, details = ui_summary(alert, route, flapping)
        handle = await client.start_workflow(
            route.playbook,
            IncidentInput(alert=alert, flapping=flapping, route_reason=reason),
            id=route.workflow_id,
            task_queue=self.task_queue,
            # What the Temporal UI shows for the incident (only used when this starts it).
            static_summary=summary,
            static_details=details,
            start_signal="alert_fired",
            start_signal_args=[alert],
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            # A closed incident's id is reused for the next one: the flap guard decides
            # how that one behaves, not a refusal to start it.
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
            rpc_timeout=self.rpc_timeout,
        )
        run_id = handle.result_run_id or ""
        self.metrics.signals_sent.labels("alert_fired").inc()
        self.cache.confirm(route.workflow_id, run_id, alert.fingerprint, a.starts_at)
        if run_id == open_run:
            base.action = "signalled"
            return base
        # A run other than the one believed open: this call started it with our input.
        self.metrics.incidents_started.labels(route.playbook, str(flapping).lower()).inc()
        log.info(
            "started %s (%s) run %s%s",
            route.workflow_id,
            route.playbook,
            run_id,
            " in flapping mode" if flapping else "",
        )
        # Not awaited: a busy guard must not hold Alertmanager's answer (bridge/storm.py).
        self.storm.report(client, route.workflow_id, run_id, route.playbook, alert)
        base.action, base.flapping = "started", flapping
        return base

    async def _previous_run(
        self, client: Client, workflow_id: str, a: WebhookAlert
    ) -> tuple[str | None, bool, str]:
        """(open run id, flapping, reason suffix) from the latest run of this incident id."""
        self.metrics.temporal_calls.labels("describe").inc()
        try:
            desc = await client.get_workflow_handle(workflow_id).describe(
                rpc_timeout=self.rpc_timeout
            )
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                return None, False, ""
            raise
        if desc.status == WorkflowExecutionStatus.RUNNING:
            return desc.run_id, self.cooldown_s > 0, _JUST_CLOSED
        if desc.close_time is None or self.cooldown_s <= 0:
            return None, False, ""
        since = (a.starts_at - desc.close_time).total_seconds()
        if since >= self.cooldown_s:
            return None, False, ""
        when = f"{since:.0f} s after" if since >= 0 else "while it was still firing when"
        return (
            None,
            True,
            (
                f"; flapping: re-fired {when} the previous incident (run {desc.run_id}) closed, "
                f"within the {self.cooldown_s:.0f} s cool-down"
            ),
        )

    @property
    def rpc_timeout(self) -> timedelta:
        return timedelta(seconds=self.link.timeout_s)

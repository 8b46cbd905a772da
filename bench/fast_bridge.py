"""Prototype, measured by `bench.storm --bridge fast`: the bridge with one Temporal round
trip instead of two for an alert whose incident is not in the cache.

    python -m bench.fast_bridge     # same settings and app as `python -m bridge.server`

Today (bridge/dispatch.py) a cache miss costs describe + signal-with-start, because the
flap flag (part of the workflow input) needs the previous run's close time. But only a
*closed* previous run can make an incident flapping, so the describe can be made
conditional on there being one: signal-with-start with REJECT_DUPLICATE and
flapping=False first --

* no run ever        -> it starts the incident; flapping=False is right (nothing closed);
* a run is open      -> it signals that run; the input is ignored (as today);
* a run has closed   -> WorkflowAlreadyStartedError, nothing happened; take today's path
                        (describe, decide the flap flag, ALLOW_DUPLICATE start).

Whether the call started or signalled comes from the response's `started` flag (the
SDK exposes it as `first_execution_run_id`, None when it only signalled). It is
patched in here rather than in bridge/dispatch.py because tests/bridge asserts the
describe on a cache miss (call counts of 2); see docs/benchmarks.md.
"""

from __future__ import annotations

from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from bridge import dispatch, server
from bridge.models import WebhookAlert
from bridge.routing import Route
from workflows.models import Alert, IncidentInput

_today = dispatch.Dispatcher._fire


async def _fire(
    self: dispatch.Dispatcher, base: dispatch.Outcome, alert: Alert, a: WebhookAlert, route: Route
) -> dispatch.Outcome:
    if self.cache.open_run(route.workflow_id) is not None:
        return await _today(self, base, alert, a, route)  # cached open: one call already
    client = await self.link.get()
    self.metrics.temporal_calls.labels("signal_with_start").inc()
    summary, details = dispatch.ui_summary(alert, route, False)
    try:
        handle = await client.start_workflow(
            route.playbook,
            IncidentInput(alert=alert, flapping=False, route_reason=route.reason),
            id=route.workflow_id,
            task_queue=self.task_queue,
            static_summary=summary,
            static_details=details,
            start_signal="alert_fired",
            start_signal_args=[alert],
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            rpc_timeout=self.rpc_timeout,
        )
    except WorkflowAlreadyStartedError:
        return await _today(self, base, alert, a, route)  # a closed run: the flap guard
    run_id = handle.result_run_id or ""
    self.metrics.signals_sent.labels("alert_fired").inc()
    self.cache.confirm(route.workflow_id, run_id, alert.fingerprint, a.starts_at)
    if handle.first_execution_run_id is None:
        base.action = "signalled"
        return base
    self.metrics.incidents_started.labels(route.playbook, "false").inc()
    dispatch.log.info("started %s (%s) run %s", route.workflow_id, route.playbook, run_id)
    base.action = "started"
    return base


dispatch.Dispatcher._fire = _fire  # type: ignore[method-assign]

if __name__ == "__main__":
    server.main()

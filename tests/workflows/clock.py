"""Workflow time for the fakes of *local* activities.

The fakes stamp each call with `activity.info().current_attempt_scheduled_time`: for an
activity scheduled through the server that is the (time-skipping) server's time, the
workflow's own clock. A local activity (workflows/policies.py `local=True`, runs under
LEAN_HISTORY) is scheduled by the worker, and its info carries the wall clock -- on the
time-skipping server, minutes or hours behind the workflow. This interceptor carries
`workflow.now()` to the activity in a header; `now()` gives it to the fakes (World.log).

It is installed on the time-skipping environment's client (tests/conftest.py,
tests/histories/record.py): every Worker built on that client takes it.
"""

from __future__ import annotations

from contextvars import ContextVar
from datetime import datetime
from typing import Any

import temporalio.client
import temporalio.worker
from temporalio import activity, workflow
from temporalio.converter import default

HEADER = "remedy-test-workflow-now"
_NOW: ContextVar[datetime | None] = ContextVar("remedy_test_workflow_now", default=None)


def now() -> datetime:
    """The workflow time at which the running activity was scheduled."""
    info = activity.info()
    if info.is_local:
        at = _NOW.get()
        if at is not None:
            return at
    return info.current_attempt_scheduled_time


class _Outbound(temporalio.worker.WorkflowOutboundInterceptor):
    def start_local_activity(
        self, input: temporalio.worker.StartLocalActivityInput
    ) -> workflow.ActivityHandle[Any]:
        stamp = default().payload_converter.to_payload(workflow.now().isoformat())
        input.headers = {**input.headers, HEADER: stamp}
        return super().start_local_activity(input)


class _WorkflowInbound(temporalio.worker.WorkflowInboundInterceptor):
    def init(self, outbound: temporalio.worker.WorkflowOutboundInterceptor) -> None:
        super().init(_Outbound(outbound))


class _ActivityInbound(temporalio.worker.ActivityInboundInterceptor):
    async def execute_activity(self, input: temporalio.worker.ExecuteActivityInput) -> Any:
        stamp = input.headers.get(HEADER)
        at = (
            datetime.fromisoformat(default().payload_converter.from_payload(stamp, str))
            if stamp is not None
            else None
        )
        token = _NOW.set(at)
        try:
            return await super().execute_activity(input)
        finally:
            _NOW.reset(token)


class WorkflowClock(temporalio.client.Interceptor, temporalio.worker.Interceptor):
    def intercept_activity(
        self, next: temporalio.worker.ActivityInboundInterceptor
    ) -> temporalio.worker.ActivityInboundInterceptor:
        return _ActivityInbound(next)

    def workflow_interceptor_class(
        self, input: temporalio.worker.WorkflowInterceptorClassInput
    ) -> type[temporalio.worker.WorkflowInboundInterceptor]:
        return _WorkflowInbound

"""Earlier incidents of the same alert on the same service, from Temporal visibility.

The incident id (workflow id) is reused by every incident of its alert on its service,
one *run* each, so "the earlier incidents" are the closed runs of this workflow id:
one visibility query, then the results of the newest few (outcome and action, from
the PlaybookResult each run returned). Uses the worker's own client
(`activity.client()`), so it needs no configuration and decodes with the worker's
converter and codec.

Visibility, not a local file: every worker and every bridge sees the same answer, and
it survives the worker's disk. A server that cannot list (the time-skipping test
server) answers `available=False`: recurrence is information, never a reason to fail.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from temporalio import activity
from temporalio.client import Client, WorkflowExecution, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from activities.errors import app_error
from remedy.temporal import visibility_literal
from workflows.contracts.records import (
    EARLIER_INCIDENTS,
    EarlierIncident,
    EarlierIncidentsInput,
    EarlierIncidentsResult,
)
from workflows.models import PlaybookResult

# A chronic alert can have hundreds of runs in 14 days: counted up to here, then "N+".
MAX_COUNTED = 1000
_NO_LIST = (RPCStatusCode.UNIMPLEMENTED, RPCStatusCode.INVALID_ARGUMENT)


def query(incident_id: str, since: datetime) -> str:
    return (
        f"WorkflowId = {visibility_literal(incident_id)} AND ExecutionStatus != 'Running' "
        f"AND StartTime > '{since.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}'"
    )


async def earlier_runs(
    client: Client, inp: EarlierIncidentsInput, now: datetime | None = None
) -> EarlierIncidentsResult:
    since = (now or datetime.now(UTC)) - timedelta(days=inp.window_days)
    try:
        runs = [
            wf
            async for wf in client.list_workflows(query(inp.incident_id, since), limit=MAX_COUNTED)
            if wf.run_id != inp.run_id
        ]
    except RPCError as err:
        if err.status in _NO_LIST:
            return EarlierIncidentsResult(
                available=False, detail=f"this Temporal server cannot list runs: {err.message}"
            )
        raise app_error("VisibilityUnavailable", f"list runs of {inp.incident_id}: {err}") from err
    runs.sort(key=lambda wf: wf.start_time, reverse=True)
    listed = await asyncio.gather(*(describe_run(client, wf) for wf in runs[: inp.limit]))
    return EarlierIncidentsResult(
        available=True,
        total=len(runs),
        incidents=list(listed),
        detail=f"{len(runs)}{'+' if len(runs) >= MAX_COUNTED else ''} in {inp.window_days:g} d",
    )


async def describe_run(
    client: Client, wf: WorkflowExecution, with_outcome: bool = True
) -> EarlierIncident:
    """One run as visibility lists it; with its outcome and action read from its result
    when it completed (one history read each: callers bound how many)."""
    e = EarlierIncident(
        run_id=wf.run_id or "",
        started_at=wf.start_time,
        closed_at=wf.close_time,
        status=wf.status.name if wf.status else "UNKNOWN",
    )
    if not with_outcome or wf.status != WorkflowExecutionStatus.COMPLETED:
        return e
    try:
        handle = client.get_workflow_handle(wf.id, run_id=wf.run_id, result_type=PlaybookResult)
        res = await handle.result(follow_runs=False)
    except Exception:  # noqa: BLE001 -- an unreadable old result is only less detail
        return e
    return e.model_copy(update={"outcome": res.outcome, "action": res.action})


class IncidentHistoryActivities:
    @activity.defn(name=EARLIER_INCIDENTS.name)
    async def earlier_incidents(self, inp: EarlierIncidentsInput) -> EarlierIncidentsResult:
        return await earlier_runs(activity.client(), inp)

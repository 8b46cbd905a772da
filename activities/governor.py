"""Asking for an automated action's permit: first the fleet guard (workflows/fleet.py:
held during an incident storm, or past the fleet-wide budget), then, for restarts and
rollbacks, the service's governor (workflows/governor.py).

An activity because workflow code cannot start or update a workflow that is not its
child. It uses the worker's own Temporal client (`activity.client()`), so it needs no
configuration beyond the fleet budget: both workflows run on the task queue of the
incident asking.

The fleet is asked first: an action held by a storm must not use up the service's
permit while it waits. A fleet grant the service's governor then refuses stays counted
(the over-limit approval asks again with the same key, which the fleet answers "already
granted"): the budget errs towards fewer automated actions.
"""

from __future__ import annotations

from temporalio import activity
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.exceptions import WorkflowAlreadyStartedError

from activities.errors import app_error
from workflows.contracts.safety import (
    GOVERNOR_PERMIT,
    FleetInput,
    FleetPermitRequest,
    GovernorInput,
    PermitDecision,
    PermitRequest,
    fleet_guard_id,
)


def governor_id(service: str) -> str:
    return f"governor:{service}"


async def _update(
    client: Client, workflow: str, wid: str, start_arg: object, update: object
) -> PermitDecision:
    try:
        await client.start_workflow(
            workflow, start_arg, id=wid, task_queue=activity.info().task_queue
        )
    except WorkflowAlreadyStartedError:
        pass  # the usual case: it holds this hour's grants
    # No run id: after a continue-as-new the update goes to the current run. If the
    # workflow ended (idle) in between, the update fails and the retry starts it.
    try:
        return await client.get_workflow_handle(wid).execute_update(
            "permit", update, result_type=PermitDecision
        )
    except WorkflowUpdateFailedError as err:  # the validator refused: not retryable
        raise app_error("GovernorRefused", f"{wid}: {err.cause or err}") from err


class GovernorActivities:
    def __init__(self, fleet_actions_per_hour: int = 30) -> None:
        self.fleet_budget = fleet_actions_per_hour

    @activity.defn(name=GOVERNOR_PERMIT.name)
    async def permit(self, req: PermitRequest) -> PermitDecision:
        client = activity.client()
        fleet: PermitDecision | None = None
        if req.fleet:
            fleet = await _update(
                client,
                "FleetGuard",
                fleet_guard_id(activity.info().task_queue),
                FleetInput(),
                FleetPermitRequest(request=req, budget=self.fleet_budget),
            )
            if not fleet.granted or not req.service_governor:
                return fleet
        d = await _update(
            client, "Governor", governor_id(req.service), GovernorInput(service=req.service), req
        )
        if fleet is not None and "already" not in fleet.detail:
            d.detail += f"; {fleet.detail}"
        return d

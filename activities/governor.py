"""Asking a service's governor (workflows/governor.py) for a restart/rollback permit.

An activity because workflow code cannot start or update a workflow that is not its
child. It uses the worker's own Temporal client (`activity.client()`), so it needs no
configuration: the governor runs on the task queue of the incident asking.
"""

from __future__ import annotations

from temporalio import activity
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import WorkflowAlreadyStartedError

from activities.errors import app_error
from workflows.contracts.safety import GOVERNOR_PERMIT, GovernorInput, PermitDecision, PermitRequest


def governor_id(service: str) -> str:
    return f"governor:{service}"


class GovernorActivities:
    @activity.defn(name=GOVERNOR_PERMIT.name)
    async def permit(self, req: PermitRequest) -> PermitDecision:
        client = activity.client()
        wid = governor_id(req.service)
        try:
            await client.start_workflow(
                "Governor",
                GovernorInput(service=req.service),
                id=wid,
                task_queue=activity.info().task_queue,
            )
        except WorkflowAlreadyStartedError:
            pass  # the usual case: it holds this hour's grants
        # No run id: after a continue-as-new the update goes to the current run. If the
        # governor ended (idle) in between, the update fails and the retry starts it.
        try:
            return await client.get_workflow_handle(wid).execute_update(
                "permit", req, result_type=PermitDecision
            )
        except WorkflowUpdateFailedError as err:  # the validator refused: not retryable
            raise app_error("GovernorRefused", f"{wid}: {err.cause or err}") from err

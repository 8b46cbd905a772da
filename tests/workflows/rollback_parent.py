"""A stand-in incident for running the Rollback procedure alone in tests and in the
history recorder: Rollback runs only as a child (workflows/steps/rollback.py), so
something must be its parent. Does nothing but start it and return its result."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows.models import RollbackInput, RollbackResult
    from workflows.steps.rollback import Rollback


@workflow.defn(name="RollbackParent", sandboxed=False)
class RollbackParent:
    @workflow.run
    async def run(self, inp: RollbackInput) -> RollbackResult:
        return await workflow.execute_child_workflow(
            Rollback.run, inp, id=f"rollback:{workflow.info().workflow_id}:1"
        )

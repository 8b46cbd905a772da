"""A minimal incident that only runs the sustained-improvement step, so the step is
tested on its own at its real 10-minute duration."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows.contracts.policy import Sli
    from workflows.incident import Incident
    from workflows.models import IncidentInput, VerifyResult
    from workflows.steps.verify import sustained


@workflow.defn(name="VerifyHarness")
class VerifyHarness(Incident):
    playbook = "VerifyHarness"

    @workflow.run
    async def run(self, inp: IncidentInput) -> VerifyResult:
        policy = await self.detect(inp)
        sli: Sli = policy.slis["error_rate"]
        return await sustained(self, sli, policy.waits.verify_window, policy.waits.verify_interval)

"""The Genesis rollback procedure (scripts/rollback_deployment.sh) as a child workflow.

A child workflow rather than inline steps so that the rollback has its own history,
its own id in the UI (`rollback:<incident>:<n>`), and can be run on its own by a human
(`Rollback` is in the registry). Every step is keyed for idempotency with the child's
run (Steps.run_key), so a worker crash mid-rollback never repeats a step that already
ran, and the next incident's rollback is not mistaken for this one.
"""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import ApplicationError, ChildWorkflowError
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from workflows.contracts.policy import SERVICE_POLICY, ServicePolicyInput
    from workflows.contracts.service import (
        SERVICE_RUN,
        CommandKind,
        ServiceCommandInput,
    )
    from workflows.incident import Incident, Steps, patched
    from workflows.models import Phase, RollbackInput, RollbackResult
    from workflows.policies import DIAGNOSTIC, ROLLBACK_WORKFLOW_TIMEOUT, SIDE_EFFECT
    from workflows.steps import safety

# workflow.patched id: a Rollback started by hand (no parent incident) is refused. Runs
# started by hand before it ran the procedure and keep replaying so.
ROLLBACK_CHILD_ONLY = "rollback-child-only"

# (step name, command) in the order of rollback_deployment.sh; `set -euo pipefail`
# there means the first failing step stops the procedure -- same here.
PROCEDURE: list[tuple[str, CommandKind]] = [
    ("stop service", CommandKind.STOP),
    ("fetch stable ref", CommandKind.ROLLBACK_FETCH),
    ("reset to stable ref", CommandKind.ROLLBACK_RESET),
    ("clean working tree", CommandKind.ROLLBACK_CLEAN),
    ("restore configuration", CommandKind.ROLLBACK_RESTORE_CONFIG),
    ("start service", CommandKind.START),
]


@workflow.defn(name="Rollback")
class Rollback(Steps):
    """Genesis "Rollback Procedure": stop, reset to the stable ref, clean, restore the
    config backup, start, verify active after 10 s, run the health check."""

    @workflow.run
    async def run(self, inp: RollbackInput) -> RollbackResult:
        self.phase = Phase.RESPONSE
        if workflow.info().parent is None and patched(ROLLBACK_CHILD_ONLY):
            # Started by hand (`temporal workflow start --type Rollback`), it would skip
            # the incident's approvals and the blast-radius governor: refused, nothing run.
            raise ApplicationError(
                f"Rollback of {inp.service!r} refused: it runs only as the child of an "
                "incident, whose safety policy (approvals, governor) clears it first. Fire "
                "the incident's alert, or `remedy fire` it, instead.",
                type="RollbackNotAllowed",
                non_retryable=True,
            )
        # This child's own run keys its steps (Steps.run_key): a new rollback of the
        # next incident -- even under the same child id -- runs every step again.
        self.run_key  # noqa: B018  (pinned before the first step)
        self.record("rollback started", "info", inp.reason)
        policy = await self.act(
            "load service policy",
            SERVICE_POLICY,
            ServicePolicyInput(service=inp.service),
        )
        for step, command in PROCEDURE:
            if not await self._run(inp, step, command, keyed=True):
                return self._result(inp, step)
        await self.sleep(policy.waits.after_rollback_start)
        if not await self._run(inp, "verify active", CommandKind.STATUS, keyed=False):
            return self._result(inp, "verify active")
        if policy.has_health_check and not await self._run(
            inp, "health check", CommandKind.HEALTH_CHECK, keyed=False
        ):
            return self._result(inp, "health check")
        self.record("rollback complete", "ok", "service restored to stable version")
        return self._result(inp, None)

    async def _run(self, inp: RollbackInput, step: str, command: CommandKind, keyed: bool) -> bool:
        key = f"{self.run_key}:{command.value}" if keyed else None
        res = await self.attempt(
            step,
            SERVICE_RUN,
            ServiceCommandInput(service=inp.service, command=command, idempotency_key=key),
            policy=SIDE_EFFECT if keyed else DIAGNOSTIC,
        )
        if res is None:
            return False
        if res.dry_run:
            self.record(step, "skipped", res.result.stdout)
            return True
        r = res.result
        detail = (r.stderr or r.stdout).strip()[-300:]
        self.record(
            step,
            "ok" if r.ok else "failed",
            f"exit {r.exit_status}{' (replayed)' if res.replayed else ''} {detail}".strip(),
        )
        return r.ok

    def _result(self, inp: RollbackInput, failed_step: str | None) -> RollbackResult:
        return RollbackResult(
            service=inp.service,
            succeeded=failed_step is None,
            failed_step=failed_step,
            timeline=self.timeline,
        )


async def rollback(inc: Incident, reason: str) -> RollbackResult:
    """Run the Rollback child for this incident and fold its steps into the timeline.
    Raises safety.NotApproved when the safety policy does not clear it."""
    n = sum(1 for e in inc.timeline if e.step == "rollback") + 1
    inc.record("rollback", "info", reason)
    await safety.clear(inc, "rollback", f"roll {inc.service} back: {reason}")
    try:
        res: RollbackResult = await workflow.execute_child_workflow(
            Rollback.run,
            RollbackInput(service=inc.service, incident_id=inc.incident_id, reason=reason),
            id=f"rollback:{inc.incident_id}:{n}",
            execution_timeout=ROLLBACK_WORKFLOW_TIMEOUT,
            # A rollback half done is worse than one finished: let it complete even if
            # the incident is terminated.
            parent_close_policy=ParentClosePolicy.ABANDON,
        )
    except ChildWorkflowError as err:
        inc.record("rollback", "failed", str(err.__cause__ or err))
        return RollbackResult(
            service=inc.service, succeeded=False, failed_step="child workflow", timeline=[]
        )
    inc.timeline.extend(e for e in res.timeline if e.step not in ("load service policy",))
    inc.record(
        "rollback",
        "ok" if res.succeeded else "failed",
        "stable version running" if res.succeeded else f"failed at: {res.failed_step}",
    )
    return res

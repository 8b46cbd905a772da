"""DeploymentFailure (Agent Lab playbook "Deployment Failure", P1)."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows.contracts.diagnostics import RECENT_COMMITS_DEPLOY
    from workflows.coverage import AGENT_LAB, asks, automated, declare, deviation
    from workflows.incident import patched
    from workflows.models import IncidentInput, Phase, PlaybookResult
    from workflows.playbook import Playbook
    from workflows.steps import agentlab_release as release
    from workflows.steps import notify, phases, recovery, safety
    from workflows.steps.resolution import close, escalate


# workflow.patched id: runs started before it neither read the failed deploy run nor
# disabled the deploy workflow.
STOP_BROKEN_DEPLOY = "stop-broken-deploy"


@workflow.defn(name="DeploymentFailure")
class DeploymentFailure(Playbook):
    """Agent Lab "Playbook: Deployment Failure".

    Investigation (5-20 min): startup logs (`journalctl -u agent-lab -n 50`), the import
    check (`python -c 'import app'`), `git log --oneline -5`; with a CI deploy workflow
    configured, its failed run through the GitHub API (`gh run view --log`: the failed
    jobs' log tails), the workflow file and that run's diff against its parent (`git
    diff HEAD~1..HEAD` of what was deployed). Containment (20-40 min): the deploy
    workflow disabled (`gh workflow disable deploy.yml`) before anything else, maintenance
    mode where configured, then roll back (CI workflow dispatch -- done when the
    dispatched run concluded `success` within Containment -- or the git Rollback child).
    Recovery (40-90 min): the health endpoint, then the smoke tests; maintenance mode
    off. A failed rollback, a service still unhealthy at the end of Recovery or failing
    smoke tests -> escalate (maintenance mode stays on for people).
    """

    playbook = "DeploymentFailure"
    clock = phases.agent_lab_release(lambda p: p.agent_lab.budgets.deployment_failure)

    @workflow.run
    @safety.escalates_when_refused  # a rollback not approved in time
    async def run(self, inp: IncidentInput) -> PlaybookResult:
        policy = await self.detect(inp)
        budgets = policy.agent_lab.budgets.deployment_failure
        await notify.status_update(
            self, "Active", "alert received", "startup logs, import check, roll back"
        )

        self.enter(Phase.ASSESSMENT)
        await release.deploy_check(self, "startup_logs")
        imports = await release.deploy_check(self, "import_check")
        if policy.release.has_source_repo:
            await release.recent_changes(self, RECENT_COMMITS_DEPLOY)
        ci_deploy = policy.release.has_ci_deploy_workflow and patched(STOP_BROKEN_DEPLOY)
        if ci_deploy:
            await release.deploy_evidence(self)

        self.enter(Phase.RESPONSE)
        if ci_deploy:
            # Stop Broken Deployment first: a push during the rollback must not redeploy.
            await release.disable_deploy(self)
        else:
            self.record(
                "disable deploy workflow",
                "info",
                "to do: stop the broken deployment (no `ci_rollback.deploy_workflow` configured)",
            )
        if not (policy.release.has_ci_rollback or policy.has_rollback):
            return await escalate(self, "deployment failed and no rollback is configured")
        in_maintenance = policy.agent_lab.has_maintenance and await release.maintenance(
            self, "enable"
        )
        note = " (maintenance mode left on)" if in_maintenance else ""
        why = "deployment failure" + (
            " (import check failed)" if imports and not imports.ok else ""
        )
        if not await release.roll_back(self, why, budgets[Phase.RESPONSE]):
            return await escalate(self, f"rollback failed{note}")

        self.enter(Phase.VERIFICATION)
        interval = policy.waits.health_retry_interval
        # Health URL and health-check script where configured, else the status command.
        if not await recovery.wait_healthy(self, budgets[Phase.VERIFICATION], interval):
            return await escalate(self, f"unhealthy after the rollback{note}")
        if policy.release.has_smoke_test:
            smoke = await release.deploy_check(self, "smoke_test")
            if smoke is None or not smoke.ok:
                return await escalate(self, f"smoke tests failing after the rollback{note}")
        if in_maintenance:
            await release.maintenance(self, "disable")
        return await close(self, "resolved", "rollback")


# Runbook coverage (remedy/coverage.py, `remedy coverage`): data only, never run.

_INV, _CON = "Investigation (5-20 minutes)", "Containment (20-40 minutes)"
_REC, _POST = "Recovery (40-90 minutes)", "Post-Incident Actions"
COVERAGE = declare(
    "DeploymentFailure",
    AGENT_LAB,
    "Playbook: Deployment Failure (P1)",
    [
        automated(
            _INV,
            "Deployment Log Analysis",
            "steps/agentlab_release.deploy_check('startup_logs'), deploy_evidence",
            "the service's startup logs; with `ci_rollback.deploy_workflow`, the failed run's "
            "job log tails (gh run view --log) and the workflow file, via the GitHub API",
        ),
        automated(
            _INV, "Error Identification", "steps/agentlab_release.deploy_check('import_check')"
        ),
        automated(
            _INV,
            "Change Analysis",
            "steps/agentlab_release.recent_changes (git log -5), deploy_evidence",
            "git diff HEAD~1..HEAD as the failed run's commit against its parent (GitHub API)",
        ),
        automated(
            _CON,
            "Stop Broken Deployment",
            "steps/agentlab_release.disable_deploy (PUT .../workflows/deploy.yml/disable)",
            "where `ci_rollback.deploy_workflow` is set; cleared as containment, dry-run aware",
        ),
        automated(
            _CON,
            "Rollback to Previous Version",
            "steps/agentlab_release.roll_back (CI dispatch or Rollback child)",
            "a CI rollback is done when its run concluded success within Containment",
        ),
        automated(
            _CON,
            "Temporary Mitigation",
            "steps/agentlab_release.maintenance('enable')",
            "where `agent_lab.maintenance` is configured",
        ),
        deviation(
            _CON,
            "Temporary Mitigation",
            "DeploymentFailure.run",
            "order: maintenance mode on before the rollback, not after",
        ),
        automated(
            _REC,
            "Validate Rollback",
            "steps/recovery.wait_healthy, deploy_check('smoke_test')",
        ),
        asks(
            _REC,
            "Fix Deployment Issues",
            "steps/resolution.escalate on failure",
            "on success the fix is left to the post-mortem (a person)",
        ),
        automated(
            _REC, "Gradual Traffic Restoration", "steps/agentlab_release.maintenance('disable')"
        ),
        # Post-Incident Actions: asked of people at close, declared in steps/followups.py.
    ],
)

"""AgentLabHighErrorRate (Agent Lab playbook "High Error Rate", P1)."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows.contracts.diagnostics import RECENT_COMMITS_ERRORS
    from workflows.coverage import AGENT_LAB, asks, automated, declare, deviation, not_applicable
    from workflows.incident import patched
    from workflows.models import IncidentInput, Phase, PlaybookResult
    from workflows.playbook import Playbook
    from workflows.steps import agentlab_release as release
    from workflows.steps import notify, phases, safety, sli_response, testsuite
    from workflows.steps.resolution import close, escalate


# workflow.patched id: runs started before it rolled back whenever the upstream answered,
# without asking whether a deployment was recent.
RECENT_DEPLOY_CHECK = "recent-deploy-check"


@workflow.defn(name="AgentLabHighErrorRate")
class AgentLabHighErrorRate(Playbook):
    """Agent Lab "Playbook: High Error Rate" (SLO: error rate < 1 %).

    Investigation (5-15 min): ERROR and Exception lines grouped and counted by type, five
    timed probes of the upstream API, `git log --oneline -10` with commit times.
    Containment (15-45 min): the upstream failing -> a rollback would not help: a human
    looks at rate limiting / the circuit breaker; otherwise, "if recent deployment caused
    issues": the newest commit on the host within `agent_lab.recent_deploy_window_s`
    (24 h) -> roll it back (CI workflow dispatch, done when its run concluded `success`
    within Containment, or the git Rollback child); no recent deployment, or none that
    can be seen -> no rollback: escalate with the evidence. Recovery (45-90 min): the
    error-rate SLI sustained below its threshold, then the integration tests. Not fallen
    by the end of Recovery, or tests failing -> escalate.
    """

    playbook = "AgentLabHighErrorRate"
    clock = phases.agent_lab_release(lambda p: p.agent_lab.budgets.high_error_rate)

    @workflow.run
    @safety.escalates_when_refused  # a rollback not approved in time
    async def run(self, inp: IncidentInput) -> PlaybookResult:
        policy = await self.detect(inp)
        budgets = policy.agent_lab.budgets.high_error_rate
        sli = policy.slis.get("error_rate")
        await notify.status_update(
            self, "Active", "alert received", "group errors, probe upstream, review changes"
        )

        self.enter(Phase.ASSESSMENT)
        groups = await release.error_groups(self)
        upstream = await release.upstream(self) if policy.release.has_upstream_probe else None
        changes = None
        if policy.release.has_source_repo:
            changes = await release.recent_changes(self, RECENT_COMMITS_ERRORS)
        if sli is None:
            return await escalate(self, "no error_rate SLI to validate a fix (fail safe)")

        self.enter(Phase.RESPONSE)
        if upstream is not None and not upstream.healthy:
            # The errors come from the upstream API: rolling our code back changes nothing.
            action = "none (upstream API failing)"
            await sli_response.ask_human(
                self,
                f"upstream API failing ({upstream.failing}/{len(upstream.samples)} probes): "
                "check rate limiting and the circuit breaker on its calls",
            )
        else:
            if patched(RECENT_DEPLOY_CHECK):
                recent, evidence = release.recent_deployment(self, changes)
                if not recent:
                    # Rolling back code that has run for days would not explain today's
                    # errors, and could undo good changes: a person looks.
                    top = "; ".join(
                        f"{g.count}x {g.message}" for g in (groups.groups if groups else [])[:3]
                    )
                    return await escalate(
                        self,
                        f"error rate over its SLO, upstream answering, {evidence}: not rolled "
                        f"back; top errors: {top or 'unknown'}",
                    )
            why = "error rate over its SLO, upstream answering: roll back the recent deployment"
            if not await release.roll_back(self, why, budgets[Phase.RESPONSE]):
                return await escalate(self, "rollback failed or none configured")
            action = "rollback"
        await notify.status_update(
            self,
            "Investigating",
            actions_taken=action,
            next_steps=f"validate the error rate < {sli.threshold:g}, run the integration tests",
        )

        self.enter(Phase.VERIFICATION)
        recovery_ends = budgets[Phase.VERIFICATION]
        if not await release.error_rate_fell(self, sli, recovery_ends):
            return await escalate(
                self,
                f"error rate not below {sli.threshold:g} by {recovery_ends} after detection",
            )
        tests = await testsuite.run(self, "integration tests")
        if not testsuite.all_passed(tests):
            summary = tests.summary if tests else "suite did not run"
            return await escalate(self, f"integration tests failing after recovery: {summary}")
        return await close(self, "resolved", action)


# Runbook coverage (remedy/coverage.py, `remedy coverage`): data only, never run.

_INV, _CON = "Investigation (5-15 minutes)", "Containment (15-45 minutes)"
_REC, _POST = "Recovery (45-90 minutes)", "Post-Incident Actions"
COVERAGE = declare(
    "AgentLabHighErrorRate",
    AGENT_LAB,
    "Playbook: High Error Rate (P1)",
    [
        automated(_INV, "Analyze Error Patterns", "steps/agentlab_release.error_groups"),
        automated(
            _INV,
            "Check External Dependencies",
            "steps/agentlab_release.upstream (5 timed probes, no API key)",
        ),
        automated(
            _INV,
            "Review Recent Changes",
            "steps/agentlab_release.recent_changes (git log -10, with commit times)",
            "the `git diff HEAD~1..HEAD -- agents/runtime.py` is left to people",
        ),
        asks(
            _CON,
            "Rate Limiting (if API abuse)",
            "steps/sli_response.ask_human (upstream failing)",
        ),
        asks(
            _CON,
            "Circuit Breaker (if external service issues)",
            "steps/sli_response.ask_human (upstream failing)",
        ),
        automated(
            _CON,
            "Rollback (if recent deployment caused issues)",
            "steps/agentlab_release.recent_deployment, roll_back (CI dispatch or Rollback child)",
            "only after a deployment within agent_lab.recent_deploy_window_s (24 h); a CI "
            "rollback is done when its run concluded success within Containment",
        ),
        deviation(
            _CON,
            "Rollback (if recent deployment caused issues)",
            "AgentLabHighErrorRate.run, steps/agentlab_release.recent_deployment",
            "'a majority of 5xx/429/no answer' is Remedy's test for the upstream failing; "
            "'recent deployment' is the newest commit on the host within 24 h (the runbook "
            'names no window; the Genesis runbook\'s `git log --since="24 hours ago"`), '
            "and 'caused issues' is not proven: none recent or none visible -> escalate",
        ),
        automated(
            _REC,
            "Validate Error Reduction",
            "steps/agentlab_release.error_rate_fell (error_rate SLI, 10 minutes)",
        ),
        automated(_REC, "Test Critical Paths", "steps/testsuite.run (integration tests)"),
        not_applicable(
            _REC,
            "Gradual Feature Enablement",
            "Remedy disables no feature in this playbook, so none is re-enabled",
        ),
        # Post-Incident Actions: asked of people at close, declared in steps/followups.py.
    ],
)

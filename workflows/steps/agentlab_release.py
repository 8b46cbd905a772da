"""Steps shared by Agent Lab's High Error Rate and Deployment Failure playbooks:
the investigation steps, the rollback (CI dispatch or the git Rollback
child) and the recovery checks. Each records what it saw; a diagnostic that fails is
recorded and returns None -- the playbook goes on without it.

A CI rollback is done when the dispatched run concluded `success`, not when GitHub
answered 204 (which only queues it): the run, found by the dispatch key in its name, is
polled between durable timers until it completes or the Containment budget ends; a
failed, cancelled or unfinished run fails the rollback at once (CI_ROLLBACK_WAIT).
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows.contracts.ci import (
        CI_DEPLOY_EVIDENCE,
        CI_DISABLE_WORKFLOW,
        CI_ROLLBACK_DISPATCH,
        CI_RUN_STATUS,
        CiDeployEvidence,
        CiDeployInput,
        CiDisableInput,
        CiDispatchInput,
        CiRunInput,
    )
    from workflows.contracts.diagnostics import (
        ERROR_GROUPS,
        RECENT_CHANGES,
        ErrorGroupsInput,
        ErrorGroupsResult,
        RecentChangesInput,
        RecentChangesResult,
    )
    from workflows.contracts.http import UPSTREAM_PROBE, UpstreamProbeInput, UpstreamProbeResult
    from workflows.contracts.policy import Sli
    from workflows.contracts.service import (
        AGENTLAB_MAINTENANCE,
        DEPLOY_COMMAND,
        DeployCommandInput,
        DeployCommandKind,
        DeployCommandResult,
        MaintenanceInput,
    )
    from workflows.incident import Incident, patched
    from workflows.models import Outcome
    from workflows.steps import safety, verify
    from workflows.steps.rollback import rollback

# workflow.patched id: runs started before it took the dispatch's 204 for a finished
# rollback and scheduled no run-status polls.
CI_ROLLBACK_WAIT = "ci-rollback-wait"


# ---------------------------------------------------------------- investigation
async def error_groups(inc: Incident) -> ErrorGroupsResult | None:
    step = "diagnosis: error groups"
    res = await inc.attempt(
        step,
        ERROR_GROUPS,
        ErrorGroupsInput(service=inc.service),
    )
    if res is None:
        return None
    top = "; ".join(f"{g.count}x {g.message}" for g in res.groups) or "none"
    inc.record(step, "ok", f"{res.error_lines} ERROR/Exception lines in {res.log_file}; top: {top}")
    return res


async def upstream(inc: Incident) -> UpstreamProbeResult | None:
    step = "diagnosis: upstream latency"
    res = await inc.attempt(
        step,
        UPSTREAM_PROBE,
        UpstreamProbeInput(service=inc.service),
    )
    if res is None:
        return None
    shown = ", ".join(
        f"{s.status_code or s.error or 'no answer'} in {s.latency_s or 0:.3f}s" for s in res.samples
    )
    inc.record(
        step,
        "ok" if res.healthy else "failed",
        f"{res.url}: {shown}; {res.failing}/{len(res.samples)} failing",
    )
    return res


async def recent_changes(inc: Incident, count: int) -> RecentChangesResult | None:
    step = "diagnosis: recent changes"
    res = await inc.attempt(
        step,
        RECENT_CHANGES,
        RecentChangesInput(service=inc.service, count=count),
    )
    if res is None:
        return None
    inc.record(step, "ok", f"{res.repo}: " + " | ".join(res.commits))
    return res


def recent_deployment(inc: Incident, changes: RecentChangesResult | None) -> tuple[bool, str]:
    """High Error Rate's "if recent deployment caused issues": was the newest commit on the
    host made within the policy's window? Decided here from what `git log` returned (no
    activity); (False, why) when none was or none can be seen. Recorded either way."""
    step = "diagnosis: recent deployment"
    window = inc.policy.agent_lab.recent_deploy_window
    hours = f"{window.total_seconds() / 3600:g} h"
    if changes is None or not changes.committed_at:
        why = f"no deployment time known (git log on the host unavailable), window {hours}"
        inc.record(step, "failed", why)
        return False, why
    newest, line = changes.committed_at[0], changes.commits[0]
    age = workflow.now() - newest
    recent = age <= window
    when = f"{newest:%Y-%m-%d %H:%M}Z, {age.total_seconds() / 3600:.1f} h ago"
    why = (
        f"deployed within {hours}: {line} ({when})"
        if recent
        else f"no deployment within {hours}: newest {line} ({when})"
    )
    inc.record(step, "ok" if recent else "failed", why)
    return recent, why


async def deploy_check(inc: Incident, kind: DeployCommandKind) -> DeployCommandResult | None:
    step = f"diagnosis: {kind.replace('_', ' ')}"
    res = await inc.attempt(
        step,
        DEPLOY_COMMAND,
        DeployCommandInput(service=inc.service, kind=kind),
    )
    if res is None:
        return None
    if not res.configured:
        inc.record(step, "skipped", "not configured")
    else:
        tail = " | ".join(res.excerpt[-5:])
        inc.record(step, "ok" if res.ok else "failed", f"exit {res.exit_status}: {tail}")
    return res


async def deploy_evidence(inc: Incident) -> CiDeployEvidence | None:
    """Deployment Failure "Deployment Log Analysis" and "Change Analysis" through the
    GitHub API: the failed deploy run's log tails, the workflow file, its diff."""
    step = "diagnosis: failed deploy run"
    res = await inc.attempt(step, CI_DEPLOY_EVIDENCE, CiDeployInput(service=inc.service))
    if res is None:
        return None
    if res.run_id is None:
        inc.record(step, "skipped", f"{res.repo}: {res.detail}")
        return res
    jobs = ", ".join(res.failed_jobs) or "none failed"
    inc.record(
        step,
        "ok",
        f"{res.run_url or res.run_id}: failed jobs: {jobs}; " + " | ".join(res.log_tail[-5:]),
    )
    inc.record(
        "diagnosis: deploy workflow file",
        "ok" if res.workflow_file else "skipped",
        f"{res.workflow}: {len(res.workflow_file)} lines read",
    )
    files = [ln for ln in res.diff if ln[:1].isalpha() and " +" in ln]
    inc.record(
        "diagnosis: deployed diff",
        "ok" if res.diff else "skipped",
        f"{res.head_sha[:12]} vs its parent: " + ("; ".join(files[:10]) or "no files"),
    )
    return res


# ---------------------------------------------------------------- containment
async def disable_deploy(inc: Incident) -> bool:
    """The runbook's "Stop Broken Deployment" (`gh workflow disable deploy.yml`): the
    deploy workflow disabled through the API, cleared by the safety policy as
    containment, keyed per incident run. False: not disabled (a person must)."""
    step = "disable deploy workflow"
    await safety.clear(inc, "containment", f"disable the deploy workflow of {inc.service}")
    res = await inc.attempt(
        step,
        CI_DISABLE_WORKFLOW,
        CiDisableInput(service=inc.service, idempotency_key=f"{inc.run_key}:ci:disable"),
    )
    if res is None:
        inc.record(step, "info", "to do: disable the deploy workflow by hand (gh workflow disable)")
        return False
    outcome: Outcome = "skipped" if res.dry_run else "ok" if res.disabled else "failed"
    inc.record(step, outcome, f"{res.workflow} on {res.repo}: {res.detail}")
    return res.disabled or res.dry_run


async def roll_back(inc: Incident, reason: str, until: timedelta | None = None) -> bool:
    """The inventory's rollback: the CI workflow dispatch where `ci_rollback` is set,
    else the git Rollback child workflow. False: failed or none configured. `until`
    (from detection): the Containment budget a dispatched CI run must conclude within.
    Raises safety.NotApproved when the safety policy does not clear it."""
    if inc.policy.release.has_ci_rollback:
        return await _ci_rollback(inc, reason, until)
    if inc.policy.has_rollback:
        return (await rollback(inc, reason)).succeeded
    inc.record("rollback", "failed", f"{reason}; no rollback configured for {inc.service}")
    return False


async def _ci_rollback(inc: Incident, reason: str, until: timedelta | None) -> bool:
    n = sum(1 for e in inc.timeline if e.step == "rollback (CI)") + 1
    inc.record("rollback (CI)", "info", reason)
    await safety.clear(inc, "rollback", f"dispatch the CI rollback of {inc.service}: {reason}")
    step = "dispatch CI rollback workflow"
    key = f"{inc.run_key}:ci:{n}"
    res = await inc.attempt(
        step,
        CI_ROLLBACK_DISPATCH,
        CiDispatchInput(service=inc.service, reason=reason, idempotency_key=key),
    )
    if res is None:
        return False
    outcome: Outcome = "skipped" if res.dry_run else "ok" if res.accepted else "failed"
    how = res.detail or f"HTTP {res.status_code}"
    inc.record(step, outcome, f"{res.workflow} on {res.repo}@{res.ref}: {how}")
    if res.accepted and until is not None and patched(CI_ROLLBACK_WAIT):
        return await _ci_run_concluded(inc, key, until)
    return res.accepted or res.dry_run


async def _ci_run_concluded(inc: Incident, key: str, until: timedelta) -> bool:
    """Poll the dispatched run until it completes: `success` -> True; failure,
    cancelled, timed_out... or not completed by `until` after detection -> False, at
    once. A run that cannot be looked up at all (no incident input configured, the API
    down through every retry) is left to Recovery's health checks, and said."""
    step = "CI rollback run"
    interval = inc.policy.release.ci_poll_interval
    give_up = inc.detected_at + until
    while True:
        # First sleep, then look: GitHub lists the run a few seconds after the 204.
        await inc.sleep(interval)
        run = await inc.attempt(
            "CI rollback run status",
            CI_RUN_STATUS,
            CiRunInput(service=inc.service, idempotency_key=key),
        )
        if run is None:
            inc.record(
                step,
                "info",
                "run not followed: Recovery's checks judge the rollback; "
                "to do: check the rollback run in GitHub Actions",
            )
            return True
        if run.found and run.status == "completed":
            ok = run.conclusion == "success"
            inc.record(step, "ok" if ok else "failed", f"{run.url or run.run_id}: {run.conclusion}")
            return ok
        if workflow.now() + interval > give_up:
            state = f"{run.status} ({run.url or run.run_id})" if run.found else "not listed"
            inc.record(step, "failed", f"not completed by {until} after detection: {state}")
            return False


async def maintenance(inc: Incident, mode: str) -> bool:
    """Agent Lab maintenance mode on/off (the inventory's agent_lab.maintenance), keyed."""
    step = f"maintenance mode {'on' if mode == 'enable' else 'off'}"
    res = await inc.attempt(
        step,
        AGENTLAB_MAINTENANCE,
        MaintenanceInput(
            service=inc.service,
            mode=mode,  # type: ignore[arg-type]
            idempotency_key=f"{inc.run_key}:maintenance:{mode}",
        ),
    )
    if res is None:
        return False
    outcome: Outcome = "skipped" if res.dry_run else "ok" if res.ok else "failed"
    inc.record(step, outcome, res.detail or f"exit {res.exit_status}")
    return res.ok or res.dry_run


# ---------------------------------------------------------------- recovery
async def error_rate_fell(inc: Incident, sli: Sli, until: timedelta) -> bool:
    """Sustained windows (workflows/steps/verify.py) of the error-rate SLI until one
    holds, or until `until` after detection (the Recovery budget): False = did not fall."""
    waits = inc.policy.waits
    give_up = inc.detected_at + until
    while True:
        res = await verify.sustained(inc, sli, waits.verify_window, waits.verify_interval)
        if res.held:
            return True
        if workflow.now() + waits.verify_window > give_up:
            inc.record(f"{sli.name} fell", "failed", f"no window held within {until}")
            return False
        await inc.sleep(waits.verify_interval)

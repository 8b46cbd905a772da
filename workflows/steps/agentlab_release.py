"""Steps shared by Agent Lab's High Error Rate and Deployment Failure playbooks:
the investigation steps, the rollback (CI dispatch or the git Rollback
child) and the recovery checks. Each records what it saw; a diagnostic that fails is
recorded and returns None -- the playbook goes on without it.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows.contracts.ci import CI_ROLLBACK_DISPATCH, CiDispatchInput
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
    from workflows.incident import Incident
    from workflows.models import Outcome
    from workflows.steps import safety, verify
    from workflows.steps.rollback import rollback


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
    inc.record(step, "ok", f"{res.error_lines} ERROR lines in {res.log_file}; top: {top}")
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


# ---------------------------------------------------------------- containment
async def roll_back(inc: Incident, reason: str) -> bool:
    """The inventory's rollback: the CI workflow dispatch where `ci_rollback` is set,
    else the git Rollback child workflow. False: failed or none configured.
    Raises safety.NotApproved when the safety policy does not clear it."""
    if inc.policy.release.has_ci_rollback:
        return await _ci_rollback(inc, reason)
    if inc.policy.has_rollback:
        return (await rollback(inc, reason)).succeeded
    inc.record("rollback", "failed", f"{reason}; no rollback configured for {inc.service}")
    return False


async def _ci_rollback(inc: Incident, reason: str) -> bool:
    n = sum(1 for e in inc.timeline if e.step == "rollback (CI)") + 1
    inc.record("rollback (CI)", "info", reason)
    await safety.clear(inc, "rollback", f"dispatch the CI rollback of {inc.service}: {reason}")
    step = "dispatch CI rollback workflow"
    res = await inc.attempt(
        step,
        CI_ROLLBACK_DISPATCH,
        CiDispatchInput(
            service=inc.service, reason=reason, idempotency_key=f"{inc.run_key}:ci:{n}"
        ),
    )
    if res is None:
        return False
    outcome: Outcome = "skipped" if res.dry_run else "ok" if res.accepted else "failed"
    how = res.detail or f"HTTP {res.status_code}"
    inc.record(step, outcome, f"{res.workflow} on {res.repo}@{res.ref}: {how}")
    return res.accepted or res.dry_run


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
        await workflow.sleep(waits.verify_interval)

"""Service steps shared by playbooks: restart once, check active, wait for health, the
smoke tests, collect crash evidence and identify the crash reason."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows.contracts.diagnostics import CRASH_EVIDENCE, CrashEvidenceInput
    from workflows.contracts.http import HTTP_PROBE, HttpProbeInput
    from workflows.contracts.service import (
        SERVICE_RESTART,
        SERVICE_RUN,
        CommandKind,
        ServiceCommandInput,
        ServiceCommandResult,
    )
    from workflows.incident import Incident, StepFailed, lean, leaner
    from workflows.policies import STATUS_CHECK
    from workflows.steps import notify, safety
    from workflows.steps.rollback import rollback


def _excerpt(res: ServiceCommandResult, limit: int = 300) -> str:
    r = res.result
    return (r.stderr.strip() or r.stdout.strip())[-limit:]


async def restart(inc: Incident, step: str = "restart") -> bool:
    """Restart the service once. The idempotency key (incident + step) is recorded on the
    target, so if this activity is retried after a worker crash the service is not
    restarted a second time.

    Raises safety.NotApproved when the safety policy does not clear it."""
    await safety.clear(inc, "restart", f"{step} of {inc.service}")
    key = f"{inc.run_key}:{step}"
    res = await inc.attempt(
        step,
        SERVICE_RESTART,
        ServiceCommandInput(service=inc.service, command=CommandKind.RESTART, idempotency_key=key),
    )
    if res is None:
        return False
    if res.dry_run:  # the playbook walks on as if it had worked, to show the whole plan
        inc.record(step, "skipped", res.result.stdout)
        return True
    ok = res.result.ok
    inc.record(
        step,
        "ok" if ok else "failed",
        f"exit {res.result.exit_status}{' (already done, not repeated)' if res.replayed else ''}"
        + (f": {_excerpt(res)}" if not ok else ""),
    )
    return ok


async def is_active(inc: Incident, step: str = "check active") -> bool:
    """`systemctl is-active` (or the inventory's status command): exit 0 means active.
    An unreachable host is *not* active (fail safe)."""
    res = await inc.attempt(
        step,
        SERVICE_RUN,
        ServiceCommandInput(service=inc.service, command=CommandKind.STATUS),
        policy=STATUS_CHECK if lean() else None,
    )
    if res is None:
        return False
    ok = res.result.ok
    inc.record(
        step,
        "ok" if ok else "failed",
        res.result.stdout.strip()[-200:] or f"exit {res.result.exit_status}",
    )
    return ok


async def healthy(inc: Incident) -> bool:
    """One health verdict: the health URL answers as expected and the health-check
    script exits 0 -- each only where the inventory configures it."""
    checks: list[bool] = []
    if inc.policy.has_health_url:
        try:
            probe = await inc.act(
                "health endpoint",
                HTTP_PROBE,
                HttpProbeInput(service=inc.service),
            )
            inc.record(
                "health endpoint",
                "ok" if probe.ok else "failed",
                f"{probe.url} -> {probe.status_code or probe.error}",
            )
            checks.append(probe.ok)
        except StepFailed:
            checks.append(False)
    if inc.policy.has_health_check:
        try:
            res = await inc.act(
                "health check script",
                SERVICE_RUN,
                ServiceCommandInput(service=inc.service, command=CommandKind.HEALTH_CHECK),
            )
            inc.record(
                "health check script",
                "ok" if res.result.ok else "failed",
                f"exit {res.result.exit_status}",
            )
            checks.append(res.result.ok)
        except StepFailed:
            checks.append(False)
    if not checks:  # nothing configured: fall back to the status command
        checks.append(await is_active(inc, "check active (no health check configured)"))
    return all(checks)


async def wait_healthy(inc: Incident, budget: timedelta, interval: timedelta) -> bool:
    """Check health now and then every `interval` until it passes or `budget` (counted
    from detection) runs out."""
    give_up_at = inc.detected_at + budget
    while True:
        if await healthy(inc):
            return True
        if workflow.now() + interval > give_up_at:
            inc.record("service restored", "failed", f"not healthy within {budget} of detection")
            return False
        await inc.sleep(interval)


async def collect_crash_evidence(inc: Incident) -> None:
    """Genesis step 4, 'Collect crash dump ... DO NOT BLOCK SERVICE RESTORATION': run in
    the background; its failure is recorded and changes nothing else."""
    res = await inc.attempt(
        "collect crash evidence",
        SERVICE_RUN,
        ServiceCommandInput(service=inc.service, command=CommandKind.LOGS),
    )
    if res is None:
        return
    r = res.result
    lines = r.stdout.count("\n")
    inc.record(
        "collect crash evidence",
        "ok" if r.ok else "failed",
        f"{lines} log lines captured{' (truncated)' if r.truncated else ''}; last: "
        + (r.stdout.strip().splitlines() or [""])[-1][-200:],
    )


async def identify_crash_reason(inc: Incident) -> None:
    """GenesisServiceDown "Review Crash Logs", "Identify Crash Reason" and step 4
    "Collect crash dump", in the background ('DO NOT BLOCK SERVICE RESTORATION'): the
    journal, dmesg, syslog and the service's log are kept in `crash_<detection time>`
    under the inventory's crash_dump.dir (one per incident run: a retry rewrites it),
    and their tails are matched, in the activity, against the runbook's five reasons.
    The reason goes into the timeline and a Slack status update (under LEAN_HISTORY_2,
    the next one); its failure is recorded and changes nothing else."""
    res = await inc.attempt(
        "collect crash evidence",
        CRASH_EVIDENCE,
        CrashEvidenceInput(service=inc.service, stamp=f"{inc.detected_at:%Y%m%d_%H%M%S}"),
    )
    if res is None:
        return
    read = ", ".join(
        f"{s.name} ({s.lines} lines)" if s.ok else f"{s.name} failed" for s in res.sources
    )
    inc.record(
        "collect crash evidence",
        "skipped" if res.dry_run else "ok" if res.dump_dir else "info",
        f"{res.detail}; read {read}",
    )
    found = res.reason != "unknown"
    inc.record(
        "identify crash reason",
        "ok" if found else "info",
        res.reason_text + (f": {res.evidence}" if res.evidence else ""),
    )
    dump = f" (crash dump {res.dump_dir})" if res.dump_dir else ""
    if leaner():
        # The runbook asks for the reason, not a post of its own (its only post is
        # "Notify stakeholders"): it goes out with the next status update, the one that
        # says what restoring the service came to (close waits for this first).
        inc.crash_note = f"crash reason: {res.reason_text}{dump}"
        return
    await notify.status_update(
        inc,
        "Investigating",
        f"crash reason: {res.reason_text}",
        "restore the service (restart, else roll back); analyse the crash dump offline"
        + (f" ({res.dump_dir})" if res.dump_dir else ""),
    )


async def smoke_tests(inc: Incident, step: str = "smoke tests") -> bool | None:
    """GenesisServiceDown Step 3 "Run smoke tests" (`python3 -m pytest
    tests/test_production_health.py::...`): the service's smoke_test command, where the
    inventory has one (None: not configured). Exit 0 passes; anything else, or a run
    that could not be made, fails."""
    if not inc.policy.release.has_smoke_test:
        inc.record(step, "skipped", "no smoke_test command in the inventory")
        return None
    res = await inc.attempt(
        step,
        SERVICE_RUN,
        ServiceCommandInput(service=inc.service, command=CommandKind.SMOKE_TEST),
    )
    if res is None:
        return False
    ok = res.result.ok
    inc.record(step, "ok" if ok else "failed", f"exit {res.result.exit_status}: {_excerpt(res)}")
    return ok


@dataclass(frozen=True)
class Restored:
    """What Response did: the action taken ("restart" or "rollback") and, when it did
    not bring the service back, why (the playbook escalates with it)."""

    action: str
    failed: str | None = None


async def restart_or_roll_back(
    inc: Incident, what: str, still_down: Callable[[], Awaitable[object]] | None = None
) -> Restored:
    """ServiceDown's and ApplicationDown's Response, once: restart, wait the runbook's
    `sleep 30`, check the service is active; if not (or the restart failed), the
    rollback procedure (a child workflow), where one is configured. `what` names the
    thing that did not come up ("service", "application") in the rollback's reason.
    `still_down` runs once the restart has not brought it up, before the rollback (or
    giving up): ApplicationDown's maintenance mode "if needed"."""
    restarted = await restart(inc)
    if restarted:
        await inc.sleep(inc.policy.waits.after_restart)
    if restarted and await is_active(inc):
        return Restored("restart")
    if still_down is not None:
        await still_down()
    if not inc.policy.has_rollback:
        return Restored("restart", "restart failed and no rollback is configured")
    result = await rollback(inc, f"{what} did not come up after restart")
    if not result.succeeded:
        return Restored("rollback", f"rollback failed at: {result.failed_step}")
    return Restored("rollback")

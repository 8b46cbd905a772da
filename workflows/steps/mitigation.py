"""Apply the runbook's mitigations by inventory name, restart once if any needs it,
and undo them before a rollback.

The name comes from the playbook's diagnosis; a mitigation the inventory does not
define is recorded as missing and skipped (the playbook goes on to verification, and
the rollback deadline still applies). Each apply/restore is keyed on the target by
incident + name (activities/mitigation.py).
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows.contracts.mitigation import (
        MITIGATION_APPLY,
        MITIGATION_RESTORE,
        MitigationInput,
    )
    from workflows.incident import Incident
    from workflows.steps import recovery, safety


async def apply(inc: Incident, names: list[str]) -> list[str]:
    """Apply each named mitigation; restart once afterwards if one asked for it and
    changed something, then wait the runbook's 30 s. Returns the names applied.
    Raises safety.NotApproved when the safety policy does not clear them."""
    applied: list[str] = []
    restart = False
    cleared = False
    for name in dict.fromkeys(names):  # ordered, once each
        if name not in inc.policy.mitigations:
            inc.record(f"mitigation: {name}", "skipped", "not defined in the inventory")
            continue
        if not cleared:  # one approval for the diagnosis' set of config changes
            await safety.clear(inc, "mitigation", f"config changes {', '.join(names)}")
            cleared = True
        res = await inc.attempt(
            f"mitigation: {name}",
            MITIGATION_APPLY,
            MitigationInput(service=inc.service, name=name, incident_id=inc.run_key),
        )
        if res is None:
            continue
        applied.append(name)
        restart |= res.restart
        inc.record(
            f"mitigation: {name}",
            "skipped" if res.dry_run else "ok",
            res.detail + (" (replayed)" if res.replayed else ""),
        )
    if restart and await recovery.restart(inc, "restart after mitigation"):
        await inc.sleep(inc.policy.waits.after_restart)
    return applied


async def undo(inc: Incident, applied: list[str]) -> None:
    """Put back what the mitigations changed, newest first (the rollback follows and
    restarts the service)."""
    for name in reversed(applied):
        res = await inc.attempt(
            f"restore: {name}",
            MITIGATION_RESTORE,
            MitigationInput(service=inc.service, name=name, incident_id=inc.run_key),
        )
        if res is None:
            continue
        inc.record(f"restore: {name}", "skipped" if res.dry_run else "ok", res.detail)

"""Dry-run on the real test sshd host: a whole ServiceDown incident (restart, then the
Genesis rollback) and a config mitigation, with the inventory's `safety: dry_run`,
leave every file of the target and its process exactly as they were -- while the
timeline says, step by step, what would have run."""

from __future__ import annotations

import hashlib
import subprocess
import uuid
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from activities.inventory import RollbackSpec
from activities.mitigation import MitigationActivities
from tests.durability.test_faults import demo_down, run, settings_for
from tests.fixtures.gitrepo import bad_deployment
from tests.fixtures.sshd import SshServer, Supervisor
from workflows.contracts.mitigation import MitigationInput, MitigationSpec
from workflows.contracts.safety import SafetyOverrides


def snapshot(*roots: Path) -> dict[str, str]:
    """Every file (git internals included) -> sha256 of its bytes."""
    return {
        str(p): hashlib.sha256(p.read_bytes()).hexdigest()
        for root in roots
        if root.exists()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


async def test_dry_run_incident_touches_nothing_on_the_host(
    time_env: WorkflowEnvironment, sshd: SshServer, supervisor: Supervisor, tmp_path: Path
) -> None:
    repo, _stable = bad_deployment(tmp_path)
    demo_down(supervisor)  # the service is down: restart, then rollback, would both run
    spec = supervisor.service_spec(
        rollback=RollbackSpec(repo_path=str(repo)),
        mitigations={"llm_fallback": MitigationSpec(path="config/llm.yaml", content="x: 1\n")},
        safety=SafetyOverrides(dry_run=True),
    )
    inv = sshd.inventory({"demo": spec})
    state = Path(inv.hosts[next(iter(inv.hosts))].state_dir)
    before = snapshot(repo, state)
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True)  # noqa: ASYNC221

    res = await run(time_env, inv, settings_for(tmp_path), "demo")

    # The whole plan was walked: restart, then every rollback step, each saying what.
    dry = [e for e in res.timeline if e.detail.startswith("DRY RUN: would")]
    assert any(e.step == "restart" for e in dry), res.timeline
    assert sum("git" in e.detail for e in dry) >= 2, [e.detail for e in dry]
    assert res.outcome == "escalated"  # nothing really changed: a person must look
    # ...and nothing happened: same files, same bytes, no idempotency marker, no process.
    assert snapshot(repo, state) == before
    assert supervisor.pid() == 0
    again = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True)  # noqa: ASYNC221
    assert again.stdout == head.stdout and (repo / "junk.tmp").exists()

    # A mitigation in dry-run writes no file and keeps no backup.
    mit = MitigationActivities(inv)
    inc = f"incident:dry:{uuid.uuid4().hex[:6]}"
    res_m = await mit.apply(MitigationInput(service="demo", name="llm_fallback", incident_id=inc))
    assert res_m.dry_run and not res_m.changed and "DRY RUN: would write" in res_m.detail
    assert not (repo / "config" / "llm.yaml").exists()
    assert snapshot(repo, state) == before

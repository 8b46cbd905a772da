"""DataCorruption on the time-skipping server, one test per branch, at the runbook's real
durations (phase budgets 5/20/60/180 minutes, the 24 h hold of an escalated incident):
nothing corrupt closes with no change; corrupt + backup restores everything and turns
read-only mode off; sessions with no backup are quarantined and escalated; validation
still failing escalates; no evidence, no change."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from tests.workflows.datafiles_world import SERVICE, SIDE_EFFECTS, DataWorld, data_policy
from workflows.contracts.safety import ApproveRequest, SafetyPolicy
from workflows.models import Alert, IncidentInput, IncidentStatus, PlaybookResult
from workflows.registry import PLAYBOOKS, ROUTES, SUPPORT_WORKFLOWS
from workflows.steps.resolution import HOLD_OPEN

WORKFLOWS = [*PLAYBOOKS.values(), *SUPPORT_WORKFLOWS.values()]
BAD = {"sessions/a.json": True, "sessions/b.json": False, "sessions/c.json": False}


async def run(env: WorkflowEnvironment, world: DataWorld, drive: object = None) -> PlaybookResult:
    tq = f"tq-{uuid.uuid4()}"
    async with Worker(
        env.client, task_queue=tq, workflows=WORKFLOWS, activities=world.activities()
    ):
        handle = await env.client.start_workflow(
            "DataCorruption",
            IncidentInput(alert=Alert(alertname="DataCorruption", service=SERVICE)),
            id=f"incident:DataCorruption:{uuid.uuid4()}",
            task_queue=tq,
            execution_timeout=timedelta(days=3),
        )
        if drive is not None:
            await drive(handle)  # type: ignore[operator]
        return PlaybookResult.model_validate(await handle.result())


def steps(res: PlaybookResult) -> list[str]:
    return [e.step for e in res.timeline]


def entry(res: PlaybookResult, step: str) -> str:
    return next(e.detail for e in res.timeline if e.step == step)


def test_routed_by_alertname_with_the_example_inventory() -> None:
    from activities.inventory import load_inventory
    from bridge.routing import Router

    assert ROUTES["DataCorruption"] == "DataCorruption" and "DataCorruption" in PLAYBOOKS
    inv = load_inventory("examples/inventory.yaml")
    route = Router(inv).route({"alertname": "DataCorruption", "service": "agent-lab"})
    assert route.playbook == "DataCorruption"
    di = inv.policy("agent-lab").data_integrity
    assert di.configured and di.has_backup and di.has_write_log
    assert "/app" not in inv.policy("agent-lab").data_integrity.model_dump_json()  # no paths


async def test_nothing_corrupt_closes_without_change(time_env: WorkflowEnvironment) -> None:
    world = DataWorld(data_policy(), sessions={"sessions/a.json": True})
    res = await run(time_env, world)
    assert res.outcome == "resolved_without_action"
    assert not set(world.names()) & set(SIDE_EFFECTS)  # scanned, touched nothing
    assert "pagerduty:trigger" not in world.names()
    assert "Valid sessions: 1, Invalid: 0" in entry(res, "diagnosis: session files")
    # Budgets armed under the runbook's names, counted from detection.
    assert "Investigation: ends 0:20:00 after detection" in entry(res, "phase budget: Assessment")


async def test_dry_run_writes_no_incident_log_line(time_env: WorkflowEnvironment) -> None:
    world = DataWorld(
        data_policy(safety=SafetyPolicy(dry_run=True)), sessions={"sessions/a.json": True}
    )
    res = await run(time_env, world)
    assert res.outcome == "resolved_without_action"
    assert "incident_log" not in world.names() and "dry-run:incident_log" in world.names()
    log = next(e for e in res.timeline if e.step == "incident log")
    assert log.outcome == "skipped" and log.detail.startswith("DRY RUN: would append to memory")


async def test_corrupt_with_backup_restores_all_and_resolves(
    time_env: WorkflowEnvironment,
) -> None:
    world = DataWorld(
        data_policy(),
        sessions=dict(BAD),
        csv_ok=False,
        backup={"sessions/b.json", "sessions/c.json"},
    )
    res = await run(time_env, world)
    assert res.outcome == "resolved"
    # The runbook's order: stop writes, evidence before any change, then quarantine.
    assert [n for n in world.names() if n in SIDE_EFFECTS] == [
        "read_only:on",
        "snapshot",
        "quarantine",
        "restore",
        "rebuild",
        "read_only:off",
    ]
    assert world.calls[world.names().index("quarantine")].detail == (
        "sessions/b.json,sessions/c.json,runs.csv"
    )
    # Every move is in the timeline, each on its own line.
    tl = steps(res)
    for p in ("sessions/b.json", "sessions/c.json", "runs.csv"):
        assert f"quarantined: {p}" in tl
    assert "restored: sessions/b.json" in tl and "restored: sessions/c.json" in tl
    counts = entry(res, "valid/invalid")
    assert "before: Valid sessions: 1, Invalid: 2; runs.csv: 10 rows, 2 bad rows" in counts
    assert "after: Valid sessions: 3, Invalid: 0; runs.csv: 10 rows, ok" in counts
    stamp = world.calls[world.names().index("snapshot")].detail
    assert world.calls[world.names().index("rebuild")].detail == stamp  # one timestamp
    assert world.flag_exists is False and "pagerduty:trigger" not in world.names()
    assert "rebuilt the CSV" in res.action
    # The seed's Post-Incident Actions reach the P1 post-mortem checklist.
    pm = next(c.detail for c in world.calls if c.name == "postmortem")
    assert "- [ ] Root cause analysis: determine the corruption cause" in pm


async def test_off_host_backups_fetched_before_the_scan_evidence_sent_off(
    time_env: WorkflowEnvironment,
) -> None:
    """The runbook's S3 bucket through the service's backup_sync / evidence_upload
    commands: the good copies exist only off the host until the sync, so the restore
    (and the incident's resolution) depends on the sync running before the scan."""
    pol = data_policy(data_integrity={"has_backup_sync": True, "has_evidence_upload": True})
    world = DataWorld(pol, sessions=dict(BAD), remote={"sessions/b.json", "sessions/c.json"})
    res = await run(time_env, world)
    assert res.outcome == "resolved", res.action
    n = world.names()
    assert n.index("backup_sync") < n.index("scan")
    assert n.index("snapshot") < n.index("evidence_upload") < n.index("quarantine")
    keys = {c.name: c.detail for c in world.calls}
    assert keys["backup_sync"] == f"{res.run_key}:backup_sync"  # keyed: never twice
    assert keys["evidence_upload"] == f"{res.run_key}:evidence_upload"
    assert "download: s3://b/sessions/b.json" in entry(res, "fetch backups (backup_sync)")
    assert "valid copies of 2 of 2 corrupt sessions" in entry(res, "diagnosis: backup")
    assert "restored: sessions/b.json" in steps(res)


async def test_failed_evidence_upload_goes_on_with_a_to_do(time_env: WorkflowEnvironment) -> None:
    pol = data_policy(data_integrity={"has_evidence_upload": True})
    world = DataWorld(
        pol, sessions=dict(BAD), backup={"sessions/b.json", "sessions/c.json"}, upload_exit=1
    )
    res = await run(time_env, world)
    assert res.outcome == "resolved"  # the tar is on the host; the data are restored
    assert "backup_sync" not in world.names()  # not configured: not run
    up = next(e for e in res.timeline if e.step == "upload evidence (evidence_upload)")
    assert up.outcome == "failed" and up.detail.startswith("exit 1")
    assert "to do: copy the forensic tar off the host" in steps(res)
    pm = next(c.detail for c in world.calls if c.name == "postmortem")
    assert "copy the forensic tar off the host" in pm


async def test_no_backup_for_some_quarantines_and_escalates(
    time_env: WorkflowEnvironment,
) -> None:
    world = DataWorld(data_policy(), sessions=dict(BAD), backup={"sessions/b.json"})
    res = await run(time_env, world)
    assert res.outcome == "escalated" and "pagerduty:trigger" in world.names()
    assert "1 corrupt sessions quarantined with no backup copy restored (sessions/c.json)" in (
        res.action
    )
    assert "quarantined: sessions/c.json" in steps(res)  # moved, kept, not deleted
    assert "read_only:off" not in world.names() and world.flag_exists  # left on for people
    # Nobody acknowledged: held open for the 24 hours, then closed.
    esc = next(e.at for e in res.timeline if e.step == "escalated to a human")
    assert res.ended_at - esc >= HOLD_OPEN


async def test_no_backup_configured_escalates(time_env: WorkflowEnvironment) -> None:
    world = DataWorld(data_policy(data_integrity={"has_backup": False}), sessions=dict(BAD))
    res = await run(time_env, world)
    assert res.outcome == "escalated" and "restore" not in world.names()
    assert "no backup_dir configured" in entry(res, "restore from backup")
    assert "2 corrupt sessions quarantined" in res.action


async def test_validation_still_failing_escalates(time_env: WorkflowEnvironment) -> None:
    world = DataWorld(
        data_policy(),
        sessions=dict(BAD),
        stuck={"sessions/c.json"},
        backup={"sessions/b.json", "sessions/c.json"},
    )
    res = await run(time_env, world)
    assert res.outcome == "escalated"
    assert "validation still failing: Valid sessions: 2, Invalid: 1" in res.action
    assert "read_only:off" not in world.names()
    assert "permission denied" in entry(res, "quarantine: sessions/c.json")


async def test_no_evidence_no_change(time_env: WorkflowEnvironment) -> None:
    world = DataWorld(
        data_policy(),
        sessions=dict(BAD),
        snapshot_fails=True,
        backup={"sessions/b.json", "sessions/c.json"},
    )
    res = await run(time_env, world)
    assert res.outcome == "escalated" and "no change without evidence" in res.action
    assert "quarantine" not in world.names() and "restore" not in world.names()


async def test_read_only_mode_already_on_is_left_on(time_env: WorkflowEnvironment) -> None:
    world = DataWorld(
        data_policy(),
        sessions=dict(BAD),
        flag_exists=True,
        backup={"sessions/b.json", "sessions/c.json"},
    )
    res = await run(time_env, world)
    assert res.outcome == "resolved" and "read_only:off" not in world.names()
    assert world.flag_exists and "before this incident" in entry(res, "read-only mode")


async def test_not_configured_escalates(time_env: WorkflowEnvironment) -> None:
    world = DataWorld(data_policy(data_integrity={"configured": False}), sessions=dict(BAD))
    res = await run(time_env, world)
    assert res.outcome == "escalated" and "scan" not in world.names()


async def test_late_containment_approval_overruns_at_60_minutes(
    time_env: WorkflowEnvironment,
) -> None:
    """Containment behind an approval; the person answers 70 minutes in: the Containment
    budget (60 min after detection) is marked overrun at 60 minutes."""
    safety = SafetyPolicy(require_approval=["containment"], approval_timeout_s=7200)
    world = DataWorld(
        data_policy(safety=safety),
        sessions=dict(BAD),
        backup={"sessions/b.json", "sessions/c.json"},
    )

    async def drive(h: WorkflowHandle) -> None:
        for _ in range(400):  # queries do not skip time: poll the wall clock
            st = await h.query("status", result_type=IncidentStatus)
            if "containment" in st.pending_approvals:
                break
            await asyncio.sleep(0.05)
        assert "read_only:on" not in world.names()  # nothing before the approval
        await time_env.sleep(timedelta(minutes=70))
        await h.execute_update("approve", ApproveRequest(by="oncall", step="containment"))

    res = await run(time_env, world, drive)
    assert res.outcome == "resolved"
    over = next(e for e in res.timeline if e.step == "phase overrun: Response")
    assert timedelta(minutes=60) <= over.at - res.detected_at < timedelta(minutes=60, seconds=1)
    assert "Containment still running 1:00:00 after detection" in over.detail
    approved = next(e.at for e in res.timeline if e.step == "approved: containment")
    assert approved - res.detected_at >= timedelta(minutes=70)
    assert not any(e.step == "phase overrun: Verification" for e in res.timeline)

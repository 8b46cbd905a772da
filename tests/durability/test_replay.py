"""Replay: every committed history (tests/histories, recorded on a real Temporal server by
`python -m tests.histories.record`) replays against this checkout's playbooks with the
worker's converter. A non-deterministic change to a playbook fails here, in `make test`,
instead of wedging the incidents that are running when it is deployed.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
import pytest_asyncio
import temporalio.workflow
from temporalio import workflow
from temporalio.worker import UnsandboxedWorkflowRunner

from remedy import history
from tests.histories.record import SCENARIOS
from workflows.incident import INCIDENT_RUNS, LEAN_HISTORY, LEAN_HISTORY_2
from workflows.models import IncidentInput, Phase, PlaybookResult
from workflows.playbooks.service_down import CRASH_REASON, NONBLOCKING_FIRST_UPDATE, ServiceDown
from workflows.registry import PLAYBOOKS
from workflows.steps import escalation, notify, recovery
from workflows.steps.resolution import close, escalate
from workflows.steps.rollback import rollback

HISTORIES = Path(__file__).parents[1] / "histories"
PRE_PATCH = HISTORIES / "pre-patch"  # ServiceDown before NONBLOCKING_FIRST_UPDATE
# Before LEAN_HISTORY: the runs that took each earlier patch with a marker of its own.
PRE_LEAN = HISTORIES / "pre-lean-history"
# Before LEAN_HISTORY_2: runs under LEAN_HISTORY (every phase its own upsert at once,
# ServiceDown's crash reason its own Slack post).
PRE_LEAN2 = HISTORIES / "pre-lean-history-2"


def files(d: Path = HISTORIES) -> list[Path]:
    return sorted(d.rglob("*.json"))


def types_of(paths: list[Path]) -> set[str]:
    return {json.loads(p.read_text())["workflowType"] for p in paths}


@pytest_asyncio.fixture(scope="module")
async def committed() -> history.ReplayReport:
    """Every committed history replayed once against the registered playbooks (one
    Replayer per process, sandboxed, as `remedy replay`); the tests below read their
    files' outcomes from it instead of replaying them again."""
    return await history.replay([HISTORIES])


def failed(report: history.ReplayReport) -> str:
    bad = [ln for ln, o in zip(report.lines(), report.outcomes, strict=True) if o.error]
    return f"{len(bad)} of {len(report.outcomes)} histories do not replay:\n" + "\n".join(bad)


def outcomes_of(report: history.ReplayReport, paths: list[Path]) -> list[history.ReplayOutcome]:
    by_path = {o.path: o for o in report.outcomes}
    return [by_path[p] for p in paths]


async def test_every_committed_history_replays(committed: history.ReplayReport) -> None:
    assert committed.ok, failed(committed)
    assert [o.path for o in committed.outcomes] == files()
    print(f"\nreplayed {len(committed.outcomes)} histories: {sorted(types_of(files()))}")


def test_every_playbook_and_branch_has_a_history() -> None:
    # A playbook added to the registry needs its branches in SCENARIOS and a recording.
    missing_playbooks = sorted(set(PLAYBOOKS) - types_of(files()))
    assert not missing_playbooks, (
        f"no recorded history for {missing_playbooks}: add their branches to SCENARIOS in "
        "tests/histories/record.py and run python -m tests.histories.record"
    )
    recorded = {p.stem for p in HISTORIES.glob("*.json")}
    missing = [s.name for s in SCENARIOS if s.name not in recorded]
    assert not missing, f"not recorded: {missing}; run python -m tests.histories.record"


# ------------------------------------------------------------------ a breaking change
@workflow.defn(name="ServiceDown", sandboxed=False)
class ReorderedServiceDown(ServiceDown):
    """A copy of ServiceDown.run with one deliberate change: the status check runs
    before the first Slack update and the crash-evidence collection. Same steps, same
    outcome on a fresh run -- and incompatible with every running incident."""

    @workflow.run
    async def run(self, inp: IncidentInput) -> PlaybookResult:
        policy = await self.detect(inp)
        waits = policy.waits
        self.escalate_after(
            waits.incident_commander_after,
            "page incident commander",
            lambda: escalation.page_incident_commander(self, "service still down after 5 minutes"),
        )
        self.enter(Phase.ASSESSMENT)
        active = await recovery.is_active(self, "check service status")  # moved up
        await notify.status_update(self, "Active", "alert received", "restart the service")
        self.background(recovery.collect_crash_evidence(self))
        if inp.flapping:
            return await escalate(self, "flapping")
        if active and not self.alert_firing:
            return await close(self, "resolved_without_action", "none")
        self.enter(Phase.RESPONSE)
        action = "restart"
        restarted = await recovery.restart(self)
        if restarted:
            await workflow.sleep(waits.after_restart)
        if not (restarted and await recovery.is_active(self)):
            action = "rollback"
            result = await rollback(self, "service did not come up after restart")
            if not result.succeeded:
                return await escalate(self, f"rollback failed at: {result.failed_step}")
        self.enter(Phase.VERIFICATION)
        if not await recovery.wait_healthy(self, waits.restore_budget, waits.health_retry_interval):
            return await escalate(self, f"service unhealthy after {action}")
        return await close(self, "resolved", action)


def with_servicedown(cls: type) -> list[type]:
    return [cls if name == "ServiceDown" else wf for name, wf in PLAYBOOKS.items()]


async def test_a_reordered_activity_fails_replay(committed: history.ReplayReport) -> None:
    service_down = [p for p in files() if p.name.startswith("ServiceDown-")]
    others = [p for p in files(HISTORIES) if p.parent == HISTORIES and p not in service_down][:8]
    mixed = sorted(service_down + others)
    # Two processes, whatever the core count: the split path reports per file too.
    report = await history.replay(mixed, with_servicedown(ReorderedServiceDown), jobs=2)
    # Every broken history is reported, by file name and with the SDK's message, not
    # just the first; the other playbooks' histories in the same pass still replay.
    assert [o.path for o in report.failures] == service_down, failed(report)
    assert all(o.error and "NondeterminismError" in o.error for o in report.failures)
    assert {o.path for o in report.outcomes if not o.error} == set(others)
    # ... while the same histories replay cleanly against the real playbook.
    assert not [o for o in outcomes_of(committed, service_down) if o.error]


# ------------------------------------------------------------------ the shipped patch
async def test_histories_from_before_the_patch_still_replay(
    committed: history.ReplayReport,
) -> None:
    old = files(PRE_PATCH)
    assert len(old) >= 5 and types_of(old) == {"ServiceDown"}
    assert not [o for o in outcomes_of(committed, old) if o.error], failed(committed)


def patch_markers(path: Path) -> list[str]:
    events = json.loads(path.read_text())["events"]
    out: list[str] = []
    for e in events:
        m = e.get("markerRecordedEventAttributes", {})
        if m.get("markerName") == "core_patch":
            for detail in m["details"].values():
                out += [base64.b64decode(p["data"]).decode() for p in detail["payloads"]]
    return out


LOOKUP = "records.earlier_incidents"  # detection's recurrence lookup: not a playbook step


def scheduled_before_first_result(path: Path) -> list[str]:
    """Activities a run scheduled before any activity after the policy load finished
    (the recurrence lookup at detection, in runs keyed per run, is left out)."""
    events = json.loads(path.read_text())["events"]
    out: list[str] = []
    lookups: set[str] = set()
    completed = 0
    for e in events:
        if e["eventType"] == "EVENT_TYPE_ACTIVITY_TASK_COMPLETED":
            if e["activityTaskCompletedEventAttributes"]["scheduledEventId"] in lookups:
                continue
            completed += 1
            if completed == 2:
                break
        if e["eventType"] == "EVENT_TYPE_ACTIVITY_TASK_SCHEDULED":
            name = e["activityTaskScheduledEventAttributes"]["activityType"]["name"]
            if name == LOOKUP:
                lookups.add(e["eventId"])
                continue
            out.append(name)
    return out


def test_new_runs_take_the_patched_branch_old_ones_did_not() -> None:
    new, old = (
        PRE_LEAN / "ServiceDown-restart-healthy.json",  # LEAN_HISTORY takes it, markerless
        PRE_PATCH / "ServiceDown-restart-healthy.json",
    )
    assert any(NONBLOCKING_FIRST_UPDATE in m for m in patch_markers(new))
    assert patch_markers(old) == []
    # New: the status check is scheduled without waiting for Slack to answer (and, since
    # CRASH_REASON, the crash evidence is its own activity).
    assert scheduled_before_first_result(new)[1:] == [
        "service.run",
        "notify.slack",
        "diagnostics.crash_evidence",
    ]
    # Old: Slack alone first; nothing else until it answered.
    assert scheduled_before_first_result(old)[1:] == ["notify.slack"]


def test_crash_reason_only_in_runs_started_after_its_patch() -> None:
    # Issue 18: runs before CRASH_REASON read the `logs` command; new ones the crash
    # evidence activity (dump + reason) -- each replays its own way.
    pre = HISTORIES / "pre-service-down-crash-reason" / "ServiceDown-restart-healthy.json"
    new = PRE_LEAN / "ServiceDown-restart-healthy.json"
    assert any(CRASH_REASON in m for m in patch_markers(new))
    assert not any(CRASH_REASON in m for m in patch_markers(pre))
    assert "diagnostics.crash_evidence" in scheduled(new)
    assert "diagnostics.crash_evidence" not in scheduled(pre)


@pytest.mark.parametrize(
    "old_run",
    [
        "pre-patch/ServiceDown-restart-healthy.json",
        "pre-incident-runs/ServiceDown-restart-healthy.json",
        "pre-lean-history/ServiceDown-restart-healthy.json",
        "pre-lean-history-2/ServiceDown-restart-healthy.json",
        "pre-service-down-crash-reason/ServiceDown-restart-healthy.json",
        "pre-application-down-if-needed/ApplicationDown-restart-maintenance-verified.json",
    ],
)
async def test_the_patch_guard_is_what_keeps_old_runs_replaying(
    monkeypatch: pytest.MonkeyPatch, old_run: str
) -> None:
    # Shipping the new behaviour without workflow.patched (patched() always True and
    # no marker) breaks every run started before the change: the first Slack update no
    # longer awaited (pre-patch), the recurrence lookup at detection
    # (pre-incident-runs), the crash-evidence activity scheduled / maintenance mode
    # skipped (issue 18), the phases written late and the crash reason not posted
    # (pre-lean-history-2).
    monkeypatch.setattr(temporalio.workflow, "patched", lambda _id: True)
    from temporalio.worker import Replayer

    replayer = Replayer(
        workflows=list(PLAYBOOKS.values()),
        data_converter=history.worker_converter(),
        workflow_runner=UnsandboxedWorkflowRunner(),
    )
    old = history.load(HISTORIES / old_run)
    result = await replayer.replay_workflow(old, raise_on_replay_failure=False)
    assert result.replay_failure is not None
    assert "Nondeterminism" in type(result.replay_failure).__name__


# ------------------------------------------------------------------ incident runs
PRE_RUNS = HISTORIES / "pre-incident-runs"  # keyed on the workflow id alone


def test_new_runs_key_per_run_old_ones_on_the_workflow_id() -> None:
    new, old = (d / "ServiceDown-restart-healthy.json" for d in (PRE_LEAN, PRE_RUNS))
    assert any(INCIDENT_RUNS in m for m in patch_markers(new))
    assert not any(INCIDENT_RUNS in m for m in patch_markers(old))
    # The lookup of earlier incidents is a new activity: only in new runs.
    assert LOOKUP in scheduled(new) and LOOKUP not in scheduled(old)


def scheduled(path: Path) -> list[str]:
    events = json.loads(path.read_text())["events"]
    return [
        e["activityTaskScheduledEventAttributes"]["activityType"]["name"]
        for e in events
        if e["eventType"] == "EVENT_TYPE_ACTIVITY_TASK_SCHEDULED"
    ]


# ------------------------------------------------------------------ lean history
def local_activities(path: Path) -> list[str]:
    events = json.loads(path.read_text())["events"]
    out: list[str] = []
    for e in events:
        m = e.get("markerRecordedEventAttributes", {})
        if m.get("markerName") == "core_local_activity":
            data = base64.b64decode(m["details"]["data"]["payloads"][0]["data"])
            out.append(json.loads(data)["activity_type"])
    return out


def test_lean_runs_take_every_earlier_patch_with_one_marker() -> None:
    # Each earlier patch cost a marker and a TemporalChangeVersion upsert per run; under
    # LEAN_HISTORY a run records that one id and takes all of them.
    earlier = {m for p in files(PRE_LEAN) for m in patch_markers(p)}
    assert len(earlier) >= 10 and not any(LEAN_HISTORY in m for m in earlier)
    for path in files(HISTORIES):
        if path.parent != HISTORIES:
            continue
        markers = patch_markers(path)
        assert markers and LEAN_HISTORY in markers[0], path.name
        assert not set(markers) & earlier, (path.name, set(markers) & earlier)


def test_worker_side_lookups_are_local_activities_in_lean_runs_only() -> None:
    name = "ServiceDown-restart-healthy.json"
    new, old = HISTORIES / name, PRE_LEAN / name
    lookups = ["inventory.service_policy", LOOKUP, "service.run", "http.probe"]
    assert [a for a in local_activities(new) if a in lookups] == [
        "inventory.service_policy",
        LOOKUP,
        "service.run",  # the status check; the restart is still a scheduled activity
        "service.run",
        "http.probe",
    ]
    assert "service.restart" in scheduled(new)
    assert "inventory.service_policy" not in scheduled(new)
    assert local_activities(old) == [] and "inventory.service_policy" in scheduled(old)
    # The 10-minute verification: every SLI sample a local activity, none scheduled.
    sli = "HighErrorRate-memory-exhausted-restarts.json"
    assert "prometheus.query" not in scheduled(HISTORIES / sli)
    assert local_activities(HISTORIES / sli).count("prometheus.query") >= 21
    assert scheduled(PRE_LEAN / sli).count("prometheus.query") >= 21


# ------------------------------------------------------------------ lean history 2
def sa_upserts(path: Path) -> list[list[str]]:
    """The search attributes each upsert sets (TemporalChangeVersion, the patch's own,
    left out)."""
    events = json.loads(path.read_text())["events"]
    out = []
    for e in events:
        a = e.get("upsertWorkflowSearchAttributesEventAttributes")
        if a is not None:
            keys = sorted(
                k for k in a["searchAttributes"]["indexedFields"] if k.startswith("Remedy")
            )
            if keys:
                out.append(keys)
    return out


def slack_posts(path: Path) -> list[str]:
    events = json.loads(path.read_text())["events"]
    out = []
    for e in events:
        a = e.get("activityTaskScheduledEventAttributes")
        if a is not None and a["activityType"]["name"] == "notify.slack":
            out.append(a.get("userMetadata", {}).get("summary", {}).get("data", ""))
    return out


def test_lean2_runs_record_one_marker_and_write_phases_when_they_wait() -> None:
    name = "ServiceDown-restart-healthy.json"
    new, old = HISTORIES / name, PRE_LEAN2 / name
    ids = lambda p: [json.loads(m)["id"] for m in patch_markers(p)]  # noqa: E731
    assert ids(new) == [LEAN_HISTORY_2]
    assert ids(old) == [LEAN_HISTORY]
    # Old: the detection tags, then each of Assessment, Response, Verification and
    # Resolution at once. New: Detection+Assessment in one, Response, Resolution (the
    # phases a workflow task passes through are written together, before it waits).
    assert len(sa_upserts(old)) == 5
    assert sa_upserts(new) == [
        ["RemedyAlertName", "RemedyPhase", "RemedyService", "RemedySeverity"],
        ["RemedyPhase"],
        ["RemedyPhase"],
    ]
    # The crash reason rides the final update instead of a post of its own.
    assert len(slack_posts(old)) == 3 and len(slack_posts(new)) == 2
    total = lambda p: len(json.loads(p.read_text())["events"])  # noqa: E731
    assert total(new) <= total(PRE_LEAN / name) / 2, (total(PRE_LEAN / name), total(new))

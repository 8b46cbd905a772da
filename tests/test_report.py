"""`remedy report` (md, html) and the live countdowns of `remedy status --watch`, on a
real ServiceDown run (time-skipping server, fake activities), plus the bridge's
static summary/details for the Temporal UI."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from bridge.routing import Route, ui_summary
from remedy import report
from tests.workflows.fakes import World
from workflows.contracts.policy import ServicePolicy
from workflows.models import Alert, IncidentInput, IncidentStatus, Phase, Severity, TimelineEntry
from workflows.playbooks.service_down import ServiceDown
from workflows.registry import PLAYBOOKS


def _policy() -> ServicePolicy:
    return ServicePolicy(
        service="genesis-orchestration",
        hosts=["genesis-1"],
        severity_default="P0",
        has_rollback=True,
        has_health_url=True,
    )


async def test_report_of_a_closed_incident_md_and_html(time_env: WorkflowEnvironment) -> None:
    tq = f"tq-{uuid.uuid4()}"
    wid = f"incident:GenesisServiceDown:{uuid.uuid4()}"
    async with Worker(
        time_env.client,
        task_queue=tq,
        workflows=list(PLAYBOOKS.values()),
        activities=World(_policy()).activities(),
    ):
        handle = await time_env.client.start_workflow(
            ServiceDown.run,
            IncidentInput(
                alert=Alert(alertname="GenesisServiceDown", service="genesis-orchestration")
            ),
            id=wid,
            task_queue=tq,
            execution_timeout=timedelta(days=2),
        )
        await handle.result()
        md = await report.fetch(time_env.client, wid)
        # The same run named by its id (`remedy report --run`): the same report.
        assert await report.fetch(time_env.client, wid, run=handle.result_run_id) == md
        status = await report.fetch(time_env.client, wid, "status")
        notice = await report.fetch(time_env.client, wid, "notice")
    # The seeds' status update and user-facing notice, from the same real timeline.
    assert status.startswith("🚨 INCIDENT UPDATE: GenesisServiceDown on genesis-orchestration")
    assert "Status: Resolved" in status and f"Issue: {wid}" in status
    assert "restart (ok)" in status and "health endpoint (ok)" in status
    assert notice.startswith("Service Update: GenesisServiceDown on genesis-orchestration")
    assert "Current Status: 🟢 Resolved" in notice and "Estimated Resolution: resolved at" in notice
    assert "restart" not in notice and "genesis-1" not in notice  # no internals for users
    assert md.startswith("# Incident Summary: GenesisServiceDown on genesis-orchestration (P0)")
    assert "Outcome: **resolved** via restart." in md
    assert "## Post-Incident Checklist" in md and "- [x] Verify all SLOs restored" in md
    assert "| time (UTC) | phase | step | outcome | detail |" in md
    assert "| Response | restart | ok |" in md.replace("  ", " ")

    page = report.render(md, "html")
    assert page.startswith("<!doctype html>") and "<table>" in page
    assert "<h1>Incident Summary: GenesisServiceDown" in page
    assert "<td>restart</td>" in page


def _status(**kw: object) -> IncidentStatus:
    t0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    tl = [
        TimelineEntry(at=t0, phase=Phase.DETECTION, step="alert received", outcome="info"),
        TimelineEntry(
            at=t0,
            phase=Phase.DETECTION,
            step="phase budget: Detection",
            outcome="info",
            detail="ends 0:02:00 after detection",
        ),
        TimelineEntry(
            at=t0 + timedelta(seconds=60),
            phase=Phase.VERIFICATION,
            step="verify error_rate sustained",
            outcome="info",
            detail="error_rate lt 0.001 for 0:10:00, every 0:00:30",
        ),
    ]
    base: dict[str, object] = dict(
        incident_id="incident:HighErrorRate:x",
        playbook="HighErrorRate",
        service="x",
        alertname="HighErrorRate",
        severity=Severity.P1,
        phase=Phase.VERIFICATION,
        detected_at=t0,
        deadline=t0 + timedelta(minutes=30),
        timeline=tl,
    )
    return IncidentStatus.model_validate(base | kw)


def test_countdowns_and_open_report() -> None:
    st = _status()
    now = st.detected_at + timedelta(seconds=100)
    clocks = report.countdowns(st, now)
    assert clocks[0] == "escalation deadline 12:30:00 UTC (1700s)"
    assert "verifying error_rate: window ends in 560s" in clocks
    # Detection's budget is not shown in Verification; a closed incident has no clocks.
    assert not any("Detection" in c for c in clocks)
    assert report.countdowns(_status(outcome="resolved"), now) == []

    md = report.markdown_of(None, st)
    assert "- Still open at:" in md and "Outcome: **open** (phase Verification)." in md


def test_html_escapes_what_came_from_commands() -> None:
    page = report.to_html("# t\n\n| a |\n|---|\n| <script>x</script> |\n")
    assert "<script>" not in page and "&lt;script&gt;" in page


def test_static_summary_and_details() -> None:
    alert = Alert(
        alertname="HighErrorRate",
        service="demo-api",
        severity=Severity.P1,
        annotations={"summary": "5xx above 1 %"},
    )
    route = Route(
        "HighErrorRate",
        "HighErrorRate",
        "demo-api",
        "incident:HighErrorRate:demo-api",
        "default route HighErrorRate -> HighErrorRate",
    )
    summary, details = ui_summary(alert, route)
    assert summary == "HighErrorRate on demo-api (P1)"
    assert "- service: `demo-api`" in details and "- severity: P1" in details
    assert "5xx above 1 %" in details
    summary, _ = ui_summary(alert.model_copy(update={"severity": None}), route, flapping=True)
    assert summary == "HighErrorRate on demo-api (service default) · flapping"


def test_open_incident_status_update_lists_pending_approvals() -> None:
    st = _status()
    t = st.detected_at + timedelta(minutes=2)
    step = "waiting for approval: rollback"
    st.timeline.append(
        TimelineEntry(at=t, phase=Phase.RESPONSE, outcome="info", step=step, detail="roll back")
    )
    text = report.communication(None, st, "status")
    assert "Status: Investigating" in text and "waiting for approval: rollback" in text
    notice = report.communication(None, st, "notice")
    assert (
        "Current Status: 🔴 Major Issue" in notice and "Estimated Resolution: Monitoring" in notice
    )


def test_run_wording_in_the_earlier_runs_note() -> None:
    t = datetime(2026, 12, 6, 3, 40, tzinfo=UTC)
    run = report.Run(
        "incident:A:x",
        "9f8e7d6c-5b4a-4000-8000-000000000000",
        t,
        "COMPLETED",
        "resolved",
        "restart",
    )
    assert run.short == "9f8e7d6c"  # until runs_of makes it unique among the id's runs
    assert run.line() == "2026-12-06 03:40 9f8e7d6c resolved via restart"
    escalated = replace(run, outcome="escalated", action="escalation (no rollback)")
    assert escalated.how() == "escalated (escalation (no rollback))"
    assert replace(run, status="RUNNING", outcome=None, action=None).how() == "open"
    assert replace(run, status="TERMINATED", outcome=None, action=None).how() == "terminated"

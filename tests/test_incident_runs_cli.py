"""Earlier runs of an incident id, on a real dev server (real visibility): an id is
reused by every incident of its alert on its service, one run each. `runs_of` lists
them, `resolve_run` picks one by prefix, `remedy report --run` reports it, `remedy report`
notes the others on stderr, `remedy list` shows the run column."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
import pytest_asyncio
from temporalio import workflow
from temporalio.client import Client
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.worker import Worker

from remedy import report
from remedy.cli_incident import incident_table
from remedy.temporal import ensure_search_attributes
from tests.bridge.conftest import dev_server, temporal  # noqa: F401
from workflows.incident import SA_ALERTNAME
from workflows.models import Phase, PlaybookResult, Severity, TimelineEntry

REMEDY = str(Path(sys.executable).parent / "remedy")
# A quote (visibility-query escaping) and rich markup (`[/]` crashes a markup print).
ALERT = "Probe'[/]"


@workflow.defn(name="RunsProbe", sandboxed=False)
class RunsProbe:
    """One closed incident, at once: its result names the action it was given."""

    @workflow.run
    async def run(self, action: str) -> PlaybookResult:
        info = workflow.info()
        now = workflow.now()
        return PlaybookResult(
            incident_id=info.workflow_id,
            playbook="RunsProbe",
            service="svc",
            alertname=ALERT,
            severity=Severity.P2,
            outcome="resolved",
            action=action,
            paged=False,
            detected_at=now,
            ended_at=now,
            timeline=[TimelineEntry(at=now, phase=Phase.RESPONSE, step=action, outcome="ok")],
            run_key=f"{info.workflow_id}@{info.first_execution_run_id}",
        )


@dataclass
class TwoRuns:
    client: Client
    incident: str
    earlier: str  # run ids
    latest: str


@pytest_asyncio.fixture
async def two_runs(temporal: Client) -> TwoRuns:  # noqa: F811
    await ensure_search_attributes(temporal)  # `remedy list` selects on RemedyAlertName
    wid = f"incident:{ALERT}:svc-{uuid.uuid4().hex[:6]}"
    tq = f"runs-{uuid.uuid4().hex[:8]}"
    sa = TypedSearchAttributes([SearchAttributePair(SA_ALERTNAME, ALERT)])
    run_ids = []
    async with Worker(temporal, task_queue=tq, workflows=[RunsProbe]):
        for action in ("restart", "rollback"):  # one after the other, the same id
            h = await temporal.start_workflow(
                RunsProbe.run, action, id=wid, task_queue=tq, search_attributes=sa
            )
            await h.result()
            assert h.result_run_id is not None
            run_ids.append(h.result_run_id)
    # Visibility lags the close by a little: wait until both closed runs are listed.
    deadline = asyncio.get_running_loop().time() + 10
    while not (
        len(runs := await report.runs_of(temporal, wid)) == 2
        and all(r.status == "COMPLETED" for r in runs)
    ):
        assert asyncio.get_running_loop().time() < deadline, runs
        await asyncio.sleep(0.05)
    return TwoRuns(temporal, wid, *run_ids)


async def test_runs_of_resolve_run_and_fetch_an_earlier_run(two_runs: TwoRuns) -> None:
    client, wid = two_runs.client, two_runs.incident
    runs = await report.runs_of(client, wid)
    assert [r.run_id for r in runs] == [two_runs.latest, two_runs.earlier]  # newest first
    assert [(r.outcome, r.action) for r in runs] == [
        ("resolved", "rollback"),
        ("resolved", "restart"),
    ]
    assert runs[1].how() == "resolved via restart" and runs[0].incident_id == wid
    # Outcomes are read only for the newest few: beyond them, Temporal's status.
    assert [r.outcome for r in await report.runs_of(client, wid, outcomes=1)] == ["resolved", None]

    assert report.resolve_run(runs, runs[1].short) == runs[1]
    assert report.resolve_run(runs, two_runs.latest) == runs[0]  # a full id
    with pytest.raises(ValueError, match="no run of .* has such an id") as bad:
        report.resolve_run(runs, "zzzz", wid)
    assert runs[0].short in str(bad.value) and runs[1].short in str(bad.value)  # candidates
    with pytest.raises(ValueError, match="has no runs"):
        report.resolve_run([], "abc", wid)

    earlier = await report.fetch(client, wid, run=two_runs.earlier)
    assert "Outcome: **resolved** via restart." in earlier
    latest = await report.fetch(client, wid)
    assert "Outcome: **resolved** via rollback." in latest

    note = report.runs_note(wid, runs, two_runs.latest, runs[0].started_at)
    assert note is not None and note.startswith(f"2 runs of {wid}; this report: the latest (")
    assert f"Earlier: {runs[1].started_at:%Y-%m-%d %H:%M} {runs[1].short} resolved via restart" in (
        note
    )
    assert report.runs_note(wid, runs[:1], two_runs.latest, runs[0].started_at) is None


def test_resolve_run_names_the_candidates_of_an_ambiguous_prefix() -> None:
    t = datetime(2026, 12, 6, 3, 40, tzinfo=UTC)
    runs = [
        report.Run("incident:A:x", "9f8e7d6c-1111", t, "COMPLETED"),
        report.Run("incident:A:x", "9f8e0000-2222", t, "RUNNING"),
    ]
    with pytest.raises(ValueError, match="matches 2 runs of incident:A:x") as bad:
        report.resolve_run(runs, "9f8e")
    assert "9f8e7d6c-1111" in str(bad.value) and "9f8e0000-2222" in str(bad.value)
    assert report.resolve_run(runs, "9f8e7") == runs[0]
    with pytest.raises(ValueError, match="expected a run id"):
        report.resolve_run(runs, " ")
    # The note lists a few earlier runs, then says how to see the rest.
    many = [report.Run("incident:A:x", f"{i:08x}-run", t, "FAILED") for i in range(9)]
    note = report.runs_note("incident:A:x", many, many[0].run_id, t)
    assert note is not None and note.startswith("9 runs of incident:A:x")
    assert "00000005-run" not in note and "00000001 failed" in note
    assert "; 3 more (remedy list --query " in note


ROW = (
    "incident:GenesisServiceDown:genesis-orchestration",
    "a1b2c3d4",
    "ServiceDown",
    "COMPLETED",
    "Resolution",
    "P0",
    "2026-12-06 04:01",
)


def _rendered(renderable: object, width: int) -> str:
    from rich.console import Console

    console = Console(width=width, record=True, color_system=None)
    console.print(renderable)
    return console.export_text()


@pytest.mark.parametrize("width", [80, 200])
def test_list_is_readable_at_80_columns_every_word_whole(width: int) -> None:
    markup = ("incident:X:[/]svc[link=https://evil.example]y[/link]", *ROW[1:])
    text = _rendered(incident_table([ROW, markup], width), width)
    assert all(len(line) <= width for line in text.splitlines())
    assert "…" not in text  # nothing squeezed
    for word in ROW:  # the id, run, full playbook and status words, phase, severity, time
        assert word in text, (word, text)
    assert markup[0] in text  # label text shown literally, not parsed as markup
    # 80 columns: one block per incident (id line + attributes line); 200: a table.
    assert (len(text.splitlines()) == 4) == (width == 80), text


def _status(step: str, detail: str) -> object:
    from datetime import UTC, datetime

    from workflows.models import IncidentStatus, Phase, Severity, TimelineEntry

    at = datetime(2026, 12, 6, 4, 1, tzinfo=UTC)
    return IncidentStatus(
        incident_id="incident:GenesisServiceDown:a[/]b",
        playbook="ServiceDown",
        service="a[/]b",
        alertname="GenesisServiceDown",
        severity=Severity.P0,
        phase=Phase.VERIFICATION,
        detected_at=at,
        outcome="resolved",
        timeline=[
            TimelineEntry(at=at, phase=Phase.RESPONSE, step=step, outcome="ok", detail=detail),
            TimelineEntry(
                at=at, phase=Phase.VERIFICATION, step="health endpoint", outcome="failed"
            ),
        ],
    )


@pytest.mark.parametrize("width", [80, 200])
def test_status_is_readable_at_80_columns_and_label_text_is_literal(width: int) -> None:
    from remedy.cli_incident import _render_status

    step = "restart service [link=https://evil.example]x[/link]"
    detail = "systemctl restart genesis [/] exit 0 " + "word " * 30
    text = _rendered(_render_status(_status(step, detail), width=width), width)
    flat = " ".join(text.split())
    assert all(len(line) <= width for line in text.splitlines())
    for word in ("incident:GenesisServiceDown:a[/]b", "ServiceDown", "Verification", "resolved"):
        assert word in text, (word, text)
    for word in ("Response", "Verification", "ok", "failed", "health endpoint"):
        assert word in flat
    assert step in flat and "[/] exit 0" in flat  # never parsed as markup
    assert "…" not in text


async def _remedy(client: Client, tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TEMPORAL_", "REMEDY_"))}
    env |= {
        "TEMPORAL_ADDRESS": client.service_client.config.target_host,
        "TEMPORAL_NAMESPACE": client.namespace,
        "COLUMNS": "200",
    }
    # cwd: a directory without a .env for Settings to pick up.
    return await asyncio.to_thread(
        subprocess.run,
        [REMEDY, *args],
        cwd=tmp,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_short_ids_are_unique_prefixes_even_for_uuid7_runs_a_second_apart() -> None:
    # UUIDv7 (Temporal's run ids): the first 8 hex digits are a timestamp / 65 s.
    a, b = "01a2497f-a49f-7b15-bfdd-e7717676a715", "01a2497f-a4dd-7d21-a22e-2ea42533d701"
    c = "01a24a00-0000-7000-8000-000000000000"
    assert report.short_ids([a, b, c]) == {a: "01a2497f-a49", b: "01a2497f-a4d", c: "01a24a00"}
    # Never ending in the hyphen: one more character instead.
    d = "01a24a00-1000-7000-8000-000000000000"
    assert report.short_ids([c, d]) == {c: "01a24a00-0", d: "01a24a00-1"}
    assert report.short_ids([a]) == {a: "01a2497f"}


async def test_cli_report_run_and_note_and_list(two_runs: TwoRuns, tmp_path: Path) -> None:
    wid = two_runs.incident
    short = report.short_ids([two_runs.earlier, two_runs.latest])
    prefix = short[two_runs.earlier]
    earlier, latest, listed, bad = await asyncio.gather(
        _remedy(two_runs.client, tmp_path, "report", wid, "--run", prefix),
        _remedy(two_runs.client, tmp_path, "report", wid),
        _remedy(two_runs.client, tmp_path, "list"),
        _remedy(two_runs.client, tmp_path, "report", wid, "--run", "zzzz"),
    )
    assert earlier.returncode == 0, earlier.stderr
    assert "Outcome: **resolved** via restart." in earlier.stdout and not earlier.stderr

    assert latest.returncode == 0, latest.stderr
    assert "Outcome: **resolved** via rollback." in latest.stdout
    # The note goes to stderr only: stdout is the report, maybe redirected to a file.
    assert "runs of" not in latest.stdout
    note = latest.stderr.strip()
    assert note.startswith(f"2 runs of {wid}; this report: the latest (")
    assert (
        f"{short[two_runs.latest]}). Earlier: " in note and f"{prefix} resolved via restart" in note
    )
    assert note.endswith("--run PREFIX)")

    assert listed.returncode == 0, listed.stderr
    rows = [line for line in listed.stdout.splitlines() if line.startswith(wid)]
    assert sorted(line.split()[1] for line in rows) == sorted(short.values())

    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert "--run 'zzzz': no run of" in bad.stderr and prefix in bad.stderr

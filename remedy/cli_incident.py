"""The commands about incidents: `remedy list|status|report` follow them, `fire` starts
one through the bridge, `export|replay` keep and check their histories, and
`acknowledge|approve|reject` are a person answering a running incident.

Each answer is a workflow *update* with a validator, so a wrong answer (unknown step,
closed incident, already acknowledged) is refused with the workflow's own reason and
leaves no trace in history; the command exits non-zero with that reason.
"""

from __future__ import annotations

import asyncio
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from remedy.cli_common import (
    OUTCOME_COLORS,
    bridge_token,
    err,
    fail,
    out,
    parse_kv,
    plain,
    run_client,
)
from remedy.settings import Settings

app = typer.Typer()
ME = os.environ.get("USER", "oncall")


# ---------------------------------------------------------------------------- incidents
@app.command("list")
def list_incidents(
    limit: Annotated[int, typer.Option(help="at most this many")] = 50,
    query: Annotated[
        str, typer.Option(help="extra visibility filter, e.g. RemedyService='x'")
    ] = "",
) -> None:
    """Open and recent incidents, one row per run (Temporal visibility + Remedy's search
    attributes). An incident id is reused by every incident of its alert on its service:
    `run` tells them apart, and `remedy report ID --run RUN` reads an earlier one."""
    from remedy.report import short_ids
    from remedy.temporal import connect

    async def go() -> None:
        s = Settings()
        client = await connect(s.temporal_address, s.temporal_namespace)
        q = "RemedyAlertName IS NOT NULL" + (f" AND ({query})" if query else "")
        found = [wf async for wf in client.list_workflows(q, limit=limit)]
        # Run prefixes unique among the listed runs of each id (see short_ids).
        runs: dict[str, list[str]] = {}
        for wf in found:
            runs.setdefault(wf.id, []).append(wf.run_id or "?")
        short = {i: short_ids(ids) for i, ids in runs.items()}
        rows: list[tuple[str, ...]] = []
        for wf in found:
            sa = wf.search_attributes
            rows.append(
                (
                    wf.id,
                    short[wf.id][wf.run_id or "?"],
                    wf.workflow_type,
                    wf.status.name if wf.status else "?",
                    str((sa.get("RemedyPhase") or ["?"])[0]),
                    str((sa.get("RemedySeverity") or ["?"])[0]),
                    f"{wf.start_time:%Y-%m-%d %H:%M}",
                )
            )
        out.print(incident_table(rows, out.width) if rows else "no incidents")

    run_client(go)


# `remedy list`'s columns: the id and the run prefix first, what a person types next.
LIST_COLUMNS = ("incident", "run", "playbook", "status", "phase", "sev", "started (UTC)")


def incident_table(rows: list[tuple[str, ...]], width: int) -> Any:
    """The `remedy list` output fitted to `width`: a table when every column fits, else
    one block per incident (the id on its own line, the rest on the next), so that no
    word is squeezed into "…" or dropped in an 80-column terminal."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    def need(i: int) -> int:
        return max([len(LIST_COLUMNS[i]), *(len(r[i]) for r in rows)])

    if sum(need(i) for i in range(len(LIST_COLUMNS))) + len(LIST_COLUMNS) - 1 <= width:
        # No borders, one space between columns: ids are long, and 80 columns is common.
        table = Table(box=None, padding=(0, 1), pad_edge=False, collapse_padding=True)
        for name in LIST_COLUMNS:
            table.add_column(name, no_wrap=True)  # a cut id could not be copied
        for r in rows:
            # Text cells: ids and attributes come from alert labels, never markup.
            table.add_row(*(Text(c) for c in r))
        return table
    blocks: list[Any] = []
    for r in rows:
        blocks.append(Text(r[0], style="bold", overflow="fold"))  # the id, whole
        # run · playbook · status · phase · severity · started: 76 columns at most.
        rest = f"run {r[1]} · " + " · ".join(r[2:])
        blocks.append(Text("  " + rest, overflow="fold"))
    return Group(*blocks)


def _render_status(st: Any, max_rows: int | None = None, width: int = 200) -> Any:
    """An incident's title, timeline and clocks. Every text from the incident (ids,
    steps, details: alert labels among them) is a rich Text, never parsed as markup.
    Under 100 columns the timeline is one block per step instead of a 5-column table."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    from remedy.report import countdowns

    title = Text(
        f"{st.incident_id} — {st.playbook} — phase {st.phase.value}"
        + (f" — {st.outcome}" if st.outcome else ""),
        overflow="fold",
    )
    rows = st.timeline if max_rows is None else st.timeline[-max_rows:]
    earlier = len(st.timeline) - len(rows)
    clocks = countdowns(st, datetime.now(UTC))
    waiting = [f"waiting for approval: {k} ({v})" for k, v in st.pending_approvals.items()]
    caption = Text(" · ".join([*waiting, *clocks]), style="dim") if clocks or waiting else None

    def outcome(o: str) -> Text:
        return Text(o, style=OUTCOME_COLORS[o])

    if width < 100:
        parts: list[Any] = [title]
        if earlier:
            parts.append(Text(f"… {earlier} earlier steps"))
        for e in rows:
            head = Text(f"{e.at:%H:%M:%S} {e.phase.value} ")
            head.append_text(outcome(e.outcome))
            head.append(f"  {e.step}")
            head.overflow = "fold"
            parts.append(head)
            if e.detail:
                parts.append(Text("    " + e.detail, overflow="fold", style="dim"))
        if caption is not None:
            parts.append(caption)
        return Group(*parts)

    t = Table(title=title, title_justify="left", caption=caption)
    t.add_column("time (UTC)")
    t.add_column("phase")
    t.add_column("step")
    t.add_column("outcome")
    t.add_column("detail", overflow="fold")
    if earlier:
        t.add_row("…", "", f"{earlier} earlier steps", "", "")
    for e in rows:
        t.add_row(
            f"{e.at:%H:%M:%S}", e.phase.value, Text(e.step), outcome(e.outcome), Text(e.detail)
        )
    return t


@app.command()
def status(
    incident: Annotated[str, typer.Argument(help="incident (workflow) id")],
    watch: Annotated[
        bool, typer.Option("--watch", help="refresh until the incident closes")
    ] = False,
) -> None:
    """Phase, timeline and next deadline of an incident."""
    from rich.live import Live

    from remedy.temporal import connect
    from workflows.models import IncidentStatus

    async def go() -> None:
        s = Settings()
        client = await connect(s.temporal_address, s.temporal_namespace)
        handle = client.get_workflow_handle(incident)
        st = await handle.query("status", result_type=IncidentStatus)
        if not watch:
            out.print(_render_status(st, width=out.width))
            return
        # Only the latest steps fit a live view: rich crops what exceeds the terminal.
        rows = max(out.size.height - 10, 5)
        with Live(_render_status(st, rows, out.width), console=out, refresh_per_second=2) as live:
            while not st.outcome:
                await asyncio.sleep(1)
                st = await handle.query("status", result_type=IncidentStatus)
                live.update(_render_status(st, rows, out.width))

    run_client(go)


@app.command()
def report(
    incident: Annotated[str, typer.Argument(help="incident (workflow) id")],
    fmt: Annotated[str, typer.Option("--format", "-f", help="md or html")] = "md",
    template: Annotated[
        str, typer.Option("--template", "-t", help="postmortem, status or notice (user-facing)")
    ] = "postmortem",
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="file (default: stdout)")
    ] = None,
    run: Annotated[
        str | None,
        typer.Option("--run", help="an earlier run: its id or a prefix (see `remedy list`)"),
    ] = None,
) -> None:
    """Post-incident report, status update or user-facing notice (the seeds' templates,
    rendered from the timeline) as markdown or HTML. An incident id is reused by every
    incident of its alert on its service: the latest run is reported unless --run
    names another; its earlier runs are listed on stderr."""
    from remedy import report as rep
    from remedy.temporal import connect

    if fmt not in ("md", "html"):
        fail(f"--format {fmt!r}: expected md or html", 2)
    if template not in ("postmortem", "status", "notice"):
        fail(f"--template {template!r}: expected postmortem, status or notice", 2)

    async def go() -> None:
        from temporalio.service import RPCError

        s = Settings()
        client = await connect(s.temporal_address, s.temporal_namespace)
        chosen = None
        if run is not None:
            # No outcomes needed to pick a run: one visibility query, no history reads.
            chosen = rep.resolve_run(await rep.runs_of(client, incident, outcomes=0), run, incident)
        got = await rep.read(client, incident, chosen.run_id if chosen else None)
        md = rep.communication(got.result, got.status, template)  # type: ignore[arg-type]
        text = rep.render(md, fmt)  # type: ignore[arg-type]
        note: str | None = None
        if chosen:
            short = chosen.short
        else:
            try:
                runs = await rep.runs_of(client, incident)
            except RPCError:  # a server that cannot list: the report stands without the note
                runs = []
            note = rep.runs_note(incident, runs, got.run_id, got.started_at)
            short = rep.short_ids([got.run_id, *(r.run_id for r in runs)])[got.run_id]
        if output is None:
            sys.stdout.write(text)
            sys.stdout.flush()  # the note after the report in a terminal, not inside it
        else:
            output.write_text(text)
            plain(err, f"{output}: {fmt} report of {incident}, run {short}")
        if note:  # stderr: stdout may be redirected to the report's file
            plain(err, note)

    run_client(go)


@app.command()
def fire(
    alertname: Annotated[str, typer.Argument(help="e.g. GenesisServiceDown")],
    label: Annotated[list[str], typer.Option("--label", "-l", help="k=v, repeatable")] = [],  # noqa: B006
    annotation: Annotated[list[str], typer.Option("--annotation", "-a", help="k=v")] = [],  # noqa: B006
    resolve: Annotated[bool, typer.Option("--resolve", help="send the alert as resolved")] = False,
    url: Annotated[str, typer.Option(help="bridge URL")] = "",
) -> None:
    """Post an Alertmanager-format (webhook v4) alert to the bridge."""
    import hashlib
    import json

    import httpx

    s = Settings()
    labels = {"alertname": alertname} | parse_kv(label, "label")
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    status_ = "resolved" if resolve else "firing"
    fp = hashlib.sha256(json.dumps(labels, sort_keys=True).encode()).hexdigest()[:16]
    alert = {
        "status": status_,
        "labels": labels,
        "annotations": parse_kv(annotation, "annotation"),
        "startsAt": now,
        "endsAt": now if resolve else "0001-01-01T00:00:00Z",
        "generatorURL": "",
        "fingerprint": fp,
    }
    payload = {
        "version": "4",
        "groupKey": f'{{}}:{{alertname="{alertname}"}}',
        "truncatedAlerts": 0,
        "status": status_,
        "receiver": "remedy",
        "groupLabels": {"alertname": alertname},
        "commonLabels": labels,
        "commonAnnotations": alert["annotations"],
        "externalURL": "remedy-cli",
        "alerts": [alert],
    }
    target = url or f"http://127.0.0.1:{s.bridge_port}/alertmanager"
    try:
        r = httpx.post(
            target, json=payload, timeout=30, headers={"Authorization": f"Bearer {bridge_token(s)}"}
        )
    except httpx.HTTPError as e:
        fail(f"cannot reach the bridge at {target}: {e}. Is `remedy dev` running?")
    if r.status_code != 200:
        fail(f"bridge answered {r.status_code}: {r.text[:500]}")
    out.print(f"{status_} {alertname} {labels} -> {r.text[:500]}")


# ---------------------------------------------------------------------------- histories
@app.command()
def export(
    incident: Annotated[str, typer.Argument(help="workflow id (incident or rollback)")],
    run_id: Annotated[str, typer.Option("--run-id", help="default: the latest run")] = "",
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="file (default: stdout)")
    ] = None,
) -> None:
    """Write one run's history as JSON, its run id pinned (input to `remedy replay`)."""
    import json

    from remedy import history
    from remedy.temporal import connect

    async def go() -> None:
        s = Settings()
        client = await connect(s.temporal_address, s.temporal_namespace)
        doc = await history.export(client, incident, run_id or None)
        if output is None:
            sys.stdout.write(json.dumps(doc, indent=1, sort_keys=True) + "\n")
        else:
            history.write(doc, output)
            # Plain text: ids like incident:A:x must not turn into emoji or markup.
            err.print(
                f"{output}: {doc['workflowType']} {incident} run {doc['runId']}",
                markup=False,
                emoji=False,
                highlight=False,
                soft_wrap=True,
            )

    run_client(go)


@app.command()
def replay(
    paths: Annotated[list[Path], typer.Argument(help="history JSON files or directories")],
) -> None:
    """Replay histories against this version's playbooks: non-zero exit if any diverges."""
    from remedy import history

    async def go() -> None:
        report = await history.replay(paths)
        for line in report.lines():
            out.print(line, markup=False, emoji=False, highlight=False, soft_wrap=True)
        n, bad = len(report.outcomes), len(report.failures)
        if bad:
            fail(f"{bad} of {n} histories do not replay: not safe for running incidents")
        out.print(f"{n} histories replay cleanly")

    run_client(go)


# ---------------------------------------------------------------------------- answers
def _update(incident: str, name: str, req: object, done: str) -> None:
    from remedy.temporal import connect
    from workflows.models import IncidentStatus

    async def go() -> None:
        s = Settings()
        client = await connect(s.temporal_address, s.temporal_namespace)
        st = await client.get_workflow_handle(incident).execute_update(
            name, req, result_type=IncidentStatus
        )
        still = ", ".join(st.pending_approvals) or "nothing"
        out.print(f"{incident}: {done} (phase {st.phase.value}; still waiting for: {still})")

    run_client(go)


# Who answers: a name under the inventory's `people:`. The workflow checks it against the
# service's `approvers:` and refuses anyone else, naming who may (README "Approvals").
AS_HELP = "answer as this person (default: REMEDY_APPROVER, else $USER)"


def answerer(given: str | None) -> str:
    return given or Settings().approver or ME


@app.command()
def acknowledge(
    incident: Annotated[str, typer.Argument(help="incident (workflow) id")],
    by: Annotated[str | None, typer.Option("--as", "--by", help=AS_HELP)] = None,
    note: Annotated[str, typer.Option(help="free text for the timeline")] = "",
) -> None:
    """Acknowledge an incident (the runbooks' 'on-call engineer acknowledges')."""
    from workflows.models import AckRequest

    by = answerer(by)
    req = AckRequest(by=by, note=note, via="cli")
    _update(incident, "acknowledge", req, f"acknowledged by {by}")


@app.command()
def approve(
    incident: Annotated[str, typer.Argument(help="incident (workflow) id")],
    step: Annotated[str, typer.Argument(help="the step waiting, as `remedy status` shows it")],
    by: Annotated[str | None, typer.Option("--as", "--by", help=AS_HELP)] = None,
    note: Annotated[str, typer.Option(help="free text for the timeline")] = "",
) -> None:
    """Approve a held step (restart, rollback, mitigation, over-limit, containment: NAME)."""
    from workflows.contracts.safety import ApproveRequest

    by = answerer(by)
    req = ApproveRequest(by=by, step=step, note=note, via="cli")
    _update(incident, "approve", req, f"{step} approved by {by}")


@app.command()
def reject(
    incident: Annotated[str, typer.Argument(help="incident (workflow) id")],
    step: Annotated[str, typer.Argument(help="the step waiting, as `remedy status` shows it")],
    reason: Annotated[str, typer.Option("--reason", help="why (goes in the timeline)")],
    by: Annotated[str | None, typer.Option("--as", "--by", help=AS_HELP)] = None,
) -> None:
    """Reject a held step: it never runs, and the incident escalates to a person."""
    from workflows.contracts.safety import RejectRequest

    by = answerer(by)
    req = RejectRequest(by=by, step=step, reason=reason, via="cli")
    _update(incident, "reject", req, f"{step} rejected by {by}")


# ---------------------------------------------------------------------------- storms
storm_app = typer.Typer(help="the fleet-wide storm breaker: status, release")
app.add_typer(storm_app, name="storm")


def _fleet_handle(client: Any, s: Settings) -> Any:
    from workflows.contracts.safety import fleet_guard_id

    return client.get_workflow_handle(fleet_guard_id(s.task_queue))


@storm_app.command("status")
def storm_status() -> None:
    """Is a storm holding automated actions fleet-wide, what is held, the fleet budget."""
    from remedy.temporal import connect
    from workflows.contracts.safety import FleetStatus

    async def go() -> None:
        s = Settings()
        client = await connect(s.temporal_address, s.temporal_namespace)
        try:
            st = await _fleet_handle(client, s).query("status", result_type=FleetStatus)
        except Exception as e:  # noqa: BLE001 -- not found: the guard ended idle
            if "not found" not in str(e).lower():
                raise
            out.print("no fleet guard running: no storm, nothing held, no action this hour")
            return
        t = st.thresholds
        if st.storm:
            out.print(
                f"[bold red]HOLDING[/]: {st.storm.storm_id} since {st.storm.opened_at:%H:%M:%S} "
                f"UTC, {st.storm.incidents} new incidents; `remedy storm release --by NAME`"
            )
        else:
            last = st.last_storm
            out.print(
                "no storm"
                + (f" (last: {last.storm_id}, released by {last.released_by})" if last else "")
            )
        out.print(
            f"openings in the last {t.window_s:g} s: {len(st.openings_in_window)} "
            f"(a storm above {t.incidents}); automated actions this hour: {len(st.grants)}"
            + (f" of {st.budget}" if st.budget is not None else "")
        )
        for h in st.held:
            out.print(f"  held: {h.incident_id} {h.kind} ({h.held_by}, since {h.since:%H:%M:%S})")

    run_client(go)


@storm_app.command("release")
def storm_release(
    by: Annotated[str, typer.Option("--by", help="who releases the hold")] = ME,
    note: Annotated[str, typer.Option(help="free text for the storm's timeline")] = "",
) -> None:
    """End the fleet-wide hold: held incidents go ahead as they next ask (within a minute)."""
    from remedy.temporal import connect
    from workflows.contracts.safety import FleetStatus, ReleaseRequest

    async def go() -> None:
        s = Settings()
        client = await connect(s.temporal_address, s.temporal_namespace)
        st = await _fleet_handle(client, s).execute_update(
            "release", ReleaseRequest(by=by, note=note), result_type=FleetStatus
        )
        last = st.last_storm
        out.print(
            f"{last.storm_id if last else 'storm'}: released by {by}; "
            f"{len(st.held)} held action(s) go ahead as their incidents ask again"
        )

    run_client(go)

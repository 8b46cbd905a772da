"""The post-mortem draft (rendered by the workflow from its timeline, see
workflows/steps/postincident.py) written as markdown to the worker's data dir:
`<data_dir>/postmortems/<incident id>/<detected>-<run>.md`, one file per incident run
(the incident id is reused by every incident of its alert on its service), or
`<data_dir>/postmortems/<incident id>.md` for runs from before per-run keys.
Overwriting is the idempotency: a retried write puts the same text in the same place."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from temporalio import activity

from remedy.settings import Settings
from workflows.contracts.records import POSTMORTEM_WRITE, PostmortemInput, PostmortemResult

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def _safe(name: str) -> str:
    # Incident ids carry ':' and service names from labels: never a path as given.
    return _UNSAFE.sub("_", name).strip("._") or "_"


def report_path(data_dir: Path, incident_id: str, run: str = "") -> Path:
    if not run:
        return data_dir / "postmortems" / (_safe(incident_id) + ".md")
    return data_dir / "postmortems" / _safe(incident_id) / (_safe(run) + ".md")


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".md.tmp")
    tmp.write_text(text)
    tmp.replace(path)


class ReportActivities:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @activity.defn(name=POSTMORTEM_WRITE.name)
    async def postmortem(self, inp: PostmortemInput) -> PostmortemResult:
        path = report_path(Path(self.settings.data_dir), inp.incident_id, inp.run)
        await asyncio.to_thread(_write, path, inp.markdown)
        return PostmortemResult(where=str(path))

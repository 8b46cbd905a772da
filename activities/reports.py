"""The post-mortem draft (rendered by the workflow from its timeline, see
workflows/steps/postincident.py) written as markdown to the worker's data dir:
`<data_dir>/postmortems/<incident id>.md`. Overwriting is the idempotency: a retried
write puts the same text in the same place."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from temporalio import activity

from remedy.settings import Settings
from workflows.remediation_contracts import POSTMORTEM_WRITE, PostmortemInput, PostmortemResult

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def report_path(data_dir: Path, incident_id: str) -> Path:
    # Incident ids carry ':' and service names from labels: never a path as given.
    return data_dir / "postmortems" / (_UNSAFE.sub("_", incident_id).strip("._") + ".md")


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".md.tmp")
    tmp.write_text(text)
    tmp.replace(path)


class ReportActivities:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @activity.defn(name=POSTMORTEM_WRITE)
    async def postmortem(self, inp: PostmortemInput) -> PostmortemResult:
        path = report_path(Path(self.settings.data_dir), inp.incident_id)
        await asyncio.to_thread(_write, path, inp.markdown)
        return PostmortemResult(where=str(path))

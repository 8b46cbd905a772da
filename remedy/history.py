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

import asyncio
import importlib
import json
import os
import sys
import traceback
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
    text = path.read_text()
    doc = json.loads(text)
    if not isinstance(doc, dict) or not doc.get("events"):
        raise ValueError(f"{path}: not a workflow history (no 'events')")
    # CLI/UI exports carry no workflow id; the file name stands in (replay ignores it).
    # The text, not `doc`: given a dict, the SDK deep-copies it before fixing it up,
    # which costs more than parsing the text again.
    return WorkflowHistory.from_json(doc.get("workflowId") or path.stem, text)


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


# A replay process costs ~2 s to start (imports); below this many histories per process
# one process is faster.
PER_PROCESS = 40


def replay_jobs(histories: int) -> int:
    """Processes for replaying `histories`: one per usable core, at most one per
    PER_PROCESS histories. Replay is CPU-bound and one process uses about one core (the
    workflow thread and the event loop share the GIL; the SDK's sandbox and payload
    visitors are Python), so more processes than cores only add start-up."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(cores or 1, histories // PER_PROCESS))


async def replay(
    paths: Sequence[Path | str],
    workflows: Sequence[type] | None = None,
    converter: DataConverter | None = None,
    jobs: int | None = None,
) -> ReplayReport:
    """Replay every history in `paths` (files or directories) against `workflows`
    (default: every registered playbook, as the worker runs them) with the worker's
    data converter, and report each file's outcome: every failure, not the first.

    One Replayer per process replays its share of the files in one pass, in the SDK's
    default (sandboxed) runner, as the worker runs them. `jobs` processes (default
    `replay_jobs`): with more than one, the files are split by size between fresh
    interpreters (`python -m remedy.history`), each loading (JSON parsing is about a
    quarter of the cost) and replaying its share. Those import the workflow classes by
    name and know nothing of this process's in-memory state: a test that monkeypatches
    what workflows see must replay in-process (`jobs=1`); classes that cannot be
    imported by name and an explicit `converter` replay in-process anyway."""
    files = expand(Path(p) for p in paths)
    wfs = list(workflows or default_workflows())
    n = replay_jobs(len(files)) if jobs is None else max(1, min(jobs, len(files)))
    names = _names(wfs)
    if n == 1 or converter is not None or names is None:
        return ReplayReport(await _replay_files(files, wfs, converter or worker_converter()))
    shards = _split(files, n)
    tasks = [asyncio.create_task(_replay_elsewhere([files[i] for i in s], names)) for s in shards]
    try:
        parts = await asyncio.gather(*tasks)
    finally:  # one process failing (or a timeout) stops the others
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    by_index: dict[int, ReplayOutcome] = {}
    for shard, part in zip(shards, parts, strict=True):
        by_index.update(zip(shard, part, strict=True))
    return ReplayReport([by_index[i] for i in range(len(files))])


async def _replay_files(
    files: list[Path], workflows: list[type], converter: DataConverter
) -> list[ReplayOutcome]:
    """One Replayer, one pass over `files` (each loaded as its turn comes). The SDK
    yields one result per history, in order, so a failure keeps its file name even when
    two files hold the same run (a history copied into a pre-*/ folder and not
    re-recorded since)."""
    replayer = Replayer(workflows=workflows, data_converter=converter)

    async def each() -> AsyncIterator[WorkflowHistory]:
        for f in files:
            yield load(f)

    outcomes: list[ReplayOutcome] = []
    async with replayer.workflow_replay_iterator(each()) as results:
        async for r in results:
            started = r.history.events[0].workflow_execution_started_event_attributes
            failure = r.replay_failure
            err = None if failure is None else f"{type(failure).__name__}: {failure}"
            outcomes.append(ReplayOutcome(files[len(outcomes)], started.workflow_type.name, err))
    return outcomes


def _names(workflows: list[type]) -> list[str] | None:
    """'module:qualname' of each class, or None if one cannot be imported back by that
    name (a class made in a function, or in a script run as __main__)."""
    names = []
    for cls in workflows:
        module, qualname = cls.__module__, cls.__qualname__
        if module == "__main__" or "<" in qualname:
            return None
        try:
            if _import(f"{module}:{qualname}") is not cls:
                return None
        except (ImportError, AttributeError):
            return None
        names.append(f"{module}:{qualname}")
    return names


def _import(name: str) -> Any:
    module, qualname = name.split(":")
    obj: Any = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def _split(files: list[Path], n: int) -> list[list[int]]:
    """Indices of `files` in `n` shares of about equal bytes (largest first, each to the
    lightest share): replay time grows with a history's events, i.e. its size."""
    size = [f.stat().st_size for f in files]
    shares: list[list[int]] = [[] for _ in range(n)]
    weight = [0] * n
    for i in sorted(range(len(files)), key=lambda i: -size[i]):
        k = weight.index(min(weight))
        shares[k].append(i)
        weight[k] += size[i]
    return [sorted(s) for s in shares if s]


async def _replay_elsewhere(files: list[Path], workflows: list[str]) -> list[ReplayOutcome]:
    """Replay `files` in a child interpreter (`main` below) with this one's sys.path and
    nothing before it (-P: not the working directory, which may hold another checkout),
    so the same modules, tests' too, import there."""
    path = [p or os.getcwd() for p in sys.path]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(path)}
    job = json.dumps({"files": [str(f) for f in files], "workflows": workflows}).encode()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-P",
        "-m",
        "remedy.history",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    try:
        out, err = await proc.communicate(job)
    finally:
        if proc.returncode is None:  # cancelled (a timeout): leave no replayer behind
            proc.kill()
            await proc.wait()
    if proc.returncode == 0:
        return [
            ReplayOutcome(f, wtype, error)
            for f, (wtype, error) in zip(files, json.loads(out), strict=True)
        ]
    if proc.returncode == 2:  # a file that is no history: the same ValueError as in-process
        raise ValueError(out.decode())
    raise RuntimeError(
        f"replay process exited {proc.returncode}: {err.decode(errors='replace')[-2000:]}"
    )


def main() -> None:
    """A replay process: {"files": [...], "workflows": ["module:qualname", ...]} on stdin,
    [[workflow type, error or null], ...] on stdout, one per file, in order."""
    job = json.loads(sys.stdin.read())
    # The SDK core logs (nondeterminism warnings) to fd 1: keep it for the result alone.
    result = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    try:
        outcomes = asyncio.run(
            _replay_files(
                [Path(f) for f in job["files"]],
                [_import(w) for w in job["workflows"]],
                worker_converter(),
            )
        )
    except ValueError as e:  # load(): not a history (a message naming the file)
        result.write(str(e))
        result.flush()
        os._exit(2)
    except BaseException:
        traceback.print_exc()
        sys.stderr.flush()
        os._exit(1)
    result.write(json.dumps([[o.workflow_type, o.error] for o in outcomes]))
    result.flush()
    os._exit(0)  # the Temporal runtime's threads can crash a normal interpreter exit


if __name__ == "__main__":
    main()

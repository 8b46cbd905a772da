"""Asking for an automated action's permit: first the fleet guard (workflows/fleet.py:
held during an incident storm, or past the fleet-wide budget), then, for restarts and
rollbacks, the service's governor (workflows/governor.py).

An activity because workflow code cannot start or update a workflow that is not its
child. It uses the worker's own Temporal client (`activity.client()`), so it needs no
configuration beyond the fleet budget: both workflows run on the task queue of the
incident asking.

The fleet is asked first: an action held by a storm must not use up the service's
permit while it waits. A fleet grant the service's governor then refuses stays counted
(the over-limit approval asks again with the same key, which the fleet answers "already
granted"): the budget errs towards fewer automated actions.

The fleet guard is one workflow for the whole deployment, so its questions are batched
(PermitBatcher): every permit this worker process has waiting goes in one `permits`
update. Why: the server admits at most 10 in-flight updates per workflow
(history.maxInFlightUpdates; the 200-alert bench/ha.py run met it, RESOURCE_EXHAUSTED),
and each update costs the one guard two events and a workflow task of its own; a batch
costs that once. The per-service governors see one incident each and are asked
directly.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from temporalio import activity
from temporalio.client import (
    Client,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from activities.errors import app_error
from workflows.contracts.safety import (
    GOVERNOR_PERMIT,
    FleetInput,
    FleetPermitBatch,
    FleetPermitRequest,
    GovernorInput,
    PermitDecision,
    PermitRequest,
    fleet_guard_id,
)

log = logging.getLogger("remedy.governor")


def governor_id(service: str) -> str:
    return f"governor:{service}"


# Answers the server gives an update it did not run, to be asked again: over the
# in-flight limit (RESOURCE_EXHAUSTED), and "workflow update was aborted" (UNAVAILABLE:
# the workflow's state was reloaded, e.g. after a persistence timeout on a busy server;
# seen in bench/ha.py at 200 alerts, where it failed permits five attempts running).
_ASK_AGAIN = (RPCStatusCode.RESOURCE_EXHAUSTED, RPCStatusCode.UNAVAILABLE)


async def execute_update_patiently(
    client: Client,
    wid: str,
    name: str,
    arg: object,
    result_type: Any,
    patience_s: float = 20.0,
    on_retry: Callable[[], None] | None = None,
) -> Any:
    """`execute_update`, asked again after a short random pause while the server turns
    it away (see _ASK_AGAIN) or the call times out, for up to `patience_s`. One update
    id for every try: the server runs an update id once and answers a repeat with its
    first outcome, so a try that did land is not decided twice."""
    update_id = f"{name}-{uuid.uuid4()}"
    give_up = time.monotonic() + patience_s
    while True:
        try:
            return await client.get_workflow_handle(wid).execute_update(
                name, arg, id=update_id, result_type=result_type
            )
        except (RPCError, WorkflowUpdateRPCTimeoutOrCancelledError) as err:
            retry = isinstance(err, WorkflowUpdateRPCTimeoutOrCancelledError) or (
                err.status in _ASK_AGAIN
            )
            if not retry or time.monotonic() > give_up:
                raise
            log.info("%s %s on %s: %s; asking again", name, update_id, wid, err)
            if on_retry is not None:
                on_retry()
            await asyncio.sleep(random.uniform(0.05, 0.5))


async def _ensure_started(
    client: Client, workflow: str, wid: str, start_arg: object, task_queue: str
) -> None:
    try:
        await client.start_workflow(workflow, start_arg, id=wid, task_queue=task_queue)
    except WorkflowAlreadyStartedError:
        pass  # the usual case: it holds this hour's grants


async def _ask_one(client: Client, wid: str, update: object) -> PermitDecision:
    """One `permit` update. No run id: after a continue-as-new it goes to the current
    run; if the workflow ended (idle) in between, it fails and the retry starts it. A
    validator's refusal is final (GovernorRefused, not retryable)."""
    try:
        d: PermitDecision = await execute_update_patiently(
            client, wid, "permit", update, PermitDecision
        )
    except WorkflowUpdateFailedError as err:
        raise app_error("GovernorRefused", f"{wid}: {err.cause or err}") from err
    return d


@dataclass
class _Ask:
    req: PermitRequest
    budget: int
    answer: asyncio.Future[PermitDecision]


@dataclass
class PermitBatcher:
    """One worker process's questions to one fleet guard, coalesced.

    A question waits at most `linger_s` for others to join it, then goes with up to
    `max_batch` others in one `permits` update; at most `max_in_flight` updates are out
    at once per process (the server admits 10 per workflow, shared by every worker). An
    update the server turns away for that limit is sent again after a short random
    pause, until `patience_s`; any other failure fails every question of the batch, and
    each activity's own retry asks again with the same key (the guard answers "already
    granted" to a key it granted). A question whose activity was cancelled before its
    batch went out is left out of it."""

    # One batch out at a time per process, gathered for up to 200 ms: at 10 restarts/s
    # across two workers, 2 and 20 ms kept the guard's update queue full (RESOURCE_
    # EXHAUSTED, "update was aborted", bench/ha.py); a permit is not the restart's
    # critical path by more than that.
    linger_s: float = 0.2
    max_batch: int = 100
    max_in_flight: int = 1
    patience_s: float = 20.0
    # Counters, for the benchmark and tests.
    batches: int = 0
    asked: int = 0
    turned_away: int = 0
    _pending: list[_Ask] = field(default_factory=list)
    _runner: asyncio.Task[None] | None = None
    _sending: set[asyncio.Task[None]] = field(default_factory=set)
    _slots: asyncio.Semaphore | None = None

    async def ask(
        self, client: Client, wid: str, task_queue: str, req: PermitRequest, budget: int
    ) -> PermitDecision:
        """The guard's answer to `req` (starting the guard on `task_queue` if need be)."""
        loop = asyncio.get_running_loop()
        ask = _Ask(req, budget, loop.create_future())
        self._pending.append(ask)
        if self._runner is None or self._runner.done() or self._runner.get_loop() is not loop:
            self._slots = asyncio.Semaphore(self.max_in_flight)
            self._runner = loop.create_task(self._run(client, wid, task_queue))
        return await ask.answer

    async def _run(self, client: Client, wid: str, task_queue: str) -> None:
        # Ends as soon as nothing waits (no await between the check and the end, so a
        # question asked later starts a new runner); batches out keep their slot.
        assert self._slots is not None
        while self._pending:
            await asyncio.sleep(self.linger_s)  # let the questions asked together gather
            await self._slots.acquire()
            batch = [a for a in self._pending[: self.max_batch] if not a.answer.done()]
            del self._pending[: self.max_batch]
            if not batch:
                self._slots.release()
                continue
            t = asyncio.get_running_loop().create_task(self._send(client, wid, task_queue, batch))
            self._sending.add(t)
            t.add_done_callback(self._sending.discard)

    async def _send(self, client: Client, wid: str, task_queue: str, batch: list[_Ask]) -> None:
        assert self._slots is not None
        try:
            decisions = await self._update(client, wid, task_queue, batch)
        except BaseException as err:  # every question of the batch gets the failure
            for a in batch:
                if not a.answer.done():
                    a.answer.set_exception(err)
            if isinstance(err, asyncio.CancelledError):
                raise
        else:
            for a, d in zip(batch, decisions, strict=True):
                if not a.answer.done():
                    a.answer.set_result(d)
        finally:
            self._slots.release()

    async def _update(
        self, client: Client, wid: str, task_queue: str, batch: list[_Ask]
    ) -> list[PermitDecision]:
        budget = batch[-1].budget  # one per worker process (its setting); the latest wins
        await _ensure_started(client, "FleetGuard", wid, FleetInput(), task_queue)
        self.batches += 1
        self.asked += len(batch)
        arg = FleetPermitBatch(requests=[a.req for a in batch], budget=budget)
        try:
            got: list[PermitDecision] = await execute_update_patiently(
                client,
                wid,
                "permits",
                arg,
                list[PermitDecision],
                self.patience_s,
                on_retry=self._turned_away,
            )
            return got
        except WorkflowUpdateFailedError as err:
            # A guard whose worker predates `permits` (a rolling upgrade): one `permit`
            # update each, as before.
            log.info("%s: batch refused (%s); asking one by one", wid, err.cause or err)
            return [
                await _ask_one(client, wid, FleetPermitRequest(request=a.req, budget=budget))
                for a in batch
            ]

    def _turned_away(self) -> None:
        self.turned_away += 1


class GovernorActivities:
    def __init__(self, fleet_actions_per_hour: int = 30) -> None:
        self.fleet_budget = fleet_actions_per_hour
        # One batcher per (event loop, guard): a worker process runs one loop; tests may
        # run several in turn.
        self._batchers: dict[tuple[int, str], PermitBatcher] = {}

    def batcher(self, wid: str) -> PermitBatcher:
        key = (id(asyncio.get_running_loop()), wid)
        if key not in self._batchers:
            self._batchers[key] = PermitBatcher()
        return self._batchers[key]

    @activity.defn(name=GOVERNOR_PERMIT.name)
    async def permit(self, req: PermitRequest) -> PermitDecision:
        # The server gives up on this attempt at its start-to-close timeout, but nothing
        # tells the worker (no heartbeat here), so without our own bound an attempt
        # waiting on a swamped guard would hold an activity slot long after its retry
        # was scheduled. Give up a little before the server does.
        limit = activity.info().start_to_close_timeout
        async with asyncio.timeout(max(limit.total_seconds() - 1, 1) if limit else None):
            return await self._permit(req)

    async def _permit(self, req: PermitRequest) -> PermitDecision:
        client = activity.client()
        fleet: PermitDecision | None = None
        if req.fleet:
            tq = activity.info().task_queue
            wid = fleet_guard_id(tq)
            fleet = await self.batcher(wid).ask(client, wid, tq, req, self.fleet_budget)
            if not fleet.granted or not req.service_governor:
                return fleet
        gid = governor_id(req.service)
        start = GovernorInput(service=req.service)
        await _ensure_started(client, "Governor", gid, start, activity.info().task_queue)
        d = await _ask_one(client, gid, req)
        if fleet is not None and "already" not in fleet.detail:
            d.detail += f"; {fleet.detail}"
        return d

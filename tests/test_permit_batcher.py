"""activities/governor.PermitBatcher against a stand-in client (the Temporal client is
the boundary here; tests/workflows/test_fleet.py drives it against the real guard): the
server's "too many in-flight updates" answer is waited out and asked again, any other
failure reaches every question of the batch (each activity's retry asks again), and a
question whose activity was cancelled before its batch went out is left out of it."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import pytest
from temporalio.service import RPCError, RPCStatusCode

from activities.governor import PermitBatcher
from workflows.contracts.safety import FleetPermitBatch, PermitDecision, PermitRequest


def req(i: int) -> PermitRequest:
    return PermitRequest(
        service="svc", incident_id=f"i{i}", kind="restart", key=f"i{i}:restart:1", max_per_hour=3
    )


@dataclass
class StandIn:
    """Answers `permits` by granting every question, after `refuse` in-flight refusals
    (or failing with `fail`); records each batch it was sent."""

    refuse: int = 0
    fail: Exception | None = None
    batches: list[list[str]] = field(default_factory=list)
    started: int = 0

    async def start_workflow(self, *a: Any, **kw: Any) -> None:
        self.started += 1

    def get_workflow_handle(self, wid: str) -> StandIn:
        return self

    async def execute_update(self, name: str, arg: FleetPermitBatch, **kw: Any) -> object:
        assert name == "permits"
        await asyncio.sleep(0.01)
        if self.refuse:
            self.refuse -= 1
            raise RPCError(
                "limit on number of concurrent in-flight updates has been reached (10)",
                RPCStatusCode.RESOURCE_EXHAUSTED,
                b"",
            )
        if self.fail is not None:
            raise self.fail
        self.batches.append([r.incident_id for r in arg.requests])
        return [
            PermitDecision(granted=True, used=n, limit=arg.budget)
            for n, _ in enumerate(arg.requests, 1)
        ]


class AbortsOnce(StandIn):
    def __init__(self) -> None:
        super().__init__()
        self.ids: list[str] = []

    async def execute_update(self, name: str, arg: FleetPermitBatch, **kw: Any) -> object:
        self.ids.append(kw["id"])
        if len(self.ids) == 1:
            raise RPCError("workflow update was aborted", RPCStatusCode.UNAVAILABLE, b"")
        return await super().execute_update(name, arg, **kw)


async def ask_all(b: PermitBatcher, client: StandIn, n: int) -> list[Any]:
    return await asyncio.gather(
        *(b.ask(client, "fleet:q", "q", req(i), 30) for i in range(n)),  # type: ignore[arg-type]
        return_exceptions=True,
    )


async def test_in_flight_refusals_are_waited_out() -> None:
    b, client = PermitBatcher(), StandIn(refuse=3)
    got = await ask_all(b, client, 12)
    assert all(isinstance(d, PermitDecision) and d.granted for d in got)
    assert b.turned_away == 3
    assert sum(len(x) for x in client.batches) == 12  # each question answered once


async def test_batches_are_capped_and_kept_in_order() -> None:
    b, client = PermitBatcher(max_batch=5), StandIn()
    got = await ask_all(b, client, 12)
    assert [len(x) for x in client.batches] == [5, 5, 2]
    assert [i for x in client.batches for i in x] == [f"i{i}" for i in range(12)]
    assert all(isinstance(d, PermitDecision) for d in got)


async def test_an_aborted_update_is_asked_again_under_the_same_id() -> None:
    # "workflow update was aborted" (UNAVAILABLE): the guard's state was reloaded.
    client = AbortsOnce()
    got = await ask_all(PermitBatcher(), client, 3)
    assert all(isinstance(d, PermitDecision) and d.granted for d in got)
    assert len(client.ids) == 2 and client.ids[0] == client.ids[1]


async def test_a_failure_reaches_every_question_of_its_batch() -> None:
    boom = RPCError("permission denied", RPCStatusCode.PERMISSION_DENIED, b"")
    b, client = PermitBatcher(), StandIn(fail=boom)
    got = await ask_all(b, client, 4)
    assert got == [boom] * 4
    client.fail = None  # the activities' retries ask again
    again = await ask_all(b, client, 4)
    assert all(isinstance(d, PermitDecision) and d.granted for d in again)


async def test_refusals_past_patience_fail_the_batch() -> None:
    b, client = PermitBatcher(patience_s=0.0), StandIn(refuse=100)
    got = await ask_all(b, client, 3)
    assert all(isinstance(e, RPCError) for e in got)
    assert client.batches == []


async def test_a_cancelled_question_is_left_out() -> None:
    b, client = PermitBatcher(linger_s=0.4), StandIn()
    first = asyncio.ensure_future(b.ask(client, "fleet:q", "q", req(0), 30))  # type: ignore[arg-type]
    second = asyncio.ensure_future(b.ask(client, "fleet:q", "q", req(1), 30))  # type: ignore[arg-type]
    await asyncio.sleep(0.05)
    first.cancel()  # its activity timed out while the batch was still gathering
    assert (await second).granted
    with pytest.raises(asyncio.CancelledError):
        await first
    assert client.batches == [["i1"]]

"""The bridge's line to Temporal: a client connected on first use (so the bridge starts
while Temporal is down) and the classification of its failures (a transient one answers
503, so Alertmanager retries; anything else 500)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

_TRANSIENT = {
    RPCStatusCode.UNAVAILABLE,
    RPCStatusCode.DEADLINE_EXCEEDED,
    RPCStatusCode.RESOURCE_EXHAUSTED,
    RPCStatusCode.ABORTED,
    RPCStatusCode.CANCELLED,
    RPCStatusCode.UNKNOWN,
    RPCStatusCode.INTERNAL,
}


def is_transient(err: BaseException) -> bool:
    """Would a retry by Alertmanager plausibly succeed? (-> 503 rather than 500)"""
    if isinstance(err, RPCError):
        return err.status in _TRANSIENT
    # The SDK reports a refused or dropped connection as a RuntimeError.
    return isinstance(err, TimeoutError | ConnectionError | OSError | RuntimeError)


def describe_error(err: BaseException, timeout_s: float) -> str:
    if isinstance(err, TimeoutError):
        return (
            f"TimeoutError: no answer from Temporal within {timeout_s:g} s "
            "(it may or may not have landed; a retry is harmless)"
        )
    return f"{type(err).__name__}: {getattr(err, 'message', None) or err}"


class TemporalLink:
    """The Temporal client, connected on first use and again after a failed connect, so
    the bridge starts (and answers /healthz with 503) while Temporal is still down."""

    def __init__(
        self,
        client: Client | None,
        factory: Callable[[], Awaitable[Client]],
        timeout_s: float,
    ) -> None:
        self._client = client
        self._factory = factory
        self.timeout_s = timeout_s
        self._lock = asyncio.Lock()

    async def get(self) -> Client:
        if self._client is None:
            async with self._lock:
                if self._client is None:
                    self._client = await asyncio.wait_for(self._factory(), self.timeout_s)
        return self._client

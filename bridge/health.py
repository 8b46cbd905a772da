"""What /healthz answers: "is Temporal reachable", from a cached check.

/healthz needs no token (orchestrator probes), so it must cost a caller nothing worth
flooding and tell it nothing worth knowing. The Temporal check (one RPC) runs at most
once per `interval_s`: the first request waits for it (bounded by the Temporal timeout),
later ones answer from the last result at once and, when it is older than the interval,
start one refresh in the background that the next request sees. Concurrent requests
share one check in flight. The answer is "ok" or "degraded" -- never the error, which
would name hosts and addresses; the error is logged instead (once per change).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

log = logging.getLogger("remedy.bridge")

Check = Callable[[], Awaitable[bool]]


class HealthCache:
    def __init__(
        self,
        check: Check,
        interval_s: float,
        clock: Callable[[], float] = time.monotonic,
        on_result: Callable[[bool], None] | None = None,
    ) -> None:
        self._check = check
        self.interval_s = interval_s
        self._clock = clock
        self._on_result = on_result
        self._ok: bool | None = None
        self._checked_at = 0.0
        self._task: asyncio.Task[bool] | None = None
        self._last_error = ""

    async def _run(self) -> bool:
        try:
            ok = await self._check()
            error = "" if ok else "Temporal answered: not serving"
        except Exception as err:  # noqa: BLE001 -- any failure means "degraded"
            ok, error = False, f"{type(err).__name__}: {err}"
        if error != self._last_error:
            if error:
                log.warning("healthz: Temporal check failed: %s", error)
            else:
                log.info("healthz: Temporal reachable again")
            self._last_error = error
        self._ok, self._checked_at = ok, self._clock()
        if self._on_result is not None:
            self._on_result(ok)
        return ok

    def _refresh(self) -> asyncio.Task[bool]:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())
        return self._task

    async def ok(self) -> bool:
        """The last result; the first call waits for a check, a stale one refreshes in
        the background."""
        if self._ok is None:
            return await asyncio.shield(self._refresh())
        if self._clock() - self._checked_at >= self.interval_s:
            self._refresh()
        return self._ok

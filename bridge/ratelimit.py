"""Per-source rate limit for the bridge: an in-memory token bucket per client IP.

In memory and per process on purpose: the bridge is stateless and a limit only has to
stop one source from flooding one process (N bridge replicas allow N times the rate;
size the limit per replica). Alertmanager batches alerts into few requests, so a
legitimate source stays far under it; one over it gets 429 and Alertmanager retries.

The source is the TCP peer address, not X-Forwarded-For: a header a client can set
would let it pick its own bucket. Behind a proxy, rate-limit at the proxy.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable


class RateLimiter:
    def __init__(
        self,
        rate_per_s: float,
        burst: int,
        *,
        max_sources: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate, self.burst, self.max_sources, self.clock = rate_per_s, burst, max_sources, clock
        # source -> (tokens, last refill); LRU order so a flood of distinct sources
        # evicts the stalest bucket instead of growing without bound.
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    def allow(self, source: str) -> float:
        """0 if a request from `source` may proceed now, else seconds until it may."""
        if not self.enabled:
            return 0.0
        now = self.clock()
        tokens, last = self._buckets.pop(source, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - last) * self.rate)
        wait = 0.0
        if tokens >= 1.0:
            tokens -= 1.0
        else:
            wait = (1.0 - tokens) / self.rate
        self._buckets[source] = (tokens, now)
        while len(self._buckets) > self.max_sources:
            self._buckets.popitem(last=False)
        return wait

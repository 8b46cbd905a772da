"""What this bridge process already told Temporal, so repeats cost no round trip.

Alertmanager re-sends every firing alert each repeat_interval and retries failed
notifications; a group holding several instances re-sends all of them when any one
changes. None of that changes an incident, so an alert whose (fingerprint, startsAt)
was already signalled to a run Temporal confirmed open is answered from here.

This is only an optimization. The bridge stays stateless: after a restart the cache is
empty and the signal-with-start is repeated, which Temporal deduplicates (USE_EXISTING).
It can only be wrong by staying on after the incident closed, so:

* an entry lives `ttl_s` from the last time Temporal confirmed the run open, and the
  app caps that TTL at the flap cool-down (see bridge/dispatch.py for why that makes
  "the cache says open" enough to decide the flap flag without a describe);
* a resolution, a failed or uncertain call, and a call that finds a different run
  drop or replace the entry;
* a new startsAt (new firing episode) or a new fingerprint (new instance) is never
  answered from here.

Single-threaded by design: it is used from the app's event loop only.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime


@dataclass
class _Entry:
    run_id: str
    confirmed_at: float
    # fingerprint -> startsAt of the episode already signalled (oldest first, bounded)
    episodes: OrderedDict[str, datetime] = field(default_factory=OrderedDict)


class IncidentCache:
    def __init__(
        self,
        ttl_s: float,
        max_incidents: int = 10_000,
        max_alerts_per_incident: int = 256,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl_s = ttl_s
        self.max_incidents = max_incidents
        self.max_alerts = max_alerts_per_incident
        self._clock = clock
        # Ordered by confirmation time (confirm() moves an entry to the end), so both
        # expiry and size eviction pop from the front.
        self._entries: OrderedDict[str, _Entry] = OrderedDict()

    def __len__(self) -> int:
        self._expire()
        return len(self._entries)

    def _expire(self) -> None:
        now = self._clock()
        while self._entries:
            wid, entry = next(iter(self._entries.items()))
            if now - entry.confirmed_at < self.ttl_s:
                break
            del self._entries[wid]

    def _get(self, workflow_id: str) -> _Entry | None:
        self._expire()
        return self._entries.get(workflow_id)

    def open_run(self, workflow_id: str) -> str | None:
        """The run id Temporal confirmed open less than `ttl_s` ago, if any."""
        entry = self._get(workflow_id)
        return entry.run_id if entry else None

    def seen(self, workflow_id: str, fingerprint: str, starts_at: datetime) -> bool:
        """True if this exact alert episode was already signalled to the open run."""
        entry = self._get(workflow_id)
        return entry is not None and entry.episodes.get(fingerprint) == starts_at

    def confirm(self, workflow_id: str, run_id: str, fingerprint: str, starts_at: datetime) -> None:
        """Temporal just delivered this alert to `run_id`, which was therefore open."""
        if self.ttl_s <= 0 or self.max_incidents <= 0:
            return
        entry = self._entries.pop(workflow_id, None)
        if entry is None or entry.run_id != run_id:
            entry = _Entry(run_id=run_id, confirmed_at=0.0)  # another run: forget the old one
        entry.confirmed_at = self._clock()
        entry.episodes.pop(fingerprint, None)
        entry.episodes[fingerprint] = starts_at
        while len(entry.episodes) > self.max_alerts:
            entry.episodes.popitem(last=False)
        self._entries[workflow_id] = entry
        while len(self._entries) > self.max_incidents:
            self._entries.popitem(last=False)

    def drop(self, workflow_id: str) -> None:
        self._entries.pop(workflow_id, None)

"""The hot-path cache on its own, with a controlled clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bridge.cache import IncidentCache

T0 = datetime(2026, 1, 1, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_seen_only_for_same_fingerprint_and_episode() -> None:
    c = IncidentCache(ttl_s=60, clock=Clock())
    assert not c.seen("i", "fp", T0)
    c.confirm("i", "run1", "fp", T0)
    assert c.seen("i", "fp", T0) and c.open_run("i") == "run1"
    assert not c.seen("i", "fp", T0 + timedelta(seconds=1))  # new firing episode
    assert not c.seen("i", "other", T0)  # new instance
    assert not c.seen("j", "fp", T0)


def test_expires_ttl_after_last_confirmation_not_after_last_hit() -> None:
    clock = Clock()
    c = IncidentCache(ttl_s=60, clock=clock)
    c.confirm("i", "run1", "fp", T0)
    clock.now += 59
    assert c.seen("i", "fp", T0)  # a hit does not extend the entry
    clock.now += 1
    assert not c.seen("i", "fp", T0) and c.open_run("i") is None and len(c) == 0


def test_a_different_run_replaces_the_entry() -> None:
    c = IncidentCache(ttl_s=60, clock=Clock())
    c.confirm("i", "run1", "a", T0)
    c.confirm("i", "run2", "b", T0)
    assert c.open_run("i") == "run2" and not c.seen("i", "a", T0) and c.seen("i", "b", T0)


def test_drop_and_bounds() -> None:
    clock = Clock()
    c = IncidentCache(ttl_s=60, max_incidents=3, max_alerts_per_incident=2, clock=clock)
    c.confirm("i", "r", "a", T0)
    c.drop("i")
    assert c.open_run("i") is None
    for n in range(5):
        clock.now += 1
        c.confirm(f"w{n}", "r", "a", T0)
    assert len(c) == 3 and c.open_run("w0") is None and c.open_run("w4") == "r"
    for fp in ("a", "b", "c"):
        c.confirm("w4", "r", fp, T0)
    assert not c.seen("w4", "a", T0) and c.seen("w4", "c", T0)


def test_zero_ttl_disables_caching() -> None:
    c = IncidentCache(ttl_s=0, clock=Clock())
    c.confirm("i", "r", "a", T0)
    assert not c.seen("i", "a", T0) and len(c) == 0

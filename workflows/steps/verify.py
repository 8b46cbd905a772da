"""The runbooks' "Wait 10 minutes: ensure sustained improvement".

One SLI sample per interval for the whole window. Fail-safe: a sample that breaches the
bound *or* is missing (no data, Prometheus unreachable, query error) fails the window at
once -- "no data" is never "improved" (DESIGN principle 7).
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows.contracts.policy import Sli
    from workflows.contracts.prometheus import PROMETHEUS_QUERY, PromQueryInput
    from workflows.incident import Incident, StepFailed, lean
    from workflows.models import VerifyResult


# Under LEAN_HISTORY the sampler wakes once per SAMPLES_PER_WAKE slots and reads the
# slots it slept through at their own time (Prometheus' `time`, as seconds ago), each a
# local activity:
# the same samples on the same 30 s grid for one timer and one workflow task per wake
# instead of a timer, an activity and two workflow tasks per sample. A breach in a slot
# read late is seen up to one interval later -- the SLIs are 5-minute rates.
SAMPLES_PER_WAKE = 2


async def sustained(
    inc: Incident, sli: Sli, window: timedelta, interval: timedelta
) -> VerifyResult:
    inc.record(
        f"verify {sli.name} sustained",
        "info",
        f"{sli.name} {sli.comparison} {sli.threshold} for {window}, every {interval}",
    )
    if lean():
        return await _on_a_grid(inc, sli, window, interval)
    start = workflow.now()
    samples = 0
    while True:
        at = workflow.now()
        value, detail = await _sample(inc, sli)
        samples += 1
        if (broken := _broken(inc, sli, samples, at, value, detail)) is not None:
            return broken
        if workflow.now() - start >= window:
            inc.record(f"verify {sli.name}", "ok", f"held for {window} over {samples} samples")
            return VerifyResult(held=True, samples=samples, value=value)
        # Sleep to the next slot of a fixed schedule, so activity latency does not drift
        # the samples (and the window) later and later.
        await inc.sleep(max(start + samples * interval - workflow.now(), timedelta(0)))


async def _on_a_grid(
    inc: Incident, sli: Sli, window: timedelta, interval: timedelta
) -> VerifyResult:
    """Slot j at start + j * interval, j = 0 .. last (the first slot at or past the
    window's end): every slot due when the sampler wakes is read, the newest now, the
    older ones at their slot's time."""
    start = workflow.now()
    last = math.ceil(window / interval) if interval > timedelta(0) else 0
    samples = 0
    value: float | None = None
    while True:
        now = workflow.now()
        due = [j for j in range(samples, last + 1) if start + j * interval <= now] or [samples]
        for j in due:
            at = None if j == due[-1] else start + j * interval
            value, detail = await _sample(inc, sli, now - at if at else timedelta(0))
            samples += 1
            broken = _broken(inc, sli, samples, at or now, value, detail, late=at is not None)
            if broken is not None:
                return broken
        if samples > last:
            inc.record(f"verify {sli.name}", "ok", f"held for {window} over {samples} samples")
            return VerifyResult(held=True, samples=samples, value=value)
        wake = start + min(samples - 1 + SAMPLES_PER_WAKE, last) * interval
        await inc.sleep(max(wake - workflow.now(), timedelta(0)))


async def _sample(
    inc: Incident, sli: Sli, ago: timedelta = timedelta(0)
) -> tuple[float | None, str]:
    try:
        res = await inc.act(
            f"sample {sli.name}",
            PROMETHEUS_QUERY,
            PromQueryInput(query=sli.query, ago_s=ago.total_seconds()),
        )
    except StepFailed as err:
        return None, err.message
    return res.scalar(), f"{res.status} {res.detail}".strip()


def _broken(
    inc: Incident,
    sli: Sli,
    samples: int,
    at: datetime,
    value: float | None,
    detail: str,
    *,
    late: bool = False,
) -> VerifyResult | None:
    when = f" (at {at:%H:%M:%S})" if late else ""
    if value is None:
        inc.record(f"verify {sli.name}", "failed", f"sample {samples}{when} missing: {detail}")
        return VerifyResult(
            held=False, samples=samples, broken_at=at, broken_by="missing", detail=detail
        )
    if not sli.holds(value):
        inc.record(
            f"verify {sli.name}",
            "failed",
            f"sample {samples}{when} = {value:g} breaks {sli.comparison} {sli.threshold:g}",
        )
        return VerifyResult(
            held=False, samples=samples, broken_at=at, broken_by="breach", value=value
        )
    return None

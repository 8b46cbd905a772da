"""The runbooks' "Wait 10 minutes: ensure sustained improvement".

One SLI sample per interval for the whole window. Fail-safe: a sample that breaches the
bound *or* is missing (no data, Prometheus unreachable, query error) fails the window at
once -- "no data" is never "improved" (DESIGN principle 7).
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows.contracts.policy import Sli
    from workflows.contracts.prometheus import PROMETHEUS_QUERY, PromQueryInput
    from workflows.incident import Incident, StepFailed
    from workflows.models import VerifyResult


async def sustained(
    inc: Incident, sli: Sli, window: timedelta, interval: timedelta
) -> VerifyResult:
    start = workflow.now()
    samples = 0
    inc.record(
        f"verify {sli.name} sustained",
        "info",
        f"{sli.name} {sli.comparison} {sli.threshold} for {window}, every {interval}",
    )
    while True:
        at = workflow.now()
        value: float | None
        try:
            res = await inc.act(
                f"sample {sli.name}",
                PROMETHEUS_QUERY,
                PromQueryInput(query=sli.query),
            )
            value, detail = res.scalar(), f"{res.status} {res.detail}".strip()
        except StepFailed as err:
            value, detail = None, err.message
        samples += 1
        if value is None:
            inc.record(f"verify {sli.name}", "failed", f"sample {samples} missing: {detail}")
            return VerifyResult(
                held=False, samples=samples, broken_at=at, broken_by="missing", detail=detail
            )
        if not sli.holds(value):
            inc.record(
                f"verify {sli.name}",
                "failed",
                f"sample {samples} = {value:g} breaks {sli.comparison} {sli.threshold:g}",
            )
            return VerifyResult(
                held=False, samples=samples, broken_at=at, broken_by="breach", value=value
            )
        if workflow.now() - start >= window:
            inc.record(f"verify {sli.name}", "ok", f"held for {window} over {samples} samples")
            return VerifyResult(held=True, samples=samples, value=value)
        # Sleep to the next slot of a fixed schedule, so activity latency does not drift
        # the samples (and the window) later and later.
        await workflow.sleep(max(start + samples * interval - workflow.now(), timedelta(0)))

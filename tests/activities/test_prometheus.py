"""PrometheusActivities against a real Prometheus (tests/fixtures/prometheus.py) and, for
answers a healthy Prometheus never gives, against the loopback HTTP sink."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from temporalio.contrib.pydantic import pydantic_data_converter

from activities.prometheus import PrometheusActivities
from remedy.settings import Settings
from tests.fixtures.httpsink import HttpSink, SinkResponse
from tests.fixtures.prometheus import free_port
from workflows.contracts.prometheus import PromQueryInput, PromQueryResult


def _acts(url: str) -> PrometheusActivities:
    return PrometheusActivities(Settings(prometheus_url=url))


@pytest.fixture
async def prom(prometheus_url: str) -> AsyncIterator[PrometheusActivities]:
    acts = _acts(prometheus_url)
    yield acts
    await acts.close()


def _round_trip(result: PromQueryResult) -> PromQueryResult:
    # What the workflow receives: the result through the project's data converter.
    conv = pydantic_data_converter.payload_converter
    return conv.from_payloads(conv.to_payloads([result]), [PromQueryResult])[0]


async def test_vector_query_returns_one_sample_per_series(prom: PrometheusActivities) -> None:
    r = await prom.query(PromQueryInput(query="up"))
    assert r.status == "ok", r.detail
    assert len(r.samples) >= 1
    sample = r.samples[0]
    assert sample.labels["job"] == "prometheus"
    assert sample.labels["__name__"] == "up"
    assert sample.value == 1.0
    assert r.scalar() == 1.0
    assert _round_trip(r) == r


async def test_unknown_metric_is_no_data(prom: PrometheusActivities) -> None:
    r = await prom.query(PromQueryInput(query="nonexistent_metric_xyz"))
    assert r.status == "no_data"
    assert r.samples == []
    assert r.scalar() is None


async def test_invalid_promql_is_error_with_prometheus_text(prom: PrometheusActivities) -> None:
    r = await prom.query(PromQueryInput(query="sum("))
    assert r.status == "error"
    assert "HTTP 400" in r.detail
    assert "parse error" in r.detail
    assert r.scalar() is None


@pytest.mark.parametrize(("query", "value"), [("scalar(vector(1))", 1.0), ("1+1", 2.0)])
async def test_scalar_result_is_one_unlabelled_sample(
    prom: PrometheusActivities, query: str, value: float
) -> None:
    r = await prom.query(PromQueryInput(query=query))
    assert r.status == "ok", r.detail
    assert [(s.labels, s.value) for s in r.samples] == [({}, value)]


async def test_at_evaluates_the_query_at_that_time(prom: PrometheusActivities) -> None:
    # The verification sampler reads a slot it slept through at the slot's own time.
    at = datetime.now(UTC) - timedelta(seconds=30)
    then = await prom.query(PromQueryInput(query="time()", ago_s=30))
    now = await prom.query(PromQueryInput(query="time()"))
    assert then.scalar() == pytest.approx(at.timestamp(), abs=1), then.detail
    assert (now.scalar() or 0) - (then.scalar() or 0) >= 29


async def test_nan_is_no_data_not_a_number(prom: PrometheusActivities) -> None:
    # e.g. an error ratio over zero requests: no evidence either way -> fail safe.
    r = await prom.query(PromQueryInput(query="0/0"))
    assert r.status == "no_data"
    assert "NaN" in r.detail
    assert _round_trip(r) == r


async def test_infinity_is_clamped_and_survives_json(prom: PrometheusActivities) -> None:
    r = await prom.query(PromQueryInput(query="vector(1) / 0"))
    assert r.status == "ok"
    assert r.samples[0].value == sys.float_info.max
    assert "clamped" in r.detail
    back = _round_trip(r)
    assert back.samples[0].value == sys.float_info.max  # not null, not a parse failure


async def test_range_vector_is_rejected(prom: PrometheusActivities) -> None:
    r = await prom.query(PromQueryInput(query="up[1m]"))
    assert r.status == "error"
    assert "matrix" in r.detail


async def test_closed_port_is_unreachable() -> None:
    acts = _acts(f"http://127.0.0.1:{free_port()}")
    try:
        r = await acts.query(PromQueryInput(query="up", timeout_s=2))
    finally:
        await acts.close()
    assert r.status == "unreachable"
    assert "ConnectError" in r.detail


async def test_slow_answer_is_unreachable(httpsink: HttpSink) -> None:
    httpsink.default = SinkResponse(200, "{}", delay_s=3)
    acts = _acts(httpsink.url)
    try:
        r = await acts.query(PromQueryInput(query="up", timeout_s=0.3))
    finally:
        await acts.close()
    assert r.status == "unreachable"
    assert "0.3s" in r.detail
    # The query timeout is handed to Prometheus too, so it gives up on its side.
    assert "timeout=0.3" in httpsink.requests[0].path


@pytest.mark.parametrize(("status", "expected"), [(404, "error"), (502, "unreachable")])
async def test_non_prometheus_answer(httpsink: HttpSink, status: int, expected: str) -> None:
    httpsink.default = SinkResponse(status, "<html>" + "x" * 5000 + "</html>")
    acts = _acts(httpsink.url + "/")
    try:
        r = await acts.query(PromQueryInput(query="up"))
    finally:
        await acts.close()
    assert r.status == expected
    assert f"HTTP {status}" in r.detail
    assert len(r.detail) <= 1000
    assert httpsink.requests[0].path.startswith("/api/v1/query?")

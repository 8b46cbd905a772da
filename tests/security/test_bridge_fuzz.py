"""Bridge hardening: schemathesis fuzzes the bridge's own OpenAPI schema against a real
uvicorn server bound to a real Temporal dev server -- >= 1,000 generated requests,
valid and invalid, with 0 server errors and 0 crashes. Plus: every endpoint but
/healthz needs the token, and a source over its rate gets 429."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator

import httpx
import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode

from bridge.app import create_app
from remedy.temporal import connect
from tests.bridge.conftest import make_inventory, make_settings
from tests.bridge.helpers import TOKEN, payload
from tests.fixtures.sshd import free_port
from tests.security.conftest import DevServer

AUTH = {"Authorization": f"Bearer {TOKEN}"}
# (path, method, generation mode, examples). The GETs take no input: Hypothesis
# generates their one case and stops, so the >= 1,000 come from the webhook.
PLAN = [
    ("/alertmanager", "POST", GenerationMode.POSITIVE, 550),
    ("/alertmanager", "POST", GenerationMode.NEGATIVE, 550),
    ("/metrics", "GET", GenerationMode.POSITIVE, 10),
    ("/healthz", "GET", GenerationMode.POSITIVE, 10),
]


def serve(app: object) -> Iterator[str]:
    """The app under uvicorn on a loopback port, in a thread with its own event loop
    (the bridge connects to Temporal from that loop, as in production)."""
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, lifespan="off", log_config=None, access_log=False
    )  # type: ignore[arg-type]
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.fixture
def bridge_url(security_server: DevServer) -> Iterator[str]:
    s = make_settings(
        TEMPORAL_NAMESPACE="security-fuzz", bridge_rate_limit_rps=0, bridge_max_body_bytes=65536
    )
    app = create_app(
        s, make_inventory(), client_factory=lambda: connect(security_server.target, settings=s)
    )
    yield from serve(app)


def test_schemathesis_finds_no_server_error(bridge_url: str) -> None:
    app = create_app(make_settings(), make_inventory())
    schema = schemathesis.openapi.from_dict(app.openapi())
    codes: Counter[tuple[str, int]] = Counter()
    failures: list[str] = []
    with httpx.Client(base_url=bridge_url, timeout=30) as http:
        for path, method, mode, n in PLAN:
            strategy = schema[path][method].as_strategy(generation_mode=mode)

            @settings(
                max_examples=n,
                deadline=None,
                database=None,
                derandomize=True,  # the same cases every run: a failure reproduces
                suppress_health_check=list(HealthCheck),
            )
            @given(case=strategy)
            def run(case: schemathesis.Case) -> None:
                path = case.operation.path
                kw = case.as_transport_kwargs(base_url=bridge_url)
                headers = {**(kw.get("headers") or {}), **AUTH}
                try:
                    r = http.request(
                        kw["method"],
                        path,
                        headers=headers,
                        content=_body(kw),
                        params=kw.get("params"),
                    )
                except httpx.HTTPError as err:  # a crash: no HTTP answer at all
                    failures.append(f"{path}: {type(err).__name__}: {err}")
                    return
                codes[(path, r.status_code)] += 1
                if r.status_code >= 500:
                    failures.append(f"{path} -> {r.status_code}: {r.text[:300]}")

            run()
    total = sum(codes.values())
    assert not failures, failures[:5]
    assert total >= 1000, codes
    # The fuzzer reached the real handler, not only the validation in front of it.
    assert codes[("/alertmanager", 200)] >= 40, codes  # varies run to run: ~80-120


def _body(kw: dict[str, object]) -> bytes | None:
    import json

    if "json" in kw:
        return json.dumps(kw["json"]).encode()
    data = kw.get("data") or kw.get("content")
    return data.encode() if isinstance(data, str) else data  # type: ignore[return-value]


async def test_every_endpoint_but_healthz_needs_the_token(security_server: DevServer) -> None:
    s = make_settings(TEMPORAL_NAMESPACE="security-fuzz")
    app = create_app(
        s, make_inventory(), client_factory=lambda: connect(security_server.target, settings=s)
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://b") as h:
        assert (await h.get("/healthz")).status_code == 200
        assert (await h.get("/metrics")).status_code == 401
        assert (
            await h.get("/metrics", headers={"Authorization": "Bearer wrong"})
        ).status_code == 401
        assert (await h.post("/alertmanager", content=payload("firing"))).status_code == 401
        for docs in ("/docs", "/redoc", "/openapi.json", "/docs/openapi"):
            assert (await h.get(docs)).status_code == 404, docs
        assert (await h.get("/metrics", headers=AUTH)).status_code == 200


async def test_rate_limit_answers_429_per_source(security_server: DevServer) -> None:
    s = make_settings(bridge_rate_limit_rps=1.0, bridge_rate_limit_burst=3)
    app = create_app(
        s, make_inventory(), client_factory=lambda: connect(security_server.target, settings=s)
    )

    async def codes(client_ip: str, n: int) -> list[int]:
        transport = httpx.ASGITransport(app=app, client=(client_ip, 1234))
        async with httpx.AsyncClient(transport=transport, base_url="http://b") as h:
            return [(await h.get("/metrics", headers=AUTH)).status_code for _ in range(n)]

    assert await codes("10.0.0.1", 5) == [200, 200, 200, 429, 429]
    assert await codes("10.0.0.2", 3) == [200, 200, 200]  # another source has its own bucket
    transport = httpx.ASGITransport(app=app, client=("10.0.0.1", 1234))
    async with httpx.AsyncClient(transport=transport, base_url="http://b") as h:
        r = await h.get("/metrics", headers=AUTH)
        assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
        assert (await h.get("/healthz")).status_code == 200  # probes are never limited

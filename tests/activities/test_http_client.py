"""activities/http_client.py: the one HTTP client factory (no environment, no redirects,
explicit timeouts) and the redaction every HTTP activity's URLs and errors pass."""

from __future__ import annotations

import logging

import httpx
import pytest

from activities.http_client import (
    MASK,
    error_text,
    http_client,
    public_url,
    redact_text,
    redact_url,
    register_secrets,
    without_userinfo,
)
from tests.fixtures.httpsink import HttpSink, SinkResponse
from tests.fixtures.prometheus import free_port


async def test_proxies_from_the_environment_do_not_apply(
    httpsink: HttpSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "all_proxy"):
        monkeypatch.setenv(var, dead)
    for var in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(var, raising=False)
    async with http_client(5) as http:
        assert (await http.get(f"{httpsink.url}/health")).status_code == 200
    # The check can fail: a client that trusts the environment goes to the dead proxy --
    # as the egress clients (Slack, PagerDuty, GitHub) must, behind a site's proxy.
    async with http_client(5, egress=True) as trusting:
        assert trusting.trust_env
        with pytest.raises((httpx.ProxyError, httpx.ConnectError)):
            await trusting.get(f"{httpsink.url}/health")


async def test_redirects_are_not_followed_and_timeouts_are_explicit(httpsink: HttpSink) -> None:
    httpsink.script(SinkResponse(302, headers={"Location": "/login"}))
    async with http_client(3, headers={"X-Test": "1"}, max_connections=2) as http:
        assert http.timeout == httpx.Timeout(3) and not http.follow_redirects
        assert not http.trust_env
        r = await http.get(f"{httpsink.url}/health")
    assert r.status_code == 302 and len(httpsink.requests) == 1
    assert httpsink.requests[0].headers["x-test"] == "1"


def test_credentials_in_urls_never_reach_a_result() -> None:
    assert (
        redact_url("https://bot:s3cret@api.example.com/v1?q=1") == "https://api.example.com/v1?q=1"
    )
    assert redact_url("http://127.0.0.1:8/health") == "http://127.0.0.1:8/health"
    assert redact_url("http://h/x?api_key=abc&q=1&access_token=t") == (
        f"http://h/x?api_key={MASK}&q=1&access_token={MASK}"
    )
    assert redact_url("http://h/x?") == "http://h/x?"  # nothing to mask: unchanged
    assert public_url("https://u:p@Api.example.com:8443/v1?key=abc#f") == (
        "https://api.example.com:8443/v1"
    )
    assert without_userinfo("https://u:p@h/v1?key=abc#f") == "https://h/v1?key=abc"


def test_error_text_is_redacted_and_clipped() -> None:
    err = httpx.ConnectError("failed for https://u:pw@h/x?token=abc123 (Authorization: Bearer zzz)")
    text = error_text(err, 200)
    assert text.startswith("ConnectError: failed for https://h/x?token=")
    assert "pw" not in text and "abc123" not in text and "zzz" not in text
    assert len(error_text(httpx.ReadError("x" * 1000))) == 500
    register_secrets("hooks.example/T000/B000/XXXXXXXX")
    assert "XXXXXXXX" not in redact_text("posting to https://hooks.example/T000/B000/XXXXXXXX")
    assert redact_text("Bearer eyJhbGciOiJIUzI1NiJ9.payload") == f"Bearer {MASK}"


async def test_httpx_request_log_is_redacted(
    httpsink: HttpSink, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="httpx"):
        async with http_client(5) as http:
            await http.get(f"{httpsink.url}/x?token=s3cr3tvalue&q=1")
    assert "HTTP Request: GET" in caplog.text and "/x?token=" in caplog.text
    assert "s3cr3tvalue" not in caplog.text and MASK in caplog.text

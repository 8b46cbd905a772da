"""The codec server as the Temporal UI and a person's browser use it: bearer token for
the CLI, a signed session cookie for the browser (the UI can only "include cross-origin
credentials"), CORS for the configured UI origins only, and clear refusals."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import httpx
import pytest
from google.protobuf import json_format
from pydantic import SecretStr
from temporalio.api.common.v1 import Payload

from remedy.codec import AesGcmCodec, CodecKeyError, new_key_spec, parse_keys
from remedy.codec_server import MAX_BODY_BYTES, SESSION_COOKIE, Sessions, create_codec_app
from remedy.settings import Settings

UI = "http://localhost:8233"
KEYS = new_key_spec("k1")


def settings(**kw: object) -> Settings:
    base: dict[str, object] = {
        "codec_keys": SecretStr(KEYS),
        "codec_server_token": SecretStr("s3cret-codec-token-0123456789abcdef"),
        "codec_server_cors_origins": UI,
    }
    return Settings(_env_file=None, **(base | kw))  # type: ignore[arg-type]


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    app = create_codec_app(settings())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8788") as c:
        yield c


async def encrypted_body(text: bytes) -> dict[str, object]:
    stored = await AesGcmCodec(parse_keys(KEYS)).encode([Payload(data=text)])
    return {"payloads": [json_format.MessageToDict(p) for p in stored]}


def decoded_data(resp: httpx.Response) -> bytes:
    return b"".join(json_format.ParseDict(p, Payload()).data for p in resp.json()["payloads"])


async def test_browser_signs_in_and_decodes_with_the_cookie(client: httpx.AsyncClient) -> None:
    body = await encrypted_body(b"disk full on genesis-prod")
    assert (await client.post("/decode", json=body)).status_code == 401

    form = await client.get("/login")
    assert form.status_code == 200 and 'name="token"' in form.text

    wrong = await client.post("/login", data={"token": "guess"})
    assert wrong.status_code == 401 and "wrong token" in wrong.text
    assert SESSION_COOKIE not in wrong.cookies
    assert (await client.post("/decode", json=body)).status_code == 401

    ok = await client.post("/login", data={"token": "s3cret-codec-token-0123456789abcdef"})
    assert ok.status_code == 200 and "Signed in" in ok.text
    header = ok.headers["set-cookie"]
    assert "HttpOnly" in header and "SameSite=lax" in header and "Max-Age=43200" in header
    assert (
        "s3cret-codec-token-0123456789abcdef" not in header
    )  # the cookie is a signature, never the token

    r = await client.post("/decode", json=body, headers={"Origin": UI})
    assert r.status_code == 200
    assert decoded_data(r) == b"disk full on genesis-prod"
    assert r.headers["access-control-allow-origin"] == UI
    assert r.headers["access-control-allow-credentials"] == "true"

    out = await client.post("/logout")
    assert out.status_code == 204
    assert (await client.post("/decode", json=body)).status_code == 401


async def test_bearer_token_for_the_cli_and_a_wrong_header_beats_a_cookie(
    client: httpx.AsyncClient,
) -> None:
    body = await encrypted_body(b"x")
    auth = {"Authorization": "Bearer s3cret-codec-token-0123456789abcdef"}
    assert decoded_data(await client.post("/decode", json=body, headers=auth)) == b"x"
    await client.post("/login", data={"token": "s3cret-codec-token-0123456789abcdef"})
    bad = await client.post("/decode", json=body, headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 401 and bad.headers["www-authenticate"] == "Bearer"


def test_sessions_expire_and_do_not_survive_token_rotation() -> None:
    s = Sessions("t1", ttl_s=3600)
    now = time.time()
    cookie = s.issue(now)
    assert s.valid(cookie, now + 3599)
    assert not s.valid(cookie, now + 3601)
    assert not Sessions("t2", ttl_s=3600).valid(cookie, now)
    version, expiry, mac = cookie.split(".")
    assert not s.valid(f"{version}.{int(expiry) + 86400}.{mac}", now)  # extended by hand
    for junk in (None, "", "v1", "v1.x.y", "v2." + cookie[3:]):
        assert not s.valid(junk, now)


async def test_login_redirects_only_to_a_configured_ui_origin(client: httpx.AsyncClient) -> None:
    back = f"{UI}/namespaces/default/workflows"
    r = await client.post(
        "/login", data={"token": "s3cret-codec-token-0123456789abcdef", "next": back}
    )
    assert r.status_code == 303 and r.headers["location"] == back
    evil = await client.post(
        "/login",
        data={"token": "s3cret-codec-token-0123456789abcdef", "next": "https://evil.example/steal"},
    )
    assert evil.status_code == 200 and "location" not in evil.headers  # no open redirect
    page = await client.get("/login", params={"next": '"><script>alert(1)</script>'})
    assert "<script>alert(1)" not in page.text  # reflected, escaped


async def test_cors_preflight_only_for_the_ui_origin(client: httpx.AsyncClient) -> None:
    pre = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type,x-namespace",
    }
    ok = await client.options("/decode", headers={"Origin": UI, **pre})
    assert ok.status_code == 200
    assert ok.headers["access-control-allow-origin"] == UI
    assert ok.headers["access-control-allow-credentials"] == "true"
    denied = await client.options("/decode", headers={"Origin": "http://evil.example", **pre})
    assert denied.status_code == 400
    assert "access-control-allow-origin" not in denied.headers


async def test_bad_requests_are_refused_clearly(client: httpx.AsyncClient) -> None:
    auth = {"Authorization": "Bearer s3cret-codec-token-0123456789abcdef"}
    r = await client.post("/decode", content=b"not json", headers=auth)
    assert r.status_code == 400 and "malformed request" in r.json()["error"]
    r = await client.post("/decode", json={"nope": 1}, headers=auth)
    assert r.status_code == 400 and "payloads" in r.json()["error"]
    r = await client.post("/decode", content=b"x" * (MAX_BODY_BYTES + 1), headers=auth)
    assert r.status_code == 413
    other = await AesGcmCodec(parse_keys(new_key_spec("k9"))).encode([Payload(data=b"y")])
    body = {"payloads": [json_format.MessageToDict(p) for p in other]}
    r = await client.post("/decode", json=body, headers=auth)
    assert r.status_code == 400 and "cannot decode" in r.json()["error"]
    r = await client.post("/login", content=b"token=" + b"a" * 5000)
    assert r.status_code == 413


def test_refuses_to_start_without_keys_or_token() -> None:
    with pytest.raises(CodecKeyError, match="REMEDY_CODEC_KEYS"):
        create_codec_app(settings(codec_keys=None))
    with pytest.raises(CodecKeyError, match="without authentication"):
        create_codec_app(settings(codec_server_token=None))

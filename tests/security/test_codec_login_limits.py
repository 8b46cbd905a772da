"""The codec server's /login against a guesser (per-IP backoff, a global limit, 429 with
Retry-After), the session cookie's Secure flag setting (REMEDY_CODEC_COOKIE_SECURE), and
a /healthz that names no key."""

from __future__ import annotations

import httpx
import pytest
from pydantic import SecretStr

from remedy.codec import new_key_spec
from remedy.codec_server import LoginThrottle, create_codec_app
from remedy.settings import Settings

TOKEN = "codec-login-limits-token-0123456789abcdef"
KEYS = new_key_spec("k-secret-id")


def settings(**kw: object) -> Settings:
    base: dict[str, object] = {
        "codec_keys": SecretStr(KEYS),
        "codec_server_token": SecretStr(TOKEN),
        "codec_server_cors_origins": "http://localhost:8233",
    }
    return Settings(_env_file=None, **(base | kw))  # type: ignore[arg-type]


def client(
    app: object, ip: str = "10.0.0.1", base: str = "http://127.0.0.1:8788"
) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(ip, 1234))  # type: ignore[arg-type]
    return httpx.AsyncClient(transport=transport, base_url=base)


async def test_login_is_throttled_per_ip_then_globally() -> None:
    app = create_codec_app(settings(codec_login_free_attempts=3))
    async with client(app) as c, client(app, "10.0.0.2") as other:
        codes = [
            (await c.post("/login", data={"token": f"guess{i}"})).status_code for i in range(5)
        ]
        assert codes == [401, 401, 401, 401, 429]  # 3 free, the 4th makes it wait
        r = await c.post("/login", data={"token": TOKEN})  # even the right token waits
        assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
        assert "too many" in r.text
        ok = await other.post("/login", data={"token": TOKEN})  # another address is not
        assert ok.status_code == 200 and "Signed in" in ok.text

    app = create_codec_app(settings(codec_login_max_failures_per_minute=4))
    for i in range(4):  # a guesser spread over many addresses
        async with client(app, f"10.1.0.{i}") as c:
            assert (await c.post("/login", data={"token": "guess"})).status_code == 401
    async with client(app, "10.2.0.1") as c:
        r = await c.post("/login", data={"token": TOKEN})
        assert r.status_code == 429 and 1 <= int(r.headers["retry-after"]) <= 60


def test_backoff_doubles_and_success_clears_it() -> None:
    now = [0.0]
    t = LoginThrottle(free=2, per_minute=1000, clock=lambda: now[0])
    waits = []
    for _ in range(6):
        assert t.wait("a") <= 0
        t.failed("a")
        waits.append(t.wait("a"))
        now[0] += max(waits[-1], 0)
    assert waits == [0, 0, 1, 2, 4, 8]
    t.succeeded("a")
    assert t.wait("a") <= 0
    for _ in range(30):
        t.failed("b")
    assert t.wait("b") == LoginThrottle.MAX_WAIT_S


@pytest.mark.parametrize(
    ("mode", "base", "secure"),
    [
        ("auto", "http://127.0.0.1:8788", False),
        ("auto", "https://codec.example", True),
        ("true", "http://127.0.0.1:8788", True),  # TLS ends at a proxy in front
        ("false", "https://codec.example", False),
    ],
)
async def test_cookie_secure_setting(mode: str, base: str, secure: bool) -> None:
    app = create_codec_app(settings(codec_cookie_secure=mode))
    async with client(app, base=base) as c:
        r = await c.post("/login", data={"token": TOKEN})
        assert r.status_code == 200
        cookie = r.headers["set-cookie"]
        assert ("Secure" in cookie) is secure
        assert ("SameSite=none" in cookie) is secure and ("SameSite=lax" in cookie) is not secure
        out = await c.post("/logout")
        assert ("Secure" in out.headers["set-cookie"]) is secure


def test_cookie_secure_setting_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REMEDY_CODEC_COOKIE_SECURE", "true")
    assert Settings(_env_file=None).codec_cookie_secure == "true"  # type: ignore[call-arg]
    monkeypatch.setenv("REMEDY_CODEC_COOKIE_SECURE", "yes")
    with pytest.raises(ValueError, match="codec_cookie_secure"):
        Settings(_env_file=None)  # type: ignore[call-arg]


async def test_healthz_names_no_key() -> None:
    async with client(create_codec_app(settings())) as c:
        r = await c.get("/healthz")
        assert r.status_code == 200 and r.json() == {"codec": "ok"}
        assert "k-secret-id" not in r.text

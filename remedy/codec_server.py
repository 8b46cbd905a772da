"""The remote codec endpoint: lets an authorized person read encrypted payloads in the
Temporal UI (or `temporal workflow show --codec-endpoint ... --codec-auth ...`).

    POST /encode, POST /decode   {"payloads": [{"metadata": {k: b64}, "data": b64}]}
    GET  /login, POST /login     sign a browser in (session cookie) with the token
    POST /logout
    GET  /healthz

This is the Temporal UI's remote-codec protocol: protobuf JSON of Payloads. Point the UI
at it with TEMPORAL_CODEC_ENDPOINT (UI server) or per user in the UI's codec settings.

Why the rules below:
- Bearer token on /encode and /decode: this endpoint turns ciphertext back into alert
  contents and command output, so it is exactly as sensitive as the keys.
- CORS for the configured UI origins only: the browser, not the UI server, calls the
  codec endpoint. Preflight (OPTIONS) carries no Authorization header, so CORS answers
  it before authentication.
- A session cookie for browsers: the UI cannot send a static bearer token (it only
  passes an OIDC access token). With the UI's "Include cross-origin credentials" on
  (TEMPORAL_CODEC_INCLUDE_CREDENTIALS=true), a person who signed in at /login with the
  token has the browser send the cookie instead. The cookie holds an expiry and an HMAC
  keyed by the token -- not the token -- so it is stateless, expires, and dies when the
  token is rotated. HttpOnly; SameSite=Lax over http (the UI and codec on one host with
  different ports are same-site), SameSite=None; Secure over https. "Over https" is the
  request's scheme unless REMEDY_CODEC_COOKIE_SECURE says `true` (a TLS-terminating
  proxy in front speaking http to us) or `false`.
- /login is throttled (LoginThrottle): a person mistyping is never slowed, a guesser is
  -- per client IP with doubling waits, and across all clients per minute: 429 with
  Retry-After, before the token is even compared.
- A body size limit, so an unauthenticated caller cannot make it buffer arbitrary data.
- /healthz says "ok" and nothing else (no key id: it needs no token).
"""

from __future__ import annotations

import hashlib
import hmac
import html
import json
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload

from remedy.codec import AesGcmCodec, CodecKeyError, parse_keys
from remedy.settings import Settings

MAX_BODY_BYTES = 16 * 1024 * 1024
MAX_LOGIN_BYTES = 4096
SESSION_COOKIE = "remedy_codec_session"


class Sessions:
    """Stateless signed sessions: "v1.<expiry>.<hmac(token, expiry)>"."""

    def __init__(self, token: str, ttl_s: float) -> None:
        self._key = hashlib.sha256(b"remedy-codec-session\0" + token.encode()).digest()
        self.ttl_s = ttl_s

    def _sign(self, expiry: int) -> str:
        return hmac.new(self._key, f"v1.{expiry}".encode(), hashlib.sha256).hexdigest()

    def issue(self, now: float | None = None) -> str:
        expiry = int((now or time.time()) + self.ttl_s)
        return f"v1.{expiry}.{self._sign(expiry)}"

    def valid(self, cookie: str | None, now: float | None = None) -> bool:
        try:
            version, expiry_s, mac = (cookie or "").split(".")
            expiry = int(expiry_s)
        except ValueError:
            return False
        return (
            version == "v1"
            and expiry > (now or time.time())
            and hmac.compare_digest(mac, self._sign(expiry))
        )


class LoginThrottle:
    """Failed sign-ins, per client IP and across all clients.

    Per IP: `free` failures cost nothing; after that each failure makes that IP wait
    1, 2, 4 ... s (at most MAX_WAIT_S) before its next attempt is even looked at. A
    success clears the IP. Across all clients: at most `per_minute` failures in any
    sliding minute, so a guesser spreading over many addresses is slowed too (people
    already signed in, and the CLI's bearer token, are unaffected). The client IP is the
    TCP peer: behind a proxy every browser shares one bucket, which is only stricter.
    """

    MAX_WAIT_S = 900.0
    MAX_SOURCES = 10_000

    def __init__(
        self, free: int, per_minute: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.free, self.per_minute, self.clock = free, per_minute, clock
        self._ips: OrderedDict[str, tuple[int, float]] = OrderedDict()  # ip -> (fails, until)
        self._recent: deque[float] = deque()  # times of failures, all clients

    def wait(self, ip: str) -> float:
        """0 if `ip` may try now, else seconds until it may."""
        now = self.clock()
        while self._recent and self._recent[0] <= now - 60:
            self._recent.popleft()
        waits = [0.0]
        if len(self._recent) >= self.per_minute:
            waits.append(self._recent[0] + 60 - now)
        _, until = self._ips.get(ip, (0, 0.0))
        waits.append(until - now)
        return max(waits)

    def failed(self, ip: str) -> None:
        now = self.clock()
        self._recent.append(now)
        fails, _ = self._ips.pop(ip, (0, 0.0))
        fails += 1
        over = fails - self.free
        until = now + min(2.0 ** (over - 1), self.MAX_WAIT_S) if over > 0 else 0.0
        self._ips[ip] = (fails, until)
        while len(self._ips) > self.MAX_SOURCES:
            self._ips.popitem(last=False)

    def succeeded(self, ip: str) -> None:
        self._ips.pop(ip, None)


LOGIN_PAGE = """<!doctype html><meta charset="utf-8"><title>Remedy codec server</title>
<body style="font-family:sans-serif;max-width:34em;margin:3em auto">
<h1>Remedy codec server</h1>
<p>Sign this browser in to decode Remedy's encrypted payloads in the Temporal UI
(codec settings: this endpoint, with <em>Include cross-origin credentials</em> on).</p>
{message}
<form method="post" action="/login">
<input type="hidden" name="next" value="{next}">
<label>Codec server token <input type="password" name="token" autofocus required></label>
<button type="submit">Sign in</button></form>
<p><small>Signed in for {hours:g} h; rotating the token signs everyone out.</small></p>"""


def create_codec_app(settings: Settings) -> FastAPI:
    if not settings.codec_keys:
        raise CodecKeyError("REMEDY_CODEC_KEYS is not set: there is nothing to decode with")
    if not settings.codec_server_token:
        raise CodecKeyError(
            "REMEDY_CODEC_SERVER_TOKEN is not set: refusing to serve decrypted payloads "
            "without authentication"
        )
    codec = AesGcmCodec(parse_keys(settings.codec_keys.get_secret_value()))
    token = settings.codec_server_token.get_secret_value()
    expected = f"Bearer {token}".encode()
    sessions = Sessions(token, settings.codec_server_session_hours * 3600)
    throttle = LoginThrottle(
        settings.codec_login_free_attempts, settings.codec_login_max_failures_per_minute
    )
    origins = [o.strip() for o in settings.codec_server_cors_origins.split(",") if o.strip()]

    app = FastAPI(title="Remedy codec server", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.login_throttle = throttle
    app.add_middleware(
        CORSMiddleware,
        allow_origins=origins,
        allow_credentials=True,
        allow_methods=["POST", "OPTIONS"],
        allow_headers=["Authorization", "Content-Type", "X-Namespace"],
    )

    def error(code: int, message: str) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if code == 401 else None
        return JSONResponse({"error": message}, status_code=code, headers=headers)

    def authorized(request: Request) -> bool:
        given = request.headers.get("authorization", "").encode()
        if given:  # a wrong header is refused even when a good cookie rides along
            return hmac.compare_digest(given, expected)
        return sessions.valid(request.cookies.get(SESSION_COOKIE))

    async def convert(request: Request, decode: bool) -> JSONResponse:
        if not authorized(request):
            return error(401, "missing or invalid bearer token or session (sign in at /login)")
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY_BYTES:
                return error(413, f"request body exceeds {MAX_BODY_BYTES} bytes")
        try:
            raw: Any = json.loads(body)
            if not isinstance(raw, dict) or not isinstance(raw.get("payloads"), list):
                raise ValueError('expected {"payloads": [...]}')
            payloads = [json_format.ParseDict(p, Payload()) for p in raw["payloads"]]
        except (ValueError, json_format.ParseError, TypeError) as err:
            return error(400, f"malformed request: {err}")
        try:
            out = await (codec.decode(payloads) if decode else codec.encode(payloads))
        except Exception as err:  # noqa: BLE001 -- wrong key / tampered data: the caller's problem
            return error(400, f"cannot {'decode' if decode else 'encode'}: {type(err).__name__}")
        return JSONResponse({"payloads": [json_format.MessageToDict(p) for p in out]})

    @app.post("/decode")
    async def decode(request: Request) -> JSONResponse:
        return await convert(request, decode=True)

    @app.post("/encode")
    async def encode(request: Request) -> JSONResponse:
        return await convert(request, decode=False)

    def safe_next(value: str) -> str | None:
        """Only back to a configured UI origin: /login must not be an open redirect."""
        parts = urlsplit(value)
        origin = f"{parts.scheme}://{parts.netloc}"
        return value if parts.scheme in ("http", "https") and origin in origins else None

    def login_page(message: str = "", next_url: str = "", code: int = 200) -> HTMLResponse:
        page = LOGIN_PAGE.format(
            message=f'<p style="color:#b00">{html.escape(message)}</p>' if message else "",
            next=html.escape(next_url, quote=True),
            hours=settings.codec_server_session_hours,
        )
        return HTMLResponse(page, status_code=code, headers={"Cache-Control": "no-store"})

    @app.get("/login")
    async def login_form(next: str = "") -> HTMLResponse:  # noqa: A002 -- the query name
        return login_page(next_url=next)

    def secure_cookie(request: Request) -> bool:
        if settings.codec_cookie_secure == "auto":
            return request.url.scheme == "https"
        return settings.codec_cookie_secure == "true"

    @app.post("/login")
    async def login(request: Request) -> Response:
        ip = request.client.host if request.client else "?"
        wait = throttle.wait(ip)
        if wait > 0:
            busy = login_page("too many failed sign-ins; try again later", code=429)
            busy.headers["Retry-After"] = str(max(1, int(wait + 0.999)))
            return busy
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_LOGIN_BYTES:
                return login_page("request too large", code=413)
        form = parse_qs(body.decode("utf-8", "replace"))
        given = (form.get("token") or [""])[0]
        next_url = (form.get("next") or [""])[0]
        if not hmac.compare_digest(given.encode(), token.encode()):
            throttle.failed(ip)
            return login_page("wrong token", next_url, code=401)
        throttle.succeeded(ip)
        target = safe_next(next_url)
        resp: Response = (
            RedirectResponse(target, status_code=303)
            if target
            else login_page("Signed in. You can close this tab and reload the Temporal UI.")
        )
        secure = secure_cookie(request)
        resp.set_cookie(
            SESSION_COOKIE,
            sessions.issue(),
            max_age=int(sessions.ttl_s),
            httponly=True,
            secure=secure,
            samesite="none" if secure else "lax",
        )
        return resp

    @app.post("/logout")
    async def logout(request: Request) -> Response:
        resp = Response(status_code=204)
        secure = secure_cookie(request)
        resp.delete_cookie(
            SESSION_COOKIE, httponly=True, secure=secure, samesite="none" if secure else "lax"
        )
        return resp

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"codec": "ok"}

    return app


def main(settings: Settings | None = None) -> None:
    import uvicorn

    s = settings or Settings()
    app = create_codec_app(s)
    uvicorn.run(app, host=s.codec_server_host, port=s.codec_server_port, server_header=False)

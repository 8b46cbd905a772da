"""The remote codec endpoint: lets an authorized person read encrypted payloads in the
Temporal UI (or `temporal workflow show --codec-endpoint ... --codec-auth ...`).

    POST /encode, POST /decode   {"payloads": [{"metadata": {k: b64}, "data": b64}]}
    GET  /healthz

This is the Temporal UI's remote-codec protocol: protobuf JSON of Payloads. Point the UI
at it with TEMPORAL_CODEC_ENDPOINT (UI server) or per user in the UI's codec settings.

Why the rules below:
- Bearer token on /encode and /decode: this endpoint turns ciphertext back into alert
  contents and command output, so it is exactly as sensitive as the keys.
- CORS for the configured UI origins only: the browser, not the UI server, calls the
  codec endpoint. Preflight (OPTIONS) carries no Authorization header, so CORS answers
  it before authentication.
- A body size limit, so an unauthenticated caller cannot make it buffer arbitrary data.
"""

from __future__ import annotations

import hmac
import json
from typing import Any

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload

from remedy.codec import AesGcmCodec, CodecKeyError, parse_keys
from remedy.settings import Settings

MAX_BODY_BYTES = 16 * 1024 * 1024


def create_codec_app(settings: Settings) -> FastAPI:
    if not settings.codec_keys:
        raise CodecKeyError("REMEDY_CODEC_KEYS is not set: there is nothing to decode with")
    if not settings.codec_server_token:
        raise CodecKeyError(
            "REMEDY_CODEC_SERVER_TOKEN is not set: refusing to serve decrypted payloads "
            "without authentication"
        )
    codec = AesGcmCodec(parse_keys(settings.codec_keys.get_secret_value()))
    expected = f"Bearer {settings.codec_server_token.get_secret_value()}".encode()
    origins = [o.strip() for o in settings.codec_server_cors_origins.split(",") if o.strip()]

    app = FastAPI(title="Remedy codec server", docs_url=None, redoc_url=None, openapi_url=None)
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

    async def convert(request: Request, decode: bool) -> JSONResponse:
        given = request.headers.get("authorization", "").encode()
        if not hmac.compare_digest(given, expected):
            return error(401, "missing or invalid bearer token")
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

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"codec": "ok", "key_id": codec.key_id}

    return app


def main(settings: Settings | None = None) -> None:
    import uvicorn

    s = settings or Settings()
    app = create_codec_app(s)
    uvicorn.run(app, host=s.codec_server_host, port=s.codec_server_port, server_header=False)

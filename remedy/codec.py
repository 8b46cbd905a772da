"""AES-GCM payload encryption for every Temporal client Remedy makes.

Workflow inputs, results, activity arguments and outputs (alert labels, annotations,
command output) all pass through this codec on the client side, so the Temporal server
-- and anyone who can read its database -- stores only ciphertext (DESIGN principle 5).

Keys come from REMEDY_CODEC_KEYS = "id1:base64key,id0:oldkey". The first key encrypts;
every key decrypts, chosen by the key id stored in the payload's metadata. Rotation is:
prepend a new key on every client, wait until no open workflow holds payloads of the
old one (or keep it forever), then drop it.

This module imports `cryptography`, which the workflow sandbox rejects: only clients
(worker, bridge, CLI, replayer, codec server) use it, through remedy/temporal.py.
Workflow code never sees it -- the codec runs outside the sandbox, on the payload bytes.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import os
from collections.abc import Sequence

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import (
    DataConverter,
    DefaultFailureConverterWithEncodedAttributes,
    PayloadCodec,
)

from workflows.errors import ConfigurationError

ENCODING = b"binary/encrypted"
KEY_ID = "encryption-key-id"
_NONCE = 12  # bytes; the GCM standard nonce size, random per payload


class CodecKeyError(ValueError, ConfigurationError):
    """REMEDY_CODEC_KEYS is malformed (the message says which entry and why)."""


def parse_keys(spec: str) -> dict[str, bytes]:
    """'id1:b64,id0:b64' -> {id: key}, in order (the first is the encryption key)."""
    keys: dict[str, bytes] = {}
    for i, entry in enumerate(e.strip() for e in spec.split(",")):
        if not entry:
            continue
        kid, sep, b64 = entry.partition(":")
        if not sep or not kid.strip():
            raise CodecKeyError(f"REMEDY_CODEC_KEYS entry {i}: expected 'key-id:base64-key'")
        try:
            key = base64.b64decode(b64.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise CodecKeyError(f"REMEDY_CODEC_KEYS key {kid!r}: not valid base64") from None
        if len(key) not in (16, 24, 32):
            raise CodecKeyError(
                f"REMEDY_CODEC_KEYS key {kid!r}: {len(key)} bytes; AES needs 16, 24 or 32"
            )
        if kid in keys:
            raise CodecKeyError(f"REMEDY_CODEC_KEYS: key id {kid!r} appears twice")
        keys[kid.strip()] = key
    if not keys:
        raise CodecKeyError("REMEDY_CODEC_KEYS is set but names no key")
    return keys


def new_key_spec(key_id: str) -> str:
    """A fresh 256-bit key in REMEDY_CODEC_KEYS format (for docs, tests, ops)."""
    return f"{key_id}:{base64.b64encode(os.urandom(32)).decode()}"


class AesGcmCodec(PayloadCodec):
    def __init__(self, keys: dict[str, bytes]) -> None:
        if not keys:
            raise CodecKeyError("AesGcmCodec needs at least one key")
        self._ciphers = {kid: AESGCM(k) for kid, k in keys.items()}
        self.key_id = next(iter(keys))

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.encrypt(p) for p in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.decrypt(p) for p in payloads]

    def encrypt(self, p: Payload) -> Payload:
        nonce = os.urandom(_NONCE)
        kid = self.key_id.encode()
        # The key id is authenticated data: swapping it on a stored payload fails decryption.
        data = self._ciphers[self.key_id].encrypt(nonce, p.SerializeToString(), kid)
        return Payload(metadata={"encoding": ENCODING, KEY_ID: kid}, data=nonce + data)

    def decrypt(self, p: Payload) -> Payload:
        # Payloads written before the codec was turned on stay readable.
        if p.metadata.get("encoding") != ENCODING:
            return p
        kid = p.metadata.get(KEY_ID, b"").decode()
        cipher = self._ciphers.get(kid)
        if cipher is None:
            raise ValueError(f"payload encrypted with unknown key id {kid!r}")
        out = Payload()
        out.ParseFromString(cipher.decrypt(p.data[:_NONCE], p.data[_NONCE:], kid.encode()))
        return out


def codec_from_spec(spec: str | None) -> AesGcmCodec | None:
    return AesGcmCodec(parse_keys(spec)) if spec else None


def data_converter(settings: object | None = None) -> DataConverter:
    """The converter every client uses: pydantic, plus encryption when keys are set.

    With a codec, failure messages and stack traces go into encoded attributes too:
    an activity error can quote command output, and the plain failure message is
    otherwise stored as-is. `settings` is a remedy.settings.Settings (typed loosely so
    the Replayer and tests can pass any object with `codec_keys`)."""
    secret = getattr(settings, "codec_keys", None)
    codec = codec_from_spec(secret.get_secret_value() if secret is not None else None)
    if codec is None:
        return pydantic_data_converter
    return dataclasses.replace(
        pydantic_data_converter,
        payload_codec=codec,
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )

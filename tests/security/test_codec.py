"""The AES-GCM codec: rotation, tampering, key parsing, the converter every client
gets, and the connection options for Temporal Cloud (API key, mTLS)."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from pydantic import SecretStr
from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import TLSConfig

from remedy.codec import AesGcmCodec, CodecKeyError, data_converter, new_key_spec, parse_keys
from remedy.settings import Settings
from remedy.temporal import connect_options


def settings(**kw: object) -> Settings:
    return Settings(_env_file=None, **kw)  # type: ignore[arg-type]


async def test_rotation_old_keys_still_decrypt() -> None:
    old, new = new_key_spec("k1"), new_key_spec("k2")
    before = AesGcmCodec(parse_keys(old))
    after = AesGcmCodec(parse_keys(f"{new},{old}"))
    stored = await before.encode([Payload(metadata={"encoding": b"json/plain"}, data=b'"x"')])
    assert (await after.decode(stored))[0].data == b'"x"'
    fresh = await after.encode([Payload(data=b"y")])
    assert fresh[0].metadata["encryption-key-id"] == b"k2"
    with pytest.raises(ValueError, match="unknown key id"):
        await before.decode(fresh)


async def test_tampering_and_swapped_key_id_fail() -> None:
    codec = AesGcmCodec(parse_keys(f"{new_key_spec('a')},{new_key_spec('b')}"))
    p = (await codec.encode([Payload(data=b"secret")]))[0]
    flipped = Payload(metadata=p.metadata, data=p.data[:-1] + bytes([p.data[-1] ^ 1]))
    swapped = Payload(metadata={**p.metadata, "encryption-key-id": b"b"}, data=p.data)
    for bad in (flipped, swapped):
        with pytest.raises(Exception):  # noqa: B017 -- cryptography's InvalidTag
            await codec.decode([bad])
    plain = Payload(metadata={"encoding": b"json/plain"}, data=b"1")
    assert (await codec.decode([plain]))[0] == plain  # pre-codec history stays readable


@pytest.mark.parametrize(
    "spec, problem",
    [
        ("nokey", "expected"),
        ("k:!!!", "base64"),
        (f"k:{base64.b64encode(b'short').decode()}", "16, 24 or 32"),
        (f"{new_key_spec('k')},{new_key_spec('k')}", "twice"),
        (" , ", "names no key"),
    ],
)
def test_bad_key_specs(spec: str, problem: str) -> None:
    with pytest.raises(CodecKeyError, match=problem):
        parse_keys(spec)


def test_converter_only_encrypts_when_keys_are_set() -> None:
    assert data_converter(settings()) is pydantic_data_converter
    dc = data_converter(settings(codec_keys=SecretStr(new_key_spec("k"))))
    assert isinstance(dc.payload_codec, AesGcmCodec)
    assert dc.payload_converter_class is pydantic_data_converter.payload_converter_class
    # Failure messages can quote command output: they are encrypted too.
    assert "EncodedAttributes" in dc.failure_converter_class.__name__


def test_connect_options_api_key_and_mtls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("TEMPORAL_API_KEY", "TEMPORAL_TLS", "TEMPORAL_PROFILE", "TEMPORAL_CONFIG_FILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no user config file
    assert connect_options(settings()) == {}
    opts = connect_options(
        settings(TEMPORAL_API_KEY=SecretStr("cloud-key-0123456789abcdef0123456789"))
    )
    assert opts == {"api_key": "cloud-key-0123456789abcdef0123456789", "tls": True}
    cert, key, ca = (tmp_path / n for n in ("c.pem", "k.pem", "ca.pem"))
    for f in (cert, key, ca):
        f.write_bytes(f.name.encode())
    tls = connect_options(
        settings(TEMPORAL_TLS_CERT=cert, TEMPORAL_TLS_KEY=key, TEMPORAL_TLS_CA=ca)
    )["tls"]
    assert isinstance(tls, TLSConfig)
    assert (tls.client_cert, tls.client_private_key, tls.server_root_ca_cert) == (
        b"c.pem",
        b"k.pem",
        b"ca.pem",
    )
    with pytest.raises(RuntimeError, match="both"):
        connect_options(settings(TEMPORAL_TLS_CERT=cert))
    # The standard Temporal env config is honoured too.
    monkeypatch.setenv("TEMPORAL_API_KEY", "from-envconfig-0123456789abcdef0123")
    assert connect_options(settings())["api_key"] == "from-envconfig-0123456789abcdef0123"

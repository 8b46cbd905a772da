"""One way to connect to Temporal, used by the worker, the bridge, the CLI and the tests.

Every client gets the pydantic data converter (DESIGN principle 3), encrypted by the
AES-GCM codec when REMEDY_CODEC_KEYS is set (remedy/codec.py). Connection security
follows the standard Temporal environment configuration (temporalio.envconfig:
TEMPORAL_API_KEY, TEMPORAL_TLS_*, TEMPORAL_PROFILE, the TOML config file), with
Remedy's settings on top: TEMPORAL_ADDRESS / TEMPORAL_NAMESPACE always, and
TEMPORAL_TLS_CERT / TEMPORAL_TLS_KEY / TEMPORAL_TLS_CA (PEM file paths) for mTLS.

The custom search
attributes are registered before any workflow runs: upserting an attribute the server
does not know fails the workflow task forever, which looks like a silent hang.
"""

from __future__ import annotations

from typing import Any

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.client import Client
from temporalio.envconfig import ClientConfigProfile
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.service import RPCError, RPCStatusCode, TLSConfig

from remedy.codec import data_converter
from remedy.settings import Settings
from workflows.incident import SEARCH_ATTRIBUTES


def connect_options(settings: Settings) -> dict[str, Any]:
    """Client.connect keyword arguments (besides address, namespace, converter)."""
    try:
        profile = ClientConfigProfile.load().to_client_connect_config()
    except Exception as err:  # noqa: BLE001 -- any config problem: one clear message
        raise RuntimeError(f"Temporal client configuration (TEMPORAL_* env / file): {err}") from err
    opts: dict[str, Any] = {
        k: v for k, v in profile.items() if k in ("api_key", "tls", "rpc_metadata")
    }
    if settings.temporal_api_key:
        opts["api_key"] = settings.temporal_api_key.get_secret_value()
        opts.setdefault("tls", True)  # an API key is never sent in the clear
    if settings.temporal_tls_cert or settings.temporal_tls_key:
        if not (settings.temporal_tls_cert and settings.temporal_tls_key):
            raise RuntimeError("mTLS needs both TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY")
        opts["tls"] = TLSConfig(
            client_cert=settings.temporal_tls_cert.read_bytes(),
            client_private_key=settings.temporal_tls_key.read_bytes(),
            server_root_ca_cert=(
                settings.temporal_tls_ca.read_bytes() if settings.temporal_tls_ca else None
            ),
        )
    elif settings.temporal_tls_ca:
        opts["tls"] = TLSConfig(server_root_ca_cert=settings.temporal_tls_ca.read_bytes())
    return opts


async def connect(
    address: str | None = None,
    namespace: str | None = None,
    *,
    settings: Settings | None = None,
    runtime: Runtime | None = None,
) -> Client:
    """A client with Remedy's converter (and codec, if keys are set) and the TLS / API
    key configuration. Settings come from the environment unless given."""
    s = settings or Settings()
    return await Client.connect(
        address or s.temporal_address,
        namespace=namespace or s.temporal_namespace,
        data_converter=data_converter(s),
        runtime=runtime,
        **connect_options(s),
    )


def metrics_runtime(bind_address: str) -> Runtime:
    """A Temporal runtime whose SDK metrics are served at http://<bind_address>/metrics.
    A worker built on a client of this runtime reports its task latencies, poller and
    slot counts and failures there. Raises RuntimeError naming the address if the
    port cannot be bound (taken, or not an address of this host)."""
    host, sep, port = bind_address.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise RuntimeError(f"worker metrics address {bind_address!r}: expected host:port")
    try:
        return Runtime(telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address)))
    except Exception as err:  # the core's bind error is a bare exception
        raise RuntimeError(f"worker metrics on {bind_address}: {err}") from err


async def ensure_search_attributes(client: Client) -> list[str]:
    """Register Remedy's keyword search attributes if missing; return those added.

    Raises RuntimeError with a clear message when the server refuses (e.g. Temporal Cloud,
    where attributes are added in the namespace settings instead)."""
    wanted = {k.name for k in SEARCH_ATTRIBUTES}
    ns = client.namespace
    try:
        have = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=ns)
        )
        missing = wanted - set(have.custom_attributes) - set(have.system_attributes)
    except RPCError:
        # The time-skipping test server cannot list: add, and accept "already exists"
        # (a second worker, or the rehearsal's, on the same server).
        missing = wanted
        listed = False
    else:
        listed = True
    if not missing:
        return []
    try:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(
                namespace=ns,
                search_attributes={
                    n: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD for n in sorted(missing)
                },
            )
        )
    except RPCError as err:
        if not listed and err.status == RPCStatusCode.ALREADY_EXISTS:
            return []
        raise RuntimeError(
            f"cannot register search attributes {sorted(missing)} in namespace {ns!r}: "
            f"{err.message}. Register them as Keyword (e.g. `temporal operator "
            f"search-attribute create --name RemedyService --type Keyword`) and retry."
        ) from err
    return sorted(missing)


def visibility_literal(text: str) -> str:
    """A string literal for a visibility query: incident ids come from alert labels,
    quotes and backslashes included."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"

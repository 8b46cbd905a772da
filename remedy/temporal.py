"""One way to connect to Temporal, used by the worker, the CLI and the tests.

Every client gets the pydantic data converter (DESIGN principle 3). The custom search
attributes are registered before any workflow runs: upserting an attribute the server
does not know fails the workflow task forever, which looks like a silent hang.
"""

from __future__ import annotations

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError

from workflows.incident import SEARCH_ATTRIBUTES


async def connect(address: str, namespace: str = "default") -> Client:
    return await Client.connect(
        address, namespace=namespace, data_converter=pydantic_data_converter
    )


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
        # The time-skipping test server cannot list; adding is idempotent there.
        missing = wanted
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
        raise RuntimeError(
            f"cannot register search attributes {sorted(missing)} in namespace {ns!r}: "
            f"{err.message}. Register them as Keyword (e.g. `temporal operator "
            f"search-attribute create --name RemedyService --type Keyword`) and retry."
        ) from err
    return sorted(missing)

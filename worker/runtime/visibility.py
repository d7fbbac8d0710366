"""Registering the custom search attributes on a Temporal namespace, idempotently."""

from __future__ import annotations

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from workflows.search_attributes import ALL_KEYS


async def _existing(client: Client) -> set[str]:
    try:
        found = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=client.namespace)
        )
    except RPCError as exc:
        if exc.status is RPCStatusCode.UNIMPLEMENTED:  # the time-skipping test server
            return set()
        raise
    return set(found.custom_attributes) | set(found.system_attributes)


async def register_search_attributes(client: Client) -> list[str]:
    """Add the save search attributes the namespace lacks; returns the names added."""
    known = await _existing(client)
    missing = {
        key.name: IndexedValueType.ValueType(key.indexed_value_type) for key in ALL_KEYS if key.name not in known
    }
    if missing:
        try:
            await client.operator_service.add_search_attributes(
                AddSearchAttributesRequest(namespace=client.namespace, search_attributes=missing)
            )
        except RPCError as exc:
            if exc.status is not RPCStatusCode.ALREADY_EXISTS:
                raise
            return []
    return sorted(missing)

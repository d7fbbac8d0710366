"""Registering the custom search attributes on a Temporal namespace, idempotently, and making sure
a worker never runs saves on a namespace that lacks one (upserting it would fail the save's steps)."""

from __future__ import annotations

from dataclasses import dataclass

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from workflows.search_attributes import ALL_KEYS, type_name


class SearchAttributesMissing(Exception):
    """The namespace lacks search attributes the saves upsert, and they could not be added."""


async def _existing(client: Client) -> set[str] | None:
    """Every search attribute the namespace knows; None where the server has no operator service."""
    try:
        found = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=client.namespace)
        )
    except RPCError as exc:
        if exc.status is RPCStatusCode.UNIMPLEMENTED:  # the time-skipping test server
            return None
        raise
    return set(found.custom_attributes) | set(found.system_attributes)


async def register_search_attributes(client: Client) -> list[str]:
    """Add the save search attributes the namespace lacks; returns the names added."""
    known = await _existing(client) or set()
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


@dataclass(frozen=True)
class AttributeCheck:
    """What :func:`ensure_search_attributes` found: the attributes it added, or why it could not look."""

    added: list[str]
    unchecked: str | None = None


def _rpc(exc: RPCError) -> str:
    return f"{exc.status.name if exc.status else 'error'}: {exc.message}"


async def ensure_search_attributes(client: Client) -> AttributeCheck:
    """Before a worker starts: add every save search attribute the namespace lacks, or raise
    :class:`SearchAttributesMissing` (one line naming them and ``saves search-attributes``) when
    they may not be added. A worker that ran without them would fail the workflow task of every
    save step that upserts one.

    Where the attributes cannot be listed (an identity without that right) nothing is checked and
    ``unchecked`` says why. The time-skipping test server cannot list attributes but does refuse
    an undefined one: there every attribute is added (adding is idempotent) and nothing is checked."""
    try:
        known = await _existing(client)
    except RPCError as exc:
        return AttributeCheck([], unchecked=_rpc(exc))
    if known is None:
        try:
            return AttributeCheck(await register_search_attributes(client))
        except RPCError as exc:
            return AttributeCheck([], unchecked=_rpc(exc))
    missing = [key for key in ALL_KEYS if key.name not in known]
    if not missing:
        return AttributeCheck([])
    try:
        return AttributeCheck(await register_search_attributes(client))
    except RPCError as exc:
        named = ", ".join(f"{key.name} ({type_name(key)})" for key in missing)
        raise SearchAttributesMissing(
            f"namespace {client.namespace!r} lacks the search attributes {named} and they could not be added"
            f" ({_rpc(exc)}); run `saves search-attributes` with an identity allowed to change the namespace"
            " (Temporal Cloud: add them in the Cloud console), then start the worker again"
        ) from None

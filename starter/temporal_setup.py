"""Register AIVA's search attributes on a Temporal namespace (a cluster's; the dev server gets them by flag).

Idempotent: attributes already registered with the right type are left alone; one registered with
another type is an error naming it (Temporal cannot change an attribute's type in place).
"""

from __future__ import annotations

from dataclasses import dataclass

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest, ListSearchAttributesRequest
from temporalio.client import Client

from aiva.errors import ConfigError
from workflows.search_attributes import ALL


@dataclass(frozen=True)
class SetupResult:
    """What registration did."""

    added: list[str]
    present: list[str]


async def register_search_attributes(client: Client, namespace: str) -> SetupResult:
    """Add every missing AIVA search attribute to the namespace."""
    have = (await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=namespace))).custom_attributes
    wanted = {k.name: IndexedValueType.ValueType(int(k.indexed_value_type)) for k in ALL}
    wrong = [f"{n} is {IndexedValueType.Name(have[n])}, AIVA needs {IndexedValueType.Name(t)}"
             for n, t in wanted.items() if n in have and have[n] != t]
    if wrong:
        raise ConfigError(f"namespace {namespace!r}: search attribute type mismatch: {'; '.join(wrong)}")
    missing = {n: t for n, t in wanted.items() if n not in have}
    if missing:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(namespace=namespace, search_attributes=missing))
    return SetupResult(added=sorted(missing), present=sorted(set(wanted) - set(missing)))

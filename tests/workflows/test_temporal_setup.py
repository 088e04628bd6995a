"""`aiva setup-temporal` on a fresh Temporal server (no attributes given by flag): registers what is
missing, is idempotent, and refuses a namespace where an attribute has another type."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
import pytest_asyncio
from google.protobuf.duration_pb2 import Duration
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest, ListSearchAttributesRequest
from temporalio.api.workflowservice.v1 import RegisterNamespaceRequest
from temporalio.testing import WorkflowEnvironment

from aiva.errors import ConfigError
from starter.services import temporal_binary
from starter.temporal_setup import register_search_attributes
from workflows.search_attributes import ALL


@pytest_asyncio.fixture(scope="module")
async def bare_env() -> AsyncIterator[WorkflowEnvironment]:
    """A dev server with none of AIVA's search attributes."""
    env = await WorkflowEnvironment.start_local(dev_server_existing_path=temporal_binary(), ui=False)
    yield env
    await env.shutdown()


async def _namespace(env: WorkflowEnvironment, name: str) -> str:
    await env.client.workflow_service.register_namespace(RegisterNamespaceRequest(
        namespace=name, workflow_execution_retention_period=Duration(seconds=int(timedelta(days=1).total_seconds()))))
    return name


async def test_registers_missing_attributes_once(bare_env: WorkflowEnvironment) -> None:
    ns = await _namespace(bare_env, "aiva-setup-ok")
    first = await register_search_attributes(bare_env.client, ns)
    assert first.added == sorted(k.name for k in ALL) and first.present == []
    have = (await bare_env.client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=ns))).custom_attributes
    assert have["AivaProduct"] == IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD
    assert have["AivaCritical"] == IndexedValueType.INDEXED_VALUE_TYPE_INT
    second = await register_search_attributes(bare_env.client, ns)
    assert second.added == [] and second.present == first.added


async def test_refuses_an_attribute_of_another_type(bare_env: WorkflowEnvironment) -> None:
    ns = await _namespace(bare_env, "aiva-setup-clash")
    await bare_env.client.operator_service.add_search_attributes(AddSearchAttributesRequest(
        namespace=ns, search_attributes={"AivaHigh": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD}))
    with pytest.raises(ConfigError, match="AivaHigh is INDEXED_VALUE_TYPE_KEYWORD"):
        await register_search_attributes(bare_env.client, ns)
    have = (await bare_env.client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=ns))).custom_attributes
    assert "AivaProduct" not in have  # nothing half-registered

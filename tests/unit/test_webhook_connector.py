"""The webhook connector over httpx's fake transport: headers, bodies, error classes."""

import json

import httpx
import pytest

from aiva.connectors.webhook import WebhookConnector
from aiva.errors import IntegrationRejected, IntegrationUnavailable
from tests.unit.connector_helpers import mock_client


async def test_open_sends_idempotency_key_and_returns_ticket_id() -> None:
    seen = []

    def handler(req: httpx.Request) -> httpx.Response:
        seen.append(req)
        return httpx.Response(200, json={"id": "T-9"})

    async with mock_client(handler) as c:
        tid = await WebhookConnector(c, "http://hooks.test/x", "tok").open_ticket("k1", "r1", "p", {"title": "t"})
    assert tid == "T-9"
    assert seen[0].headers["Idempotency-Key"] == "k1"
    assert seen[0].headers["Authorization"] == "Bearer tok"
    body = json.loads(seen[0].content)
    assert body["event"] == "ticket.open" and body["finding"] == {"title": "t"}


@pytest.mark.parametrize("status, exc", [(400, IntegrationRejected), (404, IntegrationRejected),
                                         (429, IntegrationUnavailable), (503, IntegrationUnavailable)])
async def test_status_codes_map_to_retryable_or_not(status: int, exc: type) -> None:
    async with mock_client(lambda req: httpx.Response(status, text="nope")) as c:
        with pytest.raises(exc) as ei:
            await WebhookConnector(c, "http://hooks.test/x").open_ticket("k", "r", "p", {})
    assert ei.value.status_code == status and "hooks.test" in str(ei.value)


async def test_connection_errors_are_retryable() -> None:
    def handler(req: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=req)

    async with mock_client(handler) as c:
        with pytest.raises(IntegrationUnavailable):
            await WebhookConnector(c, "http://hooks.test/x").close_ticket("k", "T-1", "r", "why")

"""The generic webhook integration: POST JSON events, one idempotency key per ticket.

Event shapes (the contract a receiver implements; see docs in the README):

    {"event": "ticket.open",  "idempotency_key": K, "run_id": R, "product": P, "finding": {...}}
    {"event": "ticket.close", "idempotency_key": K, "ticket_id": T, "run_id": R, "reason": "..."}

The key is also sent as the `Idempotency-Key` header. A receiver answers 2xx with
an optional JSON body {"id": "..."} naming the ticket. 4xx is a rejection (not
retried); timeouts, connection errors and 5xx are retried by Temporal.
"""

from __future__ import annotations

from typing import Any

import httpx

from aiva.connectors.base import send

NAME = "webhook"


class WebhookConnector:
    """Opens and closes tickets on a generic webhook receiver."""

    name = NAME

    def __init__(self, client: httpx.AsyncClient, url: str, token: str | None = None) -> None:
        self._client = client
        self._url = url
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}

    async def _post(self, body: dict[str, Any], key: str) -> dict[str, Any]:
        headers = {**self._headers, "Idempotency-Key": key, "Content-Type": "application/json"}
        resp = await send(self._client, NAME, "POST", self._url, json=body, headers=headers)
        try:
            data = resp.json() if resp.content else {}
        except ValueError:
            data = {}  # the contract makes the body optional
        return data if isinstance(data, dict) else {}

    async def open_ticket(self, key: str, run_id: str, product: str, finding: dict[str, Any]) -> str:
        """Open (or, for a repeated key, find) the ticket; return its id."""
        data = await self._post(
            {"event": "ticket.open", "idempotency_key": key, "run_id": run_id, "product": product,
             "finding": finding},
            key,
        )
        return str(data.get("id") or key)

    async def close_ticket(self, key: str, ticket_id: str | None, run_id: str, reason: str) -> None:
        """Close the ticket opened under `key` (a receiver ignores unknown keys)."""
        await self._post(
            {"event": "ticket.close", "idempotency_key": key, "ticket_id": ticket_id, "run_id": run_id,
             "reason": reason},
            f"{key}:close",
        )

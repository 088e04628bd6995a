"""What every ticketing connector is: open a ticket once per key, close it by key.

A connector takes an `httpx.AsyncClient` (the worker's, or a test's fake transport) and
its own settings. It never retries by itself: Temporal's retry policy does, so every
attempt is in the workflow history. What a connector must guarantee is idempotency:
`open_ticket` called again with the same key (a retry after a crash between the remote
call and AIVA's bookkeeping) finds the ticket it opened before instead of opening a
second one; `close_ticket` on a ticket already closed, or never opened, is a no-op.

Errors: `IntegrationRejected` (4xx other than 408/429: the request is wrong, retrying
will not help) and `IntegrationUnavailable` (timeouts, connection errors, 408, 429,
5xx) from `aiva.errors`, each naming the integration and the URL. A Retry-After header
travels on the error (`retry_after`) and becomes the delay of Temporal's next attempt.
"""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Protocol

import httpx

from aiva.errors import IntegrationRejected, IntegrationUnavailable

MAX_ERROR_TEXT = 300
# A target asking for more than this is treated as asking for this: Temporal's policy bounds the rest.
MAX_RETRY_AFTER_S = 3600.0


class TicketConnector(Protocol):
    """A remediation target: JIRA, ServiceNow, GitHub Issues, Slack, a webhook."""

    name: str

    async def open_ticket(self, key: str, run_id: str, product: str, finding: dict[str, Any]) -> str:
        """Open the ticket for `key` (or find the one opened before under it); return its id."""
        ...

    async def close_ticket(self, key: str, ticket_id: str | None, run_id: str, reason: str) -> None:
        """Close the ticket opened under `key`; unknown or already closed is not an error."""
        ...


async def send(
    client: httpx.AsyncClient, integration: str, method: str, url: str, **kwargs: Any
) -> httpx.Response:
    """One HTTP request, its failure classified as retryable or not (never retried here)."""
    try:
        resp = await client.request(method, url, **kwargs)
    except httpx.TimeoutException as e:
        raise IntegrationUnavailable(integration, url, f"timed out: {e}") from e
    except httpx.TransportError as e:
        raise IntegrationUnavailable(integration, url, f"connection failed: {e}") from e
    if resp.status_code >= 500 or resp.status_code in (408, 429):
        raise IntegrationUnavailable(
            integration, url, resp.text[:MAX_ERROR_TEXT], resp.status_code, retry_after(resp)
        )
    if resp.status_code >= 400:
        raise IntegrationRejected(integration, url, resp.text[:MAX_ERROR_TEXT], resp.status_code)
    return resp


def retry_after(resp: httpx.Response) -> float | None:
    """Seconds the target asked us to wait (Retry-After: seconds or an HTTP date), bounded to an hour."""
    raw = resp.headers.get("retry-after")
    if not raw:
        return None
    try:
        seconds = float(raw)
    except ValueError:
        try:
            when = parsedate_to_datetime(raw)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            return None
        seconds = (when - datetime.now(UTC)).total_seconds()
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_S)


def json_object(resp: httpx.Response, integration: str) -> dict[str, Any]:
    """The response body as a JSON object; a 2xx that is not one is a rejection (the API changed)."""
    if not resp.content:
        return {}
    try:
        data = resp.json()
    except ValueError as e:
        raise IntegrationRejected(
            integration, str(resp.request.url), f"expected JSON, got {resp.text[:80]!r}", resp.status_code
        ) from e
    if not isinstance(data, dict):
        raise IntegrationRejected(
            integration, str(resp.request.url), "expected a JSON object", resp.status_code
        )
    return data

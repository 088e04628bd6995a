"""Remediation stage: tickets on the configured webhook, and their compensation."""

from __future__ import annotations

import asyncpg
import httpx
import orjson
from temporalio import activity

from activities import metrics
from activities.failures import to_application_error
from aiva.connectors.webhook import NAME as WEBHOOK
from aiva.connectors.webhook import WebhookConnector
from aiva.contracts import CompensationResult, RemediationInput, RemediationResult, RunRef
from aiva.enums import ModuleName
from aiva.errors import AivaError
from aiva.settings import Settings
from aiva.store import tickets


def _summary(c: tickets.TicketCandidate) -> dict[str, object]:
    """What a ticket carries: enough to act on, secrets already redacted at parse time."""
    data = orjson.loads(c.data)
    return {
        "fingerprint": c.fingerprint, "title": c.title, "severity": c.severity, "risk_score": c.risk_score,
        "tool": c.tool, "asset": c.asset, "change": c.change, "rule_id": data.get("rule_id"),
        "vulnerability_ids": [v["id"] for v in data.get("vulnerability_ids") or []],
        "cwes": [f"CWE-{w['id']}" for w in data.get("cwes") or []],
        "component": data.get("component"), "location": data.get("location"), "endpoint": data.get("endpoint"),
        "remediation": data.get("remediation"),
    }


class RemediationActivities:
    """Open tickets for a run's new and reopened findings; close them on compensation."""

    def __init__(self, pool: asyncpg.Pool, http: httpx.AsyncClient, settings: Settings) -> None:
        self._pool = pool
        self._http = http
        self._settings = settings

    def _connector(self) -> WebhookConnector | None:
        if not self._settings.webhook_url:
            return None
        token = self._settings.webhook_token.get_secret_value() if self._settings.webhook_token else None
        return WebhookConnector(self._http, self._settings.webhook_url, token)

    @activity.defn(name="open_tickets")
    async def open_tickets(self, inp: RemediationInput) -> RemediationResult:
        """One ticket per new/reopened finding at or above the bar; each recorded before it is opened."""
        connector = self._connector()
        if connector is None:
            return RemediationResult(integration="none", opened=0, skipped_reason="no integration configured"
                                     " (set AIVA_WEBHOOK_URL)")
        opened = already = 0
        async with self._pool.acquire() as conn:
            for c in await tickets.candidates(conn, inp.run_id, inp.min_severity):
                activity.heartbeat(opened + already)  # also where a cancel request is delivered
                key = f"{inp.run_id}:{c.fingerprint}:{WEBHOOK}"
                if await tickets.reserve(conn, inp.run_id, c.finding_id, WEBHOOK, key) == tickets.OPEN:
                    already += 1
                    continue
                try:
                    ext = await connector.open_ticket(key, inp.run_id, inp.product, _summary(c))
                except AivaError as e:
                    raise to_application_error(e) from e
                await tickets.mark_open(conn, key, ext)
                metrics.TICKETS.labels(WEBHOOK, "opened").inc()
                opened += 1
        return RemediationResult(integration=WEBHOOK, opened=opened, already_open=already)

    @activity.defn(name="close_run_tickets")
    async def close_run_tickets(self, ref: RunRef) -> CompensationResult:
        """Compensation: close every ticket this run opened (or may have opened)."""
        connector = self._connector()
        closed = 0
        async with self._pool.acquire() as conn:
            for key, ext, _integration in await tickets.to_close(conn, ref.run_id):
                activity.heartbeat(closed)
                if connector is not None:
                    try:
                        await connector.close_ticket(key, ext, ref.run_id, "AIVA run rolled back")
                    except AivaError as e:
                        raise to_application_error(e) from e
                await tickets.mark_closed(conn, key)
                metrics.TICKETS.labels(WEBHOOK, "closed").inc()
                closed += 1
        return CompensationResult(step=ModuleName.REMEDIATION, undone=closed)

"""Remediation stage: tickets in every configured integration (webhook, JIRA, ServiceNow, GitHub
Issues, Slack), one activity per integration, and their compensation."""

from __future__ import annotations

import logging

import asyncpg
import httpx
import orjson
from temporalio import activity

from activities import metrics
from activities.failures import to_application_error
from aiva.connectors.base import TicketConnector
from aiva.connectors.registry import configured, connector_for
from aiva.contracts import (
    CompensationResult,
    IntegrationPlan,
    RemediationInput,
    RemediationResult,
    RunRef,
    TicketSyncResult,
)
from aiva.enums import ModuleName, SyncStrategy
from aiva.errors import AivaError, ConfigError, IntegrationRejected
from aiva.settings import Settings
from aiva.store import tickets
from aiva.store.intel_lookup import IntelFacts, IntelLookup

log = logging.getLogger("aiva.remediation")


def _summary(c: tickets.TicketCandidate, intel: dict[str, IntelFacts | None]) -> dict[str, object]:
    """What a ticket carries: enough to act on, secrets already redacted at parse time."""
    data = orjson.loads(c.data)
    ids = [v["id"] for v in data.get("vulnerability_ids") or []]
    facts = [f for f in (intel.get(i.upper()) for i in ids) if f is not None]
    epss = [f.epss for f in facts if f.epss is not None]
    return {
        "fingerprint": c.fingerprint, "title": c.title, "severity": c.severity, "risk_score": c.risk_score,
        "tool": c.tool, "asset": c.asset, "change": c.change, "rule_id": data.get("rule_id"),
        "vulnerability_ids": ids,
        "cwes": [f"CWE-{w['id']}" for w in data.get("cwes") or []],
        "component": data.get("component"), "location": data.get("location"), "endpoint": data.get("endpoint"),
        "remediation": data.get("remediation"),
        # None: no feed knows these ids (never enriched), which is not "not exploited"
        "kev": any(f.in_kev for f in facts) if facts else None,
        "kev_ransomware": any(bool(f.kev_ransomware) for f in facts) if facts else None,
        "epss": max(epss) if epss else None,
    }


def _vuln_ids(c: tickets.TicketCandidate) -> list[str]:
    return [v["id"] for v in orjson.loads(c.data).get("vulnerability_ids") or []]


_FIXED_REASON = {
    "mitigated": "Fixed: no longer reported by a complete re-scan of the same scope (AIVA run {run})",
    "false_positive": "Closed: the finding was triaged as a false positive (AIVA run {run})",
    "risk_accepted": "Closed: the risk was accepted (AIVA run {run})",
    "out_of_scope": "Closed: the finding was marked out of scope (AIVA run {run})",
}


def ticket_key(run_id: str, fingerprint: str, integration: str) -> str:
    """The idempotency key of one ticket: stable across retries, replays and worker crashes."""
    return f"{run_id}:{fingerprint}:{integration}"


class RemediationActivities:
    """Open tickets for a run's new and reopened findings; close them on compensation."""

    def __init__(
        self, pool: asyncpg.Pool, http: httpx.AsyncClient, settings: Settings, intel: IntelLookup | None = None
    ) -> None:
        self._pool = pool
        self._http = http
        self._settings = settings
        self._intel = intel

    def _connector(self, name: str) -> TicketConnector:
        try:
            return connector_for(name, self._settings, self._http)
        except ConfigError as e:
            raise to_application_error(e) from e

    @activity.defn(name="list_integrations")
    async def list_integrations(self, ref: RunRef) -> IntegrationPlan:
        """The ticketing integrations this worker is configured for (each then gets its own activity)."""
        return IntegrationPlan(integrations=configured(self._settings))

    @activity.defn(name="open_tickets")
    async def open_tickets(self, inp: RemediationInput) -> RemediationResult:
        """One ticket per new/reopened finding at or above the bar; each recorded before it is opened."""
        names = [inp.integration] if inp.integration else configured(self._settings)
        if not names:
            return RemediationResult(integration="none", opened=0, skipped_reason="no integration configured"
                                     " (set AIVA_WEBHOOK_URL, AIVA_JIRA_*, AIVA_SERVICENOW_*, AIVA_GITHUB_*"
                                     " or AIVA_SLACK_*)")
        opened = already = 0
        async with self._pool.acquire() as conn:
            todo = await tickets.candidates(conn, inp.run_id, inp.min_severity)
            # one cached lookup for every advisory id of the run's tickets
            intel = await self._intel.lookup(i for c in todo for i in _vuln_ids(c)) if self._intel else {}
            for name in names:
                connector = self._connector(name)
                for c in todo:
                    activity.heartbeat(opened + already)  # also where a cancel request is delivered
                    key = ticket_key(inp.run_id, c.fingerprint, name)
                    if await tickets.reserve(conn, inp.run_id, c.finding_id, name, key) == tickets.OPEN:
                        already += 1
                        continue
                    try:
                        ext = await connector.open_ticket(key, inp.run_id, inp.product, _summary(c, intel))
                    except AivaError as e:
                        await tickets.note_error(conn, key, str(e))
                        raise to_application_error(e) from e
                    await tickets.mark_open(conn, key, ext)
                    metrics.TICKETS.labels(name, "opened").inc()
                    opened += 1
        return RemediationResult(integration=",".join(names), opened=opened, already_open=already)

    @activity.defn(name="close_fixed_tickets")
    async def close_fixed_tickets(self, ref: RunRef) -> TicketSyncResult:
        """Close the product's open tickets whose finding is now mitigated or triaged away (any run's).

        Runs after the report, past the saga's pivot: retried, never compensated. What a target
        refuses is reported, not retried; the next run tries again, as it picks up every such ticket.
        """
        if self._settings.ticket_sync is not SyncStrategy.CREATE_AND_CLOSE:
            return TicketSyncResult()
        closed = 0
        refused: list[str] = []
        unavailable: AivaError | None = None
        connectors: dict[str, TicketConnector | AivaError] = {}
        async with self._pool.acquire() as conn:
            for t in await tickets.fixed_tickets(conn, ref.product):
                activity.heartbeat(closed)
                connector = connectors.get(t.integration)
                if connector is None:
                    connector = connectors[t.integration] = self._connector_or_error(t.integration)
                reason = _FIXED_REASON.get(t.finding_status, t.finding_status).format(run=ref.run_id)
                try:
                    if isinstance(connector, AivaError):
                        raise connector
                    await connector.close_ticket(t.key, t.external_id, ref.run_id, reason)
                except (IntegrationRejected, ConfigError) as e:
                    await tickets.note_error(conn, t.key, str(e))
                    refused.append(f"{t.integration} ticket {t.external_id or t.key}: {e}"[:300])
                    continue
                except AivaError as e:
                    await tickets.note_error(conn, t.key, str(e))
                    unavailable = unavailable or e
                    continue
                await tickets.mark_closed(conn, t.key, reason, ref.run_id)
                metrics.TICKETS.labels(t.integration, "closed_fixed").inc()
                closed += 1
        if unavailable is not None:
            raise to_application_error(unavailable)
        return TicketSyncResult(closed=closed, failed=len(refused), failures=refused)

    def _connector_or_error(self, name: str) -> TicketConnector | AivaError:
        try:
            return connector_for(name, self._settings, self._http)
        except ConfigError as e:
            return e

    @activity.defn(name="close_run_tickets")
    async def close_run_tickets(self, ref: RunRef) -> CompensationResult:
        """Compensation: close every ticket this run opened (or may have opened), in its own integration.

        One ticket's failure never stops the others. A target that is down makes the activity
        fail (retried; tickets closed already are not closed twice). A target that refuses, or an
        integration no longer configured, is reported in the result: retrying would not help.
        """
        closed = 0
        refused: list[str] = []
        unavailable: AivaError | None = None
        connectors: dict[str, TicketConnector | AivaError] = {}
        async with self._pool.acquire() as conn:
            for key, ext, integration in await tickets.to_close(conn, ref.run_id):
                activity.heartbeat(closed)
                connector = connectors.get(integration)
                if connector is None:
                    connector = connectors[integration] = self._connector_or_error(integration)
                try:
                    if isinstance(connector, AivaError):
                        raise connector
                    await connector.close_ticket(key, ext, ref.run_id, "AIVA run rolled back")
                except (IntegrationRejected, ConfigError) as e:
                    await tickets.note_error(conn, key, str(e))
                    refused.append(f"{integration} ticket {ext or key}: {e}"[:300])
                    continue
                except AivaError as e:
                    await tickets.note_error(conn, key, str(e))
                    unavailable = unavailable or e
                    continue
                await tickets.mark_closed(conn, key, "AIVA run rolled back", ref.run_id)
                metrics.TICKETS.labels(integration, "closed").inc()
                closed += 1
        if unavailable is not None:
            raise to_application_error(unavailable)
        for r in refused:
            log.error("run %s: could not close %s", ref.run_id, r)
        return CompensationResult(step=ModuleName.REMEDIATION, undone=closed, failed=len(refused), failures=refused)

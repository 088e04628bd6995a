"""Remediation bookkeeping: every ticket is recorded BEFORE it is opened remotely.

The row (status 'opening') carries the idempotency key, so a crash between the
remote call and the local update neither opens a second ticket (the key is sent
again and the target dedupes) nor leaves one unknown to compensation.
"""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from aiva.enums import Severity

OPENING, OPEN, CLOSED = "opening", "open", "closed"


@dataclass(frozen=True)
class TicketCandidate:
    """A finding this run should open a ticket for."""

    finding_id: int
    fingerprint: str
    title: str
    severity: str
    risk_score: float
    tool: str
    asset: str
    change: str
    data: str


async def candidates(conn: asyncpg.Connection, run_id: str, min_severity: Severity) -> list[TicketCandidate]:
    """Findings this run made new or reopened, at or above the severity bar, riskiest first."""
    wanted = [s.value for s in Severity if s.rank >= min_severity.rank]
    rows = await conn.fetch(
        """
        SELECT f.id, f.fingerprint, f.title, f.severity, f.risk_score, f.tool, a.name AS asset, e.to_status,
               f.data::text AS data
          FROM finding_events e JOIN findings f ON f.id = e.finding_id JOIN assets a ON a.id = f.asset_id
         WHERE e.run_id = $1 AND NOT e.reverted AND e.to_status IN ('new', 'reopened')
           AND f.status IN ('new', 'reopened') AND f.severity = ANY($2::text[])
         ORDER BY f.risk_score DESC, f.id
        """,
        run_id, wanted,
    )
    return [
        TicketCandidate(r["id"], r["fingerprint"], r["title"], r["severity"], r["risk_score"], r["tool"],
                        r["asset"], r["to_status"], r["data"])
        for r in rows
    ]


async def reserve(conn: asyncpg.Connection, run_id: str, finding_id: int, integration: str, key: str) -> str:
    """Record the intent to open a ticket; return its current status (OPEN means done before)."""
    status: str = await conn.fetchval(
        """
        INSERT INTO tickets(run_id, finding_id, integration, idempotency_key, status)
        VALUES ($1, $2, $3, $4, 'opening')
        ON CONFLICT (idempotency_key) DO UPDATE SET idempotency_key = EXCLUDED.idempotency_key
        RETURNING status
        """,
        run_id, finding_id, integration, key,
    )
    return status


async def mark_open(conn: asyncpg.Connection, key: str, external_id: str | None) -> None:
    """The remote ticket exists."""
    await conn.execute(
        "UPDATE tickets SET status = 'open', external_id = $2, opened_at = now(), last_error = NULL"
        " WHERE idempotency_key = $1",
        key, external_id,
    )


async def note_error(conn: asyncpg.Connection, key: str, error: str) -> None:
    """Why the last remote call for this ticket failed (the row keeps its status)."""
    await conn.execute("UPDATE tickets SET last_error = $2 WHERE idempotency_key = $1", key, error[:2000])


async def to_close(conn: asyncpg.Connection, run_id: str) -> list[tuple[str, str | None, str]]:
    """(key, external id, integration) of every ticket of the run that is or may be open."""
    rows = await conn.fetch(
        "SELECT idempotency_key, external_id, integration FROM tickets"
        " WHERE run_id = $1 AND status IN ('opening', 'open') ORDER BY id DESC",
        run_id,
    )
    return [(r["idempotency_key"], r["external_id"], r["integration"]) for r in rows]


async def mark_closed(conn: asyncpg.Connection, key: str, reason: str | None = None,
                      run_id: str | None = None) -> None:
    """The remote ticket is closed (or never existed); why, and by which run."""
    await conn.execute(
        "UPDATE tickets SET status = 'closed', closed_at = now(), close_reason = $2, closed_by_run = $3,"
        " last_error = NULL WHERE idempotency_key = $1",
        key, reason, run_id,
    )


@dataclass(frozen=True)
class FixedTicket:
    """An open ticket whose finding no longer needs it."""

    key: str
    external_id: str | None
    integration: str
    fingerprint: str
    finding_status: str


async def fixed_tickets(conn: asyncpg.Connection, product: str, limit: int = 10_000) -> list[FixedTicket]:
    """Open tickets (of any run) of the product whose finding is mitigated or triaged away."""
    rows = await conn.fetch(
        """
        SELECT t.idempotency_key, t.external_id, t.integration, f.fingerprint, f.status
          FROM tickets t JOIN findings f ON f.id = t.finding_id JOIN products p ON p.id = f.product_id
         WHERE p.name = $1 AND t.status = 'open'
           AND f.status IN ('mitigated', 'false_positive', 'risk_accepted', 'out_of_scope')
         ORDER BY t.id
         LIMIT $2
        """,
        product, limit,
    )
    return [FixedTicket(r["idempotency_key"], r["external_id"], r["integration"], r["fingerprint"], r["status"])
            for r in rows]


async def count_by_status(conn: asyncpg.Connection, run_id: str) -> dict[str, int]:
    """How many of the run's tickets are in each status."""
    rows = await conn.fetch("SELECT status, count(*) AS n FROM tickets WHERE run_id = $1 GROUP BY status", run_id)
    return {r["status"]: r["n"] for r in rows}

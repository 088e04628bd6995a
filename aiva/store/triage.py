"""Triage rules in PostgreSQL, and applying them to findings (set-based, with events)."""

from __future__ import annotations

import asyncpg

from aiva.triage import TriageDecision

# The live rule per finding: most specific scope first, then the newest.
_LIVE_RULES = """
    SELECT DISTINCT ON (f.id) f.id AS finding_id, f.status AS from_status, r.status AS to_status,
           'triage rule #' || r.id || ': ' || r.reason AS reason, r.actor
      FROM findings f
      JOIN triage_rules r ON r.fingerprint = f.fingerprint AND r.revoked_at IS NULL
                         AND (r.expires_at IS NULL OR r.expires_at > now())
                         AND (r.scope = 'all' OR r.product_id = f.product_id)
                         AND (r.scope <> 'target' OR r.asset_id = f.asset_id)
     WHERE f.product_id = $1
     ORDER BY f.id, CASE r.scope WHEN 'target' THEN 0 WHEN 'product' THEN 1 ELSE 2 END, r.created_at DESC
"""


async def add_rule(conn: asyncpg.Connection, d: TriageDecision) -> int:
    """Record a decision as a rule; the product (and asset, for a target scope) must exist."""
    product_id = await conn.fetchval("SELECT id FROM products WHERE name = $1", d.product)
    if product_id is None:
        raise LookupError(f"unknown product {d.product!r}")
    asset_id = None
    if d.scope == "target":
        asset_id = await conn.fetchval(
            "SELECT id FROM assets WHERE product_id = $1 AND name = $2", product_id, d.target)
        if asset_id is None:
            raise LookupError(f"product {d.product!r} has no target {d.target!r}")
    rule_id: int = await conn.fetchval(
        "INSERT INTO triage_rules(scope, product_id, asset_id, fingerprint, status, reason, actor, expires_at)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
        d.scope, None if d.scope == "all" else product_id, asset_id, d.fingerprint, d.status.value, d.reason,
        d.actor, d.expires_at,
    )
    return rule_id


_APPLY_SQL = (
    "WITH live AS (" + _LIVE_RULES + """), changed AS (
        UPDATE findings f SET status = live.to_status, status_changed_at = now()
          FROM live WHERE f.id = live.finding_id AND f.status <> live.to_status
     RETURNING f.id
    )
    INSERT INTO finding_events(finding_id, run_id, from_status, to_status, reason, actor)
    SELECT live.finding_id, $2, live.from_status, live.to_status, live.reason, live.actor
      FROM live JOIN changed ON changed.id = live.finding_id
    RETURNING finding_id
    """
)
_REACTIVATE_SQL = (
    "WITH live AS (" + _LIVE_RULES + """), stale AS (
        SELECT f.id, f.status AS old FROM findings f
         WHERE f.product_id = $1 AND f.status IN ('false_positive', 'risk_accepted', 'out_of_scope')
           AND EXISTS (SELECT 1 FROM finding_events e
                        WHERE e.finding_id = f.id AND e.reason LIKE 'triage rule #%')
           AND NOT EXISTS (SELECT 1 FROM live WHERE live.finding_id = f.id)
    ), upd AS (
        UPDATE findings f SET status = 'active', status_changed_at = now()
          FROM stale WHERE f.id = stale.id
     RETURNING f.id
    )
    INSERT INTO finding_events(finding_id, run_id, from_status, to_status, reason, actor)
    SELECT stale.id, $2, stale.old, 'active', 'triage rule expired or revoked', 'aiva-triage'
      FROM stale JOIN upd ON upd.id = stale.id
    RETURNING finding_id
    """
)


async def apply_rules(conn: asyncpg.Connection, product_id: int, run_id: str | None) -> dict[str, int]:
    """Give every finding of the product the status its live rule says; reactivate expired acceptances.

    Returns how many findings were triaged and how many were reactivated. Run inside the caller's
    transaction (the analysis stage) or on its own (the CLI).
    """
    async with conn.transaction():
        triaged = await conn.fetch(_APPLY_SQL, product_id, run_id)
        reactivated = await conn.fetch(_REACTIVATE_SQL, product_id, run_id)
    return {"triaged": len(triaged), "reactivated": len(reactivated)}

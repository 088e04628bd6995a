"""Risk-stage writes: score the run's findings (aiva.risk) and store score + level in bulk."""

from __future__ import annotations

import asyncpg

from aiva.contracts import RiskResult
from aiva.enums import BusinessCriticality, Environment, RiskLevel, Severity
from aiva.risk import AssetContext, score_finding


async def score_run(conn: asyncpg.Connection, run_id: str) -> RiskResult:
    """Score every finding this run saw; count the open ones by risk level."""
    rows = await conn.fetch(
        """
        SELECT f.id, f.cvss_score, f.severity, f.status, a.criticality, a.environment, a.internet_facing
          FROM findings f JOIN assets a ON a.id = f.asset_id
         WHERE f.last_seen_run = $1
        """,
        run_id,
    )
    updates = []
    by_level = {level.value: 0 for level in RiskLevel}
    for r in rows:
        asset = AssetContext(
            criticality=BusinessCriticality(r["criticality"]),
            internet_facing=r["internet_facing"],
            environment=Environment(r["environment"]),
        )
        rs = score_finding(r["cvss_score"], Severity(r["severity"]), None, asset)
        updates.append((r["id"], rs.score, rs.level.value))
        if r["status"] in ("new", "active", "reopened"):
            by_level[rs.level.value] += 1
    async with conn.transaction():
        await conn.execute(
            "CREATE TEMP TABLE risk_updates (id bigint, score real, level text) ON COMMIT DROP"
        )
        await conn.copy_records_to_table("risk_updates", records=updates)
        await conn.execute(
            "UPDATE findings f SET risk_score = u.score, risk_level = u.level FROM risk_updates u WHERE f.id = u.id"
        )
        result = RiskResult(scored=len(updates), by_level=by_level)
        await conn.execute("UPDATE runs SET risk = $2::jsonb WHERE run_id = $1", run_id, result.model_dump_json())
    return result

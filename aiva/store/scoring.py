"""Risk-stage writes: score findings (aiva.risk) with their threat intel and asset context, in bulk.

A finding's intel is read from `vuln_intel` for all its advisory ids at once:
in KEV if any id is, EPSS the maximum over its ids. Scoring runs under a shared
advisory lock that intel loads take exclusively (aiva.store.intel_store), and
records on each finding the moment of the intel it saw (`intel_scored_at`), so a
later load is always detected as "changed since last scored".
"""

from __future__ import annotations

import datetime as dt

import asyncpg

from aiva.contracts import RiskResult
from aiva.enums import OPEN_STATUS_VALUES, BusinessCriticality, Environment, RiskLevel, Severity
from aiva.risk import AssetContext, ThreatIntel, score_finding

INTEL_LOCK_KEY = "aiva-intel"


async def lock_intel_shared(conn: asyncpg.Connection) -> dt.datetime:
    """Inside a transaction: hold off intel loads until commit; return the intel snapshot time."""
    await conn.execute("SELECT pg_advisory_xact_lock_shared(hashtext($1))", INTEL_LOCK_KEY)
    ts: dt.datetime = await conn.fetchval("SELECT clock_timestamp()")
    return ts


async def lock_intel_exclusive(conn: asyncpg.Connection) -> dt.datetime:
    """Inside a transaction: the one intel writer; return the time its changes are stamped with."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", INTEL_LOCK_KEY)
    ts: dt.datetime = await conn.fetchval("SELECT clock_timestamp()")
    return ts


async def score_selected(conn: asyncpg.Connection, snapshot: dt.datetime) -> dict[str, int]:
    """Score the findings whose ids are in the temp table `to_score(id bigint)`; store score, level, intel.

    Call inside a transaction after `lock_intel_shared` (its time is `snapshot`). Returns
    the count of OPEN findings scored per risk level (every level present).
    """
    sources = set(await conn.fetchval("SELECT coalesce(array_agg(DISTINCT source), '{}') FROM intel_loads"))
    rows = await conn.fetch(
        """
        SELECT f.id, f.cvss_score, f.severity, f.status, cardinality(f.vuln_ids) > 0 AS has_ids,
               a.criticality, a.environment, a.internet_facing, vi.in_kev, vi.epss, vi.changed,
               f.risk_score AS cur_score, f.risk_level AS cur_level, f.in_kev AS cur_kev, f.epss AS cur_epss,
               f.intel_scored_at AS cur_stamp
          FROM to_score t
          JOIN findings f ON f.id = t.id
          JOIN assets a ON a.id = f.asset_id
          LEFT JOIN LATERAL (
               SELECT bool_or(v.in_kev) AS in_kev, max(v.epss) AS epss, max(v.updated_at) AS changed
                 FROM vuln_intel v WHERE v.vuln_id = ANY(f.vuln_ids)) vi ON true
        """
    )
    kev_loaded = "kev" in sources
    enriched = bool(sources)
    updates: list[tuple[int, float, str, bool | None, float | None, dt.datetime | None]] = []
    by_level = {level.value: 0 for level in RiskLevel}
    for r in rows:
        asset = AssetContext(
            criticality=BusinessCriticality(r["criticality"]),
            internet_facing=r["internet_facing"],
            environment=Environment(r["environment"]),
        )
        with_intel = enriched and r["has_ids"]
        in_kev = bool(r["in_kev"]) if with_intel and kev_loaded else None
        epss = r["epss"] if with_intel else None
        intel = ThreatIntel(in_kev=bool(in_kev), epss=epss) if with_intel else None
        rs = score_finding(r["cvss_score"], Severity(r["severity"]), intel, asset)
        stamp = snapshot if with_intel else None
        if not _unchanged(r, rs.score, rs.level.value, in_kev, epss, stamp):
            updates.append((r["id"], rs.score, rs.level.value, in_kev, epss, stamp))
        if r["status"] in OPEN_STATUS_VALUES:
            by_level[rs.level.value] += 1
    if updates:
        await conn.execute(
            "CREATE TEMP TABLE risk_updates (id bigint, score real, level text, in_kev boolean, epss real,"
            " scored_at timestamptz) ON COMMIT DROP"
        )
        await conn.copy_records_to_table("risk_updates", records=updates)
        await conn.execute(
            "UPDATE findings f SET risk_score = u.score, risk_level = u.level, in_kev = u.in_kev, epss = u.epss,"
            " intel_scored_at = u.scored_at FROM risk_updates u WHERE f.id = u.id"
        )
        await conn.execute("DROP TABLE risk_updates")
    await conn.execute("DROP TABLE to_score")
    return by_level


def _same_real(a: float | None, b: float | None) -> bool:
    # the columns are `real`: a stored 7.3 reads back as 7.300000190734863
    return a is None if b is None else (a is not None and abs(a - b) < 1e-4)


def _unchanged(r: asyncpg.Record, score: float, level: str, in_kev: bool | None, epss: float | None,
               stamp: dt.datetime | None) -> bool:
    """True when the stored row already says this: re-scans then rewrite (and bloat) nothing.

    The stored intel stamp stays valid while none of the finding's intel changed after it.
    """
    if not (_same_real(r["cur_score"], score) and r["cur_level"] == level and r["cur_kev"] == in_kev
            and _same_real(r["cur_epss"], epss)):
        return False
    cur = r["cur_stamp"]
    if stamp is None or cur is None:
        return stamp is None and cur is None
    return r["changed"] is None or r["changed"] <= cur


async def score_run(conn: asyncpg.Connection, run_id: str) -> RiskResult:
    """Score every finding this run saw (with threat intel); count the open ones by risk level."""
    async with conn.transaction():
        snapshot = await lock_intel_shared(conn)
        await conn.execute(
            "CREATE TEMP TABLE to_score ON COMMIT DROP AS SELECT id FROM findings WHERE last_seen_run = $1",
            run_id,
        )
        scored: int = await conn.fetchval("SELECT count(*) FROM to_score")
        by_level = await score_selected(conn, snapshot)
        result = RiskResult(scored=scored, by_level=by_level)
        await conn.execute("UPDATE runs SET risk = $2::jsonb WHERE run_id = $1", run_id, result.model_dump_json())
    return result

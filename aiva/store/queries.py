"""Reads for reports and the CLI: a run's findings as they stand, streamed with a cursor."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg
import orjson

from aiva.enums import OPEN_STATUS_VALUES

_CHANGE = {None: "unchanged", "new": "new", "reopened": "reopened", "mitigated": "mitigated"}


@dataclass
class RunFacts:
    """What the report stage knows about a run besides its findings."""

    run_id: str
    product: str
    started_at: datetime
    reports: list[str]
    analysis: dict[str, Any]
    tickets_opened: int
    by_severity: Counter[str] = field(default_factory=Counter)
    by_risk: Counter[str] = field(default_factory=Counter)
    by_status: Counter[str] = field(default_factory=Counter)
    total: int = 0


async def run_facts(conn: asyncpg.Connection, run_id: str) -> RunFacts | None:
    """The run row, its product, its reports and its ticket count."""
    row = await conn.fetchrow(
        "SELECT r.run_id, p.name, r.started_at, r.analysis FROM runs r JOIN products p ON p.id = r.product_id"
        " WHERE r.run_id = $1",
        run_id,
    )
    if row is None:
        return None
    reports = [r["source_path"] for r in await conn.fetch(
        "SELECT source_path FROM scans WHERE run_id = $1 ORDER BY id", run_id)]
    tickets = await conn.fetchval(
        "SELECT count(*) FROM tickets WHERE run_id = $1 AND status IN ('open', 'opening')", run_id
    )
    return RunFacts(
        run_id=row["run_id"],
        product=row["name"],
        started_at=row["started_at"],
        reports=reports,
        analysis=orjson.loads(row["analysis"]) if row["analysis"] else {},
        tickets_opened=int(tickets or 0),
    )


async def export_run_findings(conn: asyncpg.Connection, run_id: str, out: Path, facts: RunFacts) -> int:
    """Write the run's findings (seen or changed by it) as ReportFinding JSON lines, riskiest first.

    Membership comes from what the run's scans reported, so a past run's report can be rebuilt
    after later runs moved `last_seen_run` on; statuses are as they stand now.
    """
    sql = """
        WITH seen AS (
            SELECT DISTINCT sf.fingerprint FROM scan_findings sf JOIN scans s ON s.id = sf.scan_id
             WHERE s.run_id = $1
        )
        SELECT f.id, f.data::text AS data, f.status, f.risk_score, f.risk_level, f.first_seen_at, f.last_seen_at,
               f.occurrences, f.severity, e.to_status, f.group_key, f.group_rule,
               CASE WHEN f.group_key IS NOT NULL THEN
                    (SELECT coalesce(array_agg(DISTINCT g.tool ORDER BY g.tool), '{}') FROM findings g
                      WHERE g.product_id = f.product_id AND g.group_key = f.group_key AND g.id <> f.id
                        AND g.status = ANY($2::text[]) AND g.tool <> f.tool)
               END AS also
          FROM findings f
          LEFT JOIN finding_events e
                 ON e.finding_id = f.id AND e.run_id = $1 AND NOT e.reverted AND e.actor <> 'aiva-saga'
         WHERE f.product_id = (SELECT product_id FROM runs WHERE run_id = $1)
           AND (f.fingerprint IN (SELECT fingerprint FROM seen) OR e.id IS NOT NULL)
         ORDER BY f.risk_score DESC, f.id
    """
    n = 0
    with open(out, "wb") as fh:
        async with conn.transaction():
            async for r in conn.cursor(sql, run_id, list(OPEN_STATUS_VALUES), prefetch=2000):
                change = _CHANGE.get(r["to_status"], "unchanged")
                group = (b"null" if r["group_key"] is None else orjson.dumps(
                    {"group": r["group_key"], "rule": r["group_rule"], "also_reported_by": r["also"] or []}))
                fh.write(b'{"id":%d,"finding":%s,"status":%s,"risk_score":%s,"risk_level":%s,'
                         b'"first_seen":%s,"last_seen":%s,"occurrences":%d,"change":%s,"correlation":%s}\n' % (
                             r["id"], r["data"].encode(), orjson.dumps(r["status"]),
                             orjson.dumps(float(r["risk_score"])), orjson.dumps(r["risk_level"]),
                             orjson.dumps(r["first_seen_at"]), orjson.dumps(r["last_seen_at"]),
                             r["occurrences"], orjson.dumps(change), group))
                facts.by_severity[r["severity"]] += 1
                facts.by_risk[r["risk_level"]] += 1
                facts.by_status[r["status"]] += 1
                n += 1
    facts.total = n
    return n


async def finish_run(
    conn: asyncpg.Connection, run_id: str, reports: dict[str, str], stage_timings: list[dict[str, Any]] | None = None
) -> None:
    """Record the run's reports (and the stage timings its history showed) and close it; what its
    compensation would have restored is no longer needed."""
    await conn.execute("DELETE FROM seen_undo WHERE run_id = $1", run_id)
    await conn.execute(
        "UPDATE runs SET reports = $2::jsonb, finished_at = now(), status = 'completed',"
        " stage_timings = coalesce($3::jsonb, stage_timings) WHERE run_id = $1",
        run_id, orjson.dumps(reports).decode(),
        orjson.dumps(stage_timings).decode() if stage_timings is not None else None,
    )


async def stored_stage_timings(conn: asyncpg.Connection, run_id: str) -> list[dict[str, Any]] | None:
    """The stage timings recorded when the run's reports were rendered (None: never recorded)."""
    raw = await conn.fetchval("SELECT stage_timings::text FROM runs WHERE run_id = $1", run_id)
    return list(orjson.loads(raw)) if raw else None


async def finding_counts(conn: asyncpg.Connection, product: str) -> dict[str, int]:
    """Current findings of a product by status."""
    rows = await conn.fetch(
        "SELECT f.status, count(*) AS n FROM findings f JOIN products p ON p.id = f.product_id"
        " WHERE p.name = $1 GROUP BY f.status",
        product,
    )
    return {r["status"]: r["n"] for r in rows}


async def product_trend(conn: asyncpg.Connection, run_id: str, limit: int = 12) -> list[dict[str, Any]]:
    """This run and the product's earlier runs (oldest first): open, new and mitigated counts."""
    rows = await conn.fetch(
        """
        SELECT r.run_id, r.started_at, r.analysis, r.risk FROM runs r
         WHERE r.product_id = (SELECT product_id FROM runs WHERE run_id = $1)
           AND r.analysis IS NOT NULL AND r.status <> 'compensated'
           AND r.started_at <= (SELECT started_at FROM runs WHERE run_id = $1)
         ORDER BY r.started_at DESC LIMIT $2
        """,
        run_id, limit,
    )
    out = []
    for r in reversed(rows):
        analysis = orjson.loads(r["analysis"])
        risk = orjson.loads(r["risk"]) if r["risk"] else {}
        out.append({
            "run_id": r["run_id"], "started_at": r["started_at"],
            "open": sum((risk.get("by_level") or {}).values()),
            "new": analysis.get("new", 0), "mitigated": analysis.get("mitigated", 0),
        })
    return out


async def run_views(conn: asyncpg.Connection, run_id: str) -> dict[str, Any]:
    """The analysis stage's stored views of a run: compliance, threats (attack paths, KEV counts), and
    vulnerabilities (cross-tool correlation counts)."""
    row = await conn.fetchrow("SELECT compliance::text AS c, threats::text AS t, vulnerabilities::text AS v"
                              " FROM runs WHERE run_id = $1", run_id)
    if row is None:
        return {}
    return {"compliance": orjson.loads(row["c"]) if row["c"] else {},
            "threats": orjson.loads(row["t"]) if row["t"] else {},
            "vulnerabilities": orjson.loads(row["v"]) if row["v"] else {}}

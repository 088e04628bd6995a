"""The analysis stage's three parallel views of a run: vulnerabilities (cross-tool correlation and
the experience model), compliance, and threats (KEV / EPSS exposure). Each stores its result on the
run row and returns a small summary."""

from __future__ import annotations

from typing import Any

import asyncpg
import orjson

from aiva.compliance import ComplianceFinding, evaluate
from aiva.correlation import correlate
from aiva.enums import OPEN_STATUS_VALUES
from aiva.gcpause import gc_paused
from aiva.schemas import Finding
from aiva.store import experience

# Finding fields correlation never reads: left in the database, so 100k open findings load in a
# fraction of the time and memory (they are the bulk of each row).
_NOT_CORRELATED = ("description", "references", "remediation", "cvss_v3", "cvss_v4", "tags", "warnings")


async def _run_product(conn: asyncpg.Connection, run_id: str) -> int | None:
    pid: int | None = await conn.fetchval("SELECT product_id FROM runs WHERE run_id = $1", run_id)
    return pid


async def vulnerabilities(conn: asyncpg.Connection, run_id: str, auto_close: float | None) -> dict[str, Any]:
    """Group the open findings on the assets this run touched across tools; score new ones for false positives."""
    product_id = await _run_product(conn, run_id)
    if product_id is None:
        return {"groups": 0, "multi_tool_groups": 0, "correlated_findings": 0, "fp_scored": 0, "auto_closed": 0}
    rows = await conn.fetch(
        """
        SELECT f.id, f.group_key, f.group_rule,
               (f.data - $4::text[] #- '{location,snippet}')::text AS data FROM findings f
         WHERE f.product_id = $1 AND f.status = ANY($2::text[])
           AND f.asset_id IN (SELECT DISTINCT asset_id FROM findings WHERE last_seen_run = $3)
        """,
        product_id, list(OPEN_STATUS_VALUES), run_id, list(_NOT_CORRELATED))
    by_fp: dict[str, int] = {}
    current: dict[int, tuple[str | None, str | None]] = {}
    findings = []
    with gc_paused():
        for r in rows:
            f = Finding.model_validate_json(r["data"])
            by_fp[f.fingerprint] = r["id"]
            current[r["id"]] = (r["group_key"], r["group_rule"])
            findings.append(f)
        del rows
        groups = correlate(findings)
    wanted: dict[int, tuple[str | None, str | None]] = {}
    multi = correlated = 0
    for g in groups:
        if len(g.sources) > 1:
            correlated += len(g.sources)
            multi += 1 if len(g.tools) > 1 else 0
            for s in g.sources:
                if s.fingerprint in by_fp:
                    wanted[by_fp[s.fingerprint]] = (g.id, g.rule)
    # Only rows whose group changes are written: an UPDATE rewrites the whole row (its JSON too),
    # and on a re-scan almost every group is what it was.
    changed = [(i, *wanted.get(i, (None, None))) for i, cur in current.items() if wanted.get(i, (None, None)) != cur]
    if changed:
        await conn.execute(
            """
            UPDATE findings f SET group_key = u.k, group_rule = u.r
              FROM unnest($1::bigint[], $2::text[], $3::text[]) AS u(id, k, r) WHERE f.id = u.id
            """,
            [c[0] for c in changed], [c[1] for c in changed], [c[2] for c in changed])
    fp = await experience.score_run(conn, run_id, auto_close)
    result = {"groups": len(groups), "multi_tool_groups": multi, "correlated_findings": correlated,
              "fp_scored": fp["scored"], "auto_closed": fp["auto_closed"]}
    await conn.execute("UPDATE runs SET vulnerabilities = $2::jsonb WHERE run_id = $1", run_id,
                       orjson.dumps(result).decode())
    return result


async def compliance(conn: asyncpg.Connection, run_id: str) -> dict[str, Any]:
    """Evaluate every framework over the product's findings (open ones fail controls, resolved ones count)."""
    product_id = await _run_product(conn, run_id)
    if product_id is None:
        return {"frameworks": {}}
    report = evaluate(await compliance_findings(conn, product_id))
    doc = report.model_dump(mode="json")
    await conn.execute("UPDATE runs SET compliance = $2::jsonb WHERE run_id = $1", run_id,
                       orjson.dumps(doc).decode())
    return {"frameworks": {fw.value: len(res.failed_controls) for fw, res in report.frameworks.items()}}


async def compliance_findings(conn: asyncpg.Connection, product_id: int) -> list[ComplianceFinding]:
    """Every finding of the product as compliance evidence (open ones fail controls, resolved ones count)."""
    # Only the fields a control reads, built in SQL: the rest of each row never leaves the database.
    rows = await conn.fetch(
        """
        SELECT jsonb_build_object('fingerprint', data->'fingerprint', 'severity', data->'severity',
                                  'category', data->'category', 'title', data->'title', 'cwes', data->'cwes',
                                  'vulnerability_ids', cardinality(vuln_ids) > 0)::text AS data, status
          FROM findings WHERE product_id = $1
        """, product_id)
    return [ComplianceFinding.from_data(orjson.loads(r["data"]), r["status"]) for r in rows]


async def correlated_issues(conn: asyncpg.Connection, product_id: int, limit: int = 200) -> list[dict[str, Any]]:
    """The product's open cross-tool issues (groups with more than one tool), most sources first."""
    rows = await conn.fetch(
        """
        SELECT f.group_key, f.group_rule, array_agg(DISTINCT f.tool ORDER BY f.tool) AS tools,
               count(*) AS sources, max(f.risk_score) AS risk, min(f.title) AS title,
               array_agg(DISTINCT a.name ORDER BY a.name) AS assets
          FROM findings f JOIN assets a ON a.id = f.asset_id
         WHERE f.product_id = $1 AND f.group_key IS NOT NULL AND f.status = ANY($2::text[])
         GROUP BY f.group_key, f.group_rule
        HAVING count(DISTINCT f.tool) > 1
         ORDER BY count(*) DESC, max(f.risk_score) DESC, f.group_key
         LIMIT $3
        """, product_id, list(OPEN_STATUS_VALUES), limit)
    return [dict(r) for r in rows]


async def threats(conn: asyncpg.Connection, run_id: str) -> dict[str, Any]:
    """How the run's open findings stand against known exploitation (KEV, EPSS)."""
    row = await conn.fetchrow(
        """
        SELECT count(*) FILTER (WHERE k.kev) AS kev,
               count(*) FILTER (WHERE k.epss >= 0.1) AS epss_10,
               count(*) FILTER (WHERE cardinality(f.vuln_ids) > 0 AND k.known = 0) AS never_enriched,
               count(*) FILTER (WHERE cardinality(f.vuln_ids) > 0) AS with_vuln_id
          FROM findings f
          LEFT JOIN LATERAL (
                SELECT bool_or(vi.in_kev) AS kev, max(vi.epss) AS epss, count(vi.vuln_id) AS known
                  FROM vuln_intel vi WHERE vi.vuln_id = ANY(f.vuln_ids)) k ON true
         WHERE f.last_seen_run = $1 AND f.status = ANY($2::text[])
        """,
        run_id, list(OPEN_STATUS_VALUES))
    result = dict(row) if row else {}
    await conn.execute("UPDATE runs SET threats = COALESCE(threats, '{}'::jsonb) || $2::jsonb WHERE run_id = $1",
                       run_id, orjson.dumps(result).decode())
    return result


async def attack_paths_for_run(conn: asyncpg.Connection, run_id: str, k: int = 5) -> dict[str, Any]:
    """Top-k paths from internet-facing assets to crown jewels over the product's stored inventory."""
    from aiva.attack_paths import attack_paths
    from aiva.store.assets import open_findings_by_asset, stored_inventory

    product_id = await _run_product(conn, run_id)
    inv = await stored_inventory(conn, product_id) if product_id is not None else None
    if inv is None:
        return {"paths": [], "skipped_reason": "no asset inventory loaded for this product (aiva assets load)"}
    paths = attack_paths(inv, await open_findings_by_asset(conn, product_id), k=k)  # type: ignore[arg-type]
    doc = [path_json(p) for p in paths]
    await conn.execute(
        "UPDATE runs SET threats = COALESCE(threats, '{}'::jsonb) || jsonb_build_object('attack_paths', $2::jsonb)"
        " WHERE run_id = $1", run_id, orjson.dumps(doc).decode())
    return {"paths": doc, "skipped_reason": None}


def path_json(p: Any) -> dict[str, Any]:
    """An AttackPath as plain JSON: entry, target, probability, and each hop with its enabling findings."""
    return {
        "entry": p.entry, "target": p.target, "probability": round(p.probability, 4), "cost": round(p.cost, 4),
        "hops": [{"from": h.source, "to": h.target, "kind": h.kind.value, "probability": round(h.probability, 4),
                  "via": h.via,
                  "findings": [{"fingerprint": f.fingerprint, "title": f.title, "risk_score": f.risk_score,
                                "in_kev": f.in_kev} for f in h.findings[:5]]} for h in p.hops],
    }

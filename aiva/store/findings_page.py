"""A product's current findings, one keyset page at a time (for the HTTP API)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import asyncpg

# Keyset on findings.id (index findings_product_keyset): a page costs the same at any depth, and a
# finding inserted while a client pages never shifts the rows it has not read yet.
_PAGE_SQL = """
    SELECT f.id, f.fingerprint, f.title, f.severity, f.status, f.tool, f.category, f.rule_id,
           a.name AS asset, f.cvss_score, f.risk_score, f.risk_level, f.occurrences,
           f.first_seen_at, f.last_seen_at, f.group_key AS correlation_group, f.group_rule AS correlation_rule
      FROM findings f JOIN assets a ON a.id = f.asset_id
     WHERE f.product_id = $1 AND f.id > $2
       AND ($3::text[] IS NULL OR f.status = ANY($3::text[]))
       AND ($4::text[] IS NULL OR f.severity = ANY($4::text[]))
       AND (NOT $6::bool OR f.group_key IS NOT NULL)
     ORDER BY f.id
     LIMIT $5
"""


async def product_id(db: asyncpg.Connection | asyncpg.Pool, product: str) -> int | None:
    """The product's id, or None when there is no such product."""
    pid: int | None = await db.fetchval("SELECT id FROM products WHERE name = $1", product)
    return pid


async def findings_page(
    db: asyncpg.Connection | asyncpg.Pool, product_id: int, *, after: int = 0, limit: int = 100,
    statuses: Sequence[str] | None = None, severities: Sequence[str] | None = None, correlated: bool = False,
) -> tuple[list[dict[str, Any]], int | None]:
    """Up to `limit` findings with id > `after`, in id order, and the cursor of the next page (None at the end).

    `correlated`: only findings in a cross-tool group (another tool reports the same weakness).
    """
    rows = await db.fetch(_PAGE_SQL, product_id, after, list(statuses) if statuses else None,
                          list(severities) if severities else None, limit + 1, correlated)
    page = [dict(r) for r in rows[:limit]]
    return page, (page[-1]["id"] if len(rows) > limit and page else None)

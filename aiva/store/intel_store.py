"""Threat-intel writes: load KEV and EPSS into `vuln_intel`, re-score findings whose intel changed.

Loads COPY the feed into a temp table and upsert in one statement; only rows whose
values really change get a new `updated_at`, and that is what a load returns. Each
load is recorded in `intel_loads` (source, rows, changed, sha256). Loads hold an
exclusive advisory lock, scoring a shared one (aiva.store.scoring), so a finding's
`intel_scored_at` always says which intel it saw.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import asyncpg

from aiva.intel.epss import EpssScore
from aiva.intel.kev import KevEntry
from aiva.store.scoring import lock_intel_exclusive, lock_intel_shared, score_selected


async def load_kev(
    conn: asyncpg.Connection,
    entries: Iterable[KevEntry],
    *,
    sha256: str | None = None,
    version: str | None = None,
    replace: bool = True,
) -> int:
    """Upsert the KEV catalog; return how many `vuln_intel` rows changed (added, altered or dropped).

    `replace=True` (the default) treats `entries` as the whole catalog: a CVE no longer
    listed is marked not in KEV. `sha256` defaults to a digest of the entries.
    """
    rows = {e.cve_id: (e.cve_id, e.date_added, e.known_ransomware) for e in entries}
    records = sorted(rows.values())
    digest = sha256 or _digest(f"{cve}|{added}|{ransom}" for cve, added, ransom in records)
    async with conn.transaction():
        stamp = await lock_intel_exclusive(conn)
        await conn.execute(
            "CREATE TEMP TABLE kev_in (vuln_id text PRIMARY KEY, date_added date, ransomware boolean)"
            " ON COMMIT DROP"
        )
        await conn.copy_records_to_table("kev_in", records=records)
        changed: int = await conn.fetchval(
            """
            WITH up AS (
                INSERT INTO vuln_intel AS v (vuln_id, in_kev, kev_date_added, kev_ransomware, updated_at)
                SELECT vuln_id, true, date_added, ransomware, $1 FROM kev_in
                ON CONFLICT (vuln_id) DO UPDATE
                   SET in_kev = true, kev_date_added = EXCLUDED.kev_date_added,
                       kev_ransomware = EXCLUDED.kev_ransomware, updated_at = EXCLUDED.updated_at
                 WHERE (v.in_kev, v.kev_date_added, v.kev_ransomware)
                       IS DISTINCT FROM (true, EXCLUDED.kev_date_added, EXCLUDED.kev_ransomware)
                RETURNING 1
            ) SELECT count(*) FROM up
            """,
            stamp,
        )
        if replace:
            dropped: str = await conn.execute(
                """
                UPDATE vuln_intel v SET in_kev = false, kev_date_added = NULL, kev_ransomware = NULL, updated_at = $1
                 WHERE v.in_kev AND NOT EXISTS (SELECT 1 FROM kev_in k WHERE k.vuln_id = v.vuln_id)
                """,
                stamp,
            )
            changed += int(dropped.split()[-1])
        await _record_load(conn, "kev", version, len(records), changed, digest)
    return changed


async def load_epss(
    conn: asyncpg.Connection,
    scores: Iterable[EpssScore],
    *,
    sha256: str | None = None,
    version: str | None = None,
    replace: bool = False,
) -> int:
    """Upsert EPSS scores; return how many CVEs' EPSS probability changed (new, different or dropped).

    Percentile-only moves are stored but not counted (they do not change a risk score).
    `replace=True` clears the EPSS of CVEs missing from `scores`.
    """
    rows = {s.cve_id: (s.cve_id, s.epss, s.percentile, s.score_date) for s in scores}
    records = sorted(rows.values(), key=lambda r: r[0])
    digest = sha256 or _digest(f"{cve}|{epss!r}|{pct!r}|{day}" for cve, epss, pct, day in records)
    async with conn.transaction():
        stamp = await lock_intel_exclusive(conn)
        await conn.execute(
            "CREATE TEMP TABLE epss_in (vuln_id text PRIMARY KEY, epss real, percentile real, score_date date)"
            " ON COMMIT DROP"
        )
        await conn.copy_records_to_table("epss_in", records=records)
        changed: int = await conn.fetchval(
            """
            WITH up AS (
                INSERT INTO vuln_intel AS v (vuln_id, epss, epss_percentile, epss_date, updated_at)
                SELECT vuln_id, epss, percentile, score_date, $1 FROM epss_in
                ON CONFLICT (vuln_id) DO UPDATE
                   SET epss = EXCLUDED.epss, epss_percentile = EXCLUDED.epss_percentile,
                       epss_date = CASE WHEN v.epss IS DISTINCT FROM EXCLUDED.epss
                                        THEN EXCLUDED.epss_date ELSE v.epss_date END,
                       updated_at = CASE WHEN v.epss IS DISTINCT FROM EXCLUDED.epss
                                         THEN EXCLUDED.updated_at ELSE v.updated_at END
                 WHERE (v.epss, v.epss_percentile) IS DISTINCT FROM (EXCLUDED.epss, EXCLUDED.epss_percentile)
                RETURNING v.updated_at
            ) SELECT count(*) FROM up WHERE updated_at = $1
            """,
            stamp,
        )
        if replace:
            dropped: str = await conn.execute(
                """
                UPDATE vuln_intel v SET epss = NULL, epss_percentile = NULL, epss_date = NULL, updated_at = $1
                 WHERE v.epss IS NOT NULL AND NOT EXISTS (SELECT 1 FROM epss_in e WHERE e.vuln_id = v.vuln_id)
                """,
                stamp,
            )
            changed += int(dropped.split()[-1])
        await _record_load(conn, "epss", version, len(records), changed, digest)
    return changed


async def rescore_changed(conn: asyncpg.Connection, product_id: int | None = None) -> int:
    """Re-score only the findings whose intel changed since they were last scored; return how many.

    A finding qualifies when one of its advisory ids has a `vuln_intel` row updated after
    its `intel_scored_at`, or it was never scored with intel and now has some. Scoped
    to one product when `product_id` is given.
    """
    async with conn.transaction():
        snapshot = await lock_intel_shared(conn)
        await conn.execute(
            """
            CREATE TEMP TABLE to_score ON COMMIT DROP AS
            SELECT f.id FROM findings f
             WHERE cardinality(f.vuln_ids) > 0
               AND ($1::bigint IS NULL OR f.product_id = $1)
               AND EXISTS (SELECT 1 FROM vuln_intel v
                            WHERE v.vuln_id = ANY(f.vuln_ids)
                              AND (f.intel_scored_at IS NULL OR v.updated_at > f.intel_scored_at))
            """,
            product_id,
        )
        n: int = await conn.fetchval("SELECT count(*) FROM to_score")
        await score_selected(conn, snapshot)
    return n


async def _record_load(
    conn: asyncpg.Connection, source: str, version: str | None, rows: int, changed: int, sha256: str
) -> None:
    await conn.execute(
        "INSERT INTO intel_loads(source, version, rows, changed, sha256) VALUES ($1, $2, $3, $4, $5)",
        source, version, rows, changed, sha256,
    )


def _digest(lines: Iterable[str]) -> str:
    h = hashlib.sha256()
    for line in lines:
        h.update(line.encode())
        h.update(b"\n")
    return h.hexdigest()

"""Scan-stage writes: one report's findings, COPY'd in batches inside one transaction.

The scan row is keyed by `scan_key` (run id + report index), so a retried ingest
finds the committed scan and writes nothing twice; a failure mid-file rolls the
whole report back, so nothing is half-stored.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import asyncpg

from aiva.store.reconcile import UNSPECIFIED_ASSET

SCAN_FINDING_COLUMNS = ("scan_id", "ord", "fingerprint", "tool", "target", "severity", "data")
Record = tuple[int, int, str, str, str | None, str, str]
# PostgreSQL text and jsonb cannot hold NUL; scanner text sometimes does. An escaped NUL is
# "\u0000" preceded by an even number of backslashes (an odd number escapes the backslash).
_JSON_NUL = re.compile(r"(?<!\\)((?:\\\\)*)\\u0000")


def pg_safe(record: Record) -> Record:
    """Replace NUL characters (which PostgreSQL refuses) by U+FFFD in a record's text."""
    scan_id, ord_, fp, tool, target, sev, data = record
    return (scan_id, ord_, fp, tool.replace("\x00", "\ufffd"),
            target.replace("\x00", "\ufffd") if target else target, sev,
            _JSON_NUL.sub(r"\1\\ufffd", data))


@dataclass(frozen=True)
class StoredScan:
    """A committed scan row."""

    scan_id: int
    format: str
    finding_count: int
    warning_count: int
    sha256: str


async def find_scan(conn: asyncpg.Connection, scan_key: str) -> StoredScan | None:
    """The scan already committed under this key (a retry), if any."""
    row = await conn.fetchrow(
        "SELECT id, format, finding_count, warning_count, sha256 FROM scans WHERE scan_key = $1", scan_key
    )
    if row is None:
        return None
    return StoredScan(row["id"], row["format"], row["finding_count"], row["warning_count"], row["sha256"])


async def ensure_run(conn: asyncpg.Connection, run_id: str, product: str) -> int:
    """Create the product and the run rows if missing; return the product id."""
    product_id: int = await conn.fetchval(
        "INSERT INTO products(name) VALUES ($1) ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name RETURNING id",
        product,
    )
    await conn.execute(
        "INSERT INTO runs(run_id, product_id) VALUES ($1, $2) ON CONFLICT (run_id) DO NOTHING", run_id, product_id
    )
    return product_id


async def store_scan(
    conn: asyncpg.Connection,
    *,
    scan_key: str,
    run_id: str,
    product: str,
    source_path: str,
    sha256: str,
    fmt: str,
    declared_target: str | None,
    declared_tool: str | None,
    complete: bool,
    batches: Callable[[int], AsyncIterator[list[Record]]],
    on_batch: Callable[[int], Awaitable[None]] | None = None,
    coverage: Callable[[], Awaitable[tuple[str | None, str | None]]] | None = None,
) -> StoredScan:
    """Insert the scan and COPY every batch of its findings, all in one transaction.

    `coverage` says what an EMPTY report covers, (target, tool), asked only when no finding came:
    recorded as the scan's declared scope (the unspecified asset when the report names no target, as
    its findings would have been), so a complete scan that finds nothing mitigates what its tool
    found there before.
    """
    async with conn.transaction():
        product_id = await ensure_run(conn, run_id, product)
        scan_id: int = await conn.fetchval(
            "INSERT INTO scans(scan_key, run_id, product_id, source_path, sha256, format, declared_target,"
            " declared_tool, complete, finding_count) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,0) RETURNING id",
            scan_key, run_id, product_id, source_path, sha256, fmt, declared_target, declared_tool, complete,
        )
        total = 0
        warnings = 0
        async for raw in batches(scan_id):
            batch = [pg_safe(r) if ("\\u0000" in r[6] or "\x00" in r[3] or "\x00" in (r[4] or "")) else r
                     for r in raw]
            await conn.copy_records_to_table("scan_findings", records=batch, columns=SCAN_FINDING_COLUMNS)
            total += len(batch)
            warnings += sum(1 for r in batch if '"warnings":[]' not in r[6])
            if on_batch is not None:
                await on_batch(total)
        if total == 0 and coverage is not None:
            target, tool = await coverage()
            declared_tool = declared_tool or tool
            declared_target = declared_target or target or (UNSPECIFIED_ASSET if declared_tool else None)
        await conn.execute(
            "UPDATE scans SET finding_count = $2, warning_count = $3, declared_target = $4, declared_tool = $5"
            " WHERE id = $1", scan_id, total, warnings, declared_target, declared_tool,
        )
    return StoredScan(scan_id, fmt, total, warnings, sha256)


async def delete_run_scans(conn: asyncpg.Connection, run_id: str) -> int:
    """Compensation of the scan stage: drop what this run ingested (its scan_findings cascade)."""
    result: str = await conn.execute("DELETE FROM scans WHERE run_id = $1", run_id)
    return int(result.split()[-1])

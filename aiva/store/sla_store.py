"""SLA inputs from the store: first seen, last reopen, risk-accepted intervals (from finding events)."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

import asyncpg
import orjson

from aiva.enums import Severity
from aiva.sla import Interval, SlaItem, SlaPolicy, SlaStatus, breaches

OPEN = ("new", "active", "reopened", "risk_accepted")


async def product_policy(conn: asyncpg.Connection, product_id: int) -> SlaPolicy:
    """The product's SLA days over the defaults."""
    raw = await conn.fetchval("SELECT sla_days::text FROM products WHERE id = $1", product_id)
    return SlaPolicy.from_settings(orjson.loads(raw) if raw else None)


async def sla_items(conn: asyncpg.Connection, product_id: int) -> list[SlaItem]:
    """One SlaItem per open (or accepted) finding of the product."""
    findings = await conn.fetch(
        "SELECT id, fingerprint, severity, first_seen_at, status FROM findings"
        " WHERE product_id = $1 AND status = ANY($2::text[])", product_id, list(OPEN))
    if not findings:
        return []
    events = await conn.fetch(
        "SELECT finding_id, from_status, to_status, at FROM finding_events"
        " WHERE finding_id = ANY($1::bigint[]) AND NOT reverted ORDER BY finding_id, at, id",
        [f["id"] for f in findings])
    reopened: dict[int, dt.datetime] = {}
    accepted: dict[int, list[Interval]] = defaultdict(list)
    open_since: dict[int, dt.datetime] = {}
    for e in events:
        fid = e["finding_id"]
        if e["to_status"] == "reopened":
            reopened[fid] = e["at"]
        if e["to_status"] == "risk_accepted":
            open_since[fid] = e["at"]
        elif e["from_status"] == "risk_accepted" and fid in open_since:
            accepted[fid].append(Interval(open_since.pop(fid), e["at"]))
    for fid, start in open_since.items():
        accepted[fid].append(Interval(start, None))
    return [SlaItem(fingerprint=f["fingerprint"], severity=Severity(f["severity"]), first_seen=f["first_seen_at"],
                    is_open=True, reopened_at=reopened.get(f["id"]), accepted=tuple(accepted.get(f["id"], ())))
            for f in findings]


async def product_breaches(conn: asyncpg.Connection, product_id: int, now: dt.datetime) -> list[SlaStatus]:
    """Open findings of the product past their due date, most overdue first."""
    items = await sla_items(conn, product_id)
    return sorted(breaches(items, now, await product_policy(conn, product_id)), key=lambda s: -s.overdue)

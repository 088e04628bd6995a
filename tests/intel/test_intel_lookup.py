"""Intel lookups through the cache, on the real PostgreSQL and (when AIVA_TEST_REDIS_URL is set) the
real Redis: cached answers, negative entries, invalidation by a feed load, a cache shared by workers."""

from __future__ import annotations

import datetime as dt
import json
import random
import uuid
from typing import Any

import asyncpg
import pytest

from activities.remediation import _summary
from aiva.intel import EpssScore, KevEntry
from aiva.intel.cache import MemoryIntelCache, RedisIntelCache
from aiva.store import intel_store
from aiva.store.intel_lookup import IntelLookup, publish_generation
from aiva.store.tickets import TicketCandidate

_rng = random.Random()


def _cve() -> str:
    return f"CVE-2098-{_rng.randrange(10_000, 10_000_000)}"


def _kev(cve: str) -> KevEntry:
    return KevEntry(cve, "Vendor", "Product", "Test vulnerability", dt.date(2024, 5, 6), None, True)


async def _load(pool: asyncpg.Pool, kev: list[str], epss: dict[str, float]) -> None:
    async with pool.acquire() as conn:
        if kev:
            await intel_store.load_kev(conn, [_kev(c) for c in kev], replace=False)
        if epss:
            await intel_store.load_epss(conn, [EpssScore(c, p, 0.5, dt.date(2026, 11, 30)) for c, p in epss.items()])


async def _tamper(pool: asyncpg.Pool, cve: str, epss: float) -> None:
    """Change a row behind the lookup's back (no load, no new generation)."""
    await pool.execute("UPDATE vuln_intel SET epss = $2 WHERE vuln_id = $1", cve, epss)


async def test_lookup_answers_from_the_cache_and_a_load_invalidates(pool: asyncpg.Pool) -> None:
    kev, other, unknown = _cve(), _cve(), _cve()
    await _load(pool, [kev], {kev: 0.9, other: 0.01})
    cache = MemoryIntelCache()
    lookup = IntelLookup(pool, cache)
    async with pool.acquire() as conn:
        await publish_generation(conn, cache)

    first = await lookup.lookup([kev, other.lower(), unknown, " "])
    assert set(first) == {kev, other, unknown}
    assert first[kev] is not None and first[kev].in_kev and first[kev].kev_ransomware is True
    assert first[kev].epss == pytest.approx(0.9)
    assert first[other] is not None and not first[other].in_kev and first[other].epss == pytest.approx(0.01)
    assert first[unknown] is None  # no feed knows it: never enriched, not "not exploited"
    assert lookup.stats.misses == 3 and lookup.stats.hits == 0 and lookup.stats.db_queries == 1

    await _tamper(pool, other, 0.5)
    again = await lookup.lookup([kev, other, unknown])
    assert again == first  # served from the cache, the unknown id included (a negative entry)
    assert lookup.stats.hits == 3 and lookup.stats.db_queries == 1

    await _load(pool, [], {other: 0.7})  # a real load: a new generation
    async with pool.acquire() as conn:
        await publish_generation(conn, cache)
    fresh = await lookup.lookup([other])
    assert fresh[other] is not None and fresh[other].epss == pytest.approx(0.7)
    assert lookup.stats.db_queries == 2


async def test_memory_cache_is_bounded() -> None:
    cache = MemoryIntelCache(max_entries=3)
    await cache.put_many(1, {f"CVE-{i}": b"null" for i in range(5)})
    got = await cache.get_many(1, [f"CVE-{i}" for i in range(5)])
    assert sorted(got) == ["CVE-2", "CVE-3", "CVE-4"]
    await cache.set_generation(2)
    assert await cache.get_many(2, ["CVE-4"]) == {} and await cache.get_many(1, ["CVE-4"]) == {}


async def test_redis_cache_is_shared_by_workers(pool: asyncpg.Pool, redis_client: Any) -> None:
    prefix = f"aiva-test:{uuid.uuid4().hex[:8]}:"
    kev, unknown = _cve(), _cve()
    await _load(pool, [kev], {kev: 0.4})
    worker_a = IntelLookup(pool, RedisIntelCache(redis_client, prefix=prefix, ttl_s=60))
    worker_b = IntelLookup(pool, RedisIntelCache(redis_client, prefix=prefix, ttl_s=60))
    try:
        a = await worker_a.lookup([kev, unknown])
        assert a[kev] is not None and a[kev].in_kev and a[unknown] is None
        assert worker_a.stats.db_queries == 2  # the generation, then the rows

        await _tamper(pool, kev, 0.99)
        b = await worker_b.lookup([kev, unknown])
        assert b == a  # the other worker's first lookup came from Redis
        assert worker_b.stats.db_queries == 0 and worker_b.stats.hits == 2
        assert await redis_client.ttl(f"{prefix}gen") > 0  # nothing is kept forever

        await _load(pool, [], {kev: 0.25})
        async with pool.acquire() as conn:
            await publish_generation(conn, RedisIntelCache(redis_client, prefix=prefix))  # a third process loads
        after = await worker_b.lookup([kev])
        assert after[kev] is not None and after[kev].epss == pytest.approx(0.25)
    finally:
        keys = [k async for k in redis_client.scan_iter(match=f"{prefix}*")]
        if keys:
            await redis_client.delete(*keys)


async def test_ticket_payload_carries_intel(pool: asyncpg.Pool) -> None:
    kev, plain = _cve(), _cve()
    await _load(pool, [kev], {kev: 0.3, plain: 0.6})
    lookup = IntelLookup(pool, MemoryIntelCache())
    data = json.dumps({"vulnerability_ids": [{"id": kev}, {"id": plain}], "cwes": [{"id": 79}]})
    c = TicketCandidate(1, "fp", "t", "high", 7.5, "trivy", "img", "new", data)
    s = _summary(c, await lookup.lookup([kev, plain]))
    assert s["kev"] is True and s["kev_ransomware"] is True and s["epss"] == pytest.approx(0.6)
    assert s["cwes"] == ["CWE-79"]
    never = _summary(TicketCandidate(2, "fp2", "t", "high", 7.5, "trivy", "img", "new",
                                     json.dumps({"vulnerability_ids": [{"id": _cve()}]})), {})
    assert never["kev"] is None and never["epss"] is None

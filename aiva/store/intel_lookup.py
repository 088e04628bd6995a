"""Per-vulnerability intel lookups (KEV, EPSS) for tickets, the CLI and the API, through a cache.

Scoring never goes through here: it joins `vuln_intel` set-wise (aiva.store.scoring).
This is for the places that ask about a handful of ids at a time, many times over
(every ticket a run opens, `aiva intel show`, the API), from many workers: a lookup
answers from the cache (Redis when configured, shared by all workers) and reads only
the misses from PostgreSQL, in one query.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

import asyncpg
import orjson
from pydantic import BaseModel, ConfigDict

from aiva.intel.cache import NULL, IntelCache


class IntelFacts(BaseModel):
    """What the loaded feeds say about one vulnerability id."""

    model_config = ConfigDict(frozen=True)

    vuln_id: str
    in_kev: bool
    kev_date_added: date | None = None
    kev_ransomware: bool | None = None
    epss: float | None = None
    epss_percentile: float | None = None
    epss_date: date | None = None


@dataclass
class LookupStats:
    """Hits and misses since start (also exported as Prometheus counters by the worker)."""

    hits: int = 0
    misses: int = 0
    db_queries: int = 0


_GENERATION_SQL = "SELECT coalesce(max(id), 0) FROM intel_loads"


async def current_generation(conn: asyncpg.Connection) -> int:
    """The intel generation: the id of the latest feed load (0 before any)."""
    gen: int = await conn.fetchval(_GENERATION_SQL)
    return gen


class IntelLookup:
    """Look up intel by vulnerability id: cache first, PostgreSQL for the misses."""

    def __init__(self, pool: asyncpg.Pool, cache: IntelCache) -> None:
        self._pool = pool
        self._cache = cache
        self.stats = LookupStats()

    async def lookup(self, vuln_ids: Iterable[str]) -> dict[str, IntelFacts | None]:
        """Every id's facts, None where no feed knows it ("never enriched" is not "not exploited")."""
        ids = sorted({v.strip().upper() for v in vuln_ids if v and v.strip()})
        if not ids:
            return {}
        gen = await self._cache.generation()
        if gen is None:
            gen = int(await self._pool.fetchval(_GENERATION_SQL))
            self.stats.db_queries += 1
            await self._cache.set_generation(gen)
        cached = await self._cache.get_many(gen, ids)
        self.stats.hits += len(cached)
        missing = [i for i in ids if i not in cached]
        self.stats.misses += len(missing)
        found: dict[str, bytes] = {}
        if missing:
            rows = await self._pool.fetch(
                "SELECT vuln_id, in_kev, kev_date_added, kev_ransomware, epss, epss_percentile, epss_date"
                " FROM vuln_intel WHERE vuln_id = ANY($1::text[])",
                missing,
            )
            self.stats.db_queries += 1
            for r in rows:
                found[r["vuln_id"]] = IntelFacts(**dict(r)).model_dump_json().encode()
            await self._cache.put_many(gen, {i: found.get(i, NULL) for i in missing})
        out: dict[str, IntelFacts | None] = {}
        for i in ids:
            raw = cached.get(i, found.get(i, NULL))
            out[i] = None if raw == NULL else IntelFacts(**orjson.loads(raw))
        return out


async def publish_generation(conn: asyncpg.Connection, cache: IntelCache) -> int:
    """After a feed load commits: make every process sharing the cache see the new intel now."""
    gen = await current_generation(conn)
    await cache.set_generation(gen)
    return gen

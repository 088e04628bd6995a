"""A cache of per-vulnerability intel lookups: Redis (shared by every worker) or in-process.

Entries are keyed by the intel *generation* (the id of the latest `intel_loads` row),
so a feed load invalidates every entry at once without deleting anything: lookups
simply stop asking for the old generation's keys, which then expire (TTL). The
current generation itself is cached under one key with a short TTL, and every load
publishes the new one (`publish_generation`), so workers sharing a Redis see a load at
once; a process that loads intel without Redis configured is seen within that TTL.

Values are the JSON of `IntelFacts`, or the literal `null` for "no intel known for this
id" (negative entries matter: most CVEs of a report are in neither feed).

Redis keys: `{prefix}gen` and `{prefix}{generation}:{vuln_id}`.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

NULL = b"null"


class IntelCache(Protocol):
    """Where looked-up intel is kept between lookups."""

    async def generation(self) -> int | None:
        """The cached current generation, or None when unknown (or expired)."""
        ...

    async def set_generation(self, generation: int) -> None:
        """Remember the current generation (for a short while)."""
        ...

    async def get_many(self, generation: int, ids: Iterable[str]) -> dict[str, bytes]:
        """The cached entries of these ids (JSON or NULL), missing ones left out."""
        ...

    async def put_many(self, generation: int, entries: Mapping[str, bytes]) -> None:
        """Cache these entries."""
        ...


class MemoryIntelCache:
    """A bounded, per-process LRU cache (the default without AIVA_REDIS_URL)."""

    def __init__(self, max_entries: int = 100_000) -> None:
        self._max = max_entries
        self._gen: int | None = None
        self._entries: OrderedDict[tuple[int, str], bytes] = OrderedDict()

    async def generation(self) -> int | None:
        """The generation this process last saw (a load in this process updates it)."""
        return self._gen

    async def set_generation(self, generation: int) -> None:
        """Remember the generation; older entries become unreachable and are dropped."""
        if generation != self._gen:
            self._entries.clear()
        self._gen = generation

    async def get_many(self, generation: int, ids: Iterable[str]) -> dict[str, bytes]:
        """Cached entries of this generation."""
        out: dict[str, bytes] = {}
        for i in ids:
            v = self._entries.get((generation, i))
            if v is not None:
                self._entries.move_to_end((generation, i))
                out[i] = v
        return out

    async def put_many(self, generation: int, entries: Mapping[str, bytes]) -> None:
        """Cache entries, evicting the least recently used beyond the bound."""
        for i, v in entries.items():
            self._entries[(generation, i)] = v
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)


class RedisIntelCache:
    """The cache in Redis, shared by every worker and API process pointed at it."""

    def __init__(
        self, redis: Any, *, prefix: str = "aiva:intel:", ttl_s: int = 3600, generation_ttl_s: int = 30
    ) -> None:
        # `redis` is a redis.asyncio.Redis (decode_responses=False); typed loosely because
        # redis-py's async stubs are incomplete.
        self._r = redis
        self._prefix = prefix
        self._ttl = ttl_s
        self._gen_ttl = generation_ttl_s

    async def generation(self) -> int | None:
        """The generation last published or read by any process."""
        v = await self._r.get(f"{self._prefix}gen")
        return int(v) if v is not None else None

    async def set_generation(self, generation: int) -> None:
        """Publish the generation (short TTL: a load elsewhere without Redis is seen soon)."""
        await self._r.set(f"{self._prefix}gen", str(generation), ex=self._gen_ttl)

    async def get_many(self, generation: int, ids: Iterable[str]) -> dict[str, bytes]:
        """One MGET for all ids."""
        keys = list(ids)
        if not keys:
            return {}
        values = await self._r.mget([f"{self._prefix}{generation}:{i}" for i in keys])
        return {i: bytes(v) for i, v in zip(keys, values, strict=True) if v is not None}

    async def put_many(self, generation: int, entries: Mapping[str, bytes]) -> None:
        """One pipelined round trip, every entry with the TTL."""
        if not entries:
            return
        async with self._r.pipeline(transaction=False) as pipe:
            for i, v in entries.items():
                pipe.set(f"{self._prefix}{generation}:{i}", v, ex=self._ttl)
            await pipe.execute()


def make_cache(redis_url: str | None) -> IntelCache:
    """Redis when a URL is configured (shared by every worker), else this process's memory."""
    if not redis_url:
        return MemoryIntelCache()
    import redis.asyncio

    return RedisIntelCache(redis.asyncio.from_url(redis_url))

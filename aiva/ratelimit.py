"""Token-bucket rate limiting: one bucket per API key (and per client address for failed logins).

A bucket holds at most `Rate.burst` tokens and refills at `Rate.per_minute / 60` tokens a
second; a request takes one token or is refused with the time until one is back
(`Decision.retry_after`, the HTTP Retry-After).

Two implementations of one protocol (`RateLimiter`):

- `RedisRateLimiter` (when AIVA_REDIS_URL is set): the bucket lives in a Redis hash updated
  by one Lua script, atomic on the server, so every API process shares every bucket. Keys
  expire once the bucket would be full again, so idle buckets cost nothing.
- `InProcessRateLimiter` (otherwise): the same arithmetic in a dict, for one process.

**Redis configured but unreachable: fail open to the in-process limiter.** Each process
then enforces the limits on its own (so N processes allow at most N times the rate)
until Redis answers again; a warning is logged when Redis is lost and an info line
when it is back. Why not fail closed: the limiter guards capacity, it is not an
authentication boundary (every request is still authenticated and scope-checked, and
256-bit secrets cannot be guessed at any rate), so refusing all ingest because a cache
is down would turn a Redis outage into a full API outage. Why not fail fully open:
the per-process buckets keep a flood bounded during the outage.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import redis.asyncio as aioredis
from redis.exceptions import RedisError

log = logging.getLogger("aiva.ratelimit")
Clock = Callable[[], float]


@dataclass(frozen=True, slots=True)
class Rate:
    """A bucket's shape: sustained requests per minute and the burst it may spend at once."""

    per_minute: float
    burst: int

    def __post_init__(self) -> None:
        if self.per_minute <= 0 or self.burst < 1:
            raise ValueError(f"a rate needs per_minute > 0 and burst >= 1, got {self.per_minute}, {self.burst}")

    @property
    def per_second(self) -> float:
        """Refill speed in tokens per second."""
        return self.per_minute / 60.0

    @property
    def full_after_s(self) -> float:
        """Seconds an empty bucket takes to fill up."""
        return self.burst / self.per_second


@dataclass(frozen=True, slots=True)
class Decision:
    """The limiter's answer: allowed or not, tokens left, seconds until the next token."""

    allowed: bool
    remaining: float
    retry_after: float

    @property
    def retry_after_header(self) -> str:
        """Whole seconds for the Retry-After header (rounded up, at least 1)."""
        return str(max(1, math.ceil(self.retry_after)))


class RateLimiter(Protocol):
    """What the API needs from a rate limiter."""

    async def acquire(self, bucket: str, rate: Rate) -> Decision:
        """Take one token from the bucket if it has one."""
        ...

    async def peek(self, bucket: str, rate: Rate) -> Decision:
        """Whether `acquire` would be allowed now, without taking a token."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...


def _step(tokens: float, stamp: float, now: float, rate: Rate, cost: float) -> tuple[bool, float, float, float]:
    """One bucket update: (allowed, tokens after, new stamp, retry after). `cost` 0 = peek (needs a token)."""
    if now > stamp:  # a clock that steps back never drains or refills the bucket
        tokens = min(float(rate.burst), tokens + (now - stamp) * rate.per_second)
        stamp = now
    need = max(cost, 1.0)
    if tokens >= need:
        return True, tokens - cost, stamp, 0.0
    return False, tokens, stamp, (need - tokens) / rate.per_second


class InProcessRateLimiter:
    """Token buckets in this process's memory (a single API process, or Redis unreachable)."""

    def __init__(self, clock: Clock = time.monotonic, max_buckets: int = 100_000) -> None:
        self._clock = clock
        self._buckets: dict[str, tuple[float, float, float]] = {}  # tokens, stamp, full at
        self._max_buckets = max_buckets

    async def acquire(self, bucket: str, rate: Rate) -> Decision:
        """Take one token from the bucket if it has one."""
        return self.take(bucket, rate, 1.0)

    async def peek(self, bucket: str, rate: Rate) -> Decision:
        """Whether `acquire` would be allowed now, without taking a token."""
        return self.take(bucket, rate, 0.0)

    async def aclose(self) -> None:
        """Nothing to release."""

    def take(self, bucket: str, rate: Rate, cost: float) -> Decision:
        """Take `cost` tokens (0 = only look) if the bucket holds at least max(cost, 1)."""
        now = self._clock()
        tokens, stamp, _ = self._buckets.get(bucket, (float(rate.burst), now, 0.0))
        allowed, tokens, stamp, retry = _step(tokens, stamp, now, rate, cost)
        if len(self._buckets) >= self._max_buckets and bucket not in self._buckets:
            self._evict(now)
        self._buckets[bucket] = (tokens, stamp, stamp + rate.full_after_s)
        return Decision(allowed, tokens, retry)

    def _evict(self, now: float) -> None:
        # A bucket idle long enough to be full again is the same as no bucket: forgetting it is exact.
        # This keeps memory bounded when many client addresses come and go.
        full = [k for k, (_, _, full_at) in self._buckets.items() if full_at <= now]
        for k in full or list(self._buckets)[: len(self._buckets) // 10 or 1]:
            del self._buckets[k]


# KEYS[1] the bucket; ARGV: tokens per second, burst, now (negative = use the Redis server's clock), cost.
# Numbers come back as strings: Redis truncates Lua numbers to integers.
_LUA = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local cost = tonumber(ARGV[4])
if now < 0 then
  local t = redis.call('TIME')
  now = tonumber(t[1]) + tonumber(t[2]) / 1000000
end
local state = redis.call('HMGET', KEYS[1], 'tokens', 'stamp')
local tokens = tonumber(state[1])
local stamp = tonumber(state[2])
if tokens == nil or stamp == nil then
  tokens = burst
  stamp = now
end
if now > stamp then
  tokens = math.min(burst, tokens + (now - stamp) * rate)
  stamp = now
end
local need = math.max(cost, 1)
local allowed = 0
local retry = 0
if tokens >= need then
  allowed = 1
  tokens = tokens - cost
else
  retry = (need - tokens) / rate
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'stamp', tostring(stamp))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return {allowed, tostring(tokens), tostring(retry)}
"""


class RedisRateLimiter:
    """Token buckets in Redis, shared by every API process; falls back to in-process buckets if Redis is down."""

    def __init__(
        self, client: aioredis.Redis, *, prefix: str = "aiva:rl:", clock: Clock | None = None,
        fallback: InProcessRateLimiter | None = None, retry_redis_after_s: float = 5.0,
    ) -> None:
        """`clock` None = the Redis server's clock (one clock for all processes); tests inject one."""
        self._redis = client
        self._script = client.register_script(_LUA)
        self._prefix = prefix
        self._clock = clock
        self._fallback = fallback or InProcessRateLimiter(clock or time.monotonic)
        self._retry_after_s = retry_redis_after_s
        self._down_since: float | None = None

    @classmethod
    def from_url(cls, url: str, *, prefix: str = "aiva:rl:", clock: Clock | None = None) -> RedisRateLimiter:
        """A limiter on the Redis at `url`, with short timeouts so an outage cannot stall requests."""
        client = aioredis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        return cls(client, prefix=prefix, clock=clock)

    @property
    def degraded(self) -> bool:
        """True while Redis is unreachable and the in-process buckets are in use."""
        return self._down_since is not None

    async def acquire(self, bucket: str, rate: Rate) -> Decision:
        """Take one token from the shared bucket if it has one."""
        return await self._take(bucket, rate, 1.0)

    async def peek(self, bucket: str, rate: Rate) -> Decision:
        """Whether `acquire` would be allowed now, without taking a token."""
        return await self._take(bucket, rate, 0.0)

    async def aclose(self) -> None:
        """Close the Redis connection pool."""
        await self._redis.aclose()

    async def _take(self, bucket: str, rate: Rate, cost: float) -> Decision:
        # While Redis is known to be down, do not pay a connect timeout on every request.
        if self._down_since is not None and time.monotonic() - self._down_since < self._retry_after_s:
            return self._fallback.take(bucket, rate, cost)
        now = self._clock() if self._clock is not None else -1.0
        try:
            raw = await self._script(keys=[self._prefix + bucket], args=[rate.per_second, rate.burst, now, cost])
        except (RedisError, OSError) as e:
            if self._down_since is None:
                log.warning("rate limiter: Redis unreachable (%s); using per-process buckets until it is back",
                            type(e).__name__)
            self._down_since = time.monotonic()
            return self._fallback.take(bucket, rate, cost)
        if self._down_since is not None:
            log.info("rate limiter: Redis is back; buckets are shared again")
            self._down_since = None
        allowed, remaining, retry = raw
        return Decision(bool(int(allowed)), float(remaining), float(retry))


def limiter_for(redis_url: str | None, clock: Clock | None = None) -> RateLimiter:
    """The limiter the settings ask for: Redis when a URL is configured, else in-process."""
    if redis_url:
        return RedisRateLimiter.from_url(redis_url, clock=clock)
    return InProcessRateLimiter(clock or time.monotonic)

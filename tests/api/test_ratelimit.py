"""The token bucket: in-process always; Redis (shared by two limiter instances) when AIVA_TEST_REDIS_URL is set."""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
import redis.asyncio as aioredis

from aiva.ratelimit import InProcessRateLimiter, Rate, RateLimiter, RedisRateLimiter, limiter_for
from tests.api.support import FakeClock

RATE = Rate(per_minute=60, burst=3)  # one token a second, three at once
REDIS_URL = os.environ.get("AIVA_TEST_REDIS_URL")
needs_redis = pytest.mark.skipif(not REDIS_URL, reason="set AIVA_TEST_REDIS_URL (e.g. redis://127.0.0.1:6379/0) "
                                                       "to test the Redis limiter against a real Redis")


async def _burst_then_refuse_then_refill(limiter: RateLimiter, clock: FakeClock, bucket: str) -> None:
    for i in range(RATE.burst):
        d = await limiter.acquire(bucket, RATE)
        assert d.allowed, f"request {i + 1} of the burst was refused"
    refused = await limiter.acquire(bucket, RATE)
    assert not refused.allowed
    assert refused.retry_after == pytest.approx(1.0, abs=1e-6)
    assert refused.retry_after_header == "1"
    clock.advance(0.5)  # half a token: still refused, half a second to go
    half = await limiter.acquire(bucket, RATE)
    assert not half.allowed and half.retry_after == pytest.approx(0.5, abs=1e-6)
    clock.advance(0.5)
    assert (await limiter.acquire(bucket, RATE)).allowed
    assert not (await limiter.acquire(bucket, RATE)).allowed
    clock.advance(3600)  # refill never exceeds the burst
    results = [(await limiter.acquire(bucket, RATE)).allowed for _ in range(RATE.burst + 1)]
    assert results == [True] * RATE.burst + [False]


async def test_in_process_allows_the_burst_refuses_then_refills() -> None:
    clock = FakeClock()
    await _burst_then_refuse_then_refill(InProcessRateLimiter(clock), clock, "key:a")


async def test_in_process_buckets_are_separate_and_peek_does_not_spend() -> None:
    clock = FakeClock()
    lim = InProcessRateLimiter(clock)
    for _ in range(RATE.burst):
        assert (await lim.peek("key:a", RATE)).allowed
    for _ in range(RATE.burst):
        assert (await lim.acquire("key:a", RATE)).allowed
    assert not (await lim.peek("key:a", RATE)).allowed
    assert (await lim.acquire("key:b", RATE)).allowed


async def test_in_process_memory_is_bounded() -> None:
    clock = FakeClock()
    lim = InProcessRateLimiter(clock, max_buckets=50)
    for i in range(500):
        await lim.acquire(f"ip:{i}", RATE)
    assert len(lim._buckets) <= 50
    # A spent bucket that is still refilling is not forgotten while full ones exist.
    clock.advance(RATE.full_after_s)
    for _ in range(RATE.burst):
        await lim.acquire("key:hot", RATE)
    await lim.acquire("ip:new", RATE)
    assert not (await lim.acquire("key:hot", RATE)).allowed


def test_rate_refuses_nonsense() -> None:
    with pytest.raises(ValueError, match="burst"):
        Rate(per_minute=0, burst=1)
    with pytest.raises(ValueError, match="burst"):
        Rate(per_minute=10, burst=0)


def test_limiter_for_follows_the_settings() -> None:
    assert isinstance(limiter_for(None), InProcessRateLimiter)
    assert isinstance(limiter_for("redis://127.0.0.1:6379/0"), RedisRateLimiter)


@pytest_asyncio.fixture()
async def redis_prefix() -> AsyncIterator[str]:
    """A key prefix of this test's own on the real Redis; its keys are deleted afterwards."""
    assert REDIS_URL
    prefix = f"aiva-test:{uuid.uuid4().hex}:"
    yield prefix
    r = aioredis.Redis.from_url(REDIS_URL)
    keys = [k async for k in r.scan_iter(match=prefix + "*")]
    if keys:
        await r.delete(*keys)
    await r.aclose()


@needs_redis
async def test_redis_allows_the_burst_refuses_then_refills(redis_prefix: str) -> None:
    assert REDIS_URL
    clock = FakeClock()
    lim = RedisRateLimiter.from_url(REDIS_URL, prefix=redis_prefix, clock=clock)
    try:
        await _burst_then_refuse_then_refill(lim, clock, "key:a")
        assert not lim.degraded
        r = aioredis.Redis.from_url(REDIS_URL)
        ttl = await r.pttl(redis_prefix + "key:a")
        await r.aclose()
        # The key expires once the bucket would be full again (3 s here), plus a second of slack.
        assert 0 < ttl <= 4000
    finally:
        await lim.aclose()


@needs_redis
async def test_two_redis_limiters_share_one_bucket(redis_prefix: str) -> None:
    assert REDIS_URL
    clock = FakeClock()
    a = RedisRateLimiter.from_url(REDIS_URL, prefix=redis_prefix, clock=clock)
    b = RedisRateLimiter.from_url(REDIS_URL, prefix=redis_prefix, clock=clock)
    try:
        assert (await a.acquire("key:shared", RATE)).allowed
        assert (await b.acquire("key:shared", RATE)).allowed
        assert (await a.acquire("key:shared", RATE)).allowed
        refused = await b.acquire("key:shared", RATE)
        assert not refused.allowed and refused.retry_after == pytest.approx(1.0, abs=1e-6)
        assert not (await b.peek("key:shared", RATE)).allowed
        clock.advance(1.0)
        assert (await b.acquire("key:shared", RATE)).allowed
        assert not (await a.acquire("key:shared", RATE)).allowed
    finally:
        await a.aclose()
        await b.aclose()


@needs_redis
async def test_redis_server_clock_is_the_default(redis_prefix: str) -> None:
    assert REDIS_URL
    lim = RedisRateLimiter.from_url(REDIS_URL, prefix=redis_prefix)
    try:
        results = [(await lim.acquire("key:t", Rate(per_minute=1, burst=2))).allowed for _ in range(3)]
        assert results == [True, True, False]
    finally:
        await lim.aclose()


async def test_unreachable_redis_falls_back_to_in_process_buckets_and_logs(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    # Port 1 on localhost: nothing listens, the connection is refused at once.
    lim = RedisRateLimiter.from_url("redis://127.0.0.1:1/0", clock=clock)
    try:
        with caplog.at_level(logging.WARNING, logger="aiva.ratelimit"):
            await _burst_then_refuse_then_refill(lim, clock, "key:a")
        assert lim.degraded
        warnings = [r for r in caplog.records if "Redis unreachable" in r.getMessage()]
        assert len(warnings) == 1  # once per outage, not once per request
    finally:
        await lim.aclose()

"""Fixtures for the API tests: the app over the session's real Temporal server and PostgreSQL, driven
in-process through httpx's ASGI transport (no sockets), with an injectable clock for the rate limiter."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

import asyncpg
import httpx
import pytest
import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

from aiva.apikeys import ApiKeyRecord
from aiva.ratelimit import InProcessRateLimiter, RateLimiter
from aiva.settings import Settings
from aiva.store.apikeys import create_key
from starter.api import create_app
from tests.api.support import ApiFactory, FakeClock, KeyFactory


@pytest.fixture()
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture()
def api_settings(settings: Settings, tmp_path: Path) -> Settings:
    """The session settings (real database, the session's task queue) with a per-test inbox and roomy limits."""
    return settings.model_copy(update={
        "api_inbox_dir": tmp_path / "inbox", "api_rate_per_minute": 6000, "api_rate_burst": 1000,
        "api_auth_failures_per_minute": 1000,
    })


@pytest_asyncio.fixture()
async def make_api(temporal_env: WorkflowEnvironment, pool: asyncpg.Pool, api_settings: Settings,
                   clock: FakeClock) -> AsyncIterator[ApiFactory]:
    """Build an app (optionally with other settings / limiter / client address) and an httpx client on it."""
    clients: list[httpx.AsyncClient] = []

    def make(settings: Settings | None = None, limiter: RateLimiter | None = None,
             address: str = "203.0.113.7") -> httpx.AsyncClient:
        app = create_app(settings or api_settings, temporal_env.client, pool, limiter or InProcessRateLimiter(clock))
        c = httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=(address, 40000)),
                              base_url="http://aiva.test", timeout=60)
        clients.append(c)
        return c

    yield make
    for c in clients:
        await c.aclose()


@pytest.fixture()
def api(make_api: ApiFactory) -> httpx.AsyncClient:
    """The app with the default test settings."""
    return make_api()


@pytest.fixture()
def new_key(pool: asyncpg.Pool, api_settings: Settings) -> KeyFactory:
    """Create a key in the database; returns (record, token)."""
    async def make(scopes: str = "admin", name: str = "test-key",
                   expires_at: datetime | None = None) -> tuple[ApiKeyRecord, str]:
        rec, issued = await create_key(pool, name, frozenset(scopes.split(",")), "pytest",
                                       api_settings.secret_hash_key.get_secret_value().encode(), expires_at)
        return rec, issued.token
    return make

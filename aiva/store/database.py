"""Connecting to PostgreSQL: the configured URL, or the embedded server."""

from __future__ import annotations

import asyncpg

from aiva.settings import Settings
from aiva.store.embedded import embedded_database_url


def database_url(settings: Settings) -> str:
    """The URL to use: AIVA_DATABASE_URL, else the embedded server (started if needed)."""
    if settings.database_url:
        return settings.database_url
    return embedded_database_url(settings.pgdata)


async def create_pool(url: str, max_size: int = 10) -> asyncpg.Pool:
    """An asyncpg pool; jsonb travels as text (orjson does the encoding, fast)."""
    pool = await asyncpg.create_pool(url, min_size=1, max_size=max_size, command_timeout=600)
    assert pool is not None
    return pool

"""Versioned forward migrations: numbered SQL files applied once each, in order, in one transaction each."""

from __future__ import annotations

import re
from importlib import resources

import asyncpg

from aiva.errors import MigrationError

_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
_LOCK_ID = 0x41495641  # "AIVA": one migrator at a time across workers


def available_migrations() -> list[tuple[int, str, str]]:
    """(version, file name, SQL) for every migration shipped with the package."""
    out = []
    for entry in resources.files("aiva.store.migrations").iterdir():
        m = _NAME.match(entry.name)
        if m:
            out.append((int(m.group(1)), entry.name, entry.read_text(encoding="utf-8")))
    return sorted(out)


async def migrate(conn: asyncpg.Connection) -> list[str]:
    """Apply pending migrations; return the names applied. Refuses a database newer than the code."""
    await conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
    )
    applied: list[str] = []
    await conn.execute("SELECT pg_advisory_lock($1)", _LOCK_ID)
    try:
        done = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}
        known = available_migrations()
        newest = max((v for v, _, _ in known), default=0)
        if done and max(done) > newest:
            raise MigrationError(
                f"database schema is at version {max(done)}, newer than this code's {newest}: upgrade AIVA"
            )
        for version, name, sql in known:
            if version in done:
                continue
            try:
                async with conn.transaction():
                    await conn.execute(sql)
                    await conn.execute(
                        "INSERT INTO schema_migrations(version, name) VALUES ($1, $2)", version, name
                    )
            except asyncpg.PostgresError as e:
                raise MigrationError(f"migration {name} failed: {e}") from e
            applied.append(name)
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_ID)
    return applied

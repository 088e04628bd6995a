"""API keys in PostgreSQL: create, look up, list, revoke, and record use (cheaply)."""

from __future__ import annotations

from datetime import datetime, timedelta

import asyncpg

from aiva.apikeys import ApiKeyRecord, IssuedKey, generate, hash_secret

# Recording every call would make each request a write; once a minute per key is precise enough
# for "when was this key last used" and keeps the hot path a read.
TOUCH_EVERY = timedelta(seconds=60)

Executor = asyncpg.Connection | asyncpg.Pool


def _record(row: asyncpg.Record) -> ApiKeyRecord:
    return ApiKeyRecord(
        key_id=row["id"], name=row["name"], scopes=frozenset(row["scopes"]), created_at=row["created_at"],
        created_by=row["created_by"], last_used_at=row["last_used_at"], expires_at=row["expires_at"],
        revoked_at=row["revoked_at"],
    )


async def create_key(
    db: Executor, name: str, scopes: frozenset[str], created_by: str, hash_key: bytes,
    expires_at: datetime | None = None,
) -> tuple[ApiKeyRecord, IssuedKey]:
    """Generate and store a key; the returned `IssuedKey` holds the only copy of the secret."""
    issued = generate()
    row = await db.fetchrow(
        "INSERT INTO api_keys(id, name, secret_hash, scopes, created_by, expires_at) VALUES ($1, $2, $3, $4, $5, $6)"
        " RETURNING id, name, scopes, created_at, created_by, last_used_at, expires_at, revoked_at",
        issued.key_id, name, hash_secret(issued.secret, hash_key), sorted(scopes), created_by, expires_at,
    )
    assert row is not None
    return _record(row), issued


async def lookup(db: Executor, key_id: str) -> tuple[ApiKeyRecord, str] | None:
    """The key and its stored hash, by id (None when unknown)."""
    row = await db.fetchrow(
        "SELECT id, name, scopes, created_at, created_by, last_used_at, expires_at, revoked_at, secret_hash"
        " FROM api_keys WHERE id = $1", key_id)
    if row is None:
        return None
    return _record(row), str(row["secret_hash"])


async def list_keys(db: Executor) -> list[ApiKeyRecord]:
    """Every key, newest first (revoked and expired ones too)."""
    rows = await db.fetch(
        "SELECT id, name, scopes, created_at, created_by, last_used_at, expires_at, revoked_at"
        " FROM api_keys ORDER BY created_at DESC, id")
    return [_record(r) for r in rows]


async def revoke_key(db: Executor, key_id: str) -> ApiKeyRecord | None:
    """Revoke a key now (a no-op on an already revoked key); None when there is no such key."""
    row = await db.fetchrow(
        "UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1"
        " RETURNING id, name, scopes, created_at, created_by, last_used_at, expires_at, revoked_at",
        key_id,
    )
    return None if row is None else _record(row)


async def touch(db: Executor, key: ApiKeyRecord, now: datetime) -> bool:
    """Record that the key was used, at most once per `TOUCH_EVERY`; True when a write happened."""
    if key.last_used_at is not None and now - key.last_used_at < TOUCH_EVERY:
        return False
    # The WHERE clause repeats the check so concurrent requests of one key write once.
    status: str = await db.execute(
        "UPDATE api_keys SET last_used_at = $2 WHERE id = $1"
        " AND (last_used_at IS NULL OR last_used_at < $2::timestamptz - $3::interval)",
        key.key_id, now, TOUCH_EVERY,
    )
    return status.endswith(" 1")

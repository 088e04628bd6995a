"""API key tokens, hashing and scopes (pure), and the CLI that manages keys (on the test database)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest
from typer.testing import CliRunner

import starter.cli_api  # noqa: F401 - registers the apikey and api commands
from aiva.apikeys import (
    ApiKeyRecord,
    generate,
    has_scope,
    hash_secret,
    parse_scopes,
    parse_token,
    verify_secret,
)
from aiva.errors import ApiKeyFormatError
from aiva.store import apikeys as store
from starter.cli import app

KEY = b"k" * 32
runner = CliRunner()


def test_token_round_trips_and_the_secret_is_long_and_random() -> None:
    a, b = generate(), generate()
    assert parse_token(a.token) == (a.key_id, a.secret)
    assert a.token.startswith(f"aiva_{a.key_id}_") and len(a.secret) >= 43
    assert a.key_id != b.key_id and a.secret != b.secret
    assert a.secret not in repr(a)


def test_a_secret_containing_underscores_still_parses() -> None:
    token = "aiva_0123456789ab_" + "_" * 5 + "A" * 40
    assert parse_token(token) == ("0123456789ab", "_____" + "A" * 40)


@pytest.mark.parametrize("token", [
    "", "aiva", "nope_0123456789ab_" + "A" * 43, "aiva_0123456789AB_" + "A" * 43, "aiva_0123_" + "A" * 43,
    "aiva_0123456789ab_short", "aiva_0123456789ab_" + "A" * 40 + "!", "aiva_0123456789ab",
])
def test_malformed_tokens_are_refused_without_echoing_them(token: str) -> None:
    with pytest.raises(ApiKeyFormatError) as ei:
        parse_token(token)
    if len(token) > 18:  # whatever follows "aiva_<12 hex>_" would be the secret: never echoed
        assert token[18:] not in str(ei.value)


def test_hash_is_keyed_and_verification_checks_the_secret() -> None:
    k = generate()
    h = hash_secret(k.secret, KEY)
    assert len(h) == 64 and k.secret not in h
    assert verify_secret(k.secret, h, KEY)
    assert not verify_secret(k.secret + "x", h, KEY)
    assert not verify_secret(k.secret, h, b"another-deployment-key")
    assert hash_secret(k.secret, b"another-deployment-key") != h


def test_scopes_parse_and_admin_implies_all() -> None:
    assert parse_scopes("runs:write, runs:read") == {"runs:write", "runs:read"}
    with pytest.raises(ApiKeyFormatError, match="runs:delete") as ei:
        parse_scopes("runs:read,runs:delete")
    assert "known: runs:write" in str(ei.value)
    with pytest.raises(ApiKeyFormatError, match="at least one scope"):
        parse_scopes(" , ")
    assert has_scope(frozenset({"admin"}), "triage:write")
    assert not has_scope(frozenset({"runs:read"}), "runs:write")


def test_key_state_follows_expiry_and_revocation() -> None:
    now = datetime.now(UTC)
    base = dict(key_id="0123456789ab", name="n", scopes=frozenset({"runs:read"}), created_at=now, created_by="t",
                last_used_at=None)
    assert ApiKeyRecord(**base, expires_at=None, revoked_at=None).state(now) == "active"
    assert ApiKeyRecord(**base, expires_at=now - timedelta(seconds=1), revoked_at=None).state(now) == "expired"
    assert ApiKeyRecord(**base, expires_at=None, revoked_at=now).state(now) == "revoked"


async def test_store_keeps_only_the_hash_and_touches_at_most_once_a_minute(pool: asyncpg.Pool) -> None:
    rec, issued = await store.create_key(pool, "store-test", frozenset({"runs:read"}), "pytest", KEY)
    row = await pool.fetchrow("SELECT * FROM api_keys WHERE id = $1", rec.key_id)
    assert row is not None and issued.secret not in [str(v) for v in row.values()]
    assert row["secret_hash"] == hash_secret(issued.secret, KEY)
    now = datetime.now(UTC)
    assert await store.touch(pool, rec, now) is True
    found = await store.lookup(pool, rec.key_id)
    assert found is not None and found[0].last_used_at == now
    # Within the minute: no write, whether the caller saw the fresh value or a stale one.
    assert await store.touch(pool, found[0], now + timedelta(seconds=5)) is False
    assert await store.touch(pool, rec, now + timedelta(seconds=5)) is False
    assert await store.touch(pool, found[0], now + timedelta(seconds=61)) is True


def test_cli_creates_lists_and_revokes_keys(database_url: str, tmp_path: Path) -> None:
    env = {"AIVA_DATABASE_URL": database_url, "AIVA_HOME": str(tmp_path / "home")}
    res = runner.invoke(app, ["apikey", "create", "ci-upload", "--scopes", "runs:write,runs:read",
                              "--expires", "90d"], env=env)
    assert res.exit_code == 0, res.output
    token = next(line for line in res.stdout.splitlines() if line.startswith("aiva_"))
    key_id, secret = parse_token(token)
    assert "not shown again" in res.output

    res = runner.invoke(app, ["apikey", "list"], env=env)
    assert res.exit_code == 0, res.output
    assert key_id in res.output and "ci-upload" in res.output and "active" in res.output
    assert secret not in res.output

    res = runner.invoke(app, ["apikey", "revoke", key_id], env=env)
    assert res.exit_code == 0 and "revoked" in res.output, res.output
    res = runner.invoke(app, ["apikey", "list"], env=env)
    line = next(x for x in res.output.splitlines() if key_id in x)
    assert "revoked" in line

    res = runner.invoke(app, ["apikey", "revoke", "ffffffffffff"], env=env)
    assert res.exit_code == 1 and "no API key" in res.output


def test_cli_refuses_unknown_scopes_by_name(database_url: str, tmp_path: Path) -> None:
    env = {"AIVA_DATABASE_URL": database_url, "AIVA_HOME": str(tmp_path / "home")}
    res = runner.invoke(app, ["apikey", "create", "x", "--scopes", "runs:write,everything"], env=env)
    assert res.exit_code == 2
    assert "everything" in res.output


def test_main_registers_the_api_commands() -> None:
    import inspect

    from starter import cli

    assert "import starter.cli_api" in inspect.getsource(cli.main)
    assert {"apikey", "api"} <= {g.name for g in app.registered_groups}

"""The inbox prune on the real database: ended runs' uploads go, a running run's stay, old leftovers go;
dry runs remove nothing; `aiva inbox prune` reports what it did."""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
from typer.testing import CliRunner

import starter.cli_api  # noqa: F401 - registers the inbox commands
from aiva.store.ingest import ensure_run
from starter.cli import app
from starter.inbox import prune_inbox

NOW = datetime.now(UTC)


def _folder(inbox: Path, name: str, age: timedelta = timedelta(0)) -> Path:
    folder = inbox / name
    folder.mkdir(parents=True)
    (folder / "000-report.json").write_text('{"runs": []}')
    t = (NOW - age).timestamp()
    os.utime(folder, (t, t))
    return folder


async def _runs(pool: asyncpg.Pool, product: str) -> dict[str, str]:
    ids = {k: f"run-{k}-{uuid.uuid4().hex[:8]}" for k in ("done", "undone", "running", "failed_old")}
    async with pool.acquire() as conn:
        for run_id in ids.values():
            await ensure_run(conn, run_id, product)
        await conn.execute("UPDATE runs SET status = 'completed', finished_at = now() WHERE run_id = $1", ids["done"])
        await conn.execute("UPDATE runs SET status = 'compensated' WHERE run_id = $1", ids["undone"])
    return ids


async def test_prune_removes_ended_runs_and_old_leftovers_only(pool: asyncpg.Pool, tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    ids = await _runs(pool, f"inbox-{uuid.uuid4().hex[:6]}")
    for key in ("done", "undone", "running"):
        _folder(inbox, ids[key])
    _folder(inbox, ids["failed_old"], age=timedelta(days=8))  # a failed run stays 'running' in the database
    _folder(inbox, ".upload-0123", age=timedelta(days=9))  # an abandoned staging folder
    _folder(inbox, ".upload-4567")  # an upload in progress
    _folder(inbox, "run-never-ingested", age=timedelta(days=1))

    now = datetime.now(UTC)  # after the runs ended
    async with pool.acquire() as conn:
        dry = await prune_inbox(conn, inbox, now=now, dry_run=True)
        assert sorted(dry.removed) == sorted([ids["done"], ids["undone"], ids["failed_old"], ".upload-0123"])
        assert len(list(inbox.iterdir())) == 7  # nothing removed
        kept_for_a_day = await prune_inbox(conn, inbox, now=now, keep=timedelta(days=1), dry_run=True)
        assert ids["done"] not in kept_for_a_day.removed
        done = await prune_inbox(conn, inbox, now=now)
    assert sorted(done.removed) == sorted(dry.removed) and done.freed_bytes == 4 * len('{"runs": []}')
    assert sorted(p.name for p in inbox.iterdir()) == sorted([ids["running"], ".upload-4567", "run-never-ingested"])
    assert done.kept == 3


def test_cli_prune(database_url: str, tmp_path: Path) -> None:
    home = tmp_path / "home"
    _folder(home / "inbox", ".upload-dead", age=timedelta(days=30))
    env = {"AIVA_DATABASE_URL": database_url, "AIVA_HOME": str(home)}
    res = CliRunner().invoke(app, ["inbox", "prune", "--dry-run"], env=env)
    assert res.exit_code == 0, res.output
    assert "would remove .upload-dead" in res.output and (home / "inbox" / ".upload-dead").exists()
    res = CliRunner().invoke(app, ["inbox", "prune"], env=env)
    assert res.exit_code == 0 and "removed 1 folder(s)" in res.output, res.output
    assert not (home / "inbox" / ".upload-dead").exists()
    res = CliRunner().invoke(app, ["inbox", "prune", "--keep", "soon"], env=env)
    assert res.exit_code == 2 and "7d" in res.output

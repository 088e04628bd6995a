"""The API's inbox of uploaded reports: HOME/inbox/<run id>/ per run, and its pruning.

A run's uploads are needed until its scan stage has stored them (a retried ingest reads them
again) and never after it ended: reports are rebuilt from the database (`aiva report RUN`).
A folder is removed once its run is completed or compensated and has been so for `keep`; any
other folder (a run that failed, one that never reached its first ingest, an abandoned
`.upload-*` staging folder) once it is older than `orphan_after` (default 7 days: the stage
activities' retries end within hours).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg

ENDED = ("completed", "compensated")


@dataclass
class PruneResult:
    """What a prune removed (or, dry, would remove) and how many folders it kept."""

    removed: list[str] = field(default_factory=list)
    kept: int = 0
    freed_bytes: int = 0


def _size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


def _mtime(folder: Path) -> datetime:
    return datetime.fromtimestamp(folder.stat().st_mtime, UTC)


async def prune_inbox(conn: asyncpg.Connection, inbox: Path, *, now: datetime, keep: timedelta = timedelta(0),
                      orphan_after: timedelta = timedelta(days=7), dry_run: bool = False) -> PruneResult:
    """Remove the folders of ended runs (ended longer than `keep` ago) and old orphans; never a running run's."""
    result = PruneResult()
    if not inbox.is_dir():
        return result
    folders = [p for p in inbox.iterdir() if p.is_dir() and not p.is_symlink()]
    runs = {r["run_id"]: r for r in await conn.fetch(
        "SELECT run_id, status, finished_at FROM runs WHERE run_id = ANY($1::text[])",
        [p.name for p in folders if not p.name.startswith(".")])}
    for folder in sorted(folders):
        run = runs.get(folder.name)
        if run is not None and run["status"] in ENDED:
            gone = now - (run["finished_at"] or _mtime(folder)) >= keep
        else:
            # staging leftovers, runs that never ingested anything, and runs that failed (they stay
            # 'running' in the database): their last retry is long over after `orphan_after`
            gone = now - _mtime(folder) >= orphan_after
        if not gone:
            result.kept += 1
            continue
        result.freed_bytes += _size(folder)
        result.removed.append(folder.name)
        if not dry_run:
            shutil.rmtree(folder, ignore_errors=True)
    return result

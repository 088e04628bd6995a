"""Scan stage: parse a report (in a thread: parsing is CPU work) and COPY its findings to PostgreSQL."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Iterator

import asyncpg
from temporalio import activity

from activities.failures import to_application_error
from aiva import parsers
from aiva.contracts import CompensationResult, IngestInput, IngestResult, RunRef
from aiva.enums import ModuleName
from aiva.errors import AivaError
from aiva.parsers.base import ParseContext
from aiva.schemas import Finding
from aiva.settings import Settings
from aiva.store import ingest

UNSPECIFIED_TARGET = "(unspecified)"


def _sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _take(it: Iterator[Finding], n: int, scan_id: int, start: int) -> list[ingest.Record]:
    out: list[ingest.Record] = []
    for i, f in zip(range(start, start + n), it, strict=False):
        out.append((scan_id, i, f.fingerprint, f.tool.name, f.target, f.severity.value, f.model_dump_json()))
    return out


class ScanActivities:
    """Ingest reports; undo an ingest."""

    def __init__(self, pool: asyncpg.Pool, settings: Settings) -> None:
        self._pool = pool
        self._settings = settings

    @activity.defn(name="ingest_report")
    async def ingest_report(self, inp: IngestInput) -> IngestResult:
        """Parse one report and store its findings; a retry after commit returns the stored scan."""
        scan_key = f"{inp.run_id}/scan/{inp.index}"
        async with self._pool.acquire() as conn:
            done = await ingest.find_scan(conn, scan_key)
            if done is not None:
                return IngestResult(scan_id=done.scan_id, format=done.format, findings=done.finding_count,
                                    warnings=done.warning_count, sha256=done.sha256)
            ctx = ParseContext(
                target=inp.report.target,
                secret_key=self._settings.secret_hash_key.get_secret_value().encode(),
                max_bytes=self._settings.max_report_bytes,
            )
            try:
                parser, findings = await asyncio.to_thread(
                    parsers.open_report, inp.report.path, inp.report.format, ctx
                )
                sha = await asyncio.to_thread(_sha256, inp.report.path)
            except AivaError as e:
                raise to_application_error(e) from e
            batch_size = self._settings.batch_size

            async def batches(scan_id: int) -> AsyncIterator[list[ingest.Record]]:
                start = 0
                while True:
                    batch = await asyncio.to_thread(_take, findings, batch_size, scan_id, start)
                    if not batch:
                        return
                    start += len(batch)
                    yield batch

            async def progress(n: int) -> None:
                activity.heartbeat(n)

            try:
                stored = await ingest.store_scan(
                    conn, scan_key=scan_key, run_id=inp.run_id, product=inp.product,
                    source_path=inp.report.path, sha256=sha, fmt=parser.name,
                    declared_target=inp.report.target,
                    declared_tool=getattr(parser, "tool_name", None),
                    complete=inp.report.complete, batches=batches, on_batch=progress,
                )
            except AivaError as e:
                raise to_application_error(e) from e
        activity.logger.info("ingested %s: %d findings as %s", inp.report.path, stored.finding_count, parser.name)
        return IngestResult(scan_id=stored.scan_id, format=stored.format, findings=stored.finding_count,
                            warnings=stored.warning_count, sha256=stored.sha256)

    @activity.defn(name="undo_ingest")
    async def undo_ingest(self, ref: RunRef) -> CompensationResult:
        """Compensation: delete the run's scans and what they stored."""
        async with self._pool.acquire() as conn:
            n = await ingest.delete_run_scans(conn, ref.run_id)
        return CompensationResult(step=ModuleName.SCAN, undone=n)

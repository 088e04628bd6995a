"""Scan stage: parse a report (in a thread: parsing is CPU work) and COPY its findings to PostgreSQL."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Iterator

import asyncpg
from temporalio import activity

from activities.failures import to_application_error
from aiva import parsers
from aiva.contracts import CompensationResult, IngestInput, IngestResult, ReportInput, RunRef
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
    return [
        (scan_id, i, f.fingerprint, f.tool.name, f.target, f.severity.value, f.model_dump_json())
        for i, f in zip(range(start, start + n), it, strict=False)
    ]


def _result(stored: ingest.StoredScan) -> IngestResult:
    return IngestResult(scan_id=stored.scan_id, format=stored.format, findings=stored.finding_count,
                        warnings=stored.warning_count, sha256=stored.sha256)


async def find_stored(pool: asyncpg.Pool, scan_key: str) -> IngestResult | None:
    """The result of the scan already committed under `scan_key` (a retry), if any."""
    async with pool.acquire() as conn:
        done = await ingest.find_scan(conn, scan_key)
    return None if done is None else _result(done)


async def store_report(
    pool: asyncpg.Pool,
    settings: Settings,
    *,
    scan_key: str,
    run_id: str,
    product: str,
    report: ReportInput,
    source_path: str | None = None,
) -> IngestResult:
    """Parse one report file and store its findings under `scan_key`; a retry after commit returns the stored scan.

    Shared by the report ingest and the scanner activities. Parsing runs in a thread, the
    findings are COPY'd in batches with a heartbeat per batch, and domain errors become
    ApplicationErrors (non-retryable for bad input). `source_path` is what the scan row
    records as its source (default: the report's path).
    """
    async with pool.acquire() as conn:
        done = await ingest.find_scan(conn, scan_key)
        if done is not None:
            return _result(done)
        ctx = ParseContext(
            target=report.target,
            secret_key=settings.secret_hash_key.get_secret_value().encode(),
            max_bytes=settings.max_report_bytes,
        )
        try:
            parser, findings = await asyncio.to_thread(parsers.open_report, report.path, report.format, ctx)
            sha = await asyncio.to_thread(_sha256, report.path)
        except AivaError as e:
            raise to_application_error(e) from e
        batch_size = settings.batch_size

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
                conn, scan_key=scan_key, run_id=run_id, product=product,
                source_path=source_path or report.path, sha256=sha, fmt=parser.name,
                declared_target=report.target,
                declared_tool=getattr(parser, "tool_name", None),
                complete=report.complete, batches=batches, on_batch=progress,
            )
        except AivaError as e:
            raise to_application_error(e) from e
    activity.logger.info("ingested %s: %d findings as %s", source_path or report.path,
                         stored.finding_count, parser.name)
    return _result(stored)


class ScanActivities:
    """Ingest reports; undo an ingest."""

    def __init__(self, pool: asyncpg.Pool, settings: Settings) -> None:
        self._pool = pool
        self._settings = settings

    @activity.defn(name="ingest_report")
    async def ingest_report(self, inp: IngestInput) -> IngestResult:
        """Parse one report and store its findings; a retry after commit returns the stored scan."""
        return await store_report(
            self._pool, self._settings, scan_key=f"{inp.run_id}/scan/{inp.index}",
            run_id=inp.run_id, product=inp.product, report=inp.report,
        )

    @activity.defn(name="undo_ingest")
    async def undo_ingest(self, ref: RunRef) -> CompensationResult:
        """Compensation: delete the run's scans and what they stored."""
        async with self._pool.acquire() as conn:
            n = await ingest.delete_run_scans(conn, ref.run_id)
        return CompensationResult(step=ModuleName.SCAN, undone=n)

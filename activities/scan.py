"""Scan stage: parse a report (in a thread: parsing is CPU work; a large Trivy or SARIF report across
the ingest process pool when there is one) and COPY its findings to PostgreSQL."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Awaitable, Callable

import asyncpg
from temporalio import activity

from activities.failures import to_application_error
from activities.heartbeat import in_thread_heartbeating
from aiva.contracts import CompensationResult, IngestInput, IngestResult, ReportInput, RunRef
from aiva.enums import ModuleName
from aiva.errors import AivaError
from aiva.parsers import report_coverage
from aiva.parsers.base import ParseContext
from aiva.parsers.parallel import IngestPool, RowStream, open_rows
from aiva.settings import Settings
from aiva.store import ingest

UNSPECIFIED_TARGET = "(unspecified)"


def _sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _take_rows(rows: RowStream, n: int, scan_id: int, start: int) -> list[ingest.Record]:
    """The next `n` rows of a report as COPY records, numbered from `start` (`ord`)."""
    return [(scan_id, i, *r) for i, r in enumerate(rows.take(n), start)]


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
    ingest_pool: IngestPool | None = None,
) -> IngestResult:
    """Parse one report file and store its findings under `scan_key`; a retry after commit returns the stored scan.

    Shared by the report ingest and the scanner activities. Parsing runs in a thread (and, for a
    large Trivy or SARIF report, in the processes of `ingest_pool`), the findings are COPY'd in
    batches in one transaction with a heartbeat per batch (and every few seconds while a batch is
    being made), and domain errors become ApplicationErrors (non-retryable for bad input). A
    cancelled activity closes the report's rows, which cancels the jobs still queued.
    `source_path` is what the scan row records as its source (default: the report's path).
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
            parser, rows = await asyncio.to_thread(open_rows, report.path, report.format, ctx, ingest_pool)
        except AivaError as e:
            raise to_application_error(e) from e
        try:
            sha = await asyncio.to_thread(_sha256, report.path)
            stored = await _store_rows(conn, settings, scan_key=scan_key, run_id=run_id, product=product,
                                       report=report, source_path=source_path, sha256=sha, fmt=parser.name,
                                       declared_tool=parser.tool_name, rows=rows,
                                       coverage=lambda: asyncio.to_thread(report_coverage, parser, report.path, ctx))
        finally:
            # A cancel or a failure leaves jobs queued and the file open: stop them (from a thread: the
            # stream may still be in the hands of a batch's thread, which the stop makes short).
            await asyncio.shield(asyncio.to_thread(rows.close))
    activity.logger.info("ingested %s: %d findings as %s%s", source_path or report.path,
                         stored.finding_count, parser.name, " (parallel)" if rows.parallel else "")
    return _result(stored)


async def _store_rows(
    conn: asyncpg.Connection, settings: Settings, *, scan_key: str, run_id: str, product: str,
    report: ReportInput, source_path: str | None, sha256: str, fmt: str, declared_tool: str | None,
    rows: RowStream, coverage: Callable[[], Awaitable[tuple[str | None, str | None]]] | None = None,
) -> ingest.StoredScan:
    batch_size = settings.batch_size

    async def batches(scan_id: int) -> AsyncIterator[list[ingest.Record]]:
        start = 0
        while True:
            # Heartbeats while a batch is made too: a list kept aside, or a loaded report, takes long.
            batch = await in_thread_heartbeating(_take_rows, rows, batch_size, scan_id, start,
                                                 beat=lambda _detail, n=start: activity.heartbeat(n))
            if not batch:
                return
            start += len(batch)
            yield batch

    async def progress(n: int) -> None:
        activity.heartbeat(n)

    try:
        return await ingest.store_scan(
            conn, scan_key=scan_key, run_id=run_id, product=product,
            source_path=source_path or report.path, sha256=sha256, fmt=fmt,
            declared_target=report.target, declared_tool=declared_tool,
            complete=report.complete, batches=batches, on_batch=progress, coverage=coverage,
        )
    except AivaError as e:
        raise to_application_error(e) from e


class ScanActivities:
    """Ingest reports; undo an ingest."""

    def __init__(self, pool: asyncpg.Pool, settings: Settings, ingest_pool: IngestPool | None = None) -> None:
        """`ingest_pool`: the worker's processes for large reports; without it, AIVA_INGEST_PROCESSES > 1
        gives this group a pool of its own (started at its first large report)."""
        self._pool = pool
        self._settings = settings
        if ingest_pool is None and settings.ingest_processes > 1:
            ingest_pool = IngestPool(settings.ingest_processes)
        self._ingest_pool = ingest_pool

    @activity.defn(name="ingest_report")
    async def ingest_report(self, inp: IngestInput) -> IngestResult:
        """Parse one report and store its findings; a retry after commit returns the stored scan."""
        return await store_report(
            self._pool, self._settings, scan_key=f"{inp.run_id}/scan/{inp.index}",
            run_id=inp.run_id, product=inp.product, report=inp.report, ingest_pool=self._ingest_pool,
        )

    @activity.defn(name="undo_ingest")
    async def undo_ingest(self, ref: RunRef) -> CompensationResult:
        """Compensation: delete the run's scans and what they stored."""
        async with self._pool.acquire() as conn:
            n = await ingest.delete_run_scans(conn, ref.run_id)
        return CompensationResult(step=ModuleName.SCAN, undone=n)

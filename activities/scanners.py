"""Scan stage: run a real scanner (bandit, semgrep, checkov, detect-secrets) on a directory
or a git URL, then store its report with the very code that stores an uploaded report.

The scanner runs in a thread (it is a blocking subprocess) while the activity heartbeats
every few seconds; if the activity is cancelled (or its heartbeat times out) the
scanner's process group is killed. The scan is keyed `<run_id>/scanner/<index>`, apart
from report ingests (`<run_id>/scan/<index>`): a retry after the findings were committed
returns the stored scan without running the scanner again.

Errors: a scanner that is not installed (ScannerNotInstalled, naming the pip package), an
unknown scanner name or a bad target (InputError) are non-retryable; a scanner that
crashed, timed out or could not clone the repository (ScannerError) is retryable.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import threading
import time
from pathlib import Path

import asyncpg
from temporalio import activity

from activities.failures import to_application_error
from activities.scan import find_stored, store_report
from aiva import scanners
from aiva.contracts import IngestResult, ReportInput, ScannerInput
from aiva.errors import AivaError
from aiva.scanners.runner import Scanner, ScanRun
from aiva.settings import Settings

HEARTBEAT_EVERY_S = 5.0
# After a cancel, how long to wait for the scanner thread to kill its process and return.
_CANCEL_GRACE_S = 10.0


class ScannerActivities:
    """Run scanners and store what they find."""

    def __init__(self, pool: asyncpg.Pool, settings: Settings, *, heartbeat_every_s: float = HEARTBEAT_EVERY_S,
                 ) -> None:
        self._pool = pool
        self._settings = settings
        self._heartbeat_every_s = heartbeat_every_s

    @activity.defn(name="run_scanner")
    async def run_scanner(self, inp: ScannerInput) -> IngestResult:
        """Run one scanner on the target and store its findings; a retry after commit returns the stored scan."""
        scan_key = f"{inp.run_id}/scanner/{inp.index}"
        done = await find_stored(self._pool, scan_key)
        if done is not None:
            return done
        try:
            scanner = scanners.get(inp.scanner)
        except AivaError as e:
            raise to_application_error(e) from e
        shown = scanners.describe_target(inp.target_dir)
        workdir = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix="aiva-scanner-"))
        try:
            output = workdir / f"{scanner.name}-report.{'sarif' if scanner.format == 'sarif' else 'json'}"
            run = await self._run_heartbeating(scanner, inp, output, workdir)
            activity.logger.info("%s on %s: exit %d in %.1fs", scanner.name, shown, run.exit_code, run.duration_s)
            return await store_report(
                self._pool, self._settings, scan_key=scan_key, run_id=inp.run_id, product=inp.product,
                report=ReportInput(path=str(output), format=scanner.format, target=inp.target or shown),
                source_path=f"{scanner.name}:{shown}",
            )
        finally:
            await asyncio.to_thread(shutil.rmtree, workdir, True)

    async def _run_heartbeating(self, scanner: Scanner, inp: ScannerInput, output: Path, workdir: Path) -> ScanRun:
        """Run the scanner in a thread, heartbeating while it runs; kill it if the activity is cancelled."""
        cancel = threading.Event()
        started = time.monotonic()
        job = asyncio.ensure_future(asyncio.to_thread(
            scanners.run_scanner, scanner, inp.target_dir, output,
            timeout=inp.timeout_s, cancel=cancel, workdir=workdir,
        ))
        try:
            while True:
                finished, _ = await asyncio.wait({job}, timeout=self._heartbeat_every_s)
                if finished:
                    break
                activity.heartbeat({"scanner": scanner.name, "elapsed_s": round(time.monotonic() - started, 1)})
        except asyncio.CancelledError:
            cancel.set()
            await asyncio.wait({job}, timeout=_CANCEL_GRACE_S)
            if job.done() and not job.cancelled():
                job.exception()  # retrieved, so asyncio does not log it as never retrieved
            raise
        try:
            return job.result()
        except AivaError as e:
            raise to_application_error(e) from e

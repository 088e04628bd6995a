"""The composition root: settings -> PostgreSQL pool, HTTP client, Temporal client -> one Worker.

Nothing else constructs dependencies; activities receive them here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import timedelta
from typing import Any

import asyncpg
import httpx
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.service import TLSConfig
from temporalio.worker import Worker

from activities.analysis import AnalysisActivities
from activities.intel import IntelActivities
from activities.remediation import RemediationActivities
from activities.report import ReportActivities
from activities.scan import ScanActivities
from activities.scanners import ScannerActivities
from activities.triage import TriageActivities
from aiva.gcpause import freeze_startup_heap
from aiva.intel.cache import IntelCache, make_cache
from aiva.parsers.parallel import IngestPool
from aiva.settings import Settings
from aiva.store.database import create_pool, database_url
from aiva.store.intel_lookup import IntelLookup
from aiva.store.migrate import migrate
from workflows.intel import IntelRefreshWorkflow
from workflows.pipeline import PipelineWorkflow

log = logging.getLogger("aiva.worker")
GRACEFUL_SHUTDOWN = timedelta(seconds=10)


def temporal_tls(settings: Settings) -> TLSConfig | bool:
    """TLS for the frontend: mTLS with a client cert (self-hosted, Temporal Cloud), plain TLS for an API key."""
    if settings.temporal_tls_cert is None and settings.temporal_tls_ca is None:
        return settings.temporal_tls or settings.temporal_api_key is not None
    return TLSConfig(
        server_root_ca_cert=settings.temporal_tls_ca.read_bytes() if settings.temporal_tls_ca else None,
        client_cert=settings.temporal_tls_cert.read_bytes() if settings.temporal_tls_cert else None,
        client_private_key=settings.temporal_tls_key.read_bytes() if settings.temporal_tls_key else None,
    )


async def connect_temporal(settings: Settings, runtime: Runtime | None = None) -> Client:
    """A Temporal client with the pydantic converter (every client must use the same one)."""
    api_key = settings.temporal_api_key.get_secret_value() if settings.temporal_api_key else None
    return await Client.connect(
        settings.temporal_address, namespace=settings.temporal_namespace, data_converter=pydantic_data_converter,
        runtime=runtime, tls=temporal_tls(settings), api_key=api_key,
    )


def metrics_runtime(settings: Settings) -> Runtime | None:
    """When AIVA_METRICS_PORT is set: serve AIVA's metrics there and the SDK's on the next port."""
    if settings.metrics_port is None:
        return None
    from activities.metrics import serve

    serve(settings.metrics_port)
    return Runtime(telemetry=TelemetryConfig(
        metrics=PrometheusConfig(bind_address=f"0.0.0.0:{settings.metrics_port + 1}")))


def build_activities(
    client: Client, pool: asyncpg.Pool, http: httpx.AsyncClient, settings: Settings,
    intel_cache: IntelCache | None = None, ingest_pool: IngestPool | None = None,
) -> list[Callable[..., Any]]:
    """Wire every activity group to its dependencies (`ingest_pool`: see `ingest_processes`)."""
    cache = intel_cache if intel_cache is not None else make_cache(settings.redis_url)
    lookup = IntelLookup(pool, cache)
    scan = ScanActivities(pool, settings, ingest_pool)
    analysis = AnalysisActivities(pool, settings)
    remediation = RemediationActivities(pool, http, settings, lookup)
    report = ReportActivities(pool, client, settings)
    triage = TriageActivities(pool)
    intel = IntelActivities(pool, http, settings, cache)
    scanners = ScannerActivities(pool, settings)
    return [
        scan.ingest_report, scan.undo_ingest, scanners.run_scanner,
        analysis.analyze_run, analysis.undo_analysis, analysis.score_risk,
        analysis.analyze_vulnerabilities, analysis.check_compliance, analysis.correlate_threats,
        analysis.find_attack_paths,
        remediation.list_integrations, remediation.open_tickets, remediation.close_run_tickets,
        remediation.close_fixed_tickets,
        report.render_reports,
        triage.apply_triage,
        intel.refresh_intel,
    ]


def build_worker(
    client: Client, pool: asyncpg.Pool, http: httpx.AsyncClient, settings: Settings,
    activities: list[Callable[..., Any]] | None = None, ingest_pool: IngestPool | None = None,
) -> Worker:
    """The pipeline workflow and its activities on the configured task queue."""
    if activities is None:
        activities = build_activities(client, pool, http, settings, ingest_pool=ingest_pool)
    return Worker(
        client,
        task_queue=settings.task_queue,
        workflows=[PipelineWorkflow, IntelRefreshWorkflow],
        activities=activities,
        max_concurrent_activities=settings.worker_max_concurrent_activities,
        graceful_shutdown_timeout=GRACEFUL_SHUTDOWN,
        # Cancellation reaches an activity only through a heartbeat: keep that prompt.
        max_heartbeat_throttle_interval=timedelta(seconds=1),
        default_heartbeat_throttle_interval=timedelta(seconds=1),
    )


@asynccontextmanager
async def worker_resources(settings: Settings) -> AsyncIterator[tuple[Client, asyncpg.Pool, httpx.AsyncClient]]:
    """Open (and finally close) the pool, the HTTP client and the Temporal client; migrate the schema."""
    async with AsyncExitStack() as stack:
        url = await asyncio.to_thread(database_url, settings)
        pool = await create_pool(url, settings.db_pool_max)
        stack.push_async_callback(pool.close)
        async with pool.acquire() as conn:
            applied = await migrate(conn)
        if applied:
            log.info("applied migrations: %s", ", ".join(applied))
        http = httpx.AsyncClient(timeout=settings.webhook_timeout_s)
        stack.push_async_callback(http.aclose)
        client = await connect_temporal(settings, metrics_runtime(settings))
        yield client, pool, http


@contextlib.contextmanager
def ingest_processes(settings: Settings) -> Iterator[IngestPool | None]:
    """The worker's pool of ingest processes (None when AIVA_INGEST_PROCESSES is 1), started in the
    background so that the first large report does not wait for it, and shut down at the end."""
    if settings.ingest_processes <= 1:
        yield None
        return
    ingest_pool = IngestPool(settings.ingest_processes)
    threading.Thread(target=_warm, args=(ingest_pool,), name="aiva-ingest-warm", daemon=True).start()
    try:
        yield ingest_pool
    finally:
        ingest_pool.shutdown()


def _warm(ingest_pool: IngestPool) -> None:
    try:
        ingest_pool.warm()
    except Exception as e:  # shut down before it was up, or a process failed: the first ingest says so
        log.warning("ingest processes not started: %s", e)


async def run_worker(settings: Settings | None = None) -> None:
    """Run a worker until cancelled, or until SIGTERM / SIGINT, which drain it gracefully."""
    settings = settings or Settings()
    async with worker_resources(settings) as (client, pool, http):
        with ingest_processes(settings) as ingest_pool:
            worker = build_worker(client, pool, http, settings, ingest_pool=ingest_pool)
            freeze_startup_heap()
            _drain_on_signals(worker)
            log.info("worker polling task queue %r on %s", settings.task_queue, settings.temporal_address)
            await worker.run()


def _drain_on_signals(worker: Worker) -> None:
    """SIGTERM (what systemd, Docker and Kubernetes send) and SIGINT stop polling and let running
    activities finish within the graceful shutdown timeout, instead of killing them mid-call."""
    loop = asyncio.get_running_loop()
    stopping: list[asyncio.Task[None]] = []

    def drain(sig: signal.Signals) -> None:
        if not stopping:
            log.info("%s: draining the worker (running activities get %s to finish)", sig.name,
                     GRACEFUL_SHUTDOWN)
            stopping.append(asyncio.ensure_future(worker.shutdown()))

    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):  # not the main thread / OS
            loop.add_signal_handler(sig, drain, sig)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    asyncio.run(run_worker())

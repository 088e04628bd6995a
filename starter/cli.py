"""`aiva`: the CLI starter. Start, watch, cancel and audit runs; run the worker or the whole dev stack."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from aiva.contracts import PipelineInput, ReportInput, ScanDirInput
from aiva.enums import Severity
from aiva.errors import AivaError
from aiva.settings import Settings

app = typer.Typer(help="AIVA: security findings, normalized, deduplicated and driven to remediation on Temporal.",
                  no_args_is_help=True, pretty_exceptions_enable=False)
out = Console(soft_wrap=True)  # paths and URLs stay whole when piped
err = Console(stderr=True, soft_wrap=True)
REPO_ROOT = Path(__file__).resolve().parent.parent


def _settings() -> Settings:
    try:
        return Settings()
    except Exception as e:  # pydantic's ValidationError names the variable
        err.print(f"[red]invalid configuration:[/red] {e}")
        raise typer.Exit(2) from e


def _run(coro: object) -> object:
    try:
        return asyncio.run(coro)  # type: ignore[arg-type]
    except AivaError as e:
        err.print(f"[red]error:[/red] {e}")
        raise typer.Exit(1) from e
    except RuntimeError as e:
        if "Failed client connect" in str(e) or "connection" in str(e).lower():
            s = _settings()
            err.print(f"[red]cannot reach Temporal at {s.temporal_address}[/red]: start it with `aiva dev`")
            raise typer.Exit(1) from e
        raise


def parse_since(text: str) -> timedelta:
    """'7d', '12h', '30m' -> a timedelta."""
    units = {"d": "days", "h": "hours", "m": "minutes", "s": "seconds", "w": "weeks"}
    if len(text) < 2 or text[-1] not in units or not text[:-1].isdigit():
        raise typer.BadParameter(f"expected a duration like 7d, 12h or 30m, got {text!r}")
    return timedelta(**{units[text[-1]]: int(text[:-1])})


# ---------------------------------------------------------------- runs

@app.command()
def start(
    product: Annotated[str, typer.Option("--product", "-p", help="product the findings belong to")],
    reports: Annotated[list[Path] | None, typer.Argument(help="scanner report files (format detected from content)")]
    = None,
    scan_dir: Annotated[list[str] | None, typer.Option(
        help="a directory or git URL to run the scanners on (repeatable)")] = None,
    scanners: Annotated[str, typer.Option(help="scanners for --scan-dir")] = "bandit,semgrep,checkov,detect-secrets",
    fmt: Annotated[str | None, typer.Option("--format", "-f", help="force a format for every file")] = None,
    target: Annotated[str | None, typer.Option(help="asset the reports cover (image, repo, host)")] = None,
    formats: Annotated[str, typer.Option(help="report formats")] = "html,pdf,json",
    remediation: Annotated[bool, typer.Option(help="open tickets for new/reopened findings")] = True,
    min_severity: Annotated[Severity, typer.Option(help="ticket bar")] = Severity.HIGH,
    wait: Annotated[bool, typer.Option("--wait/--detach", help="wait with live progress, or return")] = True,
) -> None:
    """Start a pipeline run over report files."""
    reports = reports or []
    for r in reports:
        if not r.is_file():
            err.print(f"[red]error:[/red] {r}: no such file")
            raise typer.Exit(2)
    try:
        inp = PipelineInput(
            product=product,
            reports=[ReportInput(path=str(r.resolve()), format=fmt, target=target) for r in reports],
            scan_dirs=[ScanDirInput(path=d if "://" in d or "@" in d else str(Path(d).resolve()),
                                    scanners=[x.strip() for x in scanners.split(",") if x.strip()], target=target)
                       for d in scan_dir or []],
            remediation=remediation, min_ticket_severity=min_severity,
            report_formats=[f.strip() for f in formats.split(",") if f.strip()],
        )
    except ValueError as e:
        err.print(f"[red]error:[/red] {e}")
        raise typer.Exit(2) from e
    _run(_start(inp, wait))


async def _start(inp: PipelineInput, wait: bool) -> None:
    from starter.orchestrator import IntegrationOrchestrator

    orch = await IntegrationOrchestrator.create_default(_settings())
    handle = await orch.start(inp)
    out.print(f"started run [bold]{handle.id}[/bold]")
    out.print(f"  Temporal UI: {orch.settings.ui_url}/{handle.id}")
    if not wait:
        return
    await _follow(orch, handle.id)


async def _follow(orch: object, run_id: str) -> None:
    from temporalio.client import WorkflowFailureError

    from starter.orchestrator import IntegrationOrchestrator
    from workflows.pipeline import PipelineWorkflow

    assert isinstance(orch, IntegrationOrchestrator)
    handle = orch.client.get_workflow_handle_for(PipelineWorkflow.run, run_id)
    result_task = asyncio.ensure_future(handle.result())
    last = ""
    with out.status("running...") as status:
        while not result_task.done():
            try:
                p = await orch.get_integration_status(run_id)
                line = (f"stage={p.stage} status={p.status} findings={p.counts.ingested_findings} "
                        f"new={p.counts.new} mitigated={p.counts.mitigated} critical={p.counts.critical} "
                        f"high={p.counts.high} tickets={p.counts.tickets_opened}")
                status.update(line)
                if p.stage != last:
                    out.print(f"  -> {p.stage}")
                    last = p.stage
            except Exception:  # noqa: S110 - the query may race the first workflow task
                pass
            await asyncio.wait([result_task], timeout=0.5)
    try:
        result = result_task.result()
    except WorkflowFailureError as e:
        cause = e.cause
        msg = getattr(cause, "message", None) or str(cause)
        err.print(f"[red]run {run_id} failed:[/red] {msg}")
        err.print(f"  audit trail: aiva history {run_id}")
        raise typer.Exit(1) from e
    c = result.counts
    out.print(f"[green]completed[/green] {run_id}: {c.ingested_findings} findings ingested; new {c.new}, "
              f"unchanged {c.unchanged}, reopened {c.reopened}, mitigated {c.mitigated}; "
              f"critical {c.critical}, high {c.high}; tickets {c.tickets_opened}")
    for kind, path in result.reports.items():
        out.print(f"  {kind:5} report: {path}")


@app.command()
def status(run_id: str) -> None:
    """Show a run's progress (stage, status, counts)."""
    async def go() -> None:
        from starter.orchestrator import IntegrationOrchestrator

        orch = await IntegrationOrchestrator.create_default(_settings())
        p = await orch.get_integration_status(run_id)
        out.print_json(p.model_dump_json())
    _run(go())


@app.command()
def cancel(
    run_id: str,
    reason: Annotated[str, typer.Option(help="recorded in the history")] = "cancelled by user",
    hard: Annotated[bool, typer.Option(help="Temporal cancel instead of the cancel_run signal")] = False,
) -> None:
    """Cancel a run; its compensation closes the tickets and undoes the stores it made."""
    async def go() -> None:
        from starter.orchestrator import IntegrationOrchestrator

        orch = await IntegrationOrchestrator.create_default(_settings())
        await orch.cancel_integration(run_id, reason, hard)
        out.print(f"cancel requested for {run_id} ({'temporal cancel' if hard else 'signal'})")
    _run(go())


@app.command()
def history(run_id: str, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Print a run's audit timeline, read from its Temporal workflow history."""
    async def go() -> None:
        from starter.orchestrator import IntegrationOrchestrator
        from starter.recorder import timeline

        orch = await IntegrationOrchestrator.create_default(_settings())
        tl = timeline(await orch.client.get_workflow_handle(run_id).fetch_history())
        if as_json:
            out.print_json(json.dumps({
                "workflow_id": tl.workflow_id, "status": tl.status, "failure": tl.failure,
                "started": str(tl.started), "closed": str(tl.closed),
                "activities": [{"name": a.label, "attempts": a.attempts, "scheduled": str(a.scheduled),
                                "duration_ms": a.duration_ms, "outcome": a.outcome, "failure": a.failure,
                                "last_retry_failure": a.last_retry_failure} for a in tl.activities],
                "signals": [[str(t), n] for t, n in tl.signals],
            }))
            return
        out.print(f"run {tl.workflow_id}: {tl.status}, started {tl.started}, closed {tl.closed or '-'}")
        if tl.failure:
            out.print(f"  failure: {tl.failure}")
        t = Table("activity", "attempts", "started", "duration", "outcome", "failure")
        for a in tl.activities:
            dur = f"{a.duration_ms:,.0f} ms" if a.duration_ms is not None else "running"
            t.add_row(a.label, str(a.attempts), a.scheduled.strftime("%H:%M:%S.%f")[:-3], dur, a.outcome,
                      (a.failure or a.last_retry_failure or "")[:80])
        out.print(t)
        for when, name in tl.signals:
            out.print(f"  signal {name} at {when:%H:%M:%S}")
    _run(go())


@app.command()
def runs(
    product: Annotated[str | None, typer.Option(help="only this product")] = None,
    status_filter: Annotated[str | None, typer.Option("--status", help="Running, Completed, Failed, Canceled")] = None,
    since: Annotated[str, typer.Option(help="window, e.g. 7d")] = "7d",
    limit: Annotated[int, typer.Option()] = 50,
) -> None:
    """List runs through Temporal visibility queries."""
    async def go() -> None:
        from starter.orchestrator import IntegrationOrchestrator

        orch = await IntegrationOrchestrator.create_default(_settings())
        t = Table("run", "product", "status", "stage", "critical", "high", "started")
        async for w in orch.client.list_workflows(_visibility_query(product, status_filter, since), limit=limit):
            s = w.typed_search_attributes
            from workflows import search_attributes as sa
            t.add_row(w.id, s.get(sa.PRODUCT) or "", w.status.name if w.status else "", s.get(sa.STAGE) or "",
                      str(s.get(sa.CRITICAL) or 0), str(s.get(sa.HIGH) or 0), f"{w.start_time:%Y-%m-%d %H:%M:%S}")
        out.print(t)
    _run(go())


def _visibility_query(product: str | None, status_filter: str | None, since: str) -> str:
    """A visibility query for pipeline runs (values quoted; quotes in them refused)."""
    start = datetime.now(UTC) - parse_since(since)
    parts = ['WorkflowType="PipelineWorkflow"', f'StartTime > "{start:%Y-%m-%dT%H:%M:%SZ}"']
    for name, value in (("AivaProduct", product), ("ExecutionStatus", status_filter)):
        if value:
            if '"' in value or "\\" in value:
                raise typer.BadParameter(f"{name} value may not contain quotes: {value!r}")
            parts.append(f'{name}="{value}"')
    return " AND ".join(parts)


@app.command()
def stats(
    since: Annotated[str, typer.Option(help="window, e.g. 7d")] = "7d",
    product: Annotated[str | None, typer.Option()] = None,
) -> None:
    """Per-activity count, p50/p95 duration, failure and retry rates over a window."""
    async def go() -> None:
        from starter.orchestrator import IntegrationOrchestrator
        from starter.stats import activity_stats

        orch = await IntegrationOrchestrator.create_default(_settings())
        rows, n_runs = await activity_stats(orch.client, _visibility_query(product, None, since))
        out.print(f"{n_runs} runs since {since}")
        t = Table("activity", "count", "p50 ms", "p95 ms", "failure rate", "retry rate")
        for r in rows:
            t.add_row(r.name, str(r.count), f"{r.p50_ms:,.0f}", f"{r.p95_ms:,.0f}", f"{r.failure_rate:.1%}",
                      f"{r.retry_rate:.1%}")
        out.print(t)
    _run(go())


@app.command()
def report(
    run_id: str,
    fmt: Annotated[str, typer.Option("--format", "-f", help="comma-separated: html,pdf,json,csv,sarif,...")]
    = "html,pdf,json",
) -> None:
    """Regenerate the reports of any past run (findings as the run saw them, statuses as they are now)."""
    async def go() -> None:
        from activities.report import ReportActivities
        from aiva.contracts import ReportStageInput
        from aiva.reports.writer import normalize_formats
        from aiva.store.database import create_pool, database_url
        from aiva.store.queries import run_facts
        from starter.orchestrator import IntegrationOrchestrator

        s = _settings()
        orch = await IntegrationOrchestrator.create_default(s)
        pool = await create_pool(await asyncio.to_thread(database_url, s), 2)
        try:
            async with pool.acquire() as conn:
                facts = await run_facts(conn, run_id)
            if facts is None:
                raise AivaError(f"no run {run_id!r} in the store")
            try:
                normalize_formats(fmt.split(","))
            except ValueError as e:
                raise AivaError(str(e)) from e
            result = await ReportActivities(pool, orch.client, s).render(ReportStageInput(
                run_id=run_id, product=facts.product, formats=[f.strip() for f in fmt.split(",") if f.strip()]))
        finally:
            await pool.close()
        for kind, path in result.files.items():
            out.print(f"  {kind:5} report: {path}")
    _run(go())


@app.command()
def feedback(run_ids: list[str], as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Performance feedback from runs' histories: stage times, retries, failures, and what to change."""
    async def go() -> None:
        from starter.feedback_cmd import feedback_for_runs, render_feedback
        from starter.orchestrator import IntegrationOrchestrator

        orch = await IntegrationOrchestrator.create_default(_settings())
        fb = await feedback_for_runs(orch.client, run_ids)
        if as_json:
            out.print_json(fb.model_dump_json())
        else:
            out.print(render_feedback(fb), markup=False, highlight=False)
    _run(go())


@app.command()
def triage(
    fingerprint: str,
    product: Annotated[str, typer.Option("--product", "-p")],
    status_: Annotated[str, typer.Option("--status", help="false_positive, risk_accepted or out_of_scope")],
    reason: Annotated[str, typer.Option(help="why (kept in the finding's history)")],
    scope: Annotated[str, typer.Option(help="target, product or all (products)")] = "product",
    target: Annotated[str | None, typer.Option(help="the asset, for --scope target")] = None,
    expires: Annotated[str | None, typer.Option(help="risk acceptance only: e.g. 30d")] = None,
    by: Annotated[str, typer.Option(help="who decides")] = os.environ.get("USER", "cli"),
    run: Annotated[str | None, typer.Option(help="send as an update to this running pipeline")] = None,
) -> None:
    """Mark a finding false positive / risk accepted / out of scope; every later scan honours it."""
    from aiva.triage import TriageDecision

    now = datetime.now(UTC)
    try:
        decision = TriageDecision(
            fingerprint=fingerprint, product=product, status=status_, reason=reason, actor=by, scope=scope,
            target=target, expires_at=now + parse_since(expires) if expires else None)
        decision.check(now)
    except ValueError as e:
        err.print(f"[red]invalid triage decision:[/red] {e}")
        raise typer.Exit(2) from e

    async def go() -> None:
        if run:
            from starter.orchestrator import IntegrationOrchestrator
            from workflows.pipeline import PipelineWorkflow

            orch = await IntegrationOrchestrator.create_default(_settings())
            result = await orch.client.get_workflow_handle(run).execute_update(PipelineWorkflow.triage, decision)
        else:
            from activities.triage import record_and_apply
            from aiva.store.database import create_pool, database_url

            s = _settings()
            pool = await create_pool(await asyncio.to_thread(database_url, s), 2)
            try:
                async with pool.acquire() as conn:
                    result = await record_and_apply(conn, decision)
            finally:
                await pool.close()
        out.print(f"rule #{result.rule_id}: {result.triaged} finding(s) now {decision.status.value}")
    _run(go())


model_app = typer.Typer(help="The experience model: false-positive likelihood learned from triage history.")
app.add_typer(model_app, name="model")


@model_app.command("train")
def model_train() -> None:
    """Train on all triage history and store the model; prints its held-out accuracy."""
    async def go() -> None:
        from aiva.store import experience as exp_store
        from aiva.store.database import create_pool, database_url

        s = _settings()
        pool = await create_pool(await asyncio.to_thread(database_url, s), 2)
        try:
            async with pool.acquire() as conn:
                try:
                    m = await exp_store.train_and_store(conn)
                except ValueError as e:
                    raise AivaError(str(e)) from e
        finally:
            await pool.close()
        out.print(f"trained on {m.samples} triaged findings ({m.positives} false positives); held-out accuracy "
                  f"{m.accuracy:.1%} on {m.test_size} (majority-class baseline {m.baseline:.1%})")
        thr = s.fp_auto_close_threshold
        out.print(f"auto-close: {'off' if thr is None else f'at likelihood >= {thr}'} (AIVA_FP_AUTO_CLOSE_THRESHOLD)")
    _run(go())


# ---------------------------------------------------------------- processes

@app.command()
def worker() -> None:
    """Run a worker (migrates the schema first)."""
    import logging

    from worker import run_worker

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    with contextlib.suppress(KeyboardInterrupt):
        _run(run_worker(_settings()))


@app.command()
def migrate() -> None:
    """Apply pending database migrations."""
    async def go() -> None:
        from aiva.store.database import create_pool, database_url
        from aiva.store.migrate import migrate as do_migrate

        s = _settings()
        pool = await create_pool(await asyncio.to_thread(database_url, s), 2)
        async with pool.acquire() as conn:
            applied = await do_migrate(conn)
        await pool.close()
        out.print(f"applied: {', '.join(applied) if applied else 'nothing (up to date)'}")
    _run(go())


@app.command()
def dev(
    detach: Annotated[bool, typer.Option(help="run in the background; logs in AIVA_HOME/dev.log")] = False,
    stop: Annotated[bool, typer.Option(help="stop a detached dev stack")] = False,
    webhook_sink: Annotated[bool, typer.Option(help="a local ticket sink when AIVA_WEBHOOK_URL is unset")] = True,
) -> None:
    """Embedded PostgreSQL + Temporal dev server (UI) + a worker, on this machine. Ctrl-C stops them."""
    from starter import devstack

    s = _settings()
    if stop:
        out.print(devstack.stop_detached(s))
        return
    if detach:
        info = devstack.start_detached(s, webhook_sink)
        out.print(info)
        return
    try:
        asyncio.run(devstack.run_foreground(s, webhook_sink, out.print))
    except KeyboardInterrupt:
        out.print("stopped")


@app.command()
def demo(
    product: Annotated[str, typer.Option(help="product name for the demo run")] = "demo-shop",
) -> None:
    """Start the dev stack if needed, run a pipeline over the bundled example reports, print where things are."""
    from starter import devstack

    s = _settings()
    out.print(devstack.ensure_running(s))
    examples = REPO_ROOT / "examples"
    _run(_demo_context(product, examples))
    reports = [e for e in sorted(examples.glob("*.*")) if e.suffix in (".json", ".sarif")]
    inp = PipelineInput(product=product, reports=[ReportInput(path=str(e)) for e in reports],
                        report_formats=["html", "pdf", "json", "csv", "sarif", "vex", "compliance"])
    out.print(f"running the pipeline over {', '.join(e.name for e in reports)}")
    _run(_start(inp, wait=True))
    out.print(f"\nTemporal Web UI: {s.ui_url}")
    out.print("The dev stack keeps running for the UI; stop it with: aiva dev --stop")


async def _demo_context(product: str, examples: Path) -> None:
    """The demo's asset inventory and sample threat intel (the KEV catalog from ../shared when present)."""
    from activities.intel import load_source
    from aiva.attack_paths import load_inventory
    from aiva.contracts import IntelSource
    from aiva.store.assets import upsert_inventory
    from aiva.store.database import create_pool, database_url
    from aiva.store.migrate import migrate as do_migrate

    s = _settings()
    pool = await create_pool(await asyncio.to_thread(database_url, s), 2)
    try:
        async with pool.acquire() as conn:
            await do_migrate(conn)
            n = await upsert_inventory(conn, product, load_inventory(examples / "inventory.yaml"))
            out.print(f"inventory: {n['assets']} assets, {n['edges']} edges (examples/inventory.yaml)")
            shared_kev = REPO_ROOT.parent / "shared" / "intel" / "kev" / "known_exploited_vulnerabilities.json"
            kev = shared_kev if shared_kev.is_file() else examples / "intel" / "kev-sample.json"
            for kind, path in (("kev", kev), ("epss", examples / "intel" / "epss-sample.csv")):
                changed = await load_source(conn, None, IntelSource(kind=kind, location=str(path)))
                out.print(f"threat intel: {kind} from {path.name} ({changed} records changed)")
    finally:
        await pool.close()


@app.command("setup-temporal")
def setup_temporal() -> None:
    """Register AIVA's search attributes on the configured Temporal namespace (a cluster's; idempotent)."""
    async def go() -> None:
        from starter.temporal_setup import register_search_attributes
        from worker import connect_temporal

        s = _settings()
        res = await register_search_attributes(await connect_temporal(s), s.temporal_namespace)
        out.print(f"namespace {s.temporal_namespace} on {s.temporal_address}: added {', '.join(res.added) or 'none'};"
                  f" already there: {', '.join(res.present) or 'none'}")
    _run(go())


@app.command()
def doctor() -> None:
    """Check this installation: settings, PostgreSQL + schema, Temporal + search attributes, PDF, scanners."""
    from starter.doctor import diagnose

    checks = _run(diagnose(_settings()))
    assert isinstance(checks, list)
    for c in checks:
        mark = "[green]ok[/green]  " if c.ok else ("[red]FAIL[/red]" if c.required else "[yellow]warn[/yellow]")
        out.print(f"{mark} {c.name}: {c.detail}")
    if any(not c.ok and c.required for c in checks):
        raise typer.Exit(1)


# ---------------------------------------------------------------- offline tools

@app.command()
def parse(
    report: Path,
    fmt: Annotated[str | None, typer.Option("--format", "-f")] = None,
    target: Annotated[str | None, typer.Option()] = None,
) -> None:
    """Dry run: detect the format, print normalized findings as JSON lines; stores nothing."""
    from aiva import parsers
    from aiva.parsers.base import ParseContext

    s = _settings()
    try:
        p, findings = parsers.open_report(
            str(report), fmt, ParseContext(target=target, secret_key=s.secret_hash_key.get_secret_value().encode(),
                                           max_bytes=s.max_report_bytes))
        err.print(f"format: {p.name}")
        n = 0
        for f in findings:
            sys.stdout.write(f.model_dump_json() + "\n")
            n += 1
        err.print(f"{n} findings")
    except AivaError as e:
        err.print(f"[red]error:[/red] {e}")
        raise typer.Exit(1) from e


def main() -> None:
    """Entry point of the `aiva` script."""
    import starter.cli_api  # registers the apikey and api commands
    import starter.cli_intel  # noqa: F401 - registers the intel, assets, paths, compliance and sla commands

    app()


if __name__ == "__main__":
    # Run through the importable module so that every command registers on the same `app`.
    from starter.cli import main as _main

    _main()

"""`aiva intel ...`, `aiva assets ...`, `aiva paths`, `aiva compliance`, `aiva sla`: the intelligence commands."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import asyncpg
import typer
from rich.markup import escape
from rich.table import Table

from aiva.contracts import IntelRefreshInput, IntelSource
from aiva.errors import AivaError
from aiva.intel.cache import make_cache
from aiva.store.intel_lookup import publish_generation
from starter.cli import _run, _settings, app, err, out, parse_since

intel_app = typer.Typer(help="Threat intel: CISA KEV and EPSS.")
assets_app = typer.Typer(help="The asset inventory (criticality, exposure, crown jewels, edges).")
app.add_typer(intel_app, name="intel")
app.add_typer(assets_app, name="assets")
SCHEDULE_ID = "aiva-intel-refresh"


@asynccontextmanager
async def _conn() -> AsyncIterator[asyncpg.Connection]:
    from aiva.store.database import create_pool, database_url
    from aiva.store.migrate import migrate

    s = _settings()
    pool = await create_pool(await asyncio.to_thread(database_url, s), 2)
    try:
        async with pool.acquire() as conn:
            await migrate(conn)
            yield conn
    finally:
        await pool.close()


async def _product_id(conn: asyncpg.Connection, product: str) -> int:
    pid: int | None = await conn.fetchval("SELECT id FROM products WHERE name = $1", product)
    if pid is None:
        raise AivaError(f"unknown product {product!r}")
    return pid


def _kind_of(path: Path, kind: str | None) -> str:
    if kind:
        return kind
    name = path.name.lower()
    if "epss" in name:
        return "epss"
    if "kev" in name or "known_exploited" in name:
        return "kev"
    raise typer.BadParameter(f"cannot tell whether {path} is KEV or EPSS from its name: pass --kind")


@intel_app.command("load")
def intel_load(
    files: list[Path],
    kind: Annotated[str | None, typer.Option(help="kev or epss (guessed from the file name)")] = None,
) -> None:
    """Load KEV catalogs / EPSS CSVs (JSON, CSV, gzip) and re-score only the findings whose intel changed."""
    async def go() -> None:
        from activities.intel import load_source
        from aiva.store.intel_store import rescore_changed

        async with _conn() as conn:
            for f in files:
                k = _kind_of(f, kind)
                n = await load_source(conn, None, IntelSource(kind=k, location=str(f.resolve())))
                out.print(f"{f}: {k}, {n} vulnerability records changed")
            out.print(f"re-scored {await rescore_changed(conn)} findings whose intel changed")
            await publish_generation(conn, make_cache(_settings().redis_url))
    _run(go())


@intel_app.command("show")
def intel_show(vuln_ids: list[str]) -> None:
    """What the loaded feeds say about these CVE ids (through the shared lookup cache)."""
    async def go() -> None:
        from aiva.store.database import create_pool, database_url
        from aiva.store.intel_lookup import IntelLookup

        s = _settings()
        pool = await create_pool(await asyncio.to_thread(database_url, s), 2)
        try:
            facts = await IntelLookup(pool, make_cache(s.redis_url)).lookup(vuln_ids)
        finally:
            await pool.close()
        t = Table("id", "KEV", "added to KEV", "ransomware", "EPSS", "percentile", "EPSS date")
        for vid, f in facts.items():
            if f is None:
                t.add_row(vid, "never enriched", "", "", "", "", "")
                continue
            t.add_row(vid, "yes" if f.in_kev else "no", str(f.kev_date_added or ""),
                      "" if f.kev_ransomware is None else ("yes" if f.kev_ransomware else "no"),
                      "" if f.epss is None else f"{f.epss:.5f}",
                      "" if f.epss_percentile is None else f"{f.epss_percentile:.3f}", str(f.epss_date or ""))
        out.print(t)
    _run(go())


def _sources(kev: list[str], epss: list[str]) -> IntelRefreshInput:
    srcs = [IntelSource(kind="kev", location=k) for k in kev] + [IntelSource(kind="epss", location=e) for e in epss]
    if not srcs:
        raise typer.BadParameter("name at least one --kev or --epss source (a path or an http(s) URL)")
    return IntelRefreshInput(sources=srcs)


@intel_app.command("refresh")
def intel_refresh(
    kev: Annotated[list[str], typer.Option(help="KEV path or URL")] = [],  # noqa: B006 - typer's idiom
    epss: Annotated[list[str], typer.Option(help="EPSS path or URL")] = [],  # noqa: B006
) -> None:
    """Run the intel refresh workflow once (on a worker) and wait for it."""
    inp = _sources(kev, epss)

    async def go() -> None:
        from starter.orchestrator import IntegrationOrchestrator
        from workflows.intel import IntelRefreshWorkflow

        orch = await IntegrationOrchestrator.create_default(_settings())
        result = await orch.client.execute_workflow(
            IntelRefreshWorkflow.run, inp, id=f"aiva-intel-{datetime.now(UTC):%Y%m%dT%H%M%S}",
            task_queue=orch.settings.task_queue)
        out.print(f"changed: {result.changed}; re-scored {result.rescored} findings")
    _run(go())


@intel_app.command("schedule")
def intel_schedule(
    kev: Annotated[list[str], typer.Option(help="KEV path or URL")] = [],  # noqa: B006
    epss: Annotated[list[str], typer.Option(help="EPSS path or URL")] = [],  # noqa: B006
    every: Annotated[str, typer.Option(help="interval, e.g. 24h")] = "24h",
) -> None:
    """Create (or replace) the Temporal Schedule that refreshes intel every interval."""
    inp = _sources(kev, epss)

    async def go() -> None:
        from temporalio.client import (
            Schedule,
            ScheduleActionStartWorkflow,
            ScheduleIntervalSpec,
            ScheduleOverlapPolicy,
            SchedulePolicy,
            ScheduleSpec,
            ScheduleState,
        )
        from temporalio.service import RPCError

        from starter.orchestrator import IntegrationOrchestrator
        from workflows.intel import IntelRefreshWorkflow

        orch = await IntegrationOrchestrator.create_default(_settings())
        with_schedule = Schedule(
            action=ScheduleActionStartWorkflow(IntelRefreshWorkflow.run, inp, id="aiva-intel-refresh-run",
                                               task_queue=orch.settings.task_queue),
            spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=parse_since(every))]),
            policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
            state=ScheduleState(note="AIVA threat-intel refresh (KEV, EPSS)"),
        )
        with suppress(RPCError):  # replacing an existing schedule
            await orch.client.get_schedule_handle(SCHEDULE_ID).delete()
        await orch.client.create_schedule(SCHEDULE_ID, with_schedule)
        out.print(f"schedule {SCHEDULE_ID}: every {every}, {len(inp.sources)} source(s)")
    _run(go())


@assets_app.command("load")
def assets_load(inventory: Path, product: Annotated[str, typer.Option("--product", "-p")]) -> None:
    """Load an inventory (YAML/JSON: assets with type, criticality, exposure, crown jewels; edges)."""
    from aiva.attack_paths import load_inventory

    try:
        inv = load_inventory(inventory)
    except (AivaError, ValueError, OSError) as e:
        err.print(f"[red]invalid inventory:[/red] {e}")
        raise typer.Exit(2) from e

    async def go() -> None:
        from aiva.store.assets import upsert_inventory

        async with _conn() as conn:
            n = await upsert_inventory(conn, product, inv)
        out.print(f"{product}: {n['assets']} assets, {n['edges']} edges loaded")
    _run(go())


@app.command()
def paths(product: Annotated[str, typer.Option("--product", "-p")], k: int = 5) -> None:
    """Top attack paths from internet-facing assets to crown jewels, with the findings enabling each hop."""
    async def go() -> None:
        from aiva.attack_paths import attack_paths
        from aiva.store.assets import open_findings_by_asset, stored_inventory

        async with _conn() as conn:
            pid = await _product_id(conn, product)
            inv = await stored_inventory(conn, pid)
            if inv is None:
                raise AivaError(f"product {product!r} has no inventory: aiva assets load FILE -p {product}")
            found = attack_paths(inv, await open_findings_by_asset(conn, pid), k=k)
        if not found:
            out.print("no path from an internet-facing asset to a crown jewel")
        for i, p in enumerate(found, 1):
            out.print(f"[bold]{i}. {escape(' -> '.join(['internet', *p.assets]))}[/bold]"
                      f"  (probability {p.probability:.3f})")
            for h in p.hops:
                # scanner titles and inventory names are not rich markup
                why = ", ".join(f"{escape(f.title[:60])} (risk {f.risk_score:.1f}{', KEV' if f.in_kev else ''})"
                                for f in h.findings[:3]) or escape(h.via)
                out.print(f"     {escape(h.source or 'internet')} -> {escape(h.target)} "
                          f"\\[{h.kind.value}]: {why}")
    _run(go())


@app.command()
def compliance(product: Annotated[str, typer.Option("--product", "-p")]) -> None:
    """Per framework (OWASP Top 10, CWE Top 25, PCI DSS 4.0, SOX, GDPR): controls, status, evidence."""
    async def go() -> None:
        from aiva.compliance import evaluate
        from aiva.store.analysis_views import compliance_findings

        async with _conn() as conn:
            report = evaluate(await compliance_findings(conn, await _product_id(conn, product)))
        for fw, res in report.frameworks.items():
            t = Table(title=f"{res.name}: {'PASS' if res.passed else 'FAIL'}")
            for col in ("control", "status", "open evidence", "resolved"):
                t.add_column(col)
            for c in res.controls:
                t.add_row(f"{c.id} {c.title}"[:70], "pass" if c.passed else "FAIL", str(len(c.evidence)),
                          str(c.resolved))
            out.print(t)
            del fw
    _run(go())


@app.command()
def correlated(product: Annotated[str, typer.Option("--product", "-p")],
               limit: Annotated[int, typer.Option(min=1, max=10_000)] = 50) -> None:
    """Open issues that several tools report (cross-tool correlation): group, rule, tools, assets."""
    async def go() -> None:
        from aiva.store.analysis_views import correlated_issues

        async with _conn() as conn:
            issues = await correlated_issues(conn, await _product_id(conn, product), limit)
        if not issues:
            out.print(f"no open issue in {product} is reported by more than one tool")
            return
        t = Table(title=f"{len(issues)} open issue(s) in {product} reported by several tools")
        for col in ("group", "rule", "tools", "sources", "risk", "asset", "title"):
            t.add_column(col)
        for i in issues:
            t.add_row(i["group_key"][:12], i["group_rule"], escape(", ".join(i["tools"])), str(i["sources"]),
                      f"{i['risk']:.1f}", escape(", ".join(i["assets"])[:40]), escape((i["title"] or "")[:50]))
        out.print(t)
    _run(go())


@app.command()
def sla(product: Annotated[str, typer.Option("--product", "-p")]) -> None:
    """Open findings past their SLA due date (days per severity; paused while risk accepted)."""
    async def go() -> None:
        from aiva.store.sla_store import product_breaches

        async with _conn() as conn:
            pid = await _product_id(conn, product)
            late = await product_breaches(conn, pid, datetime.now(UTC))
        out.print(f"{len(late)} SLA breach(es) in {product}")
        for s in late[:50]:
            out.print(f"  {s.severity.value:8} {s.fingerprint[:12]} due {s.due:%Y-%m-%d} "
                      f"overdue {s.overdue // timedelta(days=1)} d")
    _run(go())

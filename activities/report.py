"""Report stage: export the run's findings from PostgreSQL, then render every format in a thread."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import asyncpg
from temporalio import activity
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from activities.heartbeat import in_thread_heartbeating
from aiva.contracts import ReportStageInput, ReportStageResult
from aiva.reports.model import (
    AttackPathHop,
    AttackPathView,
    RunSummary,
    SlaBreach,
    StageTiming,
    TrendPoint,
    jsonl_source,
)
from aiva.reports.writer import write_reports
from aiva.settings import Settings
from aiva.store import queries
from aiva.store.sla_store import product_breaches
from starter.recorder import timeline


async def _intelligence(conn: asyncpg.Connection, run_id: str) -> dict[str, Any]:
    """KEV count, SLA breaches, compliance and attack paths of a run, for the report summary."""
    views = await queries.run_views(conn, run_id)
    threats = views.get("threats") or {}
    product_id = await conn.fetchval("SELECT product_id FROM runs WHERE run_id = $1", run_id)
    late = await product_breaches(conn, product_id, datetime.now(UTC))
    vulns = views.get("vulnerabilities") or {}
    return {
        "multi_tool_groups": int(vulns.get("multi_tool_groups") or 0),
        "correlated_findings": int(vulns.get("correlated_findings") or 0),
        "kev_open": int(threats.get("kev") or 0),
        "sla_breach_count": len(late),
        "sla_breaches": [SlaBreach(fingerprint=b.fingerprint, severity=b.severity.value, due=b.due,
                                   overdue_days=b.overdue // timedelta(days=1)) for b in late[:50] if b.due],
        "compliance": views.get("compliance") or {},
        "attack_paths": [
            AttackPathView(entry=p["entry"], target=p["target"], probability=p["probability"],
                           hops=[AttackPathHop(source=h["from"], target=h["to"], kind=h["kind"],
                                               probability=h["probability"], via=h["via"], findings=h["findings"])
                                 for h in p["hops"]])
            for p in threats.get("attack_paths") or []],
    }


def _no_beat(*_details: object) -> None:
    """Outside an activity there is nobody to heartbeat to."""


# From this many findings the PDF renders in a process of its own beside the other formats: its
# layout holds the GIL for seconds (100k findings, all five formats: 14.4 s in one pass, 8.1 s so);
# below it, spawning the process (about a second) costs more than it saves.
PDF_PROCESS_ABOVE = 20_000


class ReportActivities:
    """Render a run's reports."""

    def __init__(self, pool: asyncpg.Pool, client: Client, settings: Settings) -> None:
        self._pool = pool
        self._client = client
        self._settings = settings

    async def _stages(self, run_id: str) -> list[StageTiming]:
        """From the run's history; once retention has deleted it, from what was stored at report time."""
        try:
            history = await self._client.get_workflow_handle(run_id).fetch_history()
        except RPCError as e:
            if e.status != RPCStatusCode.NOT_FOUND:
                raise
            async with self._pool.acquire() as conn:
                stored = await queries.stored_stage_timings(conn, run_id)
            return [StageTiming.model_validate(s) for s in stored or []]
        return [
            StageTiming(name=a.label, attempts=a.attempts, duration_ms=a.duration_ms, outcome=a.outcome,
                        failure=a.failure or a.last_retry_failure)
            for a in timeline(history).activities
        ]

    @activity.defn(name="render_reports")
    async def render_reports(self, inp: ReportStageInput) -> ReportStageResult:
        """Write the requested formats under REPORTS_DIR/<run id>/ (each file atomically)."""
        result, stages = await self._render(inp, beat=activity.heartbeat)
        async with self._pool.acquire() as conn:
            # the timings outlive the history (namespace retention): `aiva report RUN` needs them later
            await queries.finish_run(conn, inp.run_id, result.files, [st.model_dump() for st in stages])
        return result

    async def render(self, inp: ReportStageInput, beat: Callable[..., None] = _no_beat) -> ReportStageResult:
        """Render a run's reports from the store (also `aiva report RUN` for any past run)."""
        return (await self._render(inp, beat))[0]

    async def _render(
        self, inp: ReportStageInput, beat: Callable[..., None] = _no_beat
    ) -> tuple[ReportStageResult, list[StageTiming]]:
        out_dir = self._settings.resolved_reports_dir.resolve() / inp.run_id
        out_dir.mkdir(parents=True, exist_ok=True)
        stages = await self._stages(inp.run_id)
        with tempfile.TemporaryDirectory(prefix="aiva-report-") as tmp:
            jsonl = Path(tmp) / "findings.jsonl"
            trend: list[TrendPoint] = []
            extras: dict[str, Any] = {}
            async with self._pool.acquire() as conn:
                facts = await queries.run_facts(conn, inp.run_id)
                if facts is None:
                    facts = queries.RunFacts(inp.run_id, inp.product, datetime.now(UTC), [], {}, 0)
                    jsonl.write_bytes(b"")
                else:
                    await queries.export_run_findings(conn, inp.run_id, jsonl, facts)
                    trend = [TrendPoint(**t) for t in await queries.product_trend(conn, inp.run_id)]
                    extras = await _intelligence(conn, inp.run_id)
            beat("exported")
            a = facts.analysis
            summary = RunSummary(
                run_id=inp.run_id, product=facts.product, started_at=facts.started_at,
                finished_at=datetime.now(UTC), reports=facts.reports, total_findings=facts.total,
                new=a.get("new", 0), active=a.get("active", 0), reopened=a.get("reopened", 0),
                mitigated=a.get("mitigated", 0), unchanged=a.get("unchanged", 0),
                by_severity=dict(facts.by_severity), by_risk=dict(facts.by_risk), by_status=dict(facts.by_status),
                tickets_opened=facts.tickets_opened, stages=stages, trend=trend,
                **extras,
            )
            files = await in_thread_heartbeating(
                partial(write_reports, basename=inp.run_id, pdf_top=self._settings.pdf_top_findings,
                        pdf_process=facts.total >= PDF_PROCESS_ABOVE),
                summary, jsonl_source(jsonl), out_dir, inp.formats,
                detail="rendering", beat=beat)
        return ReportStageResult(files=files), stages

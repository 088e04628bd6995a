"""`aiva report RUN` after the run's Temporal history is gone (namespace retention): the stage timings
come from PostgreSQL, where the report stage stored them."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import asyncpg
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from activities.analysis import AnalysisActivities
from activities.report import ReportActivities
from activities.scan import ScanActivities
from aiva.contracts import IngestInput, ReportInput, ReportStageInput, RunRef
from aiva.settings import Settings
from aiva.store import queries
from tests.helpers import trivy_report


async def test_report_uses_stored_timings_when_the_history_is_gone(
    pool: asyncpg.Pool, settings: Settings, temporal_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    product, run_id = f"ret-{uuid.uuid4().hex[:6]}", f"aiva-ret-{uuid.uuid4().hex[:10]}"  # never a workflow
    env = ActivityEnvironment()
    await env.run(ScanActivities(pool, settings).ingest_report, IngestInput(
        run_id=run_id, product=product, index=0, report=ReportInput(path=str(trivy_report(tmp_path / "t.json", 5)))))
    await env.run(AnalysisActivities(pool, settings).analyze_run, RunRef(run_id=run_id, product=product))
    timings = [{"name": "ingest_report", "attempts": 2, "duration_ms": 1234.5, "outcome": "completed",
                "failure": "transient"}]
    async with pool.acquire() as conn:
        await queries.finish_run(conn, run_id, {}, timings)

    reports = ReportActivities(pool, temporal_env.client, settings)
    result = await reports.render(ReportStageInput(run_id=run_id, product=product, formats=["json"]))
    doc = json.loads(Path(result.files["json"]).read_text())
    stages = doc["summary"]["stages"]
    assert [(s["name"], s["attempts"], s["duration_ms"]) for s in stages] == [("ingest_report", 2, 1234.5)]

    async with pool.acquire() as conn:  # a report stage without timings keeps the stored ones
        await queries.finish_run(conn, run_id, {"json": result.files["json"]})
        assert await queries.stored_stage_timings(conn, run_id) == timings

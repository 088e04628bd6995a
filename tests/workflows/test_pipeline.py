"""The pipeline on a real Temporal dev server, a real PostgreSQL and the local webhook receiver."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import asyncpg
import pytest
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError, WorkflowHandle
from temporalio.exceptions import ApplicationError, CancelledError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from aiva.connectors.webhook_receiver import WebhookReceiver
from aiva.contracts import PipelineInput, PipelineResult, ReportInput
from aiva.settings import Settings
from starter.orchestrator import IntegrationOrchestrator
from starter.recorder import payload_bytes, timeline
from tests.helpers import trivy_report
from workflows import search_attributes as sa
from workflows.pipeline import PipelineWorkflow

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
HISTORY_DIR = Path(__file__).resolve().parents[1] / "histories"


def _examples() -> list[ReportInput]:
    return [ReportInput(path=str(EXAMPLES / "shop-api-image.trivy.json")),
            ReportInput(path=str(EXAMPLES / "shop-api-code.sarif"))]


async def _start(client: Client, settings: Settings, inp: PipelineInput) -> WorkflowHandle:
    return await IntegrationOrchestrator(client, settings).start(inp)


async def _wait_for(cond, timeout: float = 30.0, every: float = 0.1) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await cond():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(every)


async def test_end_to_end_reports_search_attributes_and_timeline(
        temporal_env: WorkflowEnvironment, worker: Worker, settings: Settings, pool: asyncpg.Pool,
        receiver: WebhookReceiver) -> None:
    product = f"shop-{uuid.uuid4().hex[:6]}"
    handle = await _start(temporal_env.client, settings,
                          PipelineInput(product=product, reports=_examples(), report_formats=["html", "pdf", "json"]))
    result: PipelineResult = await handle.result()

    c = result.counts
    assert c.ingested_findings == 9 and c.new == 9 and c.mitigated == 0
    for kind in ("html", "pdf", "json"):
        assert Path(result.reports[kind]).is_file() and Path(result.reports[kind]).stat().st_size > 0
    assert Path(result.reports["pdf"]).read_bytes()[:4] == b"%PDF"
    # tickets: one per new finding at high or above, all open on the receiver
    opened = receiver.book.for_run(handle.id)
    high_plus = await pool.fetchval(
        "SELECT count(*) FROM findings f JOIN products p ON p.id=f.product_id WHERE p.name=$1"
        " AND f.severity IN ('high','critical')", product)
    assert len(opened) == high_plus == c.tickets_opened > 0
    assert all(t.status == "open" for t in opened)

    progress = await handle.query(PipelineWorkflow.progress)
    assert progress.stage == "done" and progress.status == "completed"
    assert progress.stages_done == ["scan", "analysis", "risk", "remediation", "report"]

    desc = await handle.describe()
    attrs = desc.typed_search_attributes
    assert attrs.get(sa.PRODUCT) == product
    assert attrs.get(sa.STAGE) == "done"
    assert attrs.get(sa.FINDINGS) == 9
    assert attrs.get(sa.CRITICAL) == c.critical and attrs.get(sa.HIGH) == c.high
    memo = await desc.memo()
    assert memo["summary"]["new"] == 9

    # filterable through visibility by the custom attribute (eventually consistent)
    async def listed() -> bool:
        ids = [w.id async for w in temporal_env.client.list_workflows(f'AivaProduct="{product}"')]
        return ids == [handle.id]
    await _wait_for(listed)

    tl = timeline(await handle.fetch_history())
    names = [a.label for a in tl.activities]
    assert names[:3] == ["ingest_report", "ingest_report", "analyze_run"]
    # the three analysis views run in parallel (any order), then risk and attack paths, then one
    # ticket activity per configured integration (the session's worker has the webhook only)
    assert sorted(names[3:6]) == ["analyze_vulnerabilities", "check_compliance", "correlate_threats"]
    assert names[6:] == ["score_risk", "find_attack_paths", "list_integrations", "open_tickets:webhook",
                         "render_reports", "close_fixed_tickets"]
    assert c.tickets_by_integration == {"webhook": c.tickets_opened}
    assert all(a.outcome == "completed" and a.attempts == 1 for a in tl.activities)
    assert tl.status == "completed"

    # re-running the same reports: nothing new, nothing mitigated, no new tickets
    again = await (await _start(temporal_env.client, settings,
                                PipelineInput(product=product, reports=_examples(), report_formats=["html"]))).result()
    assert (again.counts.new, again.counts.mitigated, again.counts.reopened) == (0, 0, 0)
    assert again.counts.tickets_opened == 0
    # the second run's report shows the trend over the product's runs
    assert "Trend over recent runs" in Path(again.reports["html"]).read_text()


async def test_cancel_signal_during_remediation_closes_every_ticket(
        temporal_env: WorkflowEnvironment, worker: Worker, settings: Settings, pool: asyncpg.Pool,
        receiver: WebhookReceiver, tmp_path: Path) -> None:
    await _cancel_during_remediation(temporal_env, settings, pool, receiver, tmp_path, hard=False)


async def test_temporal_cancel_during_remediation_closes_every_ticket(
        temporal_env: WorkflowEnvironment, worker: Worker, settings: Settings, pool: asyncpg.Pool,
        receiver: WebhookReceiver, tmp_path: Path) -> None:
    await _cancel_during_remediation(temporal_env, settings, pool, receiver, tmp_path, hard=True)


async def _cancel_during_remediation(temporal_env: WorkflowEnvironment, settings: Settings, pool: asyncpg.Pool,
                                     receiver: WebhookReceiver, tmp_path: Path, hard: bool) -> None:
    product = f"cancel-{uuid.uuid4().hex[:6]}"
    report = trivy_report(tmp_path / "many.json", 120, seed=7)
    receiver.book.delay_s = 0.15  # slow ticketing, so the cancel lands mid-stage
    try:
        orch = IntegrationOrchestrator(temporal_env.client, settings)
        handle = await orch.start(PipelineInput(product=product, reports=[ReportInput(path=str(report))],
                                                min_ticket_severity="low", report_formats=["json"]))

        async def some_tickets_open() -> bool:
            return len(receiver.book.for_run(handle.id)) >= 3
        await _wait_for(some_tickets_open, timeout=60)
        assert (await handle.query(PipelineWorkflow.progress)).stage == "remediation"
        await orch.cancel_integration(handle.id, "operator stop", hard=hard)
        with pytest.raises(WorkflowFailureError) as ei:
            await handle.result()
    finally:
        receiver.book.delay_s = 0.0
    if hard:
        assert isinstance(ei.value.cause, CancelledError)
        assert (await handle.describe()).status == WorkflowExecutionStatus.CANCELED
    else:
        assert isinstance(ei.value.cause, ApplicationError) and ei.value.cause.type == "UserCancelled"
        assert "operator stop" in str(ei.value.cause)
    # every ticket the run opened is closed, on the receiver and in the store
    tickets = receiver.book.for_run(handle.id)
    assert tickets and all(t.status == "closed" for t in tickets)
    assert await pool.fetchval("SELECT count(*) FROM tickets WHERE run_id=$1 AND status<>'closed'", handle.id) == 0
    # analysis and scan were undone: the product has no findings left from this first run
    assert await pool.fetchval(
        "SELECT count(*) FROM findings f JOIN products p ON p.id=f.product_id WHERE p.name=$1", product) == 0
    assert await pool.fetchval("SELECT count(*) FROM scans WHERE run_id=$1", handle.id) == 0
    progress = await handle.query(PipelineWorkflow.progress)
    assert progress.status == "cancelled"
    assert progress.stages_done[-3:] == ["undo:remediation", "undo:analysis", "undo:scan"]
    _maybe_record(await handle.fetch_history(), f"pipeline_cancelled_{'hard' if hard else 'signal'}")


async def test_failure_in_report_stage_compensates_in_reverse(
        temporal_env: WorkflowEnvironment, pool: asyncpg.Pool, settings: Settings, http,
        receiver: WebhookReceiver) -> None:
    """A non-retryable failure in the last stage undoes remediation, analysis and scan."""
    from temporalio import activity

    from worker import build_activities, build_worker

    @activity.defn(name="render_reports")
    async def broken_render(_inp: object) -> None:
        raise ApplicationError("disk full", type="ReportWriteError", non_retryable=True)

    s = settings.model_copy(update={"task_queue": f"fail-{uuid.uuid4().hex[:6]}"})
    acts = [a for a in build_activities(temporal_env.client, pool, http, s)
            if getattr(a, "__temporal_activity_definition").name != "render_reports"] + [broken_render]
    product = f"fail-{uuid.uuid4().hex[:6]}"
    async with build_worker(temporal_env.client, pool, http, s, activities=acts):
        handle = await IntegrationOrchestrator(temporal_env.client, s).start(
            PipelineInput(product=product, reports=_examples()))
        with pytest.raises(WorkflowFailureError) as ei:
            await handle.result()
        progress = await handle.query(PipelineWorkflow.progress)
    assert "disk full" in str(ei.value.cause.cause)
    assert progress.status == "failed"
    assert progress.stages_done[-3:] == ["undo:remediation", "undo:analysis", "undo:scan"]
    assert all(t.status == "closed" for t in receiver.book.for_run(handle.id))
    assert receiver.book.for_run(handle.id)
    assert await pool.fetchval(
        "SELECT count(*) FROM findings f JOIN products p ON p.id=f.product_id WHERE p.name=$1", product) == 0
    names = [a.name for a in timeline(await handle.fetch_history()).activities]
    assert names[-3:] == ["close_run_tickets", "undo_analysis", "undo_ingest"]


async def test_bad_input_fails_fast_without_retries_or_rows(
        temporal_env: WorkflowEnvironment, worker: Worker, settings: Settings, pool: asyncpg.Pool,
        tmp_path: Path) -> None:
    bad = tmp_path / "truncated.json"
    bad.write_bytes((EXAMPLES / "shop-api-image.trivy.json").read_bytes()[:700])
    handle = await _start(temporal_env.client, settings, PipelineInput(
        product="bad-input", reports=[ReportInput(path=str(bad))]))
    with pytest.raises(WorkflowFailureError) as ei:
        await handle.result()
    cause = ei.value.cause.cause
    assert isinstance(cause, ApplicationError) and cause.type == "ReportParseError"
    assert str(bad) in cause.message and "trivy" in cause.message and "line" in cause.message
    tl = timeline(await handle.fetch_history())
    ingest = [a for a in tl.activities if a.name == "ingest_report"]
    assert len(ingest) == 1 and ingest[0].attempts == 1 and ingest[0].outcome == "failed"
    assert await pool.fetchval("SELECT count(*) FROM scans WHERE run_id=$1", handle.id) == 0


async def test_transient_webhook_failures_are_retried_and_recorded(
        temporal_env: WorkflowEnvironment, worker: Worker, settings: Settings, receiver: WebhookReceiver) -> None:
    receiver.book.fail_next = 2
    handle = await _start(temporal_env.client, settings, PipelineInput(
        product=f"flaky-{uuid.uuid4().hex[:6]}", reports=_examples(), report_formats=["json"]))
    result = await handle.result()
    assert result.counts.tickets_opened > 0
    tl = timeline(await handle.fetch_history())
    rem = next(a for a in tl.activities if a.name == "open_tickets")
    assert rem.attempts == 3 and rem.outcome == "completed"
    assert rem.last_retry_failure and "503" in rem.last_retry_failure
    # no duplicate tickets despite the retries
    keys = [t.key for t in receiver.book.for_run(handle.id)]
    assert len(keys) == len(set(keys)) == result.counts.tickets_opened


async def test_claim_check_keeps_history_small_for_10k_findings(
        temporal_env: WorkflowEnvironment, worker: Worker, settings: Settings, tmp_path: Path) -> None:
    """Findings never travel through history: 10,000 findings, payloads under 200 KB in total."""
    report = _big_report(tmp_path, 10_000)
    handle = await _start(temporal_env.client, settings, PipelineInput(
        product=f"big-{uuid.uuid4().hex[:6]}", reports=[ReportInput(path=str(report))],
        remediation=False, report_formats=["json"]))
    result = await handle.result()
    assert result.counts.ingested_findings == 10_000
    history = await handle.fetch_history()
    total = sum(payload_bytes(e) for e in history.events)
    assert total < 200_000, f"history payloads are {total:,} bytes"
    assert len(history.events) < 100


def _big_report(tmp_path: Path, n: int) -> Path:
    """The shared benchmark generator's Trivy report when ../shared is present, else AIVA's own."""
    import subprocess
    import sys

    gen = Path(__file__).resolve().parents[3] / "shared" / "bench" / "gen_reports.py"
    out = tmp_path / f"trivy-{n}.json"
    if gen.is_file():
        subprocess.run([sys.executable, str(gen), "trivy", str(n), str(out)], check=True)
        return out
    return trivy_report(out, n)


async def test_replay_saved_history(temporal_env: WorkflowEnvironment, worker: Worker, settings: Settings) -> None:
    """Record a fresh history now and replay it; the committed golden histories are replayed in test_replay."""
    from temporalio.contrib.pydantic import pydantic_data_converter
    from temporalio.worker import Replayer

    handle = await _start(temporal_env.client, settings, PipelineInput(
        product=f"replay-{uuid.uuid4().hex[:6]}", reports=_examples(), report_formats=["json"]))
    await handle.result()
    history = await handle.fetch_history()
    await Replayer(workflows=[PipelineWorkflow], data_converter=pydantic_data_converter).replay_workflow(history)
    _maybe_record(history, "pipeline_completed")


def _maybe_record(history, name: str) -> None:
    """Save a golden history for tests/workflows/test_replay.py when AIVA_RECORD_HISTORIES is set."""
    import os

    if os.environ.get("AIVA_RECORD_HISTORIES"):
        HISTORY_DIR.mkdir(exist_ok=True)
        (HISTORY_DIR / f"{name}.json").write_text(history.to_json())


async def test_corpus_sarif_and_trivy_produce_html_pdf_json(
        temporal_env: WorkflowEnvironment, worker: Worker, settings: Settings) -> None:
    """The issue's acceptance run: a SARIF and a Trivy file from the shared corpus."""
    from tests.corpus import require_corpus

    corpus = require_corpus()
    reports = [ReportInput(path=str(corpus / "sarif" / "codeQL-output.sarif")),
               ReportInput(path=str(corpus / "trivy" / "scheme_2_many_vulns.json"))]
    handle = await _start(temporal_env.client, settings, PipelineInput(
        product=f"corpus-{uuid.uuid4().hex[:6]}", reports=reports, report_formats=["html", "pdf", "json"]))
    result = await handle.result()
    assert result.counts.ingested_findings == 72 + 5
    import json as _json

    doc = _json.loads(Path(result.reports["json"]).read_text())
    assert len(doc["findings"]) == result.counts.new
    assert Path(result.reports["pdf"]).read_bytes()[:4] == b"%PDF"
    assert "codeql" in Path(result.reports["html"]).read_text().lower()


async def test_stats_aggregate_activities_over_runs(
        temporal_env: WorkflowEnvironment, worker: Worker, settings: Settings) -> None:
    """`aiva stats` figures come from real histories: every pipeline activity is counted."""
    from starter.stats import activity_stats

    handle = await _start(temporal_env.client, settings, PipelineInput(
        product=f"stats-{uuid.uuid4().hex[:6]}", reports=_examples(), report_formats=["json"]))
    await handle.result()
    query = f'WorkflowId="{handle.id}"'

    async def visible() -> bool:
        return [w.id async for w in temporal_env.client.list_workflows(query)] == [handle.id]
    await _wait_for(visible)
    rows, n = await activity_stats(temporal_env.client, query)
    assert n == 1
    by_name = {r.name: r for r in rows}
    assert by_name["ingest_report"].count == 2
    assert set(by_name) == {"ingest_report", "analyze_run", "analyze_vulnerabilities", "check_compliance",
                            "correlate_threats", "score_risk", "find_attack_paths", "list_integrations",
                            "open_tickets:webhook", "render_reports", "close_fixed_tickets"}
    assert all(r.p50_ms > 0 and r.p95_ms >= r.p50_ms and r.failure_rate == 0 for r in rows)


async def test_triage_update_on_a_running_pipeline(
        temporal_env: WorkflowEnvironment, worker: Worker, settings: Settings, pool: asyncpg.Pool,
        receiver: WebhookReceiver, tmp_path: Path) -> None:
    """The `triage` update (with its validator) marks a finding; a wrong product is rejected unrecorded."""
    from temporalio.client import WorkflowUpdateFailedError

    from aiva.triage import TriageDecision

    product = f"triage-{uuid.uuid4().hex[:6]}"
    receiver.book.delay_s = 0.1  # keep the run in remediation long enough
    try:
        handle = await _start(temporal_env.client, settings, PipelineInput(
            product=product, reports=[ReportInput(path=str(trivy_report(tmp_path / "t.json", 40)))],
            min_ticket_severity="low", report_formats=["json"]))

        async def in_remediation() -> bool:
            return (await handle.query(PipelineWorkflow.progress)).stage == "remediation"
        await _wait_for(in_remediation, timeout=60)
        fp = await pool.fetchval(
            "SELECT f.fingerprint FROM findings f JOIN products p ON p.id=f.product_id WHERE p.name=$1"
            " ORDER BY f.id LIMIT 1", product)
        with pytest.raises(WorkflowUpdateFailedError) as ei:
            await handle.execute_update(PipelineWorkflow.triage, TriageDecision(
                fingerprint=fp, product="someone-else", status="false_positive", reason="wrong run", actor="bob"))
        assert "not 'someone-else'" in str(ei.value.cause)
        res = await handle.execute_update(PipelineWorkflow.triage, TriageDecision(
            fingerprint=fp, product=product, status="false_positive", reason="scanner bug", actor="bob"))
        assert res.triaged == 1
        await handle.result()
    finally:
        receiver.book.delay_s = 0.0
    assert await pool.fetchval(
        "SELECT f.status FROM findings f JOIN products p ON p.id=f.product_id WHERE p.name=$1 AND f.fingerprint=$2",
        product, fp) == "false_positive"
    assert await pool.fetchval("SELECT count(*) FROM triage_rules WHERE reason='wrong run'") == 0


async def test_feedback_and_vex_for_a_run(
        temporal_env: WorkflowEnvironment, worker: Worker, settings: Settings) -> None:
    """`aiva feedback` reads a finished run's history; the VEX export comes out of the same pipeline."""
    import json as _json

    from starter.feedback_cmd import feedback_for_runs, render_feedback

    handle = await _start(temporal_env.client, settings, PipelineInput(
        product=f"fb-{uuid.uuid4().hex[:6]}", reports=_examples(), report_formats=["vex"]))
    result = await handle.result()
    vex = _json.loads(Path(result.reports["vex"]).read_text())
    assert vex["bomFormat"] == "CycloneDX" and vex["specVersion"] == "1.5"
    assert {v["analysis"]["state"] for v in vex["vulnerabilities"]} == {"in_triage"}
    ids = {v["id"] for v in vex["vulnerabilities"]}
    # the six Trivy CVEs (plus a GHSA alias); the SAST results are not VEX material
    assert {i for i in ids if i.startswith("CVE-")} == {
        "CVE-2023-44487", "CVE-2024-2511", "CVE-2023-4911", "CVE-2023-30861", "CVE-2024-34069", "CVE-2023-32681"}
    assert all(i.startswith(("CVE-", "GHSA-")) for i in ids)
    fb = await feedback_for_runs(temporal_env.client, [handle.id])
    text = render_feedback(fb)
    assert "render_reports" in text and "ingest_report" in text

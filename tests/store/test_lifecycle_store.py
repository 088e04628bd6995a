"""Store + activities on a real PostgreSQL: ingest, dedupe, scoped lifecycle, idempotency, compensation."""

from __future__ import annotations

import uuid
from pathlib import Path

import asyncpg
import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.analysis import AnalysisActivities
from activities.scan import ScanActivities
from aiva.contracts import IngestInput, ReportInput, RunRef
from aiva.settings import Settings
from tests.helpers import trivy_report


async def _run(pool: asyncpg.Pool, settings: Settings, product: str, *reports: Path,
               fmt: str | None = None) -> tuple[str, object]:
    run_id = f"run-{uuid.uuid4().hex[:8]}"
    scan = ScanActivities(pool, settings)
    env = ActivityEnvironment()
    for i, r in enumerate(reports):
        await env.run(scan.ingest_report, IngestInput(run_id=run_id, product=product, index=i,
                                                      report=ReportInput(path=str(r), format=fmt)))
    result = await env.run(AnalysisActivities(pool, Settings()).analyze_run, RunRef(run_id=run_id, product=product))
    return run_id, result


async def _statuses(pool: asyncpg.Pool, product: str) -> dict[str, int]:
    rows = await pool.fetch(
        "SELECT f.status, count(*) n FROM findings f JOIN products p ON p.id=f.product_id WHERE p.name=$1"
        " GROUP BY 1", product)
    return {r["status"]: r["n"] for r in rows}


async def test_reimport_changes_nothing_and_rescan_mitigates_only_in_scope(
        pool: asyncpg.Pool, settings: Settings, tmp_path: Path) -> None:
    product = f"p-{uuid.uuid4().hex[:6]}"
    first = trivy_report(tmp_path / "a.json", 50)
    _, r1 = await _run(pool, settings, product, first)
    assert (r1.new, r1.mitigated, r1.reopened) == (50, 0, 0)

    # identical re-import: nothing new, nothing mitigated, nothing reopened
    _, r2 = await _run(pool, settings, product, first)
    assert (r2.new, r2.mitigated, r2.reopened, r2.unchanged) == (0, 0, 0, 50)
    assert await _statuses(pool, product) == {"active": 50}

    # another image's report (other scope) mitigates nothing of the first image
    other = trivy_report(tmp_path / "b.json", 5, artifact="registry.test/other:2")
    _, r3 = await _run(pool, settings, product, other)
    assert (r3.new, r3.mitigated) == (5, 0)

    # re-scan of the first image after fixing 10 and with 3 new: exactly 10 mitigated, 3 new
    fixed = trivy_report(tmp_path / "c.json", 50, drop=set(range(10)), extra=3)
    _, r4 = await _run(pool, settings, product, fixed)
    assert (r4.new, r4.mitigated, r4.reopened, r4.unchanged) == (3, 10, 0, 40)

    # the fixed ones come back: reopened
    _, r5 = await _run(pool, settings, product, first)
    assert (r5.new, r5.reopened, r5.mitigated) == (0, 10, 3)
    events = await pool.fetchval(
        "SELECT count(*) FROM finding_events e JOIN findings f ON f.id=e.finding_id JOIN products p"
        " ON p.id=f.product_id WHERE p.name=$1 AND e.to_status='reopened'", product)
    assert events == 10


async def test_human_decisions_survive_rescans(pool: asyncpg.Pool, settings: Settings, tmp_path: Path) -> None:
    product = f"p-{uuid.uuid4().hex[:6]}"
    report = trivy_report(tmp_path / "a.json", 4)
    await _run(pool, settings, product, report)
    await pool.execute(
        "UPDATE findings SET status='false_positive' WHERE product_id=(SELECT id FROM products WHERE name=$1)"
        " AND rule_id='CVE-2020-10000'", product)
    await _run(pool, settings, product, trivy_report(tmp_path / "b.json", 4, drop={0}))
    await _run(pool, settings, product, report)
    status = await pool.fetchval(
        "SELECT status FROM findings WHERE rule_id='CVE-2020-10000' AND product_id=(SELECT id FROM products"
        " WHERE name=$1)", product)
    assert status == "false_positive"


async def test_analysis_is_idempotent_per_run(pool: asyncpg.Pool, settings: Settings, tmp_path: Path) -> None:
    product = f"p-{uuid.uuid4().hex[:6]}"
    run_id, r1 = await _run(pool, settings, product, trivy_report(tmp_path / "a.json", 20))
    again = await ActivityEnvironment().run(AnalysisActivities(pool, Settings()).analyze_run, RunRef(run_id=run_id,
                                                                                         product=product))
    assert again == r1
    n_events = await pool.fetchval("SELECT count(*) FROM finding_events WHERE run_id=$1", run_id)
    assert n_events == 20


async def test_ingest_retry_writes_nothing_twice(pool: asyncpg.Pool, settings: Settings, tmp_path: Path) -> None:
    report = trivy_report(tmp_path / "a.json", 30)
    inp = IngestInput(run_id=f"run-{uuid.uuid4().hex[:8]}", product="p-retry", index=0,
                      report=ReportInput(path=str(report)))
    scan = ScanActivities(pool, settings)
    a = await ActivityEnvironment().run(scan.ingest_report, inp)
    b = await ActivityEnvironment().run(scan.ingest_report, inp)
    assert a == b
    rows = await pool.fetchval("SELECT count(*) FROM scan_findings WHERE scan_id=$1", a.scan_id)
    assert rows == 30


async def test_revert_restores_previous_state(pool: asyncpg.Pool, settings: Settings, tmp_path: Path) -> None:
    product = f"p-{uuid.uuid4().hex[:6]}"
    await _run(pool, settings, product, trivy_report(tmp_path / "a.json", 10))
    before = await _statuses(pool, product)
    run_id, r = await _run(pool, settings, product, trivy_report(tmp_path / "b.json", 10, drop={1, 2}, extra=4))
    assert (r.new, r.mitigated) == (4, 2)
    undone = await ActivityEnvironment().run(AnalysisActivities(pool, Settings()).undo_analysis,
                                             RunRef(run_id=run_id, product=product))
    assert undone.undone == 4 + 10 - 2 + 2  # 4 deleted, 8 new->active and 2 mitigations restored
    assert await _statuses(pool, product) == before
    # reverting twice is harmless
    again = await ActivityEnvironment().run(AnalysisActivities(pool, Settings()).undo_analysis,
                                            RunRef(run_id=run_id, product=product))
    assert again.undone == 0
    assert await _statuses(pool, product) == before


async def _sightings(pool: asyncpg.Pool, product: str) -> dict[str, tuple[object, ...]]:
    rows = await pool.fetch(
        "SELECT f.fingerprint, f.last_seen_run, f.last_seen_at, f.occurrences, f.title, f.severity, f.data::text AS d"
        " FROM findings f JOIN products p ON p.id = f.product_id WHERE p.name = $1", product)
    return {r["fingerprint"]: tuple(r[k] for k in ("last_seen_run", "last_seen_at", "occurrences", "title",
                                                      "severity", "d")) for r in rows}


async def test_revert_restores_what_the_run_overwrote(pool: asyncpg.Pool, settings: Settings,
                                                      tmp_path: Path) -> None:
    """Compensation puts back the last sighting, occurrences and scanner text of findings the run saw again."""
    product = f"p-{uuid.uuid4().hex[:6]}"
    first, _ = await _run(pool, settings, product, trivy_report(tmp_path / "a.json", 10, seed=1))
    before = await _sightings(pool, product)
    assert {v[0] for v in before.values()} == {first}
    # the same findings (same fingerprints) with other descriptions and severities
    run_id, _ = await _run(pool, settings, product, trivy_report(tmp_path / "b.json", 10, seed=2))
    during = await _sightings(pool, product)
    assert {v[0] for v in during.values()} == {run_id} and during.keys() == before.keys()
    assert any(during[k][5] != before[k][5] for k in before)  # the JSON did change
    await ActivityEnvironment().run(AnalysisActivities(pool, Settings()).undo_analysis,
                                    RunRef(run_id=run_id, product=product))
    assert await _sightings(pool, product) == before
    assert await pool.fetchval("SELECT count(*) FROM seen_undo WHERE run_id = $1", run_id) == 0


async def test_completed_run_keeps_no_undo_rows(pool: asyncpg.Pool, settings: Settings, tmp_path: Path) -> None:
    from aiva.store import queries

    product = f"p-{uuid.uuid4().hex[:6]}"
    await _run(pool, settings, product, trivy_report(tmp_path / "a.json", 5))
    run_id, _ = await _run(pool, settings, product, trivy_report(tmp_path / "a.json", 5))
    assert await pool.fetchval("SELECT count(*) FROM seen_undo WHERE run_id = $1", run_id) == 5
    async with pool.acquire() as conn:
        await queries.finish_run(conn, run_id, {})
    assert await pool.fetchval("SELECT count(*) FROM seen_undo WHERE run_id = $1", run_id) == 0


@pytest.mark.parametrize("content, kind", [
    (b'{"SchemaVersion": 2, "ArtifactName": "x", "Results": [{"Target": "t", "Vulnerabilities": [{"Vuln',
     "ReportParseError"),
    (b'{"version": "2.1.0", "runs": "not-a-list", "$schema": "sarif"}', "ReportParseError"),
    (b"PK\x03\x04 this is a zip, not a report", "UnknownFormatError"),
])
async def test_bad_input_is_non_retryable_and_stores_nothing(
        pool: asyncpg.Pool, settings: Settings, tmp_path: Path, content: bytes, kind: str) -> None:
    bad = tmp_path / "bad.json"
    bad.write_bytes(content)
    run_id = f"run-{uuid.uuid4().hex[:8]}"
    scan = ScanActivities(pool, settings)
    with pytest.raises(ApplicationError) as ei:
        await ActivityEnvironment().run(scan.ingest_report, IngestInput(
            run_id=run_id, product="p-bad", index=0, report=ReportInput(path=str(bad))))
    assert ei.value.non_retryable
    assert ei.value.type == kind
    assert str(bad) in str(ei.value)
    assert await pool.fetchval("SELECT count(*) FROM scans WHERE run_id=$1", run_id) == 0


async def test_failure_mid_file_leaves_no_partial_rows(pool: asyncpg.Pool, tmp_path: Path,
                                                       settings: Settings) -> None:
    """A report that breaks after several batches were COPY'd rolls back entirely."""
    import json

    good = json.loads(trivy_report(tmp_path / "g.json", 3000).read_text())
    good["Results"].append("not an object")  # fails after 3000 findings = 3 batches of 1000
    bad = tmp_path / "late-break.json"
    bad.write_text(json.dumps(good))
    run_id = f"run-{uuid.uuid4().hex[:8]}"
    with pytest.raises(ApplicationError) as ei:
        await ActivityEnvironment().run(ScanActivities(pool, settings).ingest_report, IngestInput(
            run_id=run_id, product="p-bad", index=0, report=ReportInput(path=str(bad))))
    assert "Results[1]" in str(ei.value)
    assert await pool.fetchval("SELECT count(*) FROM scans WHERE run_id=$1", run_id) == 0
    assert await pool.fetchval(
        "SELECT count(*) FROM scan_findings sf LEFT JOIN scans s ON s.id=sf.scan_id WHERE s.id IS NULL") == 0

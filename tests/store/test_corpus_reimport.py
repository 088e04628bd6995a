"""Re-importing any corpus report through ingest + analysis changes nothing (issue: stable fingerprints).

The peer fails this (re-importing an identical Trivy report closed 46 of 78 findings).
"""

from __future__ import annotations

import uuid

import asyncpg
import pytest
from temporalio.testing import ActivityEnvironment

from activities.analysis import AnalysisActivities
from activities.scan import ScanActivities
from aiva.contracts import IngestInput, ReportInput, RunRef
from aiva.settings import Settings
from tests.corpus import expectations, manifest_rows, require_corpus

ROWS = manifest_rows()
EXPECTED = expectations()


@pytest.mark.parametrize("row", ROWS, ids=[r.file for r in ROWS])
async def test_reimport_of_corpus_file_changes_nothing(row, pool: asyncpg.Pool, settings: Settings) -> None:
    corpus = require_corpus()
    exp = EXPECTED.get(row.file)
    if exp is None:
        pytest.fail(f"{row.file}: no expectation recorded")
    path = corpus / row.file
    report = ReportInput(path=str(path), format=exp.format if path.stat().st_size == 0 else None)
    product = f"reimport-{uuid.uuid4().hex[:8]}"
    env = ActivityEnvironment()
    results = []
    for _ in range(2):
        run_id = f"run-{uuid.uuid4().hex[:10]}"
        ingested = await env.run(ScanActivities(pool, settings).ingest_report,
                                 IngestInput(run_id=run_id, product=product, index=0, report=report))
        assert ingested.findings == exp.aiva_count
        analysis = AnalysisActivities(pool, Settings())
        results.append(await env.run(analysis.analyze_run, RunRef(run_id=run_id, product=product)))
    first, second = results
    assert first.new == exp.aiva_count
    assert (second.new, second.mitigated, second.reopened) == (0, 0, 0)
    assert second.unchanged == exp.aiva_count

"""Scan, fix some, re-scan (`../shared/bench/gen_reports.py --drift`): the second run's new, mitigated and
unchanged counts are exactly what the two reports' identities say, computed here from the raw JSON (not
through AIVA's parser), on the real PostgreSQL. A third run of the first report reopens what was fixed."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

import asyncpg
import pytest
from temporalio.testing import ActivityEnvironment

from activities.analysis import AnalysisActivities
from activities.scan import ScanActivities
from aiva.contracts import AnalysisResult, IngestInput, ReportInput, RunRef
from aiva.settings import Settings

GEN = Path(__file__).resolve().parents[3] / "shared" / "bench" / "gen_reports.py"
N = 3000


def _generate(out: Path, fmt: str, drift: float) -> Path:
    if not GEN.exists():
        pytest.skip(f"{GEN} is absent (the shared benchmark generator lives beside the checkout in CI)")
    subprocess.run([sys.executable, str(GEN), fmt, str(N), str(out), "--seed", "5", "--drift", str(drift)],
                   check=True)
    return out


def _identities(path: Path, fmt: str) -> set[tuple[str, ...]]:
    """What identifies a finding in each format, read straight from the report."""
    doc = json.loads(path.read_text())
    if fmt == "trivy":
        return {(r["Target"], v["PkgName"], v["InstalledVersion"], v["VulnerabilityID"])
                for r in doc["Results"] for v in r.get("Vulnerabilities") or []}
    return {(x["ruleId"], x["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
             str(x["locations"][0]["physicalLocation"]["region"]["startLine"]),
             x["partialFingerprints"]["primaryLocationLineHash"])
            for x in doc["runs"][0]["results"]}


async def _scan(pool: asyncpg.Pool, settings: Settings, product: str, report: Path) -> AnalysisResult:
    run_id = f"run-{uuid.uuid4().hex[:10]}"
    env = ActivityEnvironment()
    await env.run(ScanActivities(pool, settings).ingest_report,
                  IngestInput(run_id=run_id, product=product, index=0, report=ReportInput(path=str(report))))
    result: AnalysisResult = await env.run(AnalysisActivities(pool, settings).analyze_run,
                                           RunRef(run_id=run_id, product=product))
    return result


@pytest.mark.parametrize("fmt", ["trivy", "sarif"])
async def test_rescan_after_fixes_counts_exactly(fmt: str, pool: asyncpg.Pool, settings: Settings,
                                                 tmp_path: Path) -> None:
    first = _generate(tmp_path / f"before.{fmt}", fmt, 0.0)
    second = _generate(tmp_path / f"after.{fmt}", fmt, 0.1)
    a, b = _identities(first, fmt), _identities(second, fmt)
    assert a - b and b - a and a & b  # the drift really fixed some and introduced others
    product = f"drift-{fmt}-{uuid.uuid4().hex[:6]}"

    one = await _scan(pool, settings, product, first)
    assert (one.new, one.mitigated, one.reopened) == (len(a), 0, 0)

    two = await _scan(pool, settings, product, second)
    # seen again while new -> active; the rest of the counts are exact set arithmetic
    assert (two.new, two.mitigated, two.active, two.reopened) == (len(b - a), len(a - b), len(a & b), 0)

    three = await _scan(pool, settings, product, first)
    assert (three.new, three.reopened, three.mitigated) == (0, len(a - b), len(b - a))
    assert three.unchanged == len(a & b)

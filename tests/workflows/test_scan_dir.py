"""`aiva start --scan-dir`: the four real scanners as scan-stage activities, through the whole pipeline."""

from __future__ import annotations

import shutil
import sys
import uuid
from pathlib import Path

import asyncpg
import pytest
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from aiva.contracts import DEFAULT_SCANNERS, PipelineInput, ScanDirInput
from aiva.scanners import SCANNERS
from aiva.settings import Settings
from starter.orchestrator import IntegrationOrchestrator

TARGET = Path(__file__).resolve().parents[1] / "fixtures" / "scan_target"


def _missing() -> list[str]:
    bindir = str(Path(sys.executable).parent)
    return [f"{n} (pip install {SCANNERS[n].package})" for n in DEFAULT_SCANNERS
            if not (shutil.which(SCANNERS[n].executable, path=bindir) or shutil.which(SCANNERS[n].executable))]


def test_default_scanners_are_known() -> None:
    assert set(DEFAULT_SCANNERS) <= set(SCANNERS)


async def test_scan_dir_runs_the_four_scanners_through_the_pipeline(
        temporal_env: WorkflowEnvironment, worker: Worker, settings: Settings, pool: asyncpg.Pool) -> None:
    missing = _missing()
    if missing:
        pytest.skip(f"scanners not installed: {', '.join(missing)} (bash scripts/bootstrap.sh dev installs them)")
    product = f"scan-{uuid.uuid4().hex[:6]}"
    handle = await IntegrationOrchestrator(temporal_env.client, settings).start(PipelineInput(
        product=product, scan_dirs=[ScanDirInput(path=str(TARGET), target="shop-repo")], report_formats=["json"]))
    result = await handle.result()
    assert result.counts.reports == 4 and result.counts.new > 0
    tools = {r["tool"]: r["n"] for r in await pool.fetch(
        "SELECT f.tool, count(*) n FROM findings f JOIN products p ON p.id=f.product_id WHERE p.name=$1 GROUP BY 1",
        product)}
    assert {"bandit", "checkov", "detect-secrets"} <= set(tools)
    assert any(t.lower().startswith("semgrep") for t in tools)
    from tests.scanners.test_scanners import FAKE_AWS_KEY, FAKE_PASSWORD

    stored = await pool.fetch(
        "SELECT f.data::text AS d, f.category FROM findings f JOIN products p ON p.id=f.product_id WHERE p.name=$1",
        product)
    assert any(r["category"] == "secret" for r in stored)
    assert not [r for r in stored if FAKE_AWS_KEY in r["d"] or FAKE_PASSWORD in r["d"]]

"""Intelligence in the pipeline: inventory, KEV/EPSS, attack paths, compliance, on real Temporal + PostgreSQL."""

from __future__ import annotations

import uuid
from pathlib import Path

import asyncpg
import orjson
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from aiva.attack_paths import load_inventory
from aiva.contracts import IntelRefreshInput, IntelSource, PipelineInput, ReportInput
from aiva.settings import Settings
from aiva.store.assets import upsert_inventory
from starter.orchestrator import IntegrationOrchestrator
from workflows.intel import IntelRefreshWorkflow

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "intel"


async def test_intel_refresh_workflow_then_pipeline_with_inventory(
        temporal_env: WorkflowEnvironment, worker: Worker, settings: Settings, pool: asyncpg.Pool) -> None:
    # the scheduled refresh's workflow, run once: KEV + EPSS loaded, nothing to re-score yet for a new product
    refresh = await temporal_env.client.execute_workflow(
        IntelRefreshWorkflow.run,
        IntelRefreshInput(sources=[IntelSource(kind="kev", location=str(FIXTURES / "kev_small.json")),
                                   IntelSource(kind="epss", location=str(FIXTURES / "epss_small.csv"))]),
        id=f"intel-{uuid.uuid4().hex[:6]}", task_queue=settings.task_queue)
    assert set(refresh.changed) == {"kev", "epss"}

    product = f"shop-{uuid.uuid4().hex[:6]}"
    async with pool.acquire() as conn:
        await upsert_inventory(conn, product, load_inventory(ROOT / "examples" / "inventory.yaml"))
    handle = await IntegrationOrchestrator(temporal_env.client, settings).start(PipelineInput(
        # the image's findings are filed on the service that runs it, reachable from the internet
        product=product, reports=[ReportInput(path=str(ROOT / "examples" / "shop-api-image.trivy.json"),
                                              target="shop-api"),
                                  ReportInput(path=str(ROOT / "examples" / "shop-api-code.sarif"))],
        report_formats=["json"]))
    result = await handle.result()
    c = result.counts
    assert c.kev == 2  # CVE-2023-44487 and CVE-2023-4911 are in the KEV fixture
    assert c.attack_paths >= 1

    run = await pool.fetchrow("SELECT compliance, threats, vulnerabilities FROM runs WHERE run_id=$1", handle.id)
    threats = orjson.loads(run["threats"])
    paths = threats["attack_paths"]
    # the top path goes through the vulnerable API image into the API and on to a crown jewel
    assert all(p["hops"][0]["from"] is None and p["target"] in ("orders-db", "payments-vault") for p in paths)
    assert [p["probability"] for p in paths] == sorted((p["probability"] for p in paths), reverse=True)
    # the public path through the storefront reaches the API through its KEV findings
    web = next(p for p in paths if [h["to"] for h in p["hops"]][:3] == ["edge-lb", "shop-web", "shop-api"])
    api_hop = web["hops"][2]
    assert api_hop["via"] == "findings" and any(f["in_kev"] for f in api_hop["findings"])
    compliance = orjson.loads(run["compliance"])
    owasp = compliance["frameworks"]["owasp_top10_2021"]
    failed = {c["id"] for c in owasp["controls"] if not c["passed"]}
    assert "A03:2021" in failed  # SQL injection (CWE-89) from the SARIF report
    # KEV findings on the internet-reachable image outrank the rest
    kev_risk = await pool.fetchval(
        "SELECT min(risk_score) FROM findings f JOIN products p ON p.id=f.product_id WHERE p.name=$1 AND in_kev",
        product)
    other = await pool.fetchval(
        "SELECT max(risk_score) FROM findings f JOIN products p ON p.id=f.product_id WHERE p.name=$1"
        " AND NOT COALESCE(in_kev, false) AND tool='trivy'", product)
    assert kev_risk > other

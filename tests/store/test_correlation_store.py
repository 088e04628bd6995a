"""Cross-tool correlation on the real PostgreSQL: Trivy and Grype reporting the same CVE in the same package
of the same image end up in one group (stored on both findings), the group is stable across re-scans, and
when one tool stops reporting it the other finding is alone again."""

from __future__ import annotations

import asyncio
import csv
import json
import uuid
from pathlib import Path
from typing import Any

import asyncpg
from temporalio.testing import ActivityEnvironment
from typer.testing import CliRunner

import starter.cli_intel  # noqa: F401 - registers `aiva correlated`
from activities.analysis import AnalysisActivities
from activities.scan import ScanActivities
from aiva.contracts import IngestInput, ReportInput, RunRef, VulnerabilityView
from aiva.correlation import RULE_SCA
from aiva.reports.model import jsonl_source
from aiva.reports.writer import write_reports
from aiva.settings import Settings
from aiva.store import queries
from starter.cli import app
from tests.reports import factory as fx

IMAGE = "registry.example.com/shop/api:1.4"


def _trivy(path: Path) -> Path:
    vulns = [
        {"VulnerabilityID": "CVE-2023-38545", "PkgName": "curl", "InstalledVersion": "8.1.2-r0",
         "FixedVersion": "8.4.0-r0", "Severity": "CRITICAL", "Title": "SOCKS5 heap buffer overflow"},
        {"VulnerabilityID": "CVE-2023-5678", "PkgName": "openssl", "InstalledVersion": "3.1.3-r0",
         "FixedVersion": "3.1.4-r1", "Severity": "MEDIUM", "Title": "DH key generation is slow"},
    ]
    doc = {"SchemaVersion": 2, "ArtifactName": IMAGE, "ArtifactType": "container_image",
           "Results": [{"Target": f"{IMAGE} (alpine 3.18.4)", "Class": "os-pkgs", "Type": "alpine",
                        "Vulnerabilities": vulns}]}
    path.write_text(json.dumps(doc))
    return path


def _grype(path: Path, with_curl: bool) -> Path:
    matches: list[dict[str, Any]] = []
    if with_curl:
        matches.append({
            "vulnerability": {"id": "CVE-2023-38545", "severity": "Critical", "urls": [], "cvss": [],
                              "fix": {"versions": ["8.4.0-r0"], "state": "fixed"}},
            "relatedVulnerabilities": [], "matchDetails": [{"type": "exact-direct-match"}],
            "artifact": {"name": "curl", "version": "8.1.2-r0", "type": "apk",
                         "locations": [{"path": "/lib/apk/db/installed"}],
                         "purl": "pkg:apk/alpine/curl@8.1.2-r0?arch=x86_64&distro=alpine-3.18.4"}})
    doc = {"matches": matches,
           "source": {"type": "image", "target": {"userInput": IMAGE}},
           "descriptor": {"name": "grype", "version": "0.74.0"}}
    path.write_text(json.dumps(doc))
    return path


async def _run(pool: asyncpg.Pool, settings: Settings, product: str, reports: list[Path]) -> VulnerabilityView:
    run_id = f"run-{uuid.uuid4().hex[:10]}"
    env = ActivityEnvironment()
    scan = ScanActivities(pool, settings)
    for i, report in enumerate(reports):
        await env.run(scan.ingest_report, IngestInput(run_id=run_id, product=product, index=i,
                                                      report=ReportInput(path=str(report))))
    analysis = AnalysisActivities(pool, settings)
    ref = RunRef(run_id=run_id, product=product)
    await env.run(analysis.analyze_run, ref)
    view: VulnerabilityView = await env.run(analysis.analyze_vulnerabilities, ref)
    return view


async def _groups(pool: asyncpg.Pool, product: str) -> dict[tuple[str, str], tuple[str | None, str | None]]:
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            """SELECT f.tool, f.rule_id, f.group_key, f.group_rule FROM findings f
                 JOIN products p ON p.id = f.product_id WHERE p.name = $1""", product)
    return {(r["tool"], r["rule_id"]): (r["group_key"], r["group_rule"]) for r in rows}


async def test_same_cve_from_two_tools_is_one_group_until_a_source_drops(
        pool: asyncpg.Pool, settings: Settings, tmp_path: Path, database_url: str) -> None:
    product = f"corr-{uuid.uuid4().hex[:6]}"
    trivy = _trivy(tmp_path / "trivy.json")
    grype = _grype(tmp_path / "grype.json", with_curl=True)

    first = await _run(pool, settings, product, [trivy, grype])
    assert (first.multi_tool_groups, first.correlated_findings) == (1, 2)
    groups = await _groups(pool, product)
    curl_trivy, curl_grype = groups[("trivy", "CVE-2023-38545")], groups[("grype", "CVE-2023-38545")]
    assert curl_trivy == curl_grype
    assert curl_trivy[0] is not None and curl_trivy[1] == RULE_SCA
    assert groups[("trivy", "CVE-2023-5678")] == (None, None)  # nothing else reports it

    # the reports show the issue: each source names the other tool, in JSON, CSV and HTML
    exported = await _export(pool, product, tmp_path / "one.jsonl")
    assert exported[("trivy", "CVE-2023-38545")]["correlation"] == {
        "group": curl_trivy[0], "rule": RULE_SCA, "also_reported_by": ["grype"]}
    assert exported[("grype", "CVE-2023-38545")]["correlation"]["also_reported_by"] == ["trivy"]
    assert exported[("trivy", "CVE-2023-5678")]["correlation"] is None
    paths = write_reports(fx.summary(multi_tool_groups=first.multi_tool_groups,
                                     correlated_findings=first.correlated_findings),
                          jsonl_source(tmp_path / "one.jsonl"), tmp_path / "reports", ["html", "csv"])
    with open(paths["csv"], newline="") as fh:
        rows = {(r["tool_name"], r["rule_id"]): r for r in csv.DictReader(fh)}
    curl_row = rows[("trivy", "CVE-2023-38545")]
    assert (curl_row["also_reported_by"], curl_row["correlation_rule"]) == ("grype", RULE_SCA)
    assert rows[("trivy", "CVE-2023-5678")]["correlation_group"] == ""
    html = Path(paths["html"]).read_text()
    assert 'id="correlation-card"' in html and "Also reported by</dt><dd>grype" in html

    # and so does `aiva correlated`
    env = {"AIVA_DATABASE_URL": database_url, "AIVA_HOME": str(tmp_path / "home"), "COLUMNS": "200"}
    res = await asyncio.to_thread(CliRunner().invoke, app, ["correlated", "-p", product], env=env)
    assert res.exit_code == 0, res.output
    assert "1 open issue(s)" in res.output and "grype, trivy" in res.output and RULE_SCA in res.output

    again = await _run(pool, settings, product, [trivy, grype])
    assert again == first
    assert await _groups(pool, product) == groups  # same ids: the group key is stable

    # Grype stops reporting curl (its report is empty: the image it covers is in `source`): its finding is
    # mitigated, and Trivy's stands alone again.
    gone = await _run(pool, settings, product, [trivy, _grype(tmp_path / "grype2.json", with_curl=False)])
    assert (gone.multi_tool_groups, gone.correlated_findings) == (0, 0)
    assert (await _groups(pool, product))[("trivy", "CVE-2023-38545")] == (None, None)
    assert (await _export(pool, product, tmp_path / "gone.jsonl"))[("trivy", "CVE-2023-38545")]["correlation"] is None
    assert await _status(pool, product, "grype") == {"mitigated"}
    res = await asyncio.to_thread(CliRunner().invoke, app, ["correlated", "-p", product], env=env)
    assert res.exit_code == 0 and "no open issue" in res.output, res.output


async def _export(pool: asyncpg.Pool, product: str, out: Path) -> dict[tuple[str, str], dict[str, Any]]:
    """The latest run's report findings (export_run_findings), by (tool, rule)."""
    async with pool.acquire() as conn:
        run_id = await conn.fetchval("SELECT r.run_id FROM runs r JOIN products p ON p.id = r.product_id"
                                     " WHERE p.name = $1 ORDER BY r.started_at DESC LIMIT 1", product)
        facts = await queries.run_facts(conn, run_id)
        assert facts is not None
        await queries.export_run_findings(conn, run_id, out, facts)
    docs = [json.loads(line) for line in out.read_text().splitlines()]
    return {(d["finding"]["tool"]["name"], d["finding"]["rule_id"]): d for d in docs}


async def _status(pool: asyncpg.Pool, product: str, tool: str) -> set[str]:
    async with pool.acquire() as conn:
        rows = await conn.fetch("SELECT f.status FROM findings f JOIN products p ON p.id = f.product_id"
                                " WHERE p.name = $1 AND f.tool = $2", product, tool)
    return {r["status"] for r in rows}

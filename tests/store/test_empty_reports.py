"""A complete scan that finds nothing mitigates what its tool found before, in the scope the report names:
Trivy's artifact, Grype's source, a SARIF run's driver (and repository), a fixed-tool format's tool on the
unspecified asset. Nothing else is touched: other targets, other tools, incomplete scans, unreadable scope."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from temporalio.testing import ActivityEnvironment

from activities.analysis import AnalysisActivities
from activities.scan import ScanActivities
from aiva import parsers
from aiva.contracts import AnalysisResult, IngestInput, ReportInput, RunRef
from aiva.settings import Settings
from tests.helpers import trivy_report


async def _run(pool: asyncpg.Pool, settings: Settings, product: str, *reports: ReportInput) -> AnalysisResult:
    run_id = f"run-{uuid.uuid4().hex[:8]}"
    env = ActivityEnvironment()
    scan = ScanActivities(pool, settings)
    for i, r in enumerate(reports):
        await env.run(scan.ingest_report, IngestInput(run_id=run_id, product=product, index=i, report=r))
    result: AnalysisResult = await env.run(AnalysisActivities(pool, settings).analyze_run,
                                           RunRef(run_id=run_id, product=product))
    return result


async def _statuses(pool: asyncpg.Pool, product: str) -> dict[tuple[str, str], str]:
    rows = await pool.fetch(
        "SELECT f.tool, a.name, f.rule_id, f.status FROM findings f JOIN products p ON p.id = f.product_id"
        " JOIN assets a ON a.id = f.asset_id WHERE p.name = $1", product)
    return {(f"{r['tool']}@{r['name']}", r["rule_id"]): r["status"] for r in rows}


def _sarif(path: Path, driver: str, results: list[dict[str, Any]], repo: str | None = None) -> Path:
    run: dict[str, Any] = {"tool": {"driver": {"name": driver, "rules": []}}, "results": results}
    if repo:
        run["versionControlProvenance"] = [{"repositoryUri": repo}]
    path.write_text(json.dumps({"version": "2.1.0", "runs": [run]}))
    return path


def _result(rule: str, uri: str, line: int) -> dict[str, Any]:
    return {"ruleId": rule, "level": "error", "message": {"text": f"{rule} here"},
            "locations": [{"physicalLocation": {"artifactLocation": {"uri": uri}, "region": {"startLine": line}}}]}


async def test_empty_trivy_report_mitigates_its_artifact_only(pool: asyncpg.Pool, settings: Settings,
                                                              tmp_path: Path) -> None:
    product = f"empty-{uuid.uuid4().hex[:6]}"
    app = trivy_report(tmp_path / "app.json", 5, artifact="registry.test/app:1")
    other = trivy_report(tmp_path / "other.json", 3, artifact="registry.test/other:1")
    await _run(pool, settings, product, ReportInput(path=str(app)), ReportInput(path=str(other)))

    fixed = trivy_report(tmp_path / "app-fixed.json", 0, artifact="registry.test/app:1")
    assert json.loads(fixed.read_text())["Results"][0]["Vulnerabilities"] == []
    result = await _run(pool, settings, product, ReportInput(path=str(fixed)))
    assert (result.mitigated, result.new) == (5, 0)
    st = await _statuses(pool, product)
    assert {s for (who, _), s in st.items() if who == "trivy@registry.test/app:1"} == {"mitigated"}
    assert {s for (who, _), s in st.items() if who == "trivy@registry.test/other:1"} == {"new"}


async def test_incomplete_empty_scan_mitigates_nothing(pool: asyncpg.Pool, settings: Settings,
                                                       tmp_path: Path) -> None:
    product = f"empty-{uuid.uuid4().hex[:6]}"
    await _run(pool, settings, product, ReportInput(path=str(trivy_report(tmp_path / "a.json", 4))))
    empty = trivy_report(tmp_path / "b.json", 0)
    result = await _run(pool, settings, product, ReportInput(path=str(empty), complete=False))
    assert result.mitigated == 0
    assert set((await _statuses(pool, product)).values()) == {"new"}


async def test_empty_sarif_mitigates_its_driver_on_the_unspecified_asset(
        pool: asyncpg.Pool, settings: Settings, tmp_path: Path) -> None:
    product = f"empty-{uuid.uuid4().hex[:6]}"
    semgrep = _sarif(tmp_path / "semgrep.sarif", "Semgrep", [_result("py.sqli", "app/db.py", 10),
                                                             _result("py.xss", "app/views.py", 3)])
    codeql = _sarif(tmp_path / "codeql.sarif", "CodeQL", [_result("js/xss", "web/app.js", 7)])
    await _run(pool, settings, product, ReportInput(path=str(semgrep)), ReportInput(path=str(codeql)))

    result = await _run(pool, settings, product, ReportInput(path=str(_sarif(tmp_path / "s2.sarif", "Semgrep", []))))
    assert result.mitigated == 2
    st = await _statuses(pool, product)
    assert st[("CodeQL@(unspecified)", "js/xss")] == "new"
    assert {s for (who, _), s in st.items() if who.startswith("Semgrep@")} == {"mitigated"}


async def test_empty_sarif_names_its_repository(pool: asyncpg.Pool, settings: Settings, tmp_path: Path) -> None:
    product = f"empty-{uuid.uuid4().hex[:6]}"
    a, b = "https://git.test/a.git", "https://git.test/b.git"
    await _run(pool, settings, product,
               ReportInput(path=str(_sarif(tmp_path / "a.sarif", "Semgrep", [_result("r1", "x.py", 1)], repo=a))),
               ReportInput(path=str(_sarif(tmp_path / "b.sarif", "Semgrep", [_result("r1", "y.py", 1)], repo=b))))
    result = await _run(pool, settings, product, ReportInput(path=str(_sarif(tmp_path / "a2.sarif", "Semgrep", [],
                                                                              repo=a))))
    assert result.mitigated == 1
    st = await _statuses(pool, product)
    assert (st[(f"Semgrep@{a}", "r1")], st[(f"Semgrep@{b}", "r1")]) == ("mitigated", "new")


async def test_empty_fixed_tool_report_mitigates_that_tool_only(pool: asyncpg.Pool, settings: Settings,
                                                                tmp_path: Path) -> None:
    product = f"empty-{uuid.uuid4().hex[:6]}"
    leaks = tmp_path / "gitleaks.json"
    leaks.write_text(json.dumps([{"RuleID": "aws-access-token", "Description": "AWS key", "File": "cfg.py",
                                  "StartLine": 3, "EndLine": 3, "Secret": "AKIAABCDEFGHIJKLMNOP",
                                  "Match": "key = AKIAABCDEFGHIJKLMNOP", "Commit": "abc", "Fingerprint": "f1"}]))
    sarif = _sarif(tmp_path / "semgrep.sarif", "Semgrep", [_result("py.sqli", "app/db.py", 10)])
    await _run(pool, settings, product, ReportInput(path=str(leaks)), ReportInput(path=str(sarif)))

    empty = tmp_path / "gitleaks-empty.json"
    empty.write_text("[]")
    result = await _run(pool, settings, product, ReportInput(path=str(empty), format="gitleaks"))
    assert result.mitigated == 1
    st = await _statuses(pool, product)
    assert st[("Semgrep@(unspecified)", "py.sqli")] == "new"
    assert [s for (who, _), s in st.items() if who.startswith("gitleaks@")] == ["mitigated"]


async def test_multi_driver_empty_sarif_claims_no_scope(pool: asyncpg.Pool, settings: Settings,
                                                        tmp_path: Path) -> None:
    product = f"empty-{uuid.uuid4().hex[:6]}"
    await _run(pool, settings, product,
               ReportInput(path=str(_sarif(tmp_path / "s.sarif", "Semgrep", [_result("r", "a.py", 1)]))))
    two = tmp_path / "two.sarif"
    two.write_text(json.dumps({"version": "2.1.0", "runs": [
        {"tool": {"driver": {"name": "Semgrep"}}, "results": []},
        {"tool": {"driver": {"name": "CodeQL"}}, "results": []}]}))
    assert parsers.report_coverage(parsers.get("sarif"), str(two)) == (None, None)
    result = await _run(pool, settings, product, ReportInput(path=str(two)))
    assert result.mitigated == 0


@pytest.mark.parametrize("artifact_first", [True, False])
def test_large_trivy_report_without_findings_names_its_artifact(tmp_path: Path, artifact_first: bool) -> None:
    """`--list-all-pkgs` makes a report with no vulnerability large: above the streaming size it is walked."""
    packages = [{"Name": f"pkg-{i}", "Version": f"1.{i % 50}.0", "Layer": {"DiffID": "sha256:" + "ab" * 32}}
                for i in range(120_000)]
    head = {"SchemaVersion": 2, "ArtifactName": "registry.test/big:2", "ArtifactType": "container_image"}
    results = {"Results": [{"Target": "registry.test/big:2 (debian 12)", "Class": "os-pkgs", "Type": "debian",
                            "Packages": packages}]}
    doc = {**head, **results} if artifact_first else {**results, **head}
    path = tmp_path / "big.json"
    path.write_text(json.dumps(doc))
    parser = parsers.get("trivy")
    assert path.stat().st_size > 16 * 1024 * 1024
    assert list(parser.parse(parsers.ReportSource(str(path)), parsers.ParseContext())) == []
    assert parsers.report_coverage(parser, str(path)) == ("registry.test/big:2", "trivy")

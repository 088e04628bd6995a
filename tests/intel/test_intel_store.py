"""Threat intel on the real PostgreSQL: loads count real changes, re-scoring touches only what changed,
and intel moves a KEV finding on an exposed critical asset above a higher-CVSS internal one."""

from __future__ import annotations

import datetime as dt
import json
import random
import uuid
from pathlib import Path

import asyncpg
from temporalio.testing import ActivityEnvironment

from activities.analysis import AnalysisActivities
from activities.scan import ScanActivities
from aiva.contracts import IngestInput, ReportInput, RunRef
from aiva.intel import EpssScore, KevEntry, parse_epss, parse_kev
from aiva.settings import Settings
from aiva.store import intel_store, scoring

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "intel"
V53 = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:L/I:N/A:N"  # 5.3
V98 = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"  # 9.8
_rng = random.Random()


def _cve() -> str:
    return f"CVE-2099-{_rng.randrange(10_000, 10_000_000)}"


def _kev(cve: str, ransomware: bool = False) -> KevEntry:
    return KevEntry(cve, "Vendor", "Product", "Test vulnerability", dt.date(2024, 1, 2), dt.date(2024, 1, 23),
                    ransomware)


def _trivy(path: Path, artifact: str, vulns: list[tuple[str, str, str]]) -> Path:
    """A Trivy report with (cve, severity, cvss vector) per vulnerability, one package each."""
    doc = {"SchemaVersion": 2, "ArtifactName": artifact, "ArtifactType": "container_image",
           "Results": [{"Target": f"{artifact} (debian 12)", "Class": "os-pkgs", "Type": "debian",
                        "Vulnerabilities": [
                            {"VulnerabilityID": cve, "PkgName": f"pkg{i}", "InstalledVersion": "1.0",
                             "FixedVersion": "1.1", "Severity": sev, "Title": f"{cve} in pkg{i}",
                             "CVSS": {"nvd": {"V3Vector": vec}}}
                            for i, (cve, sev, vec) in enumerate(vulns)]}]}
    path.write_text(json.dumps(doc))
    return path


async def _ingest(pool: asyncpg.Pool, settings: Settings, product: str, *reports: Path) -> str:
    run_id = f"run-{uuid.uuid4().hex[:8]}"
    scan = ScanActivities(pool, settings)
    for i, r in enumerate(reports):
        await ActivityEnvironment().run(scan.ingest_report, IngestInput(
            run_id=run_id, product=product, index=i, report=ReportInput(path=str(r))))
    analysis = AnalysisActivities(pool, Settings())
    await ActivityEnvironment().run(analysis.analyze_run, RunRef(run_id=run_id, product=product))
    return run_id


async def _findings(conn: asyncpg.Connection, product: str) -> dict[str, asyncpg.Record]:
    rows = await conn.fetch(
        "SELECT f.rule_id, f.risk_score, f.in_kev, f.epss, f.intel_scored_at, f.vuln_ids FROM findings f"
        " JOIN products p ON p.id = f.product_id WHERE p.name = $1", product)
    return {r["rule_id"]: r for r in rows}


async def test_kev_on_exposed_critical_asset_outranks_higher_cvss_internal(
        pool: asyncpg.Pool, settings: Settings, tmp_path: Path) -> None:
    product = f"p-intel-{uuid.uuid4().hex[:6]}"
    kev_cve, internal_cve = _cve(), _cve()
    run_id = await _ingest(
        pool, settings, product,
        _trivy(tmp_path / "web.json", "shop/web:1", [(kev_cve, "MEDIUM", V53)]),
        _trivy(tmp_path / "tool.json", "internal/tool:1", [(internal_cve, "CRITICAL", V98)]),
    )
    async with pool.acquire() as conn:
        pid = await conn.fetchval("SELECT id FROM products WHERE name = $1", product)
        await conn.execute("UPDATE assets SET criticality = 'critical', internet_facing = true"
                           " WHERE product_id = $1 AND name = 'shop/web:1'", pid)
        await conn.execute("UPDATE assets SET criticality = 'low', internet_facing = false"
                           " WHERE product_id = $1 AND name = 'internal/tool:1'", pid)

        # without intel on these CVEs, the higher CVSS wins: 9.8 * 0.8 = 7.84 > 5.3 * 1.2 * 1.2 = 7.63
        await scoring.score_run(conn, run_id)
        before = await _findings(conn, product)
        assert before[internal_cve]["risk_score"] > before[kev_cve]["risk_score"]

        assert await intel_store.load_kev(conn, [_kev(kev_cve)], replace=False) == 1
        assert await intel_store.load_epss(conn, [EpssScore(internal_cve, 0.01, 0.2)]) == 1
        assert await intel_store.rescore_changed(conn, pid) == 2
        after = await _findings(conn, product)
        assert after[kev_cve]["risk_score"] == 10.0  # 5.3 * 1.5 (KEV) * 1.44, capped
        assert after[internal_cve]["risk_score"] < 8.0
        assert after[kev_cve]["risk_score"] > after[internal_cve]["risk_score"]
        assert (after[kev_cve]["in_kev"], after[internal_cve]["in_kev"]) == (True, False)
        assert abs(after[internal_cve]["epss"] - 0.01) < 1e-6

        # the ranking the risk stage reports is the same
        result = await scoring.score_run(conn, run_id)
        assert result.by_level["critical"] == 1
        ranked = await conn.fetch("SELECT rule_id FROM findings WHERE product_id = $1"
                                  " ORDER BY risk_score DESC", pid)
        assert [r["rule_id"] for r in ranked] == [kev_cve, internal_cve]


async def test_rescore_touches_only_findings_whose_intel_changed(
        pool: asyncpg.Pool, settings: Settings, tmp_path: Path) -> None:
    product = f"p-intel-{uuid.uuid4().hex[:6]}"
    a, b, c = _cve(), _cve(), _cve()
    run_id = await _ingest(pool, settings, product, _trivy(
        tmp_path / "r.json", "app:1", [(a, "HIGH", V98), (b, "HIGH", V98), (c, "LOW", V53)]))
    async with pool.acquire() as conn:
        pid = await conn.fetchval("SELECT id FROM products WHERE name = $1", product)
        await intel_store.load_epss(conn, [EpssScore(a, 0.1, 0.5), EpssScore(b, 0.2, 0.6)])
        await scoring.score_run(conn, run_id)
        assert await intel_store.rescore_changed(conn, pid) == 0  # scored with the current intel already
        stamps = {k: r["intel_scored_at"] for k, r in (await _findings(conn, product)).items()}

        # same scores again: nothing changed; a percentile-only move is not a change either
        assert await intel_store.load_epss(conn, [EpssScore(a, 0.1, 0.5), EpssScore(b, 0.2, 0.7)]) == 0
        assert await intel_store.rescore_changed(conn, pid) == 0
        # b's probability moves: exactly b is re-scored
        assert await intel_store.load_epss(conn, [EpssScore(a, 0.1, 0.5), EpssScore(b, 0.9, 0.99)]) == 1
        assert await intel_store.rescore_changed(conn, pid) == 1
        now = await _findings(conn, product)
        assert now[a]["intel_scored_at"] == stamps[a] and now[c]["intel_scored_at"] == stamps[c]
        assert now[b]["intel_scored_at"] > stamps[b]
        assert abs(now[b]["epss"] - 0.9) < 1e-6
        # c never had intel: it gets some, it is re-scored once
        assert await intel_store.load_kev(conn, [_kev(c)], replace=False) == 1
        assert await intel_store.rescore_changed(conn, pid) == 1
        assert (await _findings(conn, product))[c]["in_kev"] is True
        assert await intel_store.rescore_changed(conn, pid) == 0


async def test_never_enriched_is_not_the_same_as_not_exploited(
        pool: asyncpg.Pool, settings: Settings, tmp_path: Path) -> None:
    product = f"p-intel-{uuid.uuid4().hex[:6]}"
    cve = _cve()
    sarif = Path(__file__).resolve().parents[2] / "examples" / "shop-api-code.sarif"
    run_id = await _ingest(pool, settings, product, _trivy(tmp_path / "r.json", "app:2", [(cve, "HIGH", V98)]),
                           sarif)
    async with pool.acquire() as conn:
        await intel_store.load_epss(conn, [EpssScore(_cve(), 0.3, 0.3)])  # some intel is loaded
        await scoring.score_run(conn, run_id)
        rows = await conn.fetch(
            "SELECT f.rule_id, f.in_kev, f.epss, f.intel_scored_at, f.vuln_ids FROM findings f"
            " JOIN products p ON p.id = f.product_id WHERE p.name = $1", product)
    by_ids = {bool(r["vuln_ids"]): r for r in rows}
    checked = by_ids[True]  # has a CVE, intel loaded, CVE unknown to KEV and EPSS: checked, not exploited
    assert checked["vuln_ids"] == [cve]
    assert checked["intel_scored_at"] is not None and checked["in_kev"] is False and checked["epss"] is None
    code = [r for r in rows if not r["vuln_ids"]]  # SAST: nothing to look up, never enriched
    assert code and all(r["intel_scored_at"] is None and r["in_kev"] is None for r in code)


async def test_kev_load_counts_changes_and_replace_drops_delisted(pool: asyncpg.Pool) -> None:
    a, b = _cve(), _cve()
    async with pool.acquire() as conn:
        assert await intel_store.load_kev(conn, [_kev(a), _kev(b)], replace=False) == 2
        assert await intel_store.load_kev(conn, [_kev(a), _kev(b)], replace=False) == 0
        assert await intel_store.load_kev(conn, [_kev(a, ransomware=True), _kev(b)], replace=False) == 1
        n_kev = await conn.fetchval("SELECT count(*) FROM vuln_intel WHERE in_kev")
        # as the whole catalog: b and every other listed CVE are delisted
        assert await intel_store.load_kev(conn, [_kev(a, ransomware=True)], version="t", sha256="x" * 64) == (
            n_kev - 1)
        rows = {r["vuln_id"]: r for r in await conn.fetch(
            "SELECT vuln_id, in_kev, kev_ransomware, kev_date_added FROM vuln_intel WHERE vuln_id = ANY($1)",
            [a, b])}
        assert (rows[a]["in_kev"], rows[a]["kev_ransomware"]) == (True, True)
        assert (rows[b]["in_kev"], rows[b]["kev_ransomware"], rows[b]["kev_date_added"]) == (False, None, None)
        load = await conn.fetchrow("SELECT * FROM intel_loads ORDER BY id DESC LIMIT 1")
        assert (load["source"], load["version"], load["rows"], load["sha256"]) == ("kev", "t", 1, "x" * 64)


async def test_fixture_feeds_load_end_to_end(pool: asyncpg.Pool) -> None:
    kev = parse_kev(FIXTURES / "kev_small.json")
    epss = parse_epss(FIXTURES / "epss_small.csv")
    async with pool.acquire() as conn:
        await intel_store.load_kev(conn, kev.entries, sha256=kev.sha256, version=kev.version, replace=False)
        await intel_store.load_epss(conn, epss.scores, sha256=epss.sha256, version=epss.model_version)
        row = await conn.fetchrow("SELECT * FROM vuln_intel WHERE vuln_id = 'CVE-2021-44228'")
        assert row["in_kev"] and row["kev_ransomware"] and row["epss_date"] == dt.date(2099, 1, 1)
        assert abs(row["epss"] - 0.94358) < 1e-6
        assert await intel_store.load_epss(conn, epss.scores) == 0


async def test_rescoring_an_unchanged_run_writes_no_row(pool: asyncpg.Pool, settings: Settings,
                                                        tmp_path: Path) -> None:
    """A re-scan's risk stage rewrites only the findings whose score or intel moved (PostgreSQL's xmin)."""
    product = f"p-intel-{uuid.uuid4().hex[:6]}"
    a, b, c = _cve(), _cve(), _cve()
    run_id = await _ingest(pool, settings, product, _trivy(
        tmp_path / "r.json", "app:1", [(a, "HIGH", V98), (b, "HIGH", V98), (c, "LOW", V53)]))
    xmin = ("SELECT f.rule_id, f.xmin::text AS x FROM findings f JOIN products p ON p.id = f.product_id"
            " WHERE p.name = $1")
    async with pool.acquire() as conn:
        await intel_store.load_epss(conn, [EpssScore(a, 0.1, 0.5)])
        first = await scoring.score_run(conn, run_id)
        before = {r["rule_id"]: r["x"] for r in await conn.fetch(xmin, product)}
        again = await scoring.score_run(conn, run_id)
        assert again.by_level == first.by_level
        assert {r["rule_id"]: r["x"] for r in await conn.fetch(xmin, product)} == before
        stamps = {k: r["intel_scored_at"] for k, r in (await _findings(conn, product)).items()}

        # b gets intel: b alone is rewritten, with a new stamp; a keeps the stamp of the intel it saw
        await intel_store.load_epss(conn, [EpssScore(a, 0.1, 0.5), EpssScore(b, 0.7, 0.9)])
        await scoring.score_run(conn, run_id)
        after = {r["rule_id"]: r["x"] for r in await conn.fetch(xmin, product)}
        assert [k for k in before if after[k] != before[k]] == [b]
        now = await _findings(conn, product)
        assert now[a]["intel_scored_at"] == stamps[a] and now[b]["intel_scored_at"] is not None
        assert abs(now[b]["epss"] - 0.7) < 1e-6
        assert await intel_store.rescore_changed(conn, await conn.fetchval(
            "SELECT id FROM products WHERE name = $1", product)) == 0

"""Builders of report inputs for the report tests: findings, summaries, and hostile payloads."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from aiva.enums import FindingCategory, RiskLevel, Severity, VulnerabilityStatus
from aiva.reports.model import FindingsSource, ReportFinding, RunSummary, StageTiming, TrendPoint
from aiva.schemas import (
    Component,
    CVEReference,
    CvssScore,
    CWEReference,
    Endpoint,
    Finding,
    Location,
    ToolInfo,
)

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)

# Each payload, if it ever ran, would leave "PWNED_<name>" in the page (title or body);
# the literal never appears in the payload text itself (it is built by concatenation).
PAYLOADS: dict[str, str] = {
    "SCRIPT": "<script>document.title='PWNED'+'_'+'SCRIPT';document.body.append('PWNED'+'_'+'SCRIPT')</script>",
    "IMG": "\"><img src=x onerror=\"document.title='PWNED'+'_'+'IMG';document.body.append('PWNED'+'_'+'IMG')\">",
    "SQIMG": "'><img src=x onerror='document.body.append(\"PWNED\"+\"_\"+\"SQIMG\")'>",
    "STYLE": "</style><style>body{display:none;background:url(javascript:alert(1))}</style>",
    "SVG": "<svg onload=\"document.body.append('PWNED'+'_'+'SVG')\"></svg>",
    "CLOSE": "</code></pre></title></textarea><script>document.body.append('PWNED'+'_'+'CLOSE')</script>",
}
JS_URL = "javascript:document.body.append('PWNED'+'_'+'JSURL')"
DATA_URL = "data:text/html,<script>document.body.append('PWNED'+'_'+'DATA')</script>"
ALL_PAYLOAD = "".join(PAYLOADS.values())


def finding(
    i: int = 1,
    *,
    title: str | None = None,
    severity: Severity = Severity.HIGH,
    category: FindingCategory = FindingCategory.SAST,
    status: VulnerabilityStatus = VulnerabilityStatus.NEW,
    change: str = "new",
    risk_score: float = 7.5,
    first_seen: datetime | None = None,
    **fields: Any,
) -> ReportFinding:
    """A ReportFinding with sensible defaults; `fields` override the Finding's fields."""
    base: dict[str, Any] = {
        "fingerprint": f"fp-{i:06d}",
        "fingerprint_version": "1",
        "format": "semgrep",
        "tool": ToolInfo(name="semgrep", version="1.80.0"),
        "category": category,
        "rule_id": f"rule-{i % 7}",
        "title": title or f"Finding number {i}",
        "description": f"Description of finding {i}.",
        "severity": severity,
        "cwes": (CWEReference(id=79),),
        "location": Location(file_path=f"src/app_{i}.py", start_line=10, end_line=12, snippet="x = 1"),
    }
    base.update(fields)
    return ReportFinding(
        id=i,
        finding=Finding(**base),
        status=status,
        risk_score=risk_score,
        risk_level=RiskLevel.from_score(risk_score),
        first_seen=first_seen or NOW - timedelta(days=i % 120),
        last_seen=NOW,
        occurrences=1,
        change=change,
    )


def sca_finding(i: int, **fields: Any) -> ReportFinding:
    """An SCA finding on an npm component, with a CVE and CVSS, and no file location."""
    defaults: dict[str, Any] = {
        "format": "trivy",
        "tool": ToolInfo(name="trivy", version="0.55.0"),
        "category": FindingCategory.SCA,
        "rule_id": f"CVE-2024-{1000 + i}",
        "vulnerability_ids": (CVEReference.of(f"CVE-2024-{1000 + i}"),),
        "cvss_v3": CvssScore(version="3.1", vector="CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", base_score=9.8),
        "component": Component(purl=f"pkg:npm/lodash@4.17.{i}", name="lodash", version=f"4.17.{i}",
                               ecosystem="npm", fixed_version="4.17.21"),
        "location": None,
        "cwes": (CWEReference(id=1321),),
    }
    defaults.update(fields)
    return finding(i, severity=Severity.CRITICAL, risk_score=9.1, **defaults)


def dast_finding(i: int, **fields: Any) -> ReportFinding:
    """A DAST finding on a URL endpoint."""
    defaults: dict[str, Any] = {
        "format": "zap",
        "tool": ToolInfo(name="ZAP", version="2.15"),
        "category": FindingCategory.DAST,
        "rule_id": "40012",
        "endpoint": Endpoint(url=f"https://app.example.com:8443/search/{i}?q=x", host="app.example.com",
                             port=8443, protocol="https", parameter="q"),
        "location": None,
    }
    defaults.update(fields)
    return finding(i, severity=Severity.MEDIUM, risk_score=5.0, **defaults)


def summary(**fields: Any) -> RunSummary:
    """A RunSummary with stages and counts; `fields` override."""
    base: dict[str, Any] = {
        "run_id": "run-0001",
        "product": "shop",
        "started_at": NOW - timedelta(minutes=5),
        "finished_at": NOW,
        "total_findings": 0,
        "new": 2,
        "reopened": 1,
        "mitigated": 1,
        "unchanged": 3,
        "tickets_opened": 2,
        "stages": [
            StageTiming(name="scan", attempts=1, duration_ms=1500.0, outcome="completed"),
            StageTiming(name="risk", attempts=2, duration_ms=300.0, outcome="completed", failure="timeout once"),
        ],
    }
    base.update(fields)
    return RunSummary(**base)


def trend(n: int = 5) -> list[TrendPoint]:
    """n trend points, a week apart, oldest first."""
    return [
        TrendPoint(run_id=f"r{k}", started_at=NOW - timedelta(days=7 * (n - k)), open=100 - 5 * k, new=10 + k,
                   mitigated=5 + k)
        for k in range(n)
    ]


def source(items: Iterable[ReportFinding]) -> FindingsSource:
    """A re-iterable in-memory findings source."""
    frozen = list(items)

    def _iter() -> Iterator[ReportFinding]:
        return iter(frozen)

    return _iter


def write_jsonl(path: Path, items: Iterable[ReportFinding]) -> Path:
    """Write findings as JSON Lines (the report activity's hand-over format)."""
    with open(path, "wb") as fh:
        for item in items:
            fh.write(orjson.dumps(item.model_dump(mode="json")) + b"\n")
    return path

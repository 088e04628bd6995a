"""SARIF export: valid against the official 2.1.0 schema, and shaped for GitHub code scanning."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from aiva.enums import FindingCategory, Severity, VulnerabilityStatus
from aiva.reports.model import Correlation, ReportFinding
from aiva.reports.sarif_export import FINGERPRINT_KEY, SarifSink
from aiva.reports.writer import write_reports
from aiva.schemas import Component, CWEReference, Endpoint, Location, ToolInfo
from tests.reports import factory as fx

CORRELATION = Correlation(group="0123456789abcdef", rule="vuln+component+target", also_reported_by=("grype", "snyk"))
SCHEMA = Path(__file__).resolve().parents[3] / "shared" / "schemas" / "sarif-schema-2.1.0.json"


def findings() -> list[ReportFinding]:
    return [
        fx.finding(1, cwes=(CWEReference(id=79), CWEReference(id=89))),
        fx.finding(2, location=Location(file_path="./dir with space/ünï.py", start_line=0)),
        fx.finding(3, location=Location(file_path="/abs/path/x.py", start_line=5, end_line=7, snippet="s")),
        fx.finding(4, location=Location(file_path="C:\\src\\win.cs", start_line=2)),
        fx.sca_finding(5),
        fx.sca_finding(6, component=Component(name="openssl", version="3.0.1", path="usr/lib/libssl.so.3")),
        fx.sca_finding(7, component=Component(name="zlib", version="1.2"), target="alpine:3.18"),
        fx.dast_finding(8),
        fx.dast_finding(9, endpoint=Endpoint(host="10.0.0.5", port=22, protocol="tcp"), rule_id=None,
                        vulnerability_ids=(), cwes=()),
        fx.finding(10, location=None, target=None, category=FindingCategory.IAC, rule_id=None, cwes=()),
        fx.finding(11, rule_id="rule-1", severity=Severity.CRITICAL),  # same rule as 1, worse severity
        fx.finding(12, rule_id="rule-1", tool=ToolInfo(name="bandit")),  # same rule id, other tool
        fx.finding(13, status=VulnerabilityStatus.MITIGATED, change="mitigated"),
        fx.finding(14, status=VulnerabilityStatus.FALSE_POSITIVE, change="unchanged"),
        fx.finding(15, severity=Severity.INFO, status=VulnerabilityStatus.REOPENED, change="reopened"),
        fx.sca_finding(16).model_copy(update={"correlation": CORRELATION}),
    ]


def _write(tmp_path: Path, items: list[ReportFinding]) -> dict[str, Any]:
    paths = write_reports(fx.summary(), fx.source(items), tmp_path, ["sarif"])
    doc: dict[str, Any] = json.loads(Path(paths["sarif"]).read_text(encoding="utf-8"))
    return doc


def test_sarif_validates_against_schema(tmp_path: Path) -> None:
    if not SCHEMA.exists():
        pytest.skip(f"SARIF 2.1.0 schema not found at {SCHEMA} (shared/schemas/ is absent)")
    import jsonschema

    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    doc = _write(tmp_path, findings())
    validator = jsonschema.Draft4Validator(schema)
    errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.path))
    assert not errors, [f"{list(e.path)}: {e.message}" for e in errors[:10]]
    # and an empty run is valid too
    empty = _write(tmp_path / "empty", [])
    assert not list(validator.iter_errors(empty))
    assert empty["runs"][0]["results"] == []


def test_sarif_fits_github_code_scanning(tmp_path: Path) -> None:
    items = findings()
    doc = _write(tmp_path, items)
    assert doc["version"] == "2.1.0"
    (run,) = doc["runs"]
    driver = run["tool"]["driver"]
    assert driver["name"] == "AIVA"
    rules = driver["rules"]
    ids = [r["id"] for r in rules]
    assert len(ids) == len(set(ids))
    results = run["results"]
    open_items = [i for i in items if i.status.is_open]
    assert len(results) == len(open_items), "closed findings are not exported by default"
    by_fp = {r["partialFingerprints"][FINGERPRINT_KEY]: r for r in results}
    assert set(by_fp) == {i.finding.fingerprint for i in open_items}

    for rule in rules:
        assert rule["shortDescription"]["text"] and rule["fullDescription"]["text"] and rule["help"]["text"]
        sev = rule["properties"]["security-severity"]
        assert isinstance(sev, str) and 0.0 <= float(sev) <= 10.0
        assert len(rule["properties"]["tags"]) <= 20
    for res in results:
        assert rules[res["ruleIndex"]]["id"] == res["ruleId"]
        assert res["level"] in {"error", "warning", "note"}
        assert res["message"]["text"]
        assert len(res["locations"]) == 1
        uri = res["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
        assert uri and " " not in uri
        scheme = uri.split(":", 1)[0] if ":" in uri.split("/", 1)[0] else None
        assert scheme in (None, "file"), f"GitHub rejects URI scheme in {uri!r}"

    rule_by_id = {r["id"]: r for r in rules}
    r1 = rule_by_id["semgrep/rule-1"]
    assert "external/cwe/cwe-079" in r1["properties"]["tags"] and "CWE-79" in r1["properties"]["tags"]
    assert "security" in r1["properties"]["tags"]
    assert r1["defaultConfiguration"]["level"] == "error"
    assert r1["properties"]["security-severity"] == "9.5"  # merged: finding 11 is critical
    assert "bandit/rule-1" in rule_by_id
    assert rule_by_id["trivy/CVE-2024-1005"]["properties"]["security-severity"] == "9.8"  # from CVSS

    def loc(fp: str) -> dict[str, Any]:
        location: dict[str, Any] = by_fp[fp]["locations"][0]
        return location

    pl = loc("fp-000001")["physicalLocation"]
    assert pl["artifactLocation"] == {"uri": "src/app_1.py", "uriBaseId": "%SRCROOT%"}
    assert pl["region"]["startLine"] == 10 and pl["region"]["endLine"] == 12
    pl2 = loc("fp-000002")["physicalLocation"]
    assert pl2["artifactLocation"]["uri"] == "dir%20with%20space/%C3%BCn%C3%AF.py"
    assert "region" not in pl2  # line 0 is no line
    assert loc("fp-000003")["physicalLocation"]["artifactLocation"] == {"uri": "file:///abs/path/x.py"}
    assert loc("fp-000004")["physicalLocation"]["artifactLocation"]["uri"] == "file:///C:/src/win.cs"
    sca = loc("fp-000005")
    assert sca["logicalLocations"][0]["fullyQualifiedName"] == "pkg:npm/lodash@4.17.5"
    assert sca["logicalLocations"][0]["kind"] == "module"
    assert loc("fp-000006")["physicalLocation"]["artifactLocation"]["uri"] == "usr/lib/libssl.so.3"
    assert loc("fp-000007")["physicalLocation"]["artifactLocation"]["uri"] == "alpine%3A3.18"
    dast = loc("fp-000008")
    assert dast["physicalLocation"]["artifactLocation"]["uri"] == "app.example.com_8443/search/8"
    assert dast["logicalLocations"][0] == {
        "fullyQualifiedName": "https://app.example.com:8443/search/8?q=x",
        "name": "https://app.example.com:8443/search/8?q=x (parameter q)",
        "kind": "resource",
    }
    assert loc("fp-000009")["physicalLocation"]["artifactLocation"]["uri"] == "10.0.0.5_22"
    assert loc("fp-000010")["physicalLocation"]["artifactLocation"]["uri"] == "aiva/iac"
    assert by_fp["fp-000015"]["baselineState"] == "new" and by_fp["fp-000015"]["level"] == "note"
    assert by_fp["fp-000001"]["properties"]["status"] == "new"


def test_sarif_include_closed(tmp_path: Path) -> None:
    items = findings()
    out = tmp_path / "all.sarif"
    with open(out, "wb") as fh:
        sink = SarifSink(fx.summary(), fh, include_closed=True)
        for item in items:
            sink.add(item)
        sink.finish()
    results = json.loads(out.read_text(encoding="utf-8"))["runs"][0]["results"]
    assert len(results) == len(items)
    by_fp = {r["partialFingerprints"][FINGERPRINT_KEY]: r for r in results}
    assert by_fp["fp-000013"]["baselineState"] == "absent"
    assert by_fp["fp-000014"]["suppressions"] == [
        {"kind": "external", "status": "accepted", "justification": "false_positive"}
    ]


def test_sarif_carries_the_cross_tool_issue(tmp_path: Path) -> None:
    results = _write(tmp_path, findings())["runs"][0]["results"]
    by_group = [r for r in results if "correlationGroup" in r["properties"]]
    assert len(by_group) == 1
    props = by_group[0]["properties"]
    assert (props["correlationGroup"], props["correlationRule"], props["alsoReportedBy"]) == (
        CORRELATION.group, CORRELATION.rule, ["grype", "snyk"])

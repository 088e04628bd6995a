"""SCA parsers: anchore_grype, trivy_operator, npm_audit, npm_audit_7_plus, pip_audit,
osv_scanner, github_vulnerability.

Fixture tests (tests/fixtures/<format>/, written for AIVA) always run; golden and
reordering tests on the shared corpus skip when it is absent.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from aiva.enums import Confidence, FindingCategory, Severity
from aiva.errors import ReportParseError
from aiva.parsers import detect, get, open_report
from aiva.parsers._sca import nearest_fix, version_lt
from aiva.parsers.base import ParseContext, ReportSource
from aiva.schemas import Finding
from tests.corpus import require_corpus

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
FORMATS = (
    "anchore_grype",
    "trivy_operator",
    "npm_audit",
    "npm_audit_7_plus",
    "pip_audit",
    "osv_scanner",
    "github_vulnerability",
)
FIXTURE_COUNTS = [
    ("anchore_grype/small.json", "anchore_grype", 4),
    ("trivy_operator/small_list.json", "trivy_operator", 5),
    ("npm_audit/small.json", "npm_audit", 2),
    ("npm_audit_7_plus/small.json", "npm_audit_7_plus", 1),
    ("pip_audit/small.json", "pip_audit", 1),
    ("osv_scanner/small.json", "osv_scanner", 2),
    ("github_vulnerability/small_graphql.json", "github_vulnerability", 2),
    ("github_vulnerability/small_rest.json", "github_vulnerability", 1),
]


def _parse(
    path: Path | str, fmt: str | None = None, ctx: ParseContext | None = None
) -> tuple[str, list[Finding]]:
    parser, findings = open_report(str(path), fmt, ctx)
    return parser.name, list(findings)


def _by_rule(findings: list[Finding], rule: str) -> list[Finding]:
    return [f for f in findings if f.rule_id == rule]


def _write(tmp_path: Path, name: str, doc: Any) -> Path:
    p = tmp_path / name
    p.write_text(json.dumps(doc), encoding="utf-8")
    return p


# --- fixtures: detection, counts, uniqueness -------------------------------------------------


@pytest.mark.parametrize(("rel", "fmt", "count"), FIXTURE_COUNTS, ids=[r for r, _, _ in FIXTURE_COUNTS])
def test_fixture_detected_and_counted(rel: str, fmt: str, count: int) -> None:
    name, findings = _parse(FIXTURES / rel)
    assert name == fmt
    assert len(findings) == count
    assert len({f.fingerprint for f in findings}) == count
    assert all(f.format == fmt and f.fingerprint_version == f"{fmt}/1" for f in findings)
    again = [f.fingerprint for f in get(fmt).parse(ReportSource(str(FIXTURES / rel)), ParseContext())]
    assert again == [f.fingerprint for f in findings]
    overridden = list(get(fmt).parse(ReportSource(str(FIXTURES / rel)), ParseContext(target="asset-x")))
    assert [f.fingerprint for f in overridden] == again, "ctx.target never changes a fingerprint"
    assert {f.target for f in overridden} == {"asset-x"}


def test_grype_fixture_fields() -> None:
    _, findings = _parse(FIXTURES / "anchore_grype/small.json")
    json5 = _by_rule(findings, "GHSA-9c47-m6qq-7p4h")
    assert len(json5) == 1, "the repeated match is kept once"
    f = json5[0]
    assert f.severity is Severity.HIGH
    assert f.category is FindingCategory.SCA
    assert f.component is not None
    assert f.component.purl == "pkg:npm/json5@2.2.1"
    assert f.component.fixed_version == "2.2.2"  # the nearest fix above 2.2.1, not 1.0.2
    assert [v.id for v in f.vulnerability_ids] == ["GHSA-9c47-m6qq-7p4h", "CVE-2022-46175"]
    assert f.cvss_v3 is not None and f.cvss_v3.vector.startswith(
        "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:H/A:L"
    )
    assert f.location is not None and f.location.file_path == "/app/package-lock.json"
    assert f.target == "example/app:1.0"
    assert f.tool.name == "grype" and f.tool.version == "0.74.0"
    apt = _by_rule(findings, "CVE-2011-3374")[0]
    assert apt.severity is Severity.INFO  # Negligible
    assert apt.category is FindingCategory.CONTAINER
    assert apt.component is not None and apt.component.fixed_version is None
    bad = _by_rule(findings, "CVE-2099-0001")[0]
    assert bad.cvss_v3 is None and any("invalid CVSS vector" in w for w in bad.warnings)
    assert bad.confidence is Confidence.TENTATIVE  # cpe-match only
    assert bad.component is not None and bad.component.purl == "pkg:maven/commons-text@1.9"
    ignored = _by_rule(findings, "CVE-2023-0001")[0]
    assert ignored.suppressed and ignored.severity is Severity.LOW


def test_grype_target_override() -> None:
    _, findings = _parse(FIXTURES / "anchore_grype/small.json", ctx=ParseContext(target="prod-image"))
    assert {f.target for f in findings} == {"prod-image"}


def test_trivy_operator_fixture_fields() -> None:
    _, findings = _parse(FIXTURES / "trivy_operator/small_list.json")
    os_pkg = _by_rule(findings, "CVE-2024-0727")[0]
    assert os_pkg.category is FindingCategory.CONTAINER
    assert os_pkg.component is not None
    assert os_pkg.component.purl == "pkg:apk/libcrypto3@3.1.4-r2"
    assert os_pkg.component.fixed_version == "3.1.4-r5"
    assert os_pkg.cvss_v3 is not None and os_pkg.cvss_v3.base_score == 5.5
    assert os_pkg.target == "ghcr.io/shop/web:1.4.2"
    lang = _by_rule(findings, "CVE-2022-25883")[0]
    assert lang.category is FindingCategory.SCA
    assert lang.component is not None and lang.component.purl == "pkg:npm/semver@7.5.0"
    assert "GHSA-c2qf-rxjj-qqgw" in [v.id for v in lang.vulnerability_ids]
    assert lang.location is not None and lang.location.file_path == "app/node_modules/semver/package.json"
    checks = _by_rule(findings, "KSV001")
    assert len(checks) == 2, "one per container scope; the passed KSV003 is not a finding"
    assert {c.target for c in checks} == {"shop/ReplicaSet/web-5d9c7"}
    assert all(c.category is FindingCategory.IAC and c.severity is Severity.MEDIUM for c in checks)


def test_trivy_operator_secret_is_redacted() -> None:
    _, findings = _parse(FIXTURES / "trivy_operator/small_list.json")
    secret = _by_rule(findings, "aws-access-key-id")[0]
    assert secret.category is FindingCategory.SECRET
    assert secret.severity is Severity.CRITICAL
    assert secret.secret_hash is not None
    assert "AKIAIOSFODNN7EXAMPLE" not in secret.model_dump_json()
    assert secret.location is not None and secret.location.file_path == "app/.env"


def test_npm_audit_fixture_fields() -> None:
    _, findings = _parse(FIXTURES / "npm_audit/small.json")
    by_version = {f.component.version: f for f in findings if f.component}
    assert set(by_version) == {"1.2.5", "0.0.8"}
    f = by_version["1.2.5"]
    assert f.severity is Severity.CRITICAL
    assert [c.id for c in f.cwes] == [1321]  # from the JSON-encoded list '["CWE-1321"]'
    assert [v.id for v in f.vulnerability_ids] == ["CVE-2021-44906", "GHSA-xvch-5gv4-984h"]
    assert f.component is not None and f.component.purl == "pkg:npm/minimist@1.2.5"
    assert f.component.fixed_version == "1.2.6"
    assert f.component.path == "mkdirp>minimist"
    assert "rc>minimist" in f.description  # both paths of 1.2.5 merged into one finding
    assert f.cvss_v3 is not None and f.cvss_v3.base_score == 9.8


def test_npm_audit_7_plus_fixture_fields() -> None:
    _, findings = _parse(FIXTURES / "npm_audit_7_plus/small.json")
    (f,) = findings  # app-shell is affected only via minimatch: not a finding of its own
    assert f.component is not None and f.component.name == "minimatch"
    assert f.component.purl == "pkg:npm/minimatch"
    assert f.component.fixed_version == "3.1.2"
    assert f.rule_id == "GHSA-f8q6-p94x-37v3"
    assert [c.id for c in f.cwes] == [400, 1333]
    assert f.severity is Severity.HIGH
    assert f.location is not None and f.location.file_path == "node_modules/minimatch"


def test_npm_versions_are_told_apart() -> None:
    assert detect(ReportSource(str(FIXTURES / "npm_audit/small.json"))).name == "npm_audit"
    assert detect(ReportSource(str(FIXTURES / "npm_audit_7_plus/small.json"))).name == "npm_audit_7_plus"
    with pytest.raises(ReportParseError) as e:
        list(
            get("npm_audit").parse(
                ReportSource(str(FIXTURES / "npm_audit_7_plus/small.json")), ParseContext()
            )
        )
    assert e.value.format == "npm_audit"


def test_pip_audit_fixture_fields() -> None:
    _, findings = _parse(FIXTURES / "pip_audit/small.json")
    (f,) = findings
    assert f.component is not None
    assert f.component.purl == "pkg:pypi/django@3.2.9"
    assert f.component.fixed_version == "3.2.10"
    assert [v.id for v in f.vulnerability_ids] == ["PYSEC-2021-439", "CVE-2021-44420", "GHSA-v6rh-hp5x-86rv"]
    assert f.severity is Severity.MEDIUM and "severity:unrated" in f.tags


def test_pip_audit_empty_array(tmp_path: Path) -> None:
    p = tmp_path / "empty.json"
    p.write_text("[\n]\n", encoding="utf-8")
    name, findings = _parse(p)
    assert (name, findings) == ("pip_audit", [])


def test_osv_fixture_groups_and_fix() -> None:
    _, findings = _parse(FIXTURES / "osv_scanner/small.json")
    urllib3 = [f for f in findings if f.component and f.component.name == "urllib3"]
    assert len(urllib3) == 1, "GHSA and PYSEC records of one group are one finding"
    f = urllib3[0]
    assert f.rule_id == "GHSA-g4mx-q9vg-27p4"
    assert {v.id for v in f.vulnerability_ids} == {"GHSA-g4mx-q9vg-27p4", "PYSEC-2023-212", "CVE-2023-45803"}
    assert f.severity is Severity.MEDIUM  # GitHub's MODERATE
    assert f.component is not None and f.component.fixed_version == "1.26.18"
    assert f.component.purl == "pkg:pypi/urllib3@1.26.17"
    assert [c.id for c in f.cwes] == [200]
    assert f.location is not None and f.location.file_path == "/src/app/requirements.txt"
    unrated = next(f for f in findings if f.rule_id == "PYSEC-2099-1")
    assert unrated.severity is Severity.MEDIUM and "severity:unrated" in unrated.tags


def test_osv_empty_file_has_no_findings(tmp_path: Path) -> None:
    p = tmp_path / "empty.json"
    p.write_bytes(b"")
    assert list(get("osv_scanner").parse(ReportSource(str(p)), ParseContext())) == []


def test_github_graphql_fixture_fields() -> None:
    _, findings = _parse(FIXTURES / "github_vulnerability/small_graphql.json")
    log4j = _by_rule(findings, "GHSA-jfh8-c2jp-5v3q")[0]
    assert log4j.severity is Severity.CRITICAL
    assert log4j.component is not None
    assert log4j.component.purl == "pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1"
    assert log4j.component.fixed_version == "2.15.0"
    assert [c.id for c in log4j.cwes] == [502, 917]
    assert log4j.cvss_v3 is not None and log4j.cvss_v3.base_score == 10.0
    assert log4j.target == "acme/shop"
    assert log4j.location is not None and log4j.location.file_path == "backend/pom.xml"
    semver = _by_rule(findings, "GHSA-c2qf-rxjj-qqgw")[0]
    assert semver.suppressed  # dismissed
    assert (
        semver.component is not None and semver.component.purl == "pkg:npm/semver"
    )  # ecosystem from manifest
    assert not _by_rule(findings, "GHSA-gxpj-cx7g-858c"), "FIXED alerts are not findings"


def test_github_rest_fixture_fields() -> None:
    _, findings = _parse(FIXTURES / "github_vulnerability/small_rest.json")
    (f,) = findings
    assert f.target == "acme/shop"
    assert f.severity is Severity.HIGH
    assert [c.id for c in f.cwes] == [290]
    assert f.component is not None and f.component.fixed_version == "3.2.10"
    assert f.component.purl == "pkg:pypi/django"
    assert f.raw_id == "3"


def test_version_helpers() -> None:
    assert version_lt("1.0.0rc1", "1.0.0")
    assert version_lt("1.9", "1.10")
    assert version_lt("7.87.0-r1", "7.87.0-r2")
    assert version_lt("0:0.7-20.el8", "0:0.7-21.el8_9.1")
    assert nearest_fix("3.2.9", ["2.2.25", "3.1.14", "3.2.10"]) == "3.2.10"
    assert nearest_fix(None, ["1", "2"]) == "1, 2"
    assert nearest_fix("1.0", []) is None


# --- bad input --------------------------------------------------------------------------------


@pytest.mark.parametrize(("rel", "fmt", "_count"), FIXTURE_COUNTS, ids=[r for r, _, _ in FIXTURE_COUNTS])
def test_truncated_file_is_a_parse_error(tmp_path: Path, rel: str, fmt: str, _count: int) -> None:
    data = (FIXTURES / rel).read_bytes()
    p = tmp_path / "truncated.json"
    p.write_bytes(data[: len(data) * 4 // 5])
    assert detect(ReportSource(str(p))).name == fmt, "the head still sniffs as the format"
    with pytest.raises(ReportParseError) as e:
        list(get(fmt).parse(ReportSource(str(p)), ParseContext()))
    assert e.value.path == str(p)
    assert e.value.format == fmt
    assert e.value.position and "line" in e.value.position


WRONG_SHAPES: list[tuple[str, Any]] = [
    ("anchore_grype", {"matches": [1]}),
    ("anchore_grype", {"matches": {"a": 1}}),
    (
        "trivy_operator",
        {
            "apiVersion": "aquasecurity.github.io/v1alpha1",
            "kind": "VulnerabilityReport",
            "report": {"vulnerabilities": ["x"]},
        },
    ),
    (
        "trivy_operator",
        {"apiVersion": "aquasecurity.github.io/v1alpha1", "kind": "ConfigAuditReport", "report": []},
    ),
    ("trivy_operator", "just a string"),
    ("npm_audit", {"actions": [], "advisories": {"1": "x"}}),
    ("npm_audit", {"actions": [], "advisories": []}),
    ("npm_audit_7_plus", {"auditReportVersion": 2, "vulnerabilities": {"a": 1}}),
    ("npm_audit_7_plus", {"auditReportVersion": 2, "vulnerabilities": []}),
    ("pip_audit", [1]),
    ("pip_audit", {"dependencies": {"a": 1}}),
    ("pip_audit", [{"name": "x", "version": "1", "vulns": "none"}]),
    ("osv_scanner", {"results": [1]}),
    ("osv_scanner", {"results": [{"source": {}, "packages": ["x"]}]}),
    ("github_vulnerability", {"data": {"repository": {"vulnerabilityAlerts": {"nodes": [1]}}}}),
    ("github_vulnerability", {"data": {"viewer": {}}}),
    ("github_vulnerability", 42),
]


@pytest.mark.parametrize(
    ("fmt", "doc"), WRONG_SHAPES, ids=[f"{f}-{i}" for i, (f, _) in enumerate(WRONG_SHAPES)]
)
def test_wrong_shapes_are_parse_errors(tmp_path: Path, fmt: str, doc: Any) -> None:
    p = _write(tmp_path, "wrong.json", doc)
    with pytest.raises(ReportParseError) as e:
        list(get(fmt).parse(ReportSource(str(p)), ParseContext()))
    assert e.value.format == fmt and e.value.path == str(p)


ODD_FIELDS: list[tuple[str, Any, int]] = [
    (
        "anchore_grype",
        {
            "matches": [
                {
                    "vulnerability": {"id": 5, "cvss": {"x": 1}, "fix": "yes", "severity": 3},
                    "artifact": {"name": ["x"], "locations": "here"},
                    "relatedVulnerabilities": 7,
                }
            ]
        },
        1,
    ),
    (
        "trivy_operator",
        {
            "apiVersion": "aquasecurity.github.io/v1alpha1",
            "kind": "VulnerabilityReport",
            "metadata": [],
            "report": {
                "artifact": "x",
                "vulnerabilities": [{"vulnerabilityID": None, "links": "x", "cvss": [], "score": "high"}],
            },
        },
        1,
    ),
    (
        "npm_audit",
        {
            "actions": [],
            "advisories": {"1": {"findings": "x", "cwe": 79, "cves": "CVE-2020-1234", "cvss": "9"}},
        },
        1,
    ),
    (
        "npm_audit_7_plus",
        {
            "auditReportVersion": 2,
            "vulnerabilities": {"a": {"via": [{"cwe": "CWE-79"}], "nodes": "x", "fixAvailable": 3}},
        },
        1,
    ),
    ("pip_audit", {"dependencies": [{"name": 3, "vulns": [{"id": ["x"], "fix_versions": "1.0"}]}]}, 1),
    (
        "osv_scanner",
        {
            "results": [
                {
                    "source": "x",
                    "packages": [
                        {
                            "package": "p",
                            "groups": "g",
                            "vulnerabilities": [{"id": "X-1", "affected": "a", "severity": "high"}],
                        }
                    ],
                }
            ]
        },
        1,
    ),
    ("github_vulnerability", [{"security_advisory": "x", "security_vulnerability": [], "dependency": 1}], 1),
]


@pytest.mark.parametrize(("fmt", "doc", "count"), ODD_FIELDS, ids=[f for f, _, _ in ODD_FIELDS])
def test_odd_field_types_never_crash(tmp_path: Path, fmt: str, doc: Any, count: int) -> None:
    p = _write(tmp_path, "odd.json", doc)
    findings = list(get(fmt).parse(ReportSource(str(p)), ParseContext()))
    assert len(findings) == count


# --- corpus: golden values --------------------------------------------------------------------


def test_grype_golden() -> None:
    corpus = require_corpus()
    _, findings = _parse(corpus / "anchore_grype/check_all_fields.json")
    (django,) = _by_rule(findings, "GHSA-v6rh-hp5x-86rv")
    assert django.severity is Severity.HIGH
    assert django.component is not None
    assert django.component.purl == "pkg:pypi/Django@3.2.9"
    assert django.component.fixed_version == "3.2.10"
    assert [v.id for v in django.vulnerability_ids] == ["GHSA-v6rh-hp5x-86rv", "CVE-2021-44420"]
    assert django.cvss_v3 is not None
    assert django.cvss_v3.vector == "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:L/I:L/A:L"
    assert django.cvss_v3.base_score == 7.3
    assert django.target == "vulnerable-image:latest"
    assert django.tool.version == "0.28.0"
    _, paths = _parse(corpus / "anchore_grype/same_cve_different_paths.json")
    assert sorted(f.location.file_path or "" for f in paths if f.location) == [
        "/lib/x86_64-linux-gnu/libc.so.6",
        "/usr/lib/x86_64-linux-gnu/libc.so.6",
    ]


def test_trivy_operator_golden() -> None:
    corpus = require_corpus()
    name, (f,) = _parse(corpus / "trivy_operator/vulnerabilityreport_single_vuln.json")
    assert name == "trivy_operator"
    assert f.rule_id == "CVE-2023-23914" and f.severity is Severity.CRITICAL
    assert f.component is not None
    assert (f.component.name, f.component.version, f.component.fixed_version) == (
        "curl",
        "7.87.0-r1",
        "7.87.0-r2",
    )
    assert f.target == "index.docker.io/library/nginx:alpine"
    assert f.tool.version == "0.38.2"
    _, summary = _parse(corpus / "trivy_operator/clustercompliancereport.json")
    assert sorted(x.rule_id or "" for x in summary) == ["4.2.10", "4.2.11"]
    assert {x.severity for x in summary} == {Severity.CRITICAL}
    _, secrets = _parse(corpus / "trivy_operator/exposedsecretreport_many.json")
    assert {s.location.file_path for s in secrets if s.location} == {
        "root/aws_secret.txt",
        "root/github_secret.txt",
    }
    _, cis = _parse(corpus / "trivy_operator/cis_benchmark.json")
    manage = [x for x in cis if x.rule_id == "AVD-KSV-0041"]
    assert manage and manage[0].severity is Severity.CRITICAL and "control:5.1.2" in manage[0].tags


def test_npm_audit_golden() -> None:
    corpus = require_corpus()
    _, (f,) = _parse(corpus / "npm_audit/one_vuln.json")
    assert f.severity is Severity.CRITICAL
    assert [v.id for v in f.vulnerability_ids] == ["CVE-2017-16042"]
    assert [c.id for c in f.cwes] == [94]
    assert f.component is not None and f.component.purl == "pkg:npm/growl@1.9.2"
    assert f.component.fixed_version == "1.10.2"
    _, (null_cwe,) = _parse(corpus / "npm_audit/cwe_null.json")
    assert null_cwe.cwes == () and not null_cwe.warnings
    _, many = _parse(corpus / "npm_audit/multiple_cwes.json")
    ansi = [x for x in many if x.rule_id == "GHSA-93q8-gq69-wqmw"]
    assert sorted(x.component.version or "" for x in ansi if x.component) == ["3.0.0", "4.1.0"]
    assert [c.id for c in ansi[0].cwes] == [918, 1333]


def test_npm_audit_7_plus_golden() -> None:
    corpus = require_corpus()
    _, findings = _parse(corpus / "npm_audit_7_plus/one_vuln.json")
    (f,) = _by_rule(findings, "GHSA-9vvw-cc9w-f27h")
    assert f.severity is Severity.HIGH
    assert [c.id for c in f.cwes] == [1333]
    assert f.cvss_v3 is not None and f.cvss_v3.base_score == 7.5
    assert f.remediation == "Upgrade express to 4.18.3; it brings a fixed debug"


def test_pip_audit_golden() -> None:
    corpus = require_corpus()
    _, findings = _parse(corpus / "pip_audit/many_vulns.json")
    (django,) = _by_rule(findings, "PYSEC-2021-439")
    assert django.component is not None and django.component.fixed_version == "3.2.10"
    (lxml,) = _by_rule(findings, "PYSEC-2021-852")
    assert lxml.component is not None and lxml.component.fixed_version is None


def test_osv_golden() -> None:
    corpus = require_corpus()
    _, findings = _parse(corpus / "osv_scanner/many_findings.json")
    (f,) = _by_rule(findings, "GHSA-v6rh-hp5x-86rv")
    assert {"PYSEC-2021-439", "CVE-2021-44420"} <= {v.id for v in f.vulnerability_ids}
    assert f.component is not None and f.component.purl == "pkg:pypi/django@3.2.4"
    assert f.component.fixed_version == "3.2.10"
    assert f.location is not None and f.location.file_path == "/tmprengine/web/requirements.txt"
    assert f.severity is Severity.HIGH
    assert [c.id for c in f.cwes] == [287]


def test_github_golden() -> None:
    corpus = require_corpus()
    _, (f,) = _parse(corpus / "github_vulnerability/github_h2.json")
    assert f.severity is Severity.CRITICAL
    assert [c.id for c in f.cwes] == [502]
    assert [v.id for v in f.vulnerability_ids] == ["GHSA-h376-j262-vhq6", "CVE-2021-42392"]
    assert f.cvss_v3 is not None and f.cvss_v3.base_score == 9.8
    assert f.location is not None and f.location.file_path == "apache/cxf/syncope/cxf-syncope/pom.xml"
    assert f.component is not None and f.component.purl == "pkg:maven/com.h2database/h2"
    _, dismissed = _parse(corpus / "github_vulnerability/github_issue2984.json")
    assert all(x.suppressed for x in dismissed)
    _, (pinned,) = _parse(corpus / "github_vulnerability/github-vuln-version.json")
    assert pinned.component is not None and pinned.component.version == "5.3.29"
    assert pinned.component.fixed_version == "6.0.0"


# --- corpus: order independence ---------------------------------------------------------------


def _rev(value: Any) -> Any:
    if isinstance(value, list):
        return list(reversed(value))
    if isinstance(value, dict):
        return dict(reversed(list(value.items())))
    return value


def _reorder_grype(d: dict[str, Any]) -> dict[str, Any]:
    return {**d, "matches": _rev(d["matches"])}


def _reorder_trivy_operator(d: dict[str, Any]) -> dict[str, Any]:
    if "report" in d:
        rep = {k: _rev(v) for k, v in d["report"].items()}
        return {**d, "report": rep}
    results = [{**r, "checks": _rev(r.get("checks") or [])} for r in d["status"]["detailReport"]["results"]]
    detail = {**d["status"]["detailReport"], "results": _rev(results)}
    return {**d, "status": {**d["status"], "detailReport": detail}}


def _reorder_npm(d: dict[str, Any]) -> dict[str, Any]:
    advs = {k: {**a, "findings": _rev(a["findings"])} for k, a in d["advisories"].items()}
    return {**d, "advisories": _rev(advs)}


def _reorder_npm7(d: dict[str, Any]) -> dict[str, Any]:
    vulns = {k: {**v, "via": _rev(v["via"])} for k, v in d["vulnerabilities"].items()}
    return {**d, "vulnerabilities": _rev(vulns)}


def _reorder_pip(d: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return _rev([{**x, "vulns": _rev(x["vulns"])} if "vulns" in x else x for x in d])  # type: ignore[no-any-return]


def _reorder_osv(d: dict[str, Any]) -> dict[str, Any]:
    results = []
    for r in d["results"]:
        pkgs = [
            {**p, "vulnerabilities": _rev(p["vulnerabilities"]), "groups": _rev(p.get("groups") or [])}
            for p in r["packages"]
        ]
        results.append({**r, "packages": _rev(pkgs)})
    return {**d, "results": _rev(results)}


def _reorder_github(d: dict[str, Any]) -> dict[str, Any]:
    node = d["data"]["search"]["nodes"][0]
    alerts = {**node["vulnerabilityAlerts"], "nodes": _rev(node["vulnerabilityAlerts"]["nodes"])}
    return {"data": {"search": {"nodes": [{**node, "vulnerabilityAlerts": alerts}]}}}


REORDER = [
    ("anchore_grype/many_vulns4.json", "anchore_grype", _reorder_grype),
    ("anchore_grype/check_all_fields.json", "anchore_grype", _reorder_grype),
    ("trivy_operator/vulnerabilityreport_many.json", "trivy_operator", _reorder_trivy_operator),
    ("trivy_operator/cis_benchmark.json", "trivy_operator", _reorder_trivy_operator),
    ("npm_audit/multiple_cwes.json", "npm_audit", _reorder_npm),
    ("npm_audit_7_plus/many_vulns.json", "npm_audit_7_plus", _reorder_npm7),
    ("pip_audit/many_vulns.json", "pip_audit", _reorder_pip),
    ("osv_scanner/many_findings.json", "osv_scanner", _reorder_osv),
    ("github_vulnerability/github-5-vuln.json", "github_vulnerability", _reorder_github),
]


@pytest.mark.parametrize(("rel", "fmt", "reorder"), REORDER, ids=[r for r, _, _ in REORDER])
def test_reordered_report_has_the_same_fingerprints(tmp_path: Path, rel: str, fmt: str, reorder: Any) -> None:
    corpus = require_corpus()
    original = corpus / rel
    doc = json.loads(original.read_text(encoding="utf-8"))
    copy = _write(tmp_path, "reordered.json", reorder(doc))
    name, a = _parse(original)
    name_b, b = _parse(copy)
    assert name == name_b == fmt
    assert {f.fingerprint for f in a} == {f.fingerprint for f in b}
    assert len(a) == len(b)

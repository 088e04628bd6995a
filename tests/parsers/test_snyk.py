"""Snyk CLI JSON: golden values, one finding per project x issue x package version (paths merged),
ignored issues, order independence, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aiva.enums import FindingCategory, Severity
from aiva.errors import ReportParseError, UnknownFormatError
from aiva.parsers import detect
from aiva.parsers.base import ReportSource
from tests.corpus import require_corpus
from tests.parsers._xmlgroup_util import FIXTURES, parse, reversed_copy, truncated_copy


def _one(findings: list, **want: object) -> object:
    hits = [f for f in findings if all(getattr(f, k) == v for k, v in want.items())]
    assert len(hits) == 1, f"expected one finding with {want}, got {len(hits)}"
    return hits[0]


def test_snyk_fixture() -> None:
    path = FIXTURES / "snyk/small.json"
    assert detect(ReportSource(str(path))).name == "snyk"
    fs = parse("snyk", path)
    assert len(fs) == 3  # two paths of one advisory are one finding; a license issue; an ignored issue
    v = _one(fs, rule_id="SNYK-JS-FIXTURE-1001")
    assert v.severity is Severity.CRITICAL  # severityWithCritical wins over severity
    assert v.cvss_v3.base_score == 9.8
    assert [c.id for c in v.cwes] == [1321]
    ids = {r.id for r in v.vulnerability_ids}
    assert ids == {"SNYK-JS-FIXTURE-1001", "CVE-2099-7001", "GHSA-jf85-cpcp-j695"}
    assert v.component.purl == "pkg:npm/mini-merge@1.0.0" and v.component.fixed_version == "1.0.5"
    assert v.location.file_path == "package-lock.json"
    assert v.target == "fixture-app"
    assert "fixture-app@1.0.0 > alpha@2.0.0 > mini-merge@1.0.0" in v.description
    assert "fixture-app@1.0.0 > beta@3.0.0 > mini-merge@1.0.0" in v.description
    assert v.remediation == "Upgrade to alpha@2.1.0, beta@3.4.0 (fixed in mini-merge 1.0.5)"
    assert {"exploit:proof-of-concept", "upgradable"} <= set(v.tags)
    assert v.category is FindingCategory.SCA
    lic = _one(fs, rule_id="snyk:lic:npm:gpl-thing:GPL-3.0")
    assert lic.category is FindingCategory.LICENSE and lic.severity is Severity.MEDIUM
    assert lic.vulnerability_ids == ()
    ign = _one(fs, rule_id="SNYK-JS-FIXTURE-2002")
    assert ign.suppressed and "snyk:ignored" in ign.tags and ign.severity is Severity.LOW


def test_snyk_path_order_does_not_change_the_fingerprint(tmp_path: Path) -> None:
    doc = json.loads((FIXTURES / "snyk/small.json").read_text())
    first = parse("snyk", FIXTURES / "snyk/small.json")
    doc["vulnerabilities"] = doc["vulnerabilities"][1:2]  # only the second path remains
    p = tmp_path / "one_path.json"
    p.write_text(json.dumps(doc))
    only = _one(parse("snyk", p), rule_id="SNYK-JS-FIXTURE-1001")
    assert "alpha@2.0.0" not in only.description
    assert only.fingerprint == _one(first, rule_id="SNYK-JS-FIXTURE-1001").fingerprint


def test_snyk_error_document() -> None:
    path = FIXTURES / "snyk/error.json"
    with pytest.raises(UnknownFormatError):
        detect(ReportSource(str(path)))
    with pytest.raises(ReportParseError) as e:
        parse("snyk", path)
    assert "Could not detect supported target files" in e.value.reason and e.value.format == "snyk"


def test_snyk_wrong_types(tmp_path: Path) -> None:
    p = tmp_path / "odd.json"
    odd = {"id": 5, "from": "x", "identifiers": [], "upgradePath": None, "references": ["x"],
           "fixedIn": "1.0"}
    p.write_text(json.dumps({"vulnerabilities": [odd], "filtered": []}))
    (f,) = parse("snyk", p)
    assert f.rule_id == "5" and f.component.name == "unknown"
    p.write_text(json.dumps({"vulnerabilities": [3]}))
    with pytest.raises(ReportParseError) as e:
        parse("snyk", p)
    assert e.value.position == "$.vulnerabilities[0]"
    p.write_text(json.dumps([{"vulnerabilities": {}}]))
    with pytest.raises(ReportParseError) as e:
        parse("snyk", p)
    assert e.value.position == "[0]"


def test_snyk_truncated(tmp_path: Path) -> None:
    bad = truncated_copy(FIXTURES / "snyk/small.json", tmp_path / "cut.json")
    with pytest.raises(ReportParseError) as e:
        parse("snyk", bad)
    assert e.value.path == str(bad) and e.value.format == "snyk"
    assert e.value.position and e.value.position.startswith("line ")


@pytest.mark.parametrize("rel", ["small.json"])
def test_snyk_reordered_fixture(rel: str, tmp_path: Path) -> None:
    a = parse("snyk", FIXTURES / "snyk" / rel)
    b = parse("snyk", reversed_copy(FIXTURES / "snyk" / rel, tmp_path / rel))
    assert {f.fingerprint for f in a} == {f.fingerprint for f in b}


@pytest.mark.parametrize(
    "rel",
    [
        "snyk/all_projects_issue4277.json",
        "snyk/single_project_upgrade_libs.json",
        "snyk/snykcontainer_issue_9270.json",
    ],
)
def test_snyk_reordered_corpus(rel: str, tmp_path: Path) -> None:
    src = require_corpus() / rel
    a = parse("snyk", src)
    b = parse("snyk", reversed_copy(src, tmp_path / Path(rel).name))
    assert len(a) == len(b) and {f.fingerprint for f in a} == {f.fingerprint for f in b}


def test_snyk_corpus_golden() -> None:
    corpus = require_corpus()
    (one,) = parse("snyk", corpus / "snyk/single_project_one_vuln.json")
    assert one.rule_id == "SNYK-JAVA-ORGAPACHESANTUARIO-460281"
    assert one.severity is Severity.MEDIUM and [c.id for c in one.cwes] == [611]
    assert "CVE-2019-12400" in {v.id for v in one.vulnerability_ids}
    assert one.component.purl == "pkg:maven/org.apache.santuario/xmlsec@2.1.1"
    assert one.cvss_v3.base_score == 6.5 and one.location.file_path == "pom.xml"
    container = parse("snyk", corpus / "snyk/snykcontainer_issue_9270.json")
    gcc = _one(container, rule_id="SNYK-DEBIAN11-GCC10-5901313")
    assert gcc.category is FindingCategory.CONTAINER
    assert gcc.component.purl == "pkg:deb/debian/gcc-10@10.2.1-6?distro=debian-11"
    assert "gcc-10/libgcc-s1" in gcc.description  # binary packages are listed
    assert {f.target for f in container} == {"sarim04/juiceshop"}
    apps = [f for f in container if f.location and f.location.file_path == "/juice-shop/package.json"]
    assert len(apps) == 12 and all(f.category is FindingCategory.SCA for f in apps)
    both = parse("snyk", corpus / "snyk/all_projects_issue4277.json")
    assert {f.location.file_path for f in both} == {
        "company.Api.project\\src\\obj\\project.assets.json", "company.Ux.project\\package-lock.json"}
    assert sum(f.category is FindingCategory.LICENSE for f in both) == 1
    path = corpus / "snyk/single_project_upgrade_libs.json"
    assert [f.fingerprint for f in parse("snyk", path)] == [f.fingerprint for f in parse("snyk", path)]


def test_snyk_all_projects_with_a_failed_project(tmp_path: Path) -> None:
    good = json.loads((FIXTURES / "snyk/small.json").read_text())
    failed = json.loads((FIXTURES / "snyk/error.json").read_text())
    p = tmp_path / "all.json"
    p.write_text(json.dumps([good, failed]))
    assert len(parse("snyk", p)) == 3  # the untested project is skipped, the tested one is kept
    p.write_text(json.dumps([failed]))
    with pytest.raises(ReportParseError) as e:
        parse("snyk", p)
    assert e.value.position == "[0]"


def test_snyk_clean_project_is_detected(tmp_path: Path) -> None:
    p = tmp_path / "clean.json"
    clean = {"ok": True, "vulnerabilities": [], "dependencyCount": 3, "packageManager": "pip",
             "uniqueCount": 0, "projectName": "clean", "displayTargetFile": "requirements.txt"}
    p.write_text(json.dumps(clean))
    assert detect(ReportSource(str(p))).name == "snyk"
    assert parse("snyk", p) == []

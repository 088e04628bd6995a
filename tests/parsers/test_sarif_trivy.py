"""The two reference parsers, SARIF and Trivy: the counting rules decided for the corpus
(repeated results, multi-location results, secrets per commit, misconfiguration statuses),
secret redaction, robustness, reordering and truncation.

Fixture tests (tests/fixtures/sarif, tests/fixtures/trivy, written for AIVA) always run;
corpus tests skip when the corpus is absent.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from aiva.enums import FindingCategory, Severity
from aiva.errors import ReportParseError
from aiva.parsers import detect, get, open_report
from aiva.parsers.base import ParseContext, ReportSource
from aiva.schemas import Finding
from tests.corpus import require_corpus

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
FIXTURE_SECRET = "fixture-secret-Zq8v2LmN4pR7tK1w"
TRIVY_SECRET = "fixture-token-9HxJ3bQe7Wm2Ys5u"


def _parse(path: Path | str, fmt: str | None = None) -> list[Finding]:
    _parser, findings = open_report(str(path), fmt)
    out = list(findings)
    assert len({f.fingerprint for f in out}) == len(out)
    return out


# -- SARIF fixture -------------------------------------------------------------------------------


def test_sarif_fixture_counting_rules() -> None:
    findings = _parse(FIXTURES / "sarif/small.sarif")
    assert detect(ReportSource(str(FIXTURES / "sarif/small.sarif"))).name == "sarif"
    evals = [f for f in findings if f.rule_id == "EX001"]
    assert len(evals) == 2  # columns 5 and 20 of one line; the exact repeat of column 5 is dropped
    assert {f.severity for f in evals} == {Severity.HIGH} and [c.id for c in evals[0].cwes] == [95]
    multi = [f for f in findings if f.rule_id == "EX002"]
    assert len(multi) == 1  # one result with two locations is one finding, at the first
    assert multi[0].location is not None and multi[0].location.start_line == 10
    assert "Also at: src/form.js:14" in multi[0].description
    assert len(findings) == 4


def test_sarif_fixture_secret_run() -> None:
    findings = _parse(FIXTURES / "sarif/small.sarif")
    secret = [f for f in findings if f.category is FindingCategory.SECRET]
    assert len(secret) == 1  # the same secret at the same place in two commits
    s = secret[0]
    assert s.rule_id == "Generic API Key"  # no ruleId in the result: taken from the message
    assert s.secret_hash is not None and [c.id for c in s.cwes] == [798]
    assert s.location is not None and s.location.snippet is not None
    assert s.location.snippet.startswith('api_key = "fixt')  # context kept, secret redacted
    for f in findings:
        assert FIXTURE_SECRET not in f.model_dump_json()


def test_sarif_wrong_types_raise_parse_error(tmp_path: Path) -> None:
    doc = json.loads((FIXTURES / "sarif/small.sarif").read_text(encoding="utf-8"))
    doc["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["region"] = 7
    p = tmp_path / "bad.sarif"
    p.write_text(json.dumps(doc), encoding="utf-8")
    with pytest.raises(ReportParseError) as e:
        list(get("sarif").parse(ReportSource(str(p)), ParseContext()))
    assert e.value.format == "sarif" and e.value.position == "runs[0].results[0]"


# -- SARIF corpus --------------------------------------------------------------------------------


def test_sarif_bash_report_exact_repeats_dropped() -> None:
    corpus = require_corpus()
    doc = json.loads((corpus / "sarif/bash-report.sarif").read_text(encoding="utf-8"))
    distinct = {json.dumps(r, sort_keys=True) for r in doc["runs"][0]["results"]}
    assert len(doc["runs"][0]["results"]) == 27 and len(distinct) == 12  # the repeats are byte-identical
    findings = _parse(corpus / "sarif/bash-report.sarif")
    assert len(findings) == 12


def test_sarif_njsscan_multi_location() -> None:
    findings = _parse(require_corpus() / "sarif/njsscan.sarif")
    pw = [f for f in findings if f.rule_id == "node_password"]
    assert len(pw) == 1 and pw[0].location is not None and pw[0].location.start_line == 235
    assert "/src/index.js:239" in pw[0].description
    assert [c.id for c in pw[0].cwes] == [798] and pw[0].severity is Severity.HIGH


def test_sarif_gitleaks_one_per_place_and_redacted() -> None:
    corpus = require_corpus()
    findings = _parse(corpus / "sarif/gitleaks_7.5.0.sarif")
    assert len(findings) == 4
    assert {f.rule_id for f in findings} == {"AWS Access Key", "Asymmetric Private Key"}
    assert all(f.category is FindingCategory.SECRET and f.secret_hash for f in findings)
    doc = json.loads((corpus / "sarif/gitleaks_7.5.0.sarif").read_text(encoding="utf-8"))
    offenders = {r["properties"]["offender"] for r in doc["runs"][0]["results"]}
    assert "AKIAIOSFODNN7EXAMPLE" in offenders
    for f in findings:
        dumped = f.model_dump_json()
        for o in offenders:
            assert o not in dumped


def _reverse_sarif(doc: dict[str, Any]) -> dict[str, Any]:
    for run in doc["runs"]:
        run["results"] = list(reversed(run.get("results") or []))
    return doc


@pytest.mark.parametrize("name", ["bash-report.sarif", "gitleaks_7.5.0.sarif", "njsscan.sarif", "codeQL-output.sarif"])
def test_sarif_reordered_same_fingerprints(name: str, tmp_path: Path) -> None:
    corpus = require_corpus()
    original = [f.fingerprint for f in get("sarif").parse(ReportSource(str(corpus / "sarif" / name)), ParseContext())]
    doc = json.loads((corpus / "sarif" / name).read_text(encoding="utf-8"))
    p = tmp_path / name
    p.write_text(json.dumps(_reverse_sarif(doc)), encoding="utf-8")
    again = [f.fingerprint for f in get("sarif").parse(ReportSource(str(p)), ParseContext())]
    assert set(again) == set(original) and len(again) == len(original)


def test_sarif_truncated(tmp_path: Path) -> None:
    data = (require_corpus() / "sarif/njsscan.sarif").read_bytes()
    p = tmp_path / "cut.sarif"
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(ReportParseError) as e:
        list(get("sarif").parse(ReportSource(str(p)), ParseContext()))
    assert e.value.path == str(p) and e.value.format == "sarif" and e.value.position


# -- Trivy ---------------------------------------------------------------------------------------


def test_trivy_only_failed_misconfigurations() -> None:
    findings = _parse(FIXTURES / "trivy/misconfig_statuses.json")
    mis = [f for f in findings if f.category is FindingCategory.IAC]
    # FAIL and an entry without Status count; PASS and EXCEPTION do not.
    assert sorted(f.rule_id or "" for f in mis) == ["AVD-DS-0001", "AVD-DS-0004"]


def test_trivy_secret_hash_only_for_clear_secret() -> None:
    findings = _parse(FIXTURES / "trivy/misconfig_statuses.json")
    secrets = {f.location.start_line: f for f in findings if f.category is FindingCategory.SECRET and f.location}
    assert secrets[2].secret_hash is not None
    assert secrets[5].secret_hash is None  # masked by Trivy: nothing to hash
    for f in findings:
        assert TRIVY_SECRET not in f.model_dump_json()


def test_trivy_corpus_golden() -> None:
    corpus = require_corpus()
    mis = _parse(corpus / "trivy/misconfigurations_and_secrets.json")
    assert sum(f.category is FindingCategory.IAC for f in mis) == 1
    assert sum(f.category is FindingCategory.SECRET for f in mis) == 2
    assert all(f.secret_hash is None for f in mis if f.category is FindingCategory.SECRET)  # masked Match only
    k8s = _parse(corpus / "trivy/kubernetes.json")
    assert sum(f.category is FindingCategory.IAC for f in k8s) == 10


def test_trivy_reordered_same_fingerprints(tmp_path: Path) -> None:
    corpus = require_corpus()
    src = corpus / "trivy/scheme_2_many_vulns.json"
    original = {f.fingerprint for f in get("trivy").parse(ReportSource(str(src)), ParseContext())}
    doc = json.loads(src.read_text(encoding="utf-8"))
    doc["Results"] = list(reversed(doc["Results"]))
    for r in doc["Results"]:
        r["Vulnerabilities"] = list(reversed(r.get("Vulnerabilities") or []))
    p = tmp_path / "rev.json"
    p.write_text(json.dumps(doc), encoding="utf-8")
    assert {f.fingerprint for f in get("trivy").parse(ReportSource(str(p)), ParseContext())} == original


def test_trivy_wrong_types_raise_parse_error(tmp_path: Path) -> None:
    doc = json.loads((FIXTURES / "trivy/misconfig_statuses.json").read_text(encoding="utf-8"))
    doc["Results"][0]["Misconfigurations"][0] = "not an object"
    p = tmp_path / "bad.json"
    p.write_text(json.dumps(doc), encoding="utf-8")
    with pytest.raises(ReportParseError) as e:
        list(get("trivy").parse(ReportSource(str(p)), ParseContext()))
    assert e.value.format == "trivy" and e.value.position == "Results[0]"

"""SAST, secret and IaC parsers: semgrep, bandit, gitleaks, trufflehog, checkov, kics,
gitlab_sast, sonarqube.

Fixture tests (tests/fixtures/<format>/, written for AIVA) always run; golden, reordering
and truncation tests on the shared corpus skip when it is absent.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from aiva.enums import Confidence, FindingCategory, Severity
from aiva.errors import ReportParseError
from aiva.parsers import detect, get, open_report
from aiva.parsers.base import ParseContext, ReportSource
from aiva.schemas import Finding
from tests.corpus import require_corpus

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
FORMATS = ("semgrep", "bandit", "gitleaks", "trufflehog", "checkov", "kics", "gitlab_sast", "sonarqube")

# The fake secrets written into the fixtures (not real credentials).
FIXTURE_SECRETS = (
    "fixture-secret-Zq8v2LmN4pR7tK1w",
    "fixture-token-9HxJ3bQe7Wm2Ys5u",
    "https://user:fixture-pass-7Tq2@db.example.com/app",
    "fixture-pass-7Tq2",
)

FIXTURE_COUNTS = [
    ("semgrep/small.json", "semgrep", 3),
    ("semgrep/supply_chain.json", "semgrep", 2),
    ("bandit/small.json", "bandit", 2),
    ("gitleaks/v8_small.json", "gitleaks", 2),
    ("gitleaks/legacy_small.json", "gitleaks", 2),
    ("trufflehog/v3_small.json", "trufflehog", 2),
    ("trufflehog/v2_small.json", "trufflehog", 1),
    ("checkov/small.json", "checkov", 3),
    ("kics/small.json", "kics", 3),
    ("gitlab_sast/small.json", "gitlab_sast", 2),
    ("gitlab_sast/secret_detection.json", "gitlab_sast", 1),
    ("sonarqube/api_small.json", "sonarqube", 3),
    ("sonarqube/report_small.json", "sonarqube", 2),
    ("sonarqube/report_small.html", "sonarqube", 2),
]


def _parse(path: Path | str, fmt: str | None = None, ctx: ParseContext | None = None) -> tuple[str, list[Finding]]:
    parser, findings = open_report(str(path), fmt, ctx)
    return parser.name, list(findings)


def _one(findings: list[Finding], **fields: Any) -> Finding:
    hits = [f for f in findings if all(_get(f, k) == v for k, v in fields.items())]
    assert len(hits) == 1, f"expected one finding with {fields}, got {len(hits)}"
    return hits[0]


def _get(f: Finding, dotted: str) -> Any:
    obj: Any = f
    for part in dotted.split("__"):
        obj = getattr(obj, part) if obj is not None else None
    return obj


def _assert_no_secret(findings: list[Finding], secrets: list[str] | tuple[str, ...]) -> None:
    dumped = [f.model_dump_json() for f in findings]
    for s in secrets:
        for d in dumped:
            assert s not in d, f"secret {s[:6]}... leaked into a finding"
            assert json.dumps(s)[1:-1] not in d, f"secret {s[:6]}... leaked (JSON-escaped) into a finding"


# -- fixtures (always run) -----------------------------------------------------------------------


@pytest.mark.parametrize(("rel", "fmt", "count"), FIXTURE_COUNTS, ids=[r for r, _, _ in FIXTURE_COUNTS])
def test_fixture_detected_and_counted(rel: str, fmt: str, count: int) -> None:
    assert detect(ReportSource(str(FIXTURES / rel))).name == fmt
    name, findings = _parse(FIXTURES / rel)
    assert name == fmt
    assert len(findings) == count
    assert len({f.fingerprint for f in findings}) == count
    for f in findings:
        assert f.format == fmt
        assert f.fingerprint_version == f"{fmt}/1"


def test_fixture_secrets_never_in_clear() -> None:
    for rel in ("gitleaks/v8_small.json", "gitleaks/legacy_small.json", "trufflehog/v3_small.json",
                "trufflehog/v2_small.json", "gitlab_sast/secret_detection.json", "kics/small.json"):
        _, findings = _parse(FIXTURES / rel)
        _assert_no_secret(findings, FIXTURE_SECRETS)
        b64 = [base64.b64encode(s.encode()).decode() for s in FIXTURE_SECRETS]
        _assert_no_secret(findings, b64)


def test_semgrep_fixture_fields() -> None:
    _, findings = _parse(FIXTURES / "semgrep/small.json")
    evals = [f for f in findings if f.rule_id and f.rule_id.endswith("eval-detected")]
    assert len(evals) == 2  # same rule, same line, columns 5 and 19; the exact repeat is dropped
    e = evals[0]
    assert e.severity is Severity.MEDIUM
    assert e.confidence is Confidence.TENTATIVE
    assert [c.id for c in e.cwes] == [95]
    assert e.location is not None and e.location.file_path == "app/views.py" and e.location.start_line == 10
    assert e.tool.version == "1.50.0"
    sql = _one(findings, location__file_path="app/db.py")
    assert sql.severity is Severity.HIGH and sql.suppressed is True
    assert sql.location is not None and sql.location.snippet is None  # "requires login" is not code
    assert [c.id for c in sql.cwes] == [89]


def test_semgrep_supply_chain_fixture() -> None:
    _, findings = _parse(FIXTURES / "semgrep/supply_chain.json")
    web = _one(findings, target="acme/web")
    assert web.category is FindingCategory.SCA
    assert web.component is not None and web.component.purl == "pkg:npm/lodash@4.17.15"
    assert web.component.fixed_version == "4.17.21"
    assert {v.id for v in web.vulnerability_ids} == {"CVE-2021-23337", "GHSA-35jh-r3h4-6jhm"}
    assert [c.id for c in web.cwes] == [77]
    assert _one(findings, target="acme/api").suppressed is True


def test_bandit_fixture_fields() -> None:
    _, findings = _parse(FIXTURES / "bandit/small.json")
    sh = _one(findings, rule_id="B602")
    assert sh.location is not None and sh.location.file_path == "src/tools/run.py"  # Windows separators normalised
    assert sh.severity is Severity.HIGH and sh.confidence is Confidence.CERTAIN
    assert [c.id for c in sh.cwes] == [78]
    assert _one(findings, rule_id="B403").severity is Severity.LOW


def test_gitleaks_fixture_merges_commits_and_redacts() -> None:
    ctx = ParseContext(secret_key=b"k")
    _, findings = _parse(FIXTURES / "gitleaks/v8_small.json", ctx=ctx)
    api = _one(findings, rule_id="generic-api-key")
    assert api.location is not None and (api.location.file_path, api.location.start_line) == ("config/settings.py", 4)
    assert "a" * 40 in api.description and "b" * 40 in api.description  # both commits listed
    assert api.location.snippet is not None and "redacted" in api.location.snippet
    assert api.secret_hash is not None and api.category is FindingCategory.SECRET
    assert [c.id for c in api.cwes] == [798]
    _, legacy = _parse(FIXTURES / "gitleaks/legacy_small.json", ctx=ctx)
    assert _one(legacy, rule_id="Generic Token").secret_hash is None  # "REDACTED": nothing to hash
    assert _one(legacy, rule_id="Generic Password").target == "https://git.example.com/acme/app"


def test_secret_hash_matches_across_tools() -> None:
    """The same secret seen by gitleaks and by GitLab secret detection hashes the same (keyed)."""
    ctx = ParseContext(secret_key=b"deployment-key")
    _, gl = _parse(FIXTURES / "gitleaks/v8_small.json", ctx=ctx)
    _, gitlab = _parse(FIXTURES / "gitlab_sast/secret_detection.json", ctx=ctx)
    assert _one(gl, rule_id="generic-api-key").secret_hash == gitlab[0].secret_hash
    _, other_key = _parse(FIXTURES / "gitlab_sast/secret_detection.json", ctx=ParseContext(secret_key=b"other"))
    assert other_key[0].secret_hash != gitlab[0].secret_hash


def test_trufflehog_fixture_fields() -> None:
    _, findings = _parse(FIXTURES / "trufflehog/v3_small.json")
    uri = _one(findings, rule_id="URI")
    assert uri.severity is Severity.CRITICAL and uri.confidence is Confidence.CERTAIN  # verified
    assert uri.location is not None and uri.location.start_line == 3
    assert uri.target == "https://git.example.com/acme/app"
    assert "d" * 40 in uri.description and "e" * 40 in uri.description
    slack = _one(findings, rule_id="Slack")
    assert slack.severity is Severity.HIGH and slack.confidence is Confidence.TENTATIVE
    _, v2 = _parse(FIXTURES / "trufflehog/v2_small.json")
    assert v2[0].severity is Severity.MEDIUM  # entropy match
    assert v2[0].location is not None and v2[0].location.file_path == "keys.py"


def test_checkov_fixture_only_failed_checks() -> None:
    _, findings = _parse(FIXTURES / "checkov/small.json")
    assert {f.rule_id for f in findings} == {"CKV_AWS_20", "CKV_AWS_21", "CKV_DOCKER_2"}  # no PASSED / SKIPPED
    acl = _one(findings, rule_id="CKV_AWS_20")
    assert acl.severity is Severity.HIGH and acl.category is FindingCategory.IAC
    assert _one(findings, rule_id="CKV_AWS_21").severity is Severity.MEDIUM  # unrated -> medium
    assert acl.location is not None and (acl.location.start_line, acl.location.end_line) == (1, 3)
    assert acl.tool.version == "3.1.0"
    assert "https://docs.example.com/CKV_AWS_20" in acl.references


def test_kics_fixture_keeps_distinct_attribute_paths() -> None:
    _, findings = _parse(FIXTURES / "kics/small.json")
    rbac = [f for f in findings if f.rule_id == "1e749bc9-fde8-471c-af0c-8254efd2dee5"]
    assert len(rbac) == 2  # same query, file, line, search key and similarity_id; subjects[0] vs subjects[1]
    assert [c.id for c in rbac[0].cwes] == [284]
    secret = _one(findings, rule_id="487f4be7-3fd9-4506-a07a-eae252180c08")
    assert secret.category is FindingCategory.SECRET


def test_gitlab_sast_fixture_ignores_legacy_cve_key() -> None:
    _, findings = _parse(FIXTURES / "gitlab_sast/small.json")
    # Three entries share one legacy `cve`; two places (lines 10 and 20); the exact repeat is dropped.
    assert sorted(f.location.start_line or 0 for f in findings if f.location) == [10, 20]
    f10 = _one(findings, location__start_line=10)
    assert f10.severity is Severity.HIGH and f10.confidence is Confidence.FIRM
    assert [c.id for c in f10.cwes] == [89]
    assert f10.tool.name == "Semgrep" and f10.rule_id == "bandit.B608"
    assert _one(findings, location__start_line=20).confidence is Confidence.TENTATIVE
    _, secret = _parse(FIXTURES / "gitlab_sast/secret_detection.json")
    assert secret[0].category is FindingCategory.SECRET and secret[0].severity is Severity.CRITICAL


def test_sonarqube_fixture_forms() -> None:
    _, api = _parse(FIXTURES / "sonarqube/api_small.json")
    run = _one(api, raw_id="AX1")
    assert run.location is not None and run.location.file_path == "src/main/java/Run.java"  # "acme:" stripped
    assert (run.location.start_line, run.location.end_line) == (42, 43)
    assert run.severity is Severity.HIGH and run.confidence is Confidence.FIRM and run.target == "acme"
    assert _one(api, raw_id="AX2").suppressed is True  # resolved as false positive
    assert _one(api, raw_id="AX3").severity is Severity.HIGH  # highest impact severity
    _, html = _parse(FIXTURES / "sonarqube/report_small.html")
    assert [f.location.start_line for f in html if f.location] == [12, 13]  # one per issue, never aggregated
    assert all(f.severity is Severity.CRITICAL and [c.id for c in f.cwes] == [798] for f in html)
    assert html[0].target == "fixture shop" and html[0].title == "Credentials should not be hard-coded"
    assert "java:S0000" not in " ".join(f.rule_id or "" for f in html)  # script content is not a table
    _, report = _parse(FIXTURES / "sonarqube/report_small.json")
    hotspot = _one(report, raw_id="H1")
    assert hotspot.confidence is Confidence.TENTATIVE and "security-hotspot" in hotspot.tags
    assert [c.id for c in hotspot.cwes] == [352]


def test_html_fixture_truncated_is_an_error(tmp_path: Path) -> None:
    text = (FIXTURES / "sonarqube/report_small.html").read_text(encoding="utf-8")
    cut = tmp_path / "cut.html"
    cut.write_text(text[: text.index("KEY-2")], encoding="utf-8")
    with pytest.raises(ReportParseError) as e:
        list(get("sonarqube").parse(ReportSource(str(cut)), ParseContext()))
    assert e.value.path == str(cut) and e.value.format == "sonarqube" and e.value.position


@pytest.mark.parametrize("fmt", FORMATS)
def test_wrong_types_raise_parse_error(fmt: str, tmp_path: Path) -> None:
    """A top-level value of the wrong shape is a ReportParseError, never a TypeError."""
    for doc in ({"results": 5, "vulns": 5, "queries": 5, "vulnerabilities": 5, "issues": 5}, [1, 2], "text", 7):
        p = tmp_path / f"{fmt}.json"
        p.write_text(json.dumps(doc), encoding="utf-8")
        try:
            list(get(fmt).parse(ReportSource(str(p)), ParseContext()))
        except ReportParseError as e:
            assert e.format == fmt


def test_ctx_target_overrides() -> None:
    _, findings = _parse(FIXTURES / "semgrep/supply_chain.json", ctx=ParseContext(target="override"))
    assert {f.target for f in findings} == {"override"}


# -- corpus: golden values -----------------------------------------------------------------------


def _corpus(rel: str, fmt: str | None = None) -> list[Finding]:
    corpus = require_corpus()
    name, findings = _parse(corpus / rel, fmt)
    if fmt:
        assert name == fmt
    return findings


def test_golden_semgrep() -> None:
    f = _corpus("semgrep/one_finding.json", "semgrep")[0]
    assert f.rule_id == "java.lang.security.audit.cbc-padding-oracle.cbc-padding-oracle"
    assert f.severity is Severity.MEDIUM and [c.id for c in f.cwes] == [696]
    assert f.location is not None
    assert (f.location.file_path, f.location.start_line) == (
        "src/main/java/org/owasp/benchmark/testcode/BenchmarkTest02194.java", 64
    )
    assert f.fingerprint == _corpus("semgrep/one_finding.json")[0].fingerprint
    sca = _corpus("semgrep/sca-deployments-vulns.json", "semgrep")
    first = _one(sca, target="example/rfv")
    assert first.component is not None and first.component.purl == "pkg:pypi/grpcio@1.47.0"
    assert {v.id for v in first.vulnerability_ids} >= {"CVE-2023-1428", "GHSA-6628-q6j9-w8vg"}
    assert first.severity is Severity.HIGH and [c.id for c in first.cwes] == [617]


def test_golden_bandit() -> None:
    f = _corpus("bandit/one_vuln.json", "bandit")[0]
    assert (f.rule_id, f.severity, f.confidence) == ("B101", Severity.LOW, Confidence.CERTAIN)
    assert f.location is not None and (f.location.file_path, f.location.start_line) == ("one/one.py", 2)
    many = _corpus("bandit/many_vulns.json", "bandit")
    dup = [x for x in many if x.rule_id == "B608" and x.location and x.location.start_line == 51
           and x.location.file_path == "dojo/management/commands/migrate_surveys.py"]
    assert len(dup) == 1


def test_golden_gitleaks_and_secret_redaction() -> None:
    corpus = require_corpus()
    findings = _corpus("gitleaks/version_7.5.0.json", "gitleaks")
    aws = _one(findings, rule_id="AWS Access Key", location__start_line=44)
    assert aws.severity is Severity.HIGH and [c.id for c in aws.cwes] == [798] and aws.secret_hash
    raw: list[str] = []
    for rel in ("gitleaks/data_many.json", "gitleaks/gitleaks8_many.json", "gitleaks/version_7.5.0.json",
                "gitleaks/redacted_data_many.json"):
        entries = json.loads((corpus / rel).read_text(encoding="utf-8"))
        secrets = [e.get("Secret") or e.get("offender") for e in entries]
        secrets = [s for s in secrets if s and s != "REDACTED"]
        raw += secrets
        _assert_no_secret(_corpus(rel, "gitleaks"), secrets)
    assert "AKIAIOSFODNN7EXAMPLE" in raw and "secretAWSsecret" in raw  # the test really checks something


def test_golden_trufflehog_and_secret_redaction() -> None:
    corpus = require_corpus()
    v3 = _corpus("trufflehog/v3_git.json", "trufflehog")
    aws = _one(v3, rule_id="AWS")
    assert aws.severity is Severity.CRITICAL and aws.location is not None and aws.location.start_line == 4
    assert aws.target == "https://github.com/trufflesecurity/test_keys"
    lines = [json.loads(x) for x in (corpus / "trufflehog/v3_git.json").read_text().splitlines() if x.strip()]
    raw = [x["Raw"] for x in lines] + [base64.b64decode(x["Raw"]).decode() for x in lines]
    assert "AKIAYVP4CIPPERUVIFXG" in raw
    _assert_no_secret(v3, raw)
    v2_lines = [json.loads(x) for x in (corpus / "trufflehog/v2_many_vulns.json").read_text().splitlines() if x.strip()]
    v2_secrets = sorted({s for x in v2_lines for s in x["stringsFound"]})
    _assert_no_secret(_corpus("trufflehog/v2_many_vulns.json", "trufflehog"), v2_secrets)


def test_golden_checkov_kics() -> None:
    ck = _corpus("checkov/checkov-report-multiple-check_type.json", "checkov")
    rds = _one(ck, rule_id="CKV_AWS_161")
    assert rds.location is not None and (rds.location.file_path, rds.location.start_line) == ("/aws/db-app.tf", 1)
    assert rds.tool.version == "2.0.209" and rds.category is FindingCategory.IAC
    kics = _corpus("kics/many_findings.json", "kics")
    rbac = [f for f in kics if f.title == "RBAC Wildcard In Rule"]
    assert len(rbac) == 4 and len({f.fingerprint for f in rbac}) == 4
    assert {f.severity for f in rbac} == {Severity.LOW}


def test_golden_gitlab_sast() -> None:
    cwe = _corpus("gitlab_sast/gl-sast-report-cwe_v14.json", "gitlab_sast")
    xss = _one(cwe, rule_id="XSS_REQUEST_PARAMETER_TO_SERVLET_WRITER")
    assert xss.severity is Severity.HIGH and [c.id for c in xss.cwes] == [79]
    assert xss.location is not None and xss.location.start_line == 96
    assert xss.tool.name == "Find Security Bugs" and xss.tool.version == "4.2.0"
    many = _corpus("gitlab_sast/gl-sast-report-many-vuln_v15.json", "gitlab_sast")
    dt = [f for f in many if f.location and f.location.file_path == "dojo/static/dojo/js/datatables.min.js"
          and f.rule_id == "security/detect-object-injection"]
    assert len(dt) == 218  # one legacy `cve` value in the report, 218 lines: 218 findings


def test_golden_sonarqube() -> None:
    html = _corpus("sonarqube/sonar-4-findings-3-to-aggregate.html", "sonarqube")
    assert sorted(f.location.start_line or 0 for f in html if f.location) == [12, 13, 14, 38]
    assert {f.severity for f in html} == {Severity.CRITICAL}
    assert html[0].target == "webgoat"
    api = _corpus("sonarqube/findings_over_api.json", "sonarqube")
    assert {v.id for f in api for v in f.vulnerability_ids} == {
        "CVE-2024-2529", "GHSA-frr2-c345-p7c2", "CVE-2023-52428"
    }
    table = _one(api, rule_id="Web:TableWithoutCaptionCheck")
    assert table.location is not None
    assert table.location.file_path == "src/app/pages/fjiowefjewio/fjwieof/fjiwoe/details.html"
    single = _corpus("sonarqube/sonar-single-finding.html", "sonarqube")[0]
    assert single.rule_id == "squid:S2068" and single.raw_id == "AWK40IMu-pl6AHs22MnV"


# -- corpus: reordering and truncation -----------------------------------------------------------


def _rev_json(key_path: list[str]) -> Callable[[Any], Any]:
    def rev(doc: Any) -> Any:
        target = doc
        for k in key_path[:-1]:
            target = target[k]
        target[key_path[-1]] = list(reversed(target[key_path[-1]]))
        return doc
    return rev


def _rev_checkov(doc: Any) -> Any:
    reports = doc if isinstance(doc, list) else [doc]
    for r in reports:
        r["results"]["failed_checks"] = list(reversed(r["results"]["failed_checks"]))
    return list(reversed(reports)) if isinstance(doc, list) else doc


def _rev_kics(doc: Any) -> Any:
    doc["queries"] = list(reversed(doc["queries"]))
    for q in doc["queries"]:
        q["files"] = list(reversed(q["files"]))
    return doc


REORDER = [
    ("semgrep/many_vulns.json", "semgrep", _rev_json(["results"])),
    ("semgrep/repeated_findings.json", "semgrep", _rev_json(["results"])),
    ("semgrep/sca-deployments-vulns.json", "semgrep", _rev_json(["vulns"])),
    ("bandit/many_vulns.json", "bandit", _rev_json(["results"])),
    ("gitleaks/version_7.5.0.json", "gitleaks", lambda d: list(reversed(d))),
    ("gitleaks/gitleaks8_many.json", "gitleaks", lambda d: list(reversed(d))),
    ("checkov/checkov-report-multiple-check_type.json", "checkov", _rev_checkov),
    ("kics/many_findings.json", "kics", _rev_kics),
    ("gitlab_sast/gl-sast-report-many-vuln_v15.json", "gitlab_sast", _rev_json(["vulnerabilities"])),
    ("sonarqube/findings_over_api.json", "sonarqube", _rev_json(["issues"])),
    ("sonarqube/sonar-6-findings.json", "sonarqube", _rev_json(["issues"])),
]


@pytest.mark.parametrize(("rel", "fmt", "rev"), REORDER, ids=[r for r, _, _ in REORDER])
def test_reordered_report_same_fingerprints(rel: str, fmt: str, rev: Callable[[Any], Any], tmp_path: Path) -> None:
    corpus = require_corpus()
    original = [f.fingerprint for f in get(fmt).parse(ReportSource(str(corpus / rel)), ParseContext())]
    doc = json.loads((corpus / rel).read_text(encoding="utf-8"))
    p = tmp_path / Path(rel).name
    p.write_text(json.dumps(rev(doc)), encoding="utf-8")
    again = [f.fingerprint for f in get(fmt).parse(ReportSource(str(p)), ParseContext())]
    assert set(again) == set(original) and len(again) == len(original)


def test_reordered_trufflehog_lines(tmp_path: Path) -> None:
    corpus = require_corpus()
    for rel in ("trufflehog/v2_many_vulns.json", "trufflehog/v3_git.json"):
        src = corpus / rel
        original = {f.fingerprint for f in get("trufflehog").parse(ReportSource(str(src)), ParseContext())}
        lines = [x for x in src.read_text(encoding="utf-8").splitlines() if x.strip()]
        p = tmp_path / Path(rel).name
        p.write_text("\n".join(reversed(lines)) + "\n", encoding="utf-8")
        assert {f.fingerprint for f in get("trufflehog").parse(ReportSource(str(p)), ParseContext())} == original


def test_reordered_sonarqube_html(tmp_path: Path) -> None:
    corpus = require_corpus()
    src = corpus / "sonarqube/sonar-4-findings-3-to-aggregate.html"
    text = src.read_text(encoding="utf-8")
    start = text.index("<tbody>", text.index("Detail of the Detected Vulnerabilities")) + len("<tbody>")
    end = text.index("</tbody>", start)
    rows = [r + "</tr>" for r in text[start:end].split("</tr>") if "<tr>" in r]
    p = tmp_path / "reordered.html"
    p.write_text(text[:start] + "".join(reversed(rows)) + text[end:], encoding="utf-8")
    original = {f.fingerprint for f in get("sonarqube").parse(ReportSource(str(src)), ParseContext())}
    assert {f.fingerprint for f in get("sonarqube").parse(ReportSource(str(p)), ParseContext())} == original


TRUNCATE = [
    ("semgrep/many_vulns.json", "semgrep"),
    ("bandit/dd.json", "bandit"),
    ("gitleaks/gitleaks8_many.json", "gitleaks"),
    ("trufflehog/v3_git.json", "trufflehog"),
    ("checkov/checkov-report-multiple-check_type.json", "checkov"),
    ("kics/many_findings.json", "kics"),
    ("gitlab_sast/gl-sast-report-cwe_v14.json", "gitlab_sast"),
    ("sonarqube/sonar-6-findings.json", "sonarqube"),
    ("sonarqube/sonar-single-finding.html", "sonarqube"),
]


@pytest.mark.parametrize(("rel", "fmt"), TRUNCATE, ids=[r for r, _ in TRUNCATE])
def test_truncated_report_names_file_format_position(rel: str, fmt: str, tmp_path: Path) -> None:
    corpus = require_corpus()
    data = (corpus / rel).read_bytes()
    p = tmp_path / ("cut" + Path(rel).suffix)
    p.write_bytes(data[: len(data) // 2])
    assert detect(ReportSource(str(p))).name == fmt
    with pytest.raises(ReportParseError) as e:
        list(get(fmt).parse(ReportSource(str(p)), ParseContext()))
    assert e.value.path == str(p)
    assert e.value.format == fmt
    assert e.value.position and ("line" in e.value.position or "record" in e.value.position)
    assert str(p) in str(e.value)

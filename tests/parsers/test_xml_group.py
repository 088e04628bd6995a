"""Parsers of the XML group: dependency_check, cyclonedx (XML and JSON), zap (XML and JSON), burp.

Golden values on our own fixtures (always run) and on corpus files (skipped without the
corpus), order independence of fingerprints, and bad input. Snyk is in test_snyk.py and
the XML entity attacks in test_xml_safety.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aiva.enums import Confidence, FindingCategory, Severity
from aiva.errors import ReportParseError
from aiva.parsers import detect, open_report
from aiva.parsers.base import ParseContext, ReportSource
from tests.corpus import require_corpus
from tests.parsers._xmlgroup_util import FIXTURES, parse, reversed_copy, truncated_copy


def _by(findings: list, **want: object) -> object:
    hits = [f for f in findings if all(getattr(f, k) == v for k, v in want.items())]
    assert len(hits) == 1, f"expected one finding with {want}, got {len(hits)}"
    return hits[0]


# ---- detection --------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("path", "fmt"),
    [
        ("dependency_check/small.xml", "dependency_check"),
        ("cyclonedx/vex_small.json", "cyclonedx"),
        ("cyclonedx/vex_small.xml", "cyclonedx"),
        ("zap/small.xml", "zap"),
        ("zap/small.json", "zap"),
        ("burp/small.xml", "burp"),
    ],
)
def test_fixture_detected(path: str, fmt: str) -> None:
    assert detect(ReportSource(str(FIXTURES / path))).name == fmt


# ---- dependency_check -------------------------------------------------------------------------

def test_dependency_check_fixture() -> None:
    fs = parse("dependency_check", FIXTURES / "dependency_check/small.xml")
    # clean-lib has no vulnerability; the OSSINDEX repeat of CVE-2099-0001 is de-duplicated.
    assert len(fs) == 3
    main = _by(fs, rule_id="CVE-2099-0001")
    assert main.severity is Severity.HIGH
    assert main.cvss_v3 is not None
    assert main.cvss_v3.vector == "CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:H/A:H"
    assert main.cvss_v3.base_score == 8.1
    assert [c.id for c in main.cwes] == [502]  # NVD-CWE-noinfo is not a CWE id
    assert main.component.purl == "pkg:maven/org.example/widget-core@2.3.1"  # not the related dep's
    assert main.location.file_path == "/app/lib/widget-core-2.3.1.jar"
    assert main.confidence is Confidence.TENTATIVE  # NVD match through a LOW-confidence CPE
    assert "Also found at: /app/plugins/widget-core-2.3.1.jar" in main.description
    assert main.tool.name == "dependency-check" and main.tool.version == "9.0.9"
    assert main.target == "aiva-fixture-app"
    assert main.warnings == ()
    ghsa = _by(fs, rule_id="GHSA-jf85-cpcp-j695")
    assert ghsa.severity is Severity.MEDIUM  # "moderate"
    assert ghsa.vulnerability_ids[0].kind == "ghsa"
    sup = _by(fs, rule_id="CVE-2099-0002")
    assert sup.suppressed and "suppressed" in sup.tags
    assert sup.severity is Severity.MEDIUM  # no <severity>: cvssV3 baseSeverity
    assert "Not reachable in our deployment." in sup.description
    assert len({f.fingerprint for f in fs}) == 3


def test_dependency_check_target_override() -> None:
    fs = parse("dependency_check", FIXTURES / "dependency_check/small.xml", ParseContext(target="svc-a"))
    assert {f.target for f in fs} == {"svc-a"}


def test_dependency_check_corpus_golden() -> None:
    corpus = require_corpus()
    path = corpus / "dependency_check/PR6439.xml"
    fs = parse("dependency_check", path)
    sshd = _by(fs, rule_id="CVE-2022-45047")
    assert sshd.severity is Severity.CRITICAL
    assert [c.id for c in sshd.cwes] == [502]
    assert sshd.component.purl == "pkg:maven/org.apache.sshd/sshd-osgi@2.9.1"
    assert sshd.location.file_path.endswith("/sshd-osgi-2.9.1.jar")
    assert sshd.cvss_v3.base_score == 9.8
    log4shell = _by(fs, rule_id="CVE-2021-44228")
    assert log4shell.suppressed and log4shell.cvss_v3.base_score == 10.0
    assert sum(f.suppressed for f in fs) == 8
    # The activemq-broker dependency's purl is its own, not its related dependency's.
    assert _by(fs, rule_id="CVE-2015-3208").component.purl == \
        "pkg:maven/org.apache.activemq/activemq-broker@5.16.5"
    assert [f.fingerprint for f in fs] == [f.fingerprint for f in parse("dependency_check", path)]


# ---- cyclonedx --------------------------------------------------------------------------------

def test_cyclonedx_json_vex_fixture() -> None:
    fs = parse("cyclonedx", FIXTURES / "cyclonedx/vex_small.json")
    assert len(fs) == 5  # CVE-2099-1000 affects lodash twice: kept once
    lodash = _by(fs, rule_id="CVE-2099-1000", component=fs[0].component)
    assert lodash.component.purl == "pkg:npm/lodash@4.17.15"
    assert lodash.severity is Severity.CRITICAL  # the NVD rating: the vulnerability's own source
    assert lodash.cvss_v3.base_score == 9.8
    assert [c.id for c in lodash.cwes] == [1321]
    assert {v.id for v in lodash.vulnerability_ids} == {"CVE-2099-1000", "GHSA-2c4h-6p7q-9rmx"}
    assert not lodash.suppressed and "vex:exploitable" in lodash.tags
    assert lodash.tool.name == "fixture-scanner" and lodash.tool.version == "1.2.3"  # 1.5 tools object
    assert lodash.remediation == "Upgrade lodash to 4.17.21."
    child = [f for f in fs if f.component.purl == "pkg:maven/org.example/child@0.9"]
    assert len(child) == 1  # nested component resolved
    na = _by(fs, rule_id="CVE-2099-2000")
    assert na.suppressed
    want = {"vex:not_affected", "vex-justification:code_not_reachable", "vex-response:will_not_fix"}
    assert want <= set(na.tags)
    assert "Only the CLI path uses it." in na.description
    assert na.cvss_v4 is not None and na.cvss_v4.version == "4.0"
    assert na.severity is Severity.HIGH
    ext = _by(fs, rule_id="CVE-2099-3000")
    assert ext.component.purl == "pkg:pypi/requests@2.0.0"  # ref into another BOM
    assert ext.suppressed and "vex:unaffected" in ext.tags
    assert ext.severity is Severity.MEDIUM  # no severity word: the CVSS v3 score (5.4)
    bad = _by(fs, rule_id="CVE-2099-4000")
    assert bad.cvss_v3 is None and bad.warnings and "invalid CVSS vector" in bad.warnings[0]
    assert bad.severity is Severity.INFO
    assert {f.target for f in fs} == {"aiva-fixture-app"}


def test_cyclonedx_xml_fixture() -> None:
    fs = parse("cyclonedx", FIXTURES / "cyclonedx/vex_small.xml")
    assert len(fs) == 2
    ssl = _by(fs, rule_id="CVE-2099-5000")
    assert ssl.severity is Severity.MEDIUM  # debian's own rating wins over NVD's high
    assert ssl.cvss_v3.base_score == 7.5
    assert ssl.category is FindingCategory.CONTAINER
    assert ssl.component.purl == "pkg:deb/debian/openssl@1.1.1k-1?distro=debian-11"
    assert "https://security-tracker.example/DSA-0000" in ssl.references
    assert ssl.tool.name == "fixture-xml-scanner"
    assert ssl.target == "registry.example/app:1.0"
    fp = _by(fs, rule_id="CVE-2099-6000")
    assert fp.suppressed and "vex:false_positive" in fp.tags and "vex-response:can_not_fix" in fp.tags
    assert fp.cvss_v3.vector == "CVSS:3.0/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N"
    assert [c.id for c in fp.cwes] == [79]
    assert fp.category is FindingCategory.SCA


def test_cyclonedx_sbom_without_vulnerabilities(tmp_path: Path) -> None:
    p = tmp_path / "sbom.json"
    p.write_text(json.dumps({"bomFormat": "CycloneDX", "specVersion": "1.6", "components": [
        {"bom-ref": "a", "type": "library", "name": "a", "version": "1"}]}))
    assert parse("cyclonedx", p) == []


def test_cyclonedx_wrong_types_do_not_crash(tmp_path: Path) -> None:
    p = tmp_path / "odd.json"
    p.write_text(json.dumps({"bomFormat": "CycloneDX", "metadata": [], "components": "x", "vulnerabilities": [
        {"id": "CVE-2099-9", "ratings": [1, {"score": "high"}], "cwes": "bad", "affects": ["x", {"ref": 3}],
         "analysis": "nope", "advisories": [None]}]}))
    fs = parse("cyclonedx", p)
    assert len(fs) == 1 and fs[0].component is None
    p.write_text(json.dumps({"bomFormat": "CycloneDX", "vulnerabilities": [1]}))
    with pytest.raises(ReportParseError) as e:
        parse("cyclonedx", p)
    assert e.value.position == "vulnerabilities[0]"


def test_cyclonedx_corpus_golden() -> None:
    corpus = require_corpus()
    vex = parse("cyclonedx", corpus / "cyclonedx/valid-vulnerability-1.4.json")
    assert len(vex) == 1 and vex[0].suppressed and "vex:not_affected" in vex[0].tags
    assert vex[0].severity is Severity.CRITICAL and vex[0].cvss_v3.base_score == 9.8
    assert [c.id for c in vex[0].cwes] == [184, 502]
    assert "CVE-2018-7489" in {v.id for v in vex[0].vulnerability_ids}
    log4j = _by(parse("cyclonedx", corpus / "cyclonedx/log4j.json"), rule_id="CVE-2021-44228")
    assert log4j.severity is Severity.CRITICAL and log4j.cvss_v3.base_score == 10.0
    assert log4j.component.purl.startswith("pkg:maven/org.apache.logging.log4j/log4j-core@2.13.2")
    assert "vex:in_triage" in log4j.tags and not log4j.suppressed
    trivy = parse("cyclonedx", corpus / "cyclonedx/issue_9277.json")
    coreutils = _by(trivy, rule_id="CVE-2016-2781")
    assert coreutils.severity is Severity.LOW  # ubuntu's own rating, as trivy reports it
    assert coreutils.category is FindingCategory.CONTAINER
    assert coreutils.target == "ubuntu:latest"
    old = parse("cyclonedx", corpus / "cyclonedx/dd_1_15_0.xml")  # vulnerability extension 1.0
    apt = _by(old, rule_id="CVE-2011-3374", title="CVE-2011-3374 in apt@1.8.2.1")
    assert apt.component.name == "apt" and apt.component.version == "1.8.2.1"
    assert apt.severity is Severity.LOW and apt.tool.name == "grype"
    assert sum(f.severity is Severity.INFO for f in old) == 33  # "Unknown" ratings


# ---- zap --------------------------------------------------------------------------------------

def test_zap_xml_fixture() -> None:
    fs = parse("zap", FIXTURES / "zap/small.xml")
    assert len(fs) == 4
    get_xss = _by(fs, rule_id="40012", tags=("method:GET", "WASC-8"))
    assert get_xss.severity is Severity.HIGH and get_xss.confidence is Confidence.FIRM
    assert get_xss.category is FindingCategory.DAST
    ep = get_xss.endpoint
    assert (ep.host, ep.port, ep.protocol, ep.parameter) == ("shop.example.test", 443, "https", "q")
    assert ep.url == "https://shop.example.test/search?q=shoes&page=1"
    # the second URL differs only in query values: merged, and listed
    assert "Also seen at: https://shop.example.test/search?page=2&q=hats" in get_xss.description
    assert [c.id for c in get_xss.cwes] == [79]
    assert get_xss.references == ("https://owasp.org/www-community/attacks/xss/",)
    assert get_xss.remediation == "Encode output."
    assert get_xss.tool.version == "2.15.0"
    post_xss = _by(fs, rule_id="40012", tags=("method:POST", "WASC-8"))
    assert post_xss.fingerprint != get_xss.fingerprint
    fp = _by(fs, rule_id="10021")
    assert fp.suppressed and "zap:false-positive" in fp.tags and "OWASP_2021_A05" in fp.tags
    assert fp.severity is Severity.LOW


def test_zap_sensitive_values_are_not_kept() -> None:
    for name in ("small.xml", "small.json"):
        f = _by(parse("zap", FIXTURES / "zap" / name), rule_id="10024")
        assert "s3cr3t-t0ken-value-123" not in f.model_dump_json()
        assert f.endpoint.url == "https://shop.example.test/account?token=REDACTED"
        assert f.endpoint.parameter == "token"


def test_zap_json_and_xml_agree() -> None:
    x = parse("zap", FIXTURES / "zap/small.xml")
    j = parse("zap", FIXTURES / "zap/small.json")
    assert [f.fingerprint for f in x] == [f.fingerprint for f in j]
    for a, b in zip(x, j, strict=True):
        assert a.model_dump(exclude={"description"}) == b.model_dump(exclude={"description"})


def test_zap_json_wrong_types_do_not_crash(tmp_path: Path) -> None:
    p = tmp_path / "z.json"
    alerts = [{"pluginid": 1, "riskcode": 3, "instances": "bad"},
              {"alert": "x", "instances": [None, {"uri": 5}]}]
    site = {"@name": "http://h", "@port": 99999, "alerts": alerts}  # a single site object, an impossible port
    p.write_text(json.dumps({"@programName": "ZAP", "site": site}))
    fs = parse("zap", p)
    assert len(fs) == 2 and fs[0].severity is Severity.HIGH and fs[0].endpoint.url == "http://h"
    p.write_text(json.dumps({"@generated": "x", "site": [{"alerts": [7]}]}))
    with pytest.raises(ReportParseError) as e:
        parse("zap", p)
    assert e.value.position == "site[0].alerts[0]"


def test_zap_corpus_golden() -> None:
    corpus = require_corpus()
    fs = parse("zap", corpus / "zap/zap-results-first-scan.xml")
    attr = _by(fs, rule_id="10031")  # 11 instances on product.jsp?prodid=<n>: one page, one parameter
    assert attr.endpoint.parameter == "prodid" and attr.endpoint.port == 8080
    assert attr.endpoint.url == "http://bodgeit.securecodebox-demo.svc:8080/bodgeit/product.jsp?prodid=22"
    assert "product.jsp?prodid=18" in attr.description
    assert attr.severity is Severity.INFO and attr.confidence is Confidence.TENTATIVE
    new = parse("zap", corpus / "zap/zap_2.16.1_with_req_resp.xml")
    auth = _by(new, rule_id="10111")
    assert "userValue" not in auth.description and "withheld" in auth.description
    assert "authorization" not in auth.model_dump_json().lower()  # request headers are never copied
    poison = [f for f in new if f.rule_id == "10029"]
    assert poison and all("OWASP_2021_A03" in f.tags for f in poison)
    assert [c.id for c in poison[0].cwes] == [565]
    assert parse("zap", corpus / "zap/empty_2.9.0.xml") == []


# ---- burp -------------------------------------------------------------------------------------

def test_burp_fixture() -> None:
    fs = parse("burp", FIXTURES / "burp/small.xml")  # internal DTD, no entities: accepted
    assert len(fs) == 3  # the repeated clickjacking issue keeps its first occurrence
    user = _by(fs, rule_id="1049088", confidence=Confidence.FIRM)
    ep = user.endpoint
    assert (ep.host, ep.port, ep.protocol, ep.url, ep.parameter) == (
        "app.example.test", 8443, "https", "https://app.example.test:8443/login", "username")
    assert user.severity is Severity.HIGH and [c.id for c in user.cwes] == [89]
    assert "https://portswigger.net/web-security/sql-injection" in user.references
    assert "method:POST" in user.tags and user.tool.version == "2024.3.1"
    assert user.remediation == "Use parameterized queries."
    dump = "".join(f.model_dump_json() for f in fs)
    assert "secret-cookie-value" not in dump and "UE9TVCAvbG9naW4" not in dump  # requests not copied
    pw = _by(fs, rule_id="1049088", confidence=Confidence.TENTATIVE)
    assert pw.endpoint.parameter == "password" and pw.fingerprint != user.fingerprint
    frame = _by(fs, rule_id="5245344")
    assert frame.suppressed and "burp:false-positive" in frame.tags and frame.severity is Severity.INFO


def test_burp_corpus_golden() -> None:
    corpus = require_corpus()
    (cache,) = parse("burp", corpus / "burp/one_finding_with_cwe.xml")
    assert [c.id for c in cache.cwes] == [524, 525]
    assert cache.severity is Severity.INFO and cache.confidence is Confidence.CERTAIN
    assert (cache.endpoint.host, cache.endpoint.port) == ("example.com", 443)
    assert cache.endpoint.url == "https://example.com/test/v4/public/users/fake"
    sqli = parse("burp", corpus / "burp/one_finding.xml")
    assert sorted(f.endpoint.parameter for f in sqli) == ["b_id", "password", "username"]
    xss = _by(parse("burp", corpus / "burp/seven_findings.xml"), rule_id="2097920")
    assert xss.severity is Severity.HIGH and xss.endpoint.parameter == "q"


# ---- order independence and bad input ----------------------------------------------------------

REORDER_FIXTURES = [
    ("dependency_check", "dependency_check/small.xml"),
    ("cyclonedx", "cyclonedx/vex_small.json"),
    ("cyclonedx", "cyclonedx/vex_small.xml"),
    ("zap", "zap/small.xml"),
    ("zap", "zap/small.json"),
    ("burp", "burp/small.xml"),
]
REORDER_CORPUS = [
    ("dependency_check", "dependency_check/PR6439.xml"),
    ("dependency_check", "dependency_check/multiple_vulnerabilities_has_multiple_findings.xml"),
    ("cyclonedx", "cyclonedx/issue_9277.json"),
    ("cyclonedx", "cyclonedx/dd_1_15_0.xml"),
    ("zap", "zap/zap-results-first-scan.xml"),
    ("zap", "zap/dvwa_baseline_dojo.xml"),
    ("burp", "burp/seven_findings.xml"),
]


@pytest.mark.parametrize(("fmt", "rel"), REORDER_FIXTURES)
def test_reordered_fixture_same_fingerprints(fmt: str, rel: str, tmp_path: Path) -> None:
    src = FIXTURES / rel
    a = parse(fmt, src)
    b = parse(fmt, reversed_copy(src, tmp_path / Path(rel).name))
    assert len(a) == len(b) and {f.fingerprint for f in a} == {f.fingerprint for f in b}


@pytest.mark.parametrize(("fmt", "rel"), REORDER_CORPUS)
def test_reordered_corpus_same_fingerprints(fmt: str, rel: str, tmp_path: Path) -> None:
    src = require_corpus() / rel
    a = parse(fmt, src)
    b = parse(fmt, reversed_copy(src, tmp_path / Path(rel).name))
    assert len(a) == len(b) and {f.fingerprint for f in a} == {f.fingerprint for f in b}


@pytest.mark.parametrize(("fmt", "rel"), REORDER_FIXTURES)
def test_truncated_file_names_file_format_position(fmt: str, rel: str, tmp_path: Path) -> None:
    bad = truncated_copy(FIXTURES / rel, tmp_path / Path(rel).name)
    assert detect(ReportSource(str(bad))).name == fmt  # the head still says what it is
    with pytest.raises(ReportParseError) as e:
        parse(fmt, bad)
    assert e.value.path == str(bad)
    assert e.value.format == fmt
    assert e.value.position and e.value.position.startswith("line ")
    assert str(bad) in str(e.value) and fmt in str(e.value)


@pytest.mark.parametrize(
    ("fmt", "body", "reason"),
    [
        ("dependency_check", '<report xmlns="x/DependencyCheck"/>', "expected <analysis>"),
        ("cyclonedx", '{"bomFormat": "SPDX"}', "CycloneDX"),
        ("zap", "<OWASPReport/>", "expected <OWASPZAPReport>"),
        ("zap", "[1, 2]", "site"),
        ("burp", "<bugs/>", "expected <issues>"),
    ],
)
def test_wrong_document_is_a_parse_error(fmt: str, body: str, reason: str, tmp_path: Path) -> None:
    p = tmp_path / "wrong"
    p.write_text(body)
    with pytest.raises(ReportParseError) as e:
        parse(fmt, p)
    assert reason in e.value.reason and e.value.format == fmt


def test_open_report_detects_xml_group() -> None:
    parser, findings = open_report(str(FIXTURES / "burp/small.xml"))
    assert parser.name == "burp" and len(list(findings)) == 3

"""Compliance views: the data tables match their sources, and controls fail only on OPEN findings."""

from __future__ import annotations

from collections import Counter
from importlib import resources
from pathlib import Path

import pytest

from aiva import parsers
from aiva.compliance import ComplianceFinding, evaluate, framework, frameworks
from aiva.compliance.tables import _csv_rows
from aiva.enums import ComplianceFramework as CF
from aiva.enums import FindingCategory, Severity, VulnerabilityStatus
from aiva.schemas import CVEReference, CWEReference, Finding, ToolInfo

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
S = VulnerabilityStatus


def finding(fp: str, sev: Severity = Severity.HIGH, cwes: tuple[int, ...] = (),
            cat: FindingCategory = FindingCategory.SAST, vulns: tuple[str, ...] = ()) -> Finding:
    return Finding(fingerprint=fp, fingerprint_version="test/1", format="test", tool=ToolInfo(name="t"),
                   title=f"finding {fp}", severity=sev, category=cat,
                   cwes=tuple(CWEReference(id=c) for c in cwes),
                   vulnerability_ids=tuple(CVEReference.of(v) for v in vulns))


def cf(f: Finding, status: VulnerabilityStatus = S.ACTIVE) -> ComplianceFinding:
    return ComplianceFinding.from_finding(f, status)


def test_owasp_table_matches_the_published_category_sizes() -> None:
    rows = _csv_rows("owasp_top10_2021.csv", ("cwe", "category", "category_name"))
    sizes = Counter(r["category"] for r in rows)
    assert sizes == {"A01:2021": 34, "A02:2021": 29, "A03:2021": 33, "A04:2021": 40, "A05:2021": 20,
                     "A06:2021": 3, "A07:2021": 22, "A08:2021": 10, "A09:2021": 4, "A10:2021": 1}
    assert len({r["cwe"] for r in rows}) == len(rows)  # each CWE in one category


def test_top25_has_ranks_one_to_twentyfive() -> None:
    fw = framework(CF.CWE_TOP25)
    assert [c.id for c in fw.controls][:5] == ["CWE-79", "CWE-787", "CWE-89", "CWE-352", "CWE-22"]
    assert len({c.id for c in fw.controls}) == 25
    assert fw.controls[-1].title.startswith("#25 CWE-306")


@pytest.mark.parametrize("name", ["owasp_top10_2021.csv", "cwe_top25_2024.csv", "compliance_controls.json"])
def test_every_table_names_its_source(name: str) -> None:
    text = (resources.files("aiva") / "data" / name).read_text(encoding="utf-8")
    assert "source" in text.lower()


def test_every_framework_has_sources_and_controls() -> None:
    tables = frameworks()
    assert set(tables) == set(CF)
    for fw in tables.values():
        assert fw.sources and fw.controls
        assert len({c.id for c in fw.controls}) == len(fw.controls)


def test_open_findings_fail_their_controls_with_evidence() -> None:
    sqli = finding("sqli", cwes=(89,))
    xss_fixed = finding("xss", Severity.MEDIUM, cwes=(79,))
    log4j = finding("log4j", Severity.CRITICAL, cat=FindingCategory.SCA, cwes=(502, 20),
                    vulns=("CVE-2021-44228", "GHSA-jfh8-c2jp-5v3q"))
    iac = finding("iac", Severity.MEDIUM, cat=FindingCategory.IAC)
    log_leak = finding("logleak", Severity.LOW, cwes=(532,))
    secret = finding("secret", Severity.HIGH, cat=FindingCategory.SECRET, cwes=(798,))
    auth_accepted = finding("auth", cwes=(287,))
    report = evaluate([cf(sqli), cf(xss_fixed, S.MITIGATED), cf(log4j), cf(iac, S.NEW), cf(log_leak),
                       cf(secret, S.REOPENED), cf(auth_accepted, S.RISK_ACCEPTED)])

    owasp = {c.id: c for c in report[CF.OWASP_TOP10_2021].controls}
    assert owasp["A03:2021"].evidence == ("log4j", "sqli") and owasp["A03:2021"].resolved == 1  # CWE-20, 89; 79
    assert owasp["A06:2021"].evidence == ("log4j",)  # SCA with a CVE
    assert owasp["A07:2021"].evidence == ("secret",) and owasp["A07:2021"].resolved == 1  # 798; 287 accepted
    assert owasp["A08:2021"].evidence == ("log4j",)
    assert owasp["A09:2021"].evidence == ("logleak",)
    assert owasp["A10:2021"].passed and owasp["A01:2021"].passed

    top25 = {c.id: c for c in report[CF.CWE_TOP25].controls}
    assert top25["CWE-89"].evidence == ("sqli",) and top25["CWE-79"].passed and top25["CWE-79"].resolved == 1
    assert top25["CWE-287"].passed

    pci = {c.id: c for c in report[CF.PCI_DSS_4].controls}
    assert pci["6.2.4/injection"].evidence == ("sqli",)
    assert pci["6.2.4/business-logic"].passed  # the XSS is mitigated
    assert pci["6.2.4/data-structures"].evidence == ("log4j",)
    assert pci["6.3.1"].evidence == ("log4j",) and pci["6.3.3"].evidence == ("log4j",)
    assert pci["11.3"].evidence == ("log4j",)  # scan finding, critical; SAST is not a vulnerability scan
    assert pci["6.2.4/access-control"].evidence == ("secret",)

    sox = {c.id: c for c in report[CF.SOX].controls}
    assert sox["ITGC-change"].evidence == ("iac",)
    assert sox["ITGC-integrity"].evidence == ("log4j",)
    assert sox["ITGC-access"].evidence == ("secret",) and sox["ITGC-access"].resolved == 1

    gdpr = {c.id: c for c in report[CF.GDPR].controls}
    assert gdpr["Art.32/personal-data-exposure"].evidence == ("logleak",)
    assert gdpr["Art.25/access-control"].evidence == ("secret",)
    assert gdpr["Art.32/encryption"].passed
    assert not report[CF.GDPR].passed and len(report[CF.GDPR].failed_controls) == 2


def test_severity_thresholds_of_pci_patch_controls() -> None:
    medium_cve = finding("m", Severity.MEDIUM, cat=FindingCategory.CONTAINER, vulns=("CVE-2024-2511",))
    low_cve = finding("l", Severity.LOW, cat=FindingCategory.CONTAINER, vulns=("CVE-2024-0001",))
    pci = {c.id: c for c in evaluate([cf(medium_cve), cf(low_cve)], [CF.PCI_DSS_4])[CF.PCI_DSS_4].controls}
    assert pci["6.3.1"].evidence == ("m",)
    assert pci["6.3.3"].passed and pci["11.3"].passed


def test_nothing_open_passes_everything() -> None:
    report = evaluate([cf(finding("a", cwes=(89,)), S.FALSE_POSITIVE), cf(finding("b", cwes=(79,)), S.MITIGATED)])
    assert all(r.passed for r in report.frameworks.values())
    assert report[CF.OWASP_TOP10_2021].open_findings == 0


def test_unmapped_open_findings_are_counted() -> None:
    report = evaluate([finding("nocwe", Severity.LOW), finding("sqli", cwes=(89,))], [CF.OWASP_TOP10_2021])
    assert report[CF.OWASP_TOP10_2021].open_findings == 2
    assert report[CF.OWASP_TOP10_2021].open_unmapped == 1


def test_stored_row_reads_like_the_parsed_finding() -> None:
    f = finding("x", Severity.CRITICAL, cwes=(89, 79), cat=FindingCategory.SCA, vulns=("CVE-2021-44228",))
    row = f.model_dump(mode="json")
    assert ComplianceFinding.from_data(row, "reopened") == ComplianceFinding.from_finding(f, S.REOPENED)


def test_report_is_json_serialisable() -> None:
    out = evaluate([finding("sqli", cwes=(89,))]).model_dump_json()
    assert '"6.2.4/injection"' in out and '"sqli"' in out


def test_examples_map_to_expected_controls() -> None:
    found: list[Finding] = []
    for name in ("shop-api-code.sarif", "shop-api-image.trivy.json"):
        _, it = parsers.open_report(str(EXAMPLES / name))
        found.extend(it)
    report = evaluate(found)
    pci = {c.id: c for c in report[CF.PCI_DSS_4].controls}
    assert not pci["6.3.3"].passed  # the image has high-severity CVEs
    sca = {f.fingerprint for f in found if f.vulnerability_ids}
    assert set(pci["6.3.3"].evidence) <= sca
    assert not report[CF.OWASP_TOP10_2021].passed

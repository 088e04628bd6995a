"""CycloneDX VEX export: valid against the official 1.5 schema, AIVA states mapped, only VEX material in."""

from __future__ import annotations

import io
import json
import random
import uuid
from pathlib import Path
from typing import Any

import pytest

from aiva.enums import FindingCategory, Severity, VulnerabilityStatus
from aiva.reports.model import ReportFinding
from aiva.reports.vex_export import SERIAL_NAMESPACE, VexSink, serial_number
from aiva.reports.writer import write_reports
from aiva.schemas import Component, CVEReference, CvssScore, CWEReference, ToolInfo
from tests.reports import factory as fx

S = VulnerabilityStatus


def _validator() -> Any:
    """A Draft 7 validator for the bundled CycloneDX 1.5 schema, its $refs resolved from bundled files only."""
    pytest.importorskip("cyclonedx", reason="cyclonedx-python-lib (dev extra) bundles the CycloneDX schemas")
    import jsonschema
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.schema._res import BOM_JSON  # the bundled schema files (an internal module of the library)
    from referencing import Registry, Resource

    bom_path = Path(str(BOM_JSON[SchemaVersion.V1_5]))
    schema = json.loads(bom_path.read_text(encoding="utf-8"))
    # The bundled schema refers to "spdx.SNAPSHOT.schema.json" and "jsf-0.82.SNAPSHOT.schema.json"
    # (relative to its $id): register every bundled JSON schema under that name and its own $id.
    # The registry has no retrieve hook, so an unknown $ref fails instead of going to the network.
    base = "http://cyclonedx.org/schema/"
    resources: list[tuple[str, Resource[Any]]] = []
    for path in sorted(bom_path.parent.glob("*.schema.json")):
        contents = json.loads(path.read_text(encoding="utf-8"))
        resource = Resource.from_contents(contents)
        resources.append((base + path.name, resource))
        if contents.get("$id"):
            resources.append((contents["$id"], resource))
    registry: Registry[Any] = Registry().with_resources(resources)
    return jsonschema.Draft7Validator(schema, registry=registry,
                                      format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)


def _assert_valid(doc: dict[str, Any]) -> None:
    validator = _validator()
    errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.path))
    assert not errors, [f"{list(e.path)}: {e.message}" for e in errors[:10]]


def _ghsa() -> CVEReference:
    return CVEReference.of("GHSA-jf85-cpcp-j695")


def findings() -> list[ReportFinding]:
    """A mix: SCA and container findings in every status, plus findings that are not VEX material."""
    v4 = CvssScore(version="4.0", vector="CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N",
                   base_score=9.3)
    return [
        # lodash 4.17.1: a CVE and its GHSA alias, with a reference that is not a URL
        fx.sca_finding(1, vulnerability_ids=(CVEReference.of("CVE-2019-10744"), _ghsa()),
                       references=("https://nvd.nist.gov/vuln/detail/CVE-2019-10744", "not a url", "javascript:x"),
                       cvss_v4=v4),
        # the same CVE in the same component from another scanner, also active: merges into the pair
        fx.sca_finding(2, vulnerability_ids=(CVEReference.of("CVE-2019-10744"),),
                       component=Component(purl="pkg:npm/lodash@4.17.1", name="lodash", version="4.17.1",
                                           fixed_version="4.17.12"),
                       tool=ToolInfo(name="grype"), status=S.ACTIVE, change="unchanged",
                       remediation="Upgrade lodash to 4.17.12."),
        fx.sca_finding(3, status=S.ACTIVE, change="unchanged"),
        fx.sca_finding(4, status=S.REOPENED, change="reopened"),
        fx.sca_finding(5, status=S.MITIGATED, change="mitigated"),
        fx.sca_finding(6, status=S.FALSE_POSITIVE, change="unchanged"),
        fx.sca_finding(7, status=S.RISK_ACCEPTED, change="unchanged"),
        fx.sca_finding(8, status=S.OUT_OF_SCOPE, change="unchanged"),
        # a container finding: a deb package, a GHSA only, no CVSS, no fixed version
        fx.sca_finding(9, category=FindingCategory.CONTAINER, vulnerability_ids=(CVEReference.of("CVE-2023-4911"),),
                       cvss_v3=None, cwes=(CWEReference(id=787), CWEReference(id=0)),
                       component=Component(purl="pkg:deb/debian/libc6@2.36-9?arch=amd64&distro=debian-12",
                                           name="libc6", version="2.36-9"), target="shop-api:1.4"),
        # an OSV id on a PyPI package
        fx.sca_finding(10, vulnerability_ids=(CVEReference.of("PYSEC-2023-1"),), cvss_v3=None,
                       component=Component(purl="pkg:pypi/requests@2.0.0", name="requests", version="2.0.0")),
        # not VEX material
        fx.finding(11),  # SAST
        fx.dast_finding(12, vulnerability_ids=(CVEReference.of("CVE-2021-44228"),)),  # CVE but no component
        fx.finding(13, category=FindingCategory.SECRET, rule_id="aws-key", cwes=(CWEReference(id=798),)),
        fx.sca_finding(14, category=FindingCategory.LICENSE, vulnerability_ids=()),  # purl, no id
        fx.sca_finding(15, component=Component(name="openssl", version="3.0.1")),  # id, no purl
    ]


def _render(items: list[ReportFinding], **summary: Any) -> tuple[bytes, VexSink]:
    buf = io.BytesIO()
    sink = VexSink(fx.summary(**summary), buf)
    for item in items:
        sink.add(item)
    sink.finish()
    return buf.getvalue(), sink


def _doc(items: list[ReportFinding], **summary: Any) -> dict[str, Any]:
    raw, _ = _render(items, **summary)
    doc: dict[str, Any] = json.loads(raw)
    return doc


def _vuln(doc: dict[str, Any], vid: str, purl: str) -> dict[str, Any]:
    matches = [v for v in doc["vulnerabilities"] if v["id"] == vid and v["affects"][0]["ref"] == purl]
    assert len(matches) == 1, (vid, purl, [(v["id"], v["affects"]) for v in doc["vulnerabilities"]])
    found: dict[str, Any] = matches[0]
    return found


def test_vex_validates_against_cyclonedx_1_5_schema(tmp_path: Path) -> None:
    paths = write_reports(fx.summary(), fx.source(findings()), tmp_path, ["vex"])
    path = Path(paths["vex"])
    assert path.name.endswith(".cdx.json")
    doc = json.loads(path.read_text(encoding="utf-8"))
    _assert_valid(doc)
    assert doc["bomFormat"] == "CycloneDX" and doc["specVersion"] == "1.5" and doc["version"] == 1
    assert doc["metadata"]["timestamp"] == "2026-11-20T12:00:00Z"  # finished_at
    assert doc["metadata"]["component"]["name"] == "shop"
    assert doc["metadata"]["tools"]["components"][0]["name"] == "AIVA"
    # an empty run, and a run that has not finished, are valid too
    empty = _doc([], finished_at=None)
    _assert_valid(empty)
    assert empty["vulnerabilities"] == [] and empty["components"] == []
    assert empty["metadata"]["timestamp"] == "2026-11-20T11:55:00Z"  # started_at


def test_vex_schema_check_catches_a_broken_document() -> None:
    doc = _doc(findings())
    doc["vulnerabilities"][0]["analysis"]["state"] = "fixed"  # not a CycloneDX state
    assert list(_validator().iter_errors(doc))


def test_vex_content() -> None:
    doc = _doc(findings())
    purls = [c["purl"] for c in doc["components"]]
    assert purls == sorted(set(purls))
    assert all(c["bom-ref"] == c["purl"] for c in doc["components"])
    libc = next(c for c in doc["components"] if c["name"] == "libc6")
    assert libc["group"] == "debian" and libc["version"] == "2.36-9" and libc["type"] == "library"
    refs = {c["bom-ref"] for c in doc["components"]}
    for v in doc["vulnerabilities"]:
        assert v["affects"][0]["ref"] in refs

    lodash = _vuln(doc, "CVE-2019-10744", "pkg:npm/lodash@4.17.1")
    assert lodash["source"] == {"name": "NVD", "url": "https://nvd.nist.gov/vuln/detail/CVE-2019-10744"}
    assert lodash["references"] == [{"id": "GHSA-jf85-cpcp-j695", "source": {
        "name": "GitHub", "url": "https://github.com/advisories/GHSA-jf85-cpcp-j695"}}]
    methods = [(r.get("method"), r.get("score"), r.get("vector")) for r in lodash["ratings"]]
    assert methods[0] == ("CVSSv4", 9.3, "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N")
    assert methods[1] == ("CVSSv31", 9.8, "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H")
    assert lodash["ratings"][1]["severity"] == "critical"
    scanner = {r["source"]["name"]: r["severity"] for r in lodash["ratings"] if "source" in r}
    assert scanner == {"AIVA": "critical", "trivy": "critical", "grype": "critical"}
    assert lodash["cwes"] == [1321]
    assert lodash["advisories"] == [{"url": "https://nvd.nist.gov/vuln/detail/CVE-2019-10744"}]
    assert lodash["recommendation"].startswith("Upgrade lodash 4.17.1 to one of 4.17.12, 4.17.21 or later.")
    assert "Upgrade lodash to 4.17.12." in lodash["recommendation"]
    assert lodash["affects"] == [{"ref": "pkg:npm/lodash@4.17.1",
                                  "versions": [{"version": "4.17.1", "status": "affected"}]}]
    assert lodash["analysis"]["state"] == "exploitable"  # active beats new
    assert "2 findings: 1 active, 1 new" in lodash["analysis"]["detail"]
    props = {p["name"]: p["value"] for p in lodash["properties"]}
    assert props["aiva:findingIds"] == "1,2" and props["aiva:status"] == "active=1,new=1"

    ghsa = _vuln(doc, "GHSA-jf85-cpcp-j695", "pkg:npm/lodash@4.17.1")
    assert ghsa["source"]["name"] == "GitHub"
    assert ghsa["references"][0]["id"] == "CVE-2019-10744"

    libc_v = _vuln(doc, "CVE-2023-4911", "pkg:deb/debian/libc6@2.36-9?arch=amd64&distro=debian-12")
    assert libc_v["cwes"] == [787]  # CWE-0 is no CWE
    assert all(r.get("method") == "other" for r in libc_v["ratings"])  # no CVSS known
    assert "recommendation" not in libc_v
    assert libc_v["analysis"]["state"] == "in_triage"

    osv = _vuln(doc, "PYSEC-2023-1", "pkg:pypi/requests@2.0.0")
    assert osv["source"] == {"name": "OSV", "url": "https://osv.dev/vulnerability/PYSEC-2023-1"}


def test_non_vex_findings_are_excluded() -> None:
    items = findings()
    raw, sink = _render(items)
    doc = json.loads(raw)
    assert sink.skipped == 5
    ids_in = {v["id"] for v in doc["vulnerabilities"]}
    assert "CVE-2021-44228" not in ids_in  # DAST finding with a CVE but no component
    assert "CVE-2024-1015" not in ids_in  # component without purl
    component_names = {c["name"] for c in doc["components"]}
    assert "openssl" not in component_names
    # the licence finding's purl has no vulnerability, so no component either
    assert "pkg:npm/lodash@4.17.14" not in {c["purl"] for c in doc["components"]}
    # pairs: lodash@4.17.1 x (CVE, GHSA), 4.17.3..8 x 1, libc6, requests
    assert len(doc["vulnerabilities"]) == 2 + 6 + 1 + 1
    only_sast = _doc([fx.finding(1), fx.dast_finding(2), fx.finding(3, category=FindingCategory.SECRET)])
    assert only_sast["vulnerabilities"] == [] and only_sast["components"] == []


@pytest.mark.parametrize(("status", "state", "response", "detail"), [
    (S.NEW, "in_triage", None, "awaiting triage"),
    (S.ACTIVE, "exploitable", ["update"], "open in AIVA"),
    (S.REOPENED, "exploitable", ["update"], "after it was mitigated"),
    (S.MITIGATED, "resolved", None, "no longer detected"),
    (S.FALSE_POSITIVE, "false_positive", None, "false positive"),
    (S.RISK_ACCEPTED, "exploitable", ["will_not_fix"], "risk accepted"),
    (S.OUT_OF_SCOPE, "not_affected", None, "out of scope"),
])
def test_status_maps_to_analysis(status: S, state: str, response: list[str] | None, detail: str) -> None:
    doc = _doc([fx.sca_finding(3, status=status)])
    (vuln,) = doc["vulnerabilities"]
    analysis = vuln["analysis"]
    assert analysis["state"] == state
    assert analysis.get("response") == response
    assert detail in analysis["detail"]
    assert "justification" not in analysis
    if status is S.RISK_ACCEPTED:
        assert analysis["detail"] == "risk accepted"
    _assert_valid(doc)


def test_open_finding_without_a_fix_gets_no_response() -> None:
    comp = Component(purl="pkg:npm/left-pad@1.0.0", name="left-pad", version="1.0.0")
    (vuln,) = _doc([fx.sca_finding(3, status=S.ACTIVE, component=comp)])["vulnerabilities"]
    assert vuln["analysis"] == {"state": "exploitable", "detail": "open in AIVA: detected again by the latest scan"}


def test_mixed_statuses_most_pressing_wins() -> None:
    comp = Component(purl="pkg:npm/a@1.0.0", name="a", version="1.0.0")
    cve = (CVEReference.of("CVE-2024-0001"),)

    def one(i: int, status: S) -> ReportFinding:
        return fx.sca_finding(i, status=status, component=comp, vulnerability_ids=cve)

    def state(*statuses: S) -> str:
        (vuln,) = _doc([one(i, s) for i, s in enumerate(statuses, 1)])["vulnerabilities"]
        result: str = vuln["analysis"]["state"]
        return result

    assert state(S.FALSE_POSITIVE, S.REOPENED) == "exploitable"
    assert state(S.MITIGATED, S.NEW) == "in_triage"
    assert state(S.MITIGATED, S.FALSE_POSITIVE) == "false_positive"
    assert state(S.OUT_OF_SCOPE, S.FALSE_POSITIVE, S.MITIGATED) == "not_affected"
    (vuln,) = _doc([one(1, S.RISK_ACCEPTED), one(2, S.MITIGATED)])["vulnerabilities"]
    assert vuln["analysis"]["response"] == ["will_not_fix"]
    assert vuln["analysis"]["detail"] == "risk accepted (2 findings: 1 risk_accepted, 1 mitigated)"


def test_output_is_deterministic() -> None:
    items = findings()
    first, _ = _render(items)
    again, _ = _render(items)
    assert first == again
    shuffled = list(items)
    random.Random(7).shuffle(shuffled)
    assert _render(shuffled)[0] == first  # merged pairs do not depend on input order either
    doc = json.loads(first)
    assert doc["serialNumber"] == serial_number("run-0001") == f"urn:uuid:{uuid.uuid5(SERIAL_NAMESPACE, 'run-0001')}"
    assert _doc(items, run_id="run-0002")["serialNumber"] != doc["serialNumber"]
    ids = [(v["id"], v["affects"][0]["ref"]) for v in doc["vulnerabilities"]]
    assert ids == sorted(ids)


def test_severity_only_finding_and_worst_severity_per_tool() -> None:
    comp = Component(purl="pkg:golang/example.com/m@v1.0.0", name="example.com/m", version="v1.0.0")
    cve = (CVEReference.of("CVE-2024-0002"),)
    items = [
        fx.finding(1, category=FindingCategory.SCA, severity=Severity.LOW, component=comp, vulnerability_ids=cve,
                   location=None, risk_score=2.0),
        fx.finding(2, category=FindingCategory.SCA, severity=Severity.HIGH, component=comp, vulnerability_ids=cve,
                   location=None, risk_score=7.0),
    ]
    doc = _doc(items)
    _assert_valid(doc)
    (vuln,) = doc["vulnerabilities"]
    by_source = {r["source"]["name"]: r for r in vuln["ratings"]}
    assert by_source["semgrep"]["severity"] == "high"
    assert by_source["AIVA"]["score"] == 7.0 and by_source["AIVA"]["severity"] == "high"
    (component,) = doc["components"]
    assert component["group"] == "example.com" and component["name"] == "m"

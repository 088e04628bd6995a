"""The hot paths of large reports build the same findings as the general code: `new_finding` and
`new_location` (a dict validated directly) equal the models' own constructors, errors included, and
the Trivy and SARIF per-entry code (validated from a dict, vuln_refs' one-id path) gives, on entries
with fields of any type, either a ReportParseError or findings that validation leaves unchanged
(that it gives every field of every corpus finding as before:
test_fast_paths.test_corpus_findings_unchanged).
"""

from __future__ import annotations

import copy
import json
import random
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from aiva.enums import Confidence, FindingCategory, Severity
from aiva.errors import ReportParseError
from aiva.parsers import get, sarif, trivy
from aiva.parsers.base import ParseContext, ReportSource, vuln_refs
from aiva.schemas import Component, CWEReference, Finding, Location, ToolInfo, new_finding, new_location


def _values(**over: Any) -> dict[str, Any]:
    kw: dict[str, Any] = {
        "fingerprint": "f" * 40, "fingerprint_version": "x/1", "format": "x", "tool": ToolInfo(name="t"),
        "category": FindingCategory.SCA, "title": "A title", "severity": Severity.HIGH,
        "confidence": Confidence.FIRM, "cwes": (CWEReference(id=79),), "component": Component(name="p"),
        "location": Location(file_path="a.py"), "references": ("https://x",), "warnings": (),
    }
    kw.update(over)
    return kw


def _same(a: Finding | Location, b: Finding | Location) -> None:
    assert type(a) is type(b)
    assert a == b
    assert a.model_fields_set == b.model_fields_set
    assert a.model_dump_json() == b.model_dump_json()


@pytest.mark.parametrize("over", [
    {},
    {"title": "  padded  ", "description": " d ", "tags": (" t ",)},  # stripped alike
    {"severity": "high", "category": "sca", "confidence": "firm"},  # words become members alike
    {"cwes": [CWEReference(id=79)], "references": ["https://x"]},  # lists become tuples alike
    {"rule_id": None, "target": "img", "remediation": "Upgrade", "suppressed": True},
])
def test_new_finding_is_the_constructor(over: dict[str, Any]) -> None:
    values = _values(**over)
    _same(new_finding(dict(values)), Finding(**values))


@pytest.mark.parametrize("over", [
    {"title": ""},
    {"title": "   "},
    {"title": 5},
    {"description": ["x"]},
    {"severity": "severe"},
    {"unknown_field": 1},
    {"description": "x" * 65_537},
    {"title": "a\ud800b"},
])
def test_new_finding_refuses_what_the_constructor_refuses(over: dict[str, Any]) -> None:
    values = _values(**over)
    with pytest.raises(ValidationError) as constructor:
        Finding(**values)
    with pytest.raises(ValidationError) as direct:
        new_finding(dict(values))
    assert direct.value.errors(include_context=False) == constructor.value.errors(include_context=False)
    assert str(direct.value) == str(constructor.value)
    assert direct.value.title == "Finding"


def test_new_finding_needs_the_required_fields() -> None:
    values = _values()
    del values["fingerprint"]
    with pytest.raises(ValidationError, match="fingerprint"):
        new_finding(values)


def test_new_location_is_the_constructor() -> None:
    for values in ({"file_path": "a.py", "start_line": 3, "end_line": None, "snippet": " x "}, {}):
        _same(new_location(dict(values)), Location(**values))
    with pytest.raises(ValidationError, match="start_line"):
        new_location({"start_line": -1})


# -- entries with fields of any type ----------------------------------------------------------------

ODD: list[Any] = [
    None, 0, 1, 1.5, True, "", " x ", "é", " \u00e9 ", "\u2003pad\u2003", [], {}, {"a": 1}, ["x", 5], "x" * 70_000,
    "CWE-79", ["CWE-79"], ["CWE-79", "CWE-20"], [79], ["79 "],
    ["https://github.com/advisories/GHSA-aaaa-bbbb-cccc"],
    "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", "CVSS:3.1/AV:X",
    {"nvd": {"V3Vector": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}}, {"nvd": {"V3Vector": 5}},
    {"ghsa": {"V3Vector": "CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}}, {"PURL": "pkg:npm/x@1"}, {"PURL": 5},
]
VULN = {
    "VulnerabilityID": "CVE-2020-1234", "PkgName": "lodash", "InstalledVersion": "4.17.1", "FixedVersion": "4.17.21",
    "Status": "fixed", "SeveritySource": "nvd", "Title": "Prototype pollution", "Description": "desc",
    "Severity": "HIGH", "CweIDs": ["CWE-1321"],
    "CVSS": {"nvd": {"V3Vector": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}},
    "References": ["https://nvd.nist.gov/vuln/detail/CVE-2020-1234"],
}
RESULT = {
    "ruleId": "R1", "level": "error", "message": {"text": "found CVE-2020-1234 here"},
    "locations": [{"physicalLocation": {"artifactLocation": {"uri": "file://a.py"},
                                        "region": {"startLine": 3, "endLine": 4, "snippet": {"text": "x = 1"}}}}],
}


def _trivy_doc(rng: random.Random, trial: int) -> dict[str, Any]:
    vulns = []
    for k in range(rng.randrange(1, 4)):
        v = copy.deepcopy(VULN)
        for _ in range(rng.randrange(1, 4)):
            field = rng.choice([*sorted(VULN), "PkgPath", "PkgIdentifier"])
            if rng.random() < 0.15:
                v.pop(field, None)
            else:
                v[field] = copy.deepcopy(rng.choice(ODD))
        if trial % 3 == 0 and isinstance(v.get("VulnerabilityID"), str):
            v["VulnerabilityID"] = f"CVE-2021-{trial:04d}{k}"  # no cache hit
        vulns.append(v)
    rtype = rng.choice(["debian", "npm", None, 5, "alpine"])
    return {"SchemaVersion": 2, "ArtifactName": "img",
            "Results": [{"Target": "t", "Class": "os-pkgs", "Type": rtype, "Vulnerabilities": vulns}]}


def _sarif_doc(rng: random.Random) -> dict[str, Any]:
    odd = [None, 0, 5, -1, "", " x ", "é", {"text": "CVE-2020-1111 in x"}, {"markdown": "m"}, [], {}, True,
           {"text": " GHSA-aaaa-bbbb-cccc and CVE-2020-2222 "}, "CVE-2019-1234", "x" * 70_000]
    results = []
    for _ in range(rng.randrange(1, 4)):
        r = copy.deepcopy(RESULT)
        region = r["locations"][0]["physicalLocation"]["region"]
        for _ in range(rng.randrange(1, 4)):
            value = copy.deepcopy(rng.choice(odd))
            target = rng.choice(["ruleId", "message", "startLine", "endLine", "uri"])
            if target in ("ruleId", "message"):
                r[target] = value
            elif target == "uri":
                r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] = value
            else:
                region[target] = value
        results.append(r)
    rules = [{"id": "R1", "shortDescription": {"text": "Rule one"}}]
    return {"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "semgrep", "rules": rules}}, "results": results}]}


@pytest.mark.parametrize("fmt", ["trivy", "sarif"])
def test_odd_entries_are_errors_or_valid_findings(fmt: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever the field types, a finding is what validating its fields again gives (nothing the
    direct path skipped), or the entry is a ReportParseError naming where it is."""
    rng = random.Random(5)
    mod = trivy if fmt == "trivy" else sarif
    made = refused = 0
    for trial in range(150):
        doc = _trivy_doc(rng, trial) if fmt == "trivy" else _sarif_doc(rng)
        path = tmp_path / f"{trial}.json"
        path.write_text(json.dumps(doc))
        for threshold in (1 << 40, 0):
            monkeypatch.setattr(mod, "STREAM_ABOVE_BYTES", threshold)
            try:
                findings = list(get(fmt).parse(ReportSource(str(path)), ParseContext()))
            except ReportParseError as e:
                assert e.position and ("Results[0]" in e.position or "results[" in e.position), e
                refused += 1
                continue
            for f in findings:
                again = Finding(**{name: getattr(f, name) for name in f.model_fields_set})
                _same(f, again)
                made += 1
    assert made > 100 and refused > 20


@pytest.mark.parametrize(("text", "ids"), [
    ("found CVE-2020-1234 here", 1), ("cve-2020-12345 and ghsa-2345-6789-cfgh", 2),
    ("GH\u017fA-2345-6789-cfgh (a long s: the regex takes it for an s)", 1), ("CvE-2021-0001,CVE-2021-0002", 2),
    ("no advisory here", 0), ("x" * 1990 + " CVE-2020-1111", 0), ("xCVE-2020-1234 (no word boundary)", 0),
    ("\uff23ve-2020-1234 (a fullwidth C)", 0),
])
def test_ids_in_sarif_messages_as_the_regex_finds_them(text: str, ids: int, tmp_path: Path) -> None:
    """Only messages that hold "cve-"/"ghsa-" (case-folded) reach the regex: no id it finds is lost."""
    doc = {"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "t", "rules": []}},
                                         "results": [{"ruleId": "R", "message": {"text": text}}]}]}
    path = tmp_path / "m.sarif"
    path.write_text(json.dumps(doc))
    (finding,) = get("sarif").parse(ReportSource(str(path)), ParseContext())
    assert finding.vulnerability_ids == vuln_refs(sarif._VULN_IN_TEXT.findall(text[:2000]))
    assert len(finding.vulnerability_ids) == ids


def test_ids_in_text_same_as_findall() -> None:
    """The id scan gives what the regex's findall gives, on text made of id fragments, in any case."""
    rng = random.Random(3)
    parts = ["CVE-2020-1234", "cve-2021-12345", "GHSA-2345-6789-cfgh", "gh\u017fa-2345-6789-CFGH",
             "CVE-", "cve-", "cVe-", "2020", "-", "1234", "12345", "GHSA", "ghsa-", "gh\u017fa-", "2345", "cfgh",
             "-6789", "x", " ", "é", "_", "9", ",", "(", ")", "ß", "\uff23", "\n"]
    matched = 0
    for _ in range(5000):
        text = "".join(rng.choice(parts) for _ in range(rng.randrange(1, 16)))
        want = sarif._VULN_IN_TEXT.findall(text)
        assert sarif._ids_in(text) == want, text
        matched += bool(want)
    assert matched > 200

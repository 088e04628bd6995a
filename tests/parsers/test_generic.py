"""The two generic layouts: AIVA's own (`generic`, docs/generic-format.md) and DefectDojo's
Generic Findings Import (`defectdojo_generic`).

The documented examples are fixtures (they must parse as the documentation says), the
sniffers are specific (lower priority than every tool format, and neither claims the
other's files), secrets are never kept, and bad input names the file, format and position.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from aiva.enums import Confidence, FindingCategory, Severity
from aiva.errors import ReportParseError
from aiva.parsers import detect, get
from aiva.parsers.base import ParseContext, ReportSource
from aiva.schemas import Finding
from tests.corpus import require_corpus

ROOT = Path(__file__).resolve().parent.parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
DOC = ROOT / "docs" / "generic-format.md"


def parse(fmt: str, path: Path | str, ctx: ParseContext | None = None) -> list[Finding]:
    return list(get(fmt).parse(ReportSource(str(path)), ctx or ParseContext()))


def fps(fmt: str, path: Path | str) -> list[str]:
    return [f.fingerprint for f in parse(fmt, path)]


def one(findings: list[Finding], **want: object) -> Finding:
    hits = [f for f in findings if all(getattr(f, k) == v for k, v in want.items())]
    assert len(hits) == 1, f"expected one finding with {want}, got {len(hits)}"
    return hits[0]


def write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


# ---- AIVA's generic layout ---------------------------------------------------------------------


def test_doc_examples_are_the_fixtures() -> None:
    """The fixtures are the documentation's examples, so the documentation cannot drift."""
    doc = DOC.read_text()
    csv_example = re.search(r"```csv\n(.*?)```", doc, re.S)
    json_example = re.search(r"## JSON example\n\n```json\n(.*?)```", doc, re.S)
    assert csv_example and json_example
    assert (FIXTURES / "generic/doc_example.csv").read_text() == csv_example.group(1)
    assert (FIXTURES / "generic/doc_example.json").read_text() == json_example.group(1)


@pytest.mark.parametrize("name", ["doc_example.csv", "doc_example.json"])
def test_generic_detected(name: str) -> None:
    assert detect(ReportSource(str(FIXTURES / "generic" / name))).name == "generic"


def test_generic_csv_example() -> None:
    fs = parse("generic", FIXTURES / "generic/doc_example.csv")
    assert len(fs) == 3
    sqli = one(fs, rule_id="sqli")
    assert sqli.severity is Severity.HIGH and sqli.category is FindingCategory.DAST
    assert sqli.tool.name == "inhouse-dast"
    assert [c.id for c in sqli.cwes] == [89]
    assert sqli.endpoint is not None
    assert (sqli.endpoint.host, sqli.endpoint.port, sqli.endpoint.parameter) == (
        "shop.example.com",
        443,
        "user",
    )
    assert sqli.target == "shop"
    lodash = one(fs, rule_id="CVE-2021-23337")
    assert lodash.component is not None
    assert lodash.component.purl == "pkg:npm/lodash@4.17.20"  # built from ecosystem + name + version
    assert lodash.component.fixed_version == "4.17.21"
    assert lodash.cvss_v3 is not None and lodash.cvss_v3.base_score == 7.2
    assert lodash.severity is Severity.MEDIUM  # the file's word, not the score
    pw = one(fs, rule_id="hardcoded-password")
    assert pw.location is not None and (pw.location.file_path, pw.location.start_line) == ("src/db.py", 12)


def test_generic_json_example() -> None:
    fs = parse("generic", FIXTURES / "generic/doc_example.json")
    assert len(fs) == 2
    assert {f.tool.name for f in fs} == {"inhouse-scanner"} and {f.tool.version for f in fs} == {"2.3.0"}
    sqli = one(fs, rule_id="sqli")
    assert sqli.raw_id == "f-7d1c" and sqli.confidence is Confidence.FIRM
    assert sqli.endpoint is not None and sqli.endpoint.url == "https://shop.example.com/login"
    lodash = one(fs, rule_id="CVE-2021-23337")
    assert lodash.severity is Severity.HIGH  # 7.2 read as a CVSS score
    assert lodash.location is not None and lodash.location.file_path == "package-lock.json"
    assert {f.target for f in fs} == {"shop"}
    assert {
        f.target for f in parse("generic", FIXTURES / "generic/doc_example.json", ParseContext(target="x"))
    } == {"x"}


def test_generic_id_is_the_identity(tmp_path: Path) -> None:
    doc = json.loads((FIXTURES / "generic/doc_example.json").read_text())
    doc["findings"][0]["title"] = "renamed"
    doc["findings"][0]["endpoint"]["url"] = "https://shop.example.com/login?session=123"
    doc["findings"][1]["description"] = "a new description"
    doc["findings"][1]["references"] = ["https://example.org/new"]
    p = write(tmp_path, "rerun.json", json.dumps(doc))
    assert fps("generic", p) == fps("generic", FIXTURES / "generic/doc_example.json")


def test_generic_secret_never_kept(tmp_path: Path) -> None:
    p = write(
        tmp_path,
        "s.csv",
        "title,severity,rule_id,file_path,start_line,snippet,secret,description\n"
        "AWS key,high,aws-key,app/settings.py,3,KEY = 'AKIAABCDEFGHIJKLMNOP',AKIAABCDEFGHIJKLMNOP,"
        "found AKIAABCDEFGHIJKLMNOP in code\n",
    )
    (f,) = parse("generic", p)
    assert f.category is FindingCategory.SECRET
    assert f.secret_hash and len(f.secret_hash) == 64
    assert "AKIAABCDEFGHIJKLMNOP" not in f.model_dump_json()
    assert f.location is not None and f.location.snippet and "redacted" in f.location.snippet


def test_generic_repeat_is_dropped(tmp_path: Path) -> None:
    p = write(tmp_path, "d.csv", "title,severity,rule_id\nA,low,r1\nA again,high,r1\nB,low,r2\n")
    fs = parse("generic", p)
    assert [f.title for f in fs] == ["A", "B"]  # same rule, no location: the first is kept


@pytest.mark.parametrize(
    ("body", "message", "position"),
    [
        ("title,severity\nA,urgent\n", "severity 'urgent'", "line 2"),
        ("title,severity\n,high\n", "no title", "line 2"),
        ("title,severity,category\nA,low,pentest\n", "unknown category", "line 2"),
        ('title,severity,description\nA,low,"unterminated\n', "CSV", "line"),
    ],
)
def test_generic_bad_csv(tmp_path: Path, body: str, message: str, position: str) -> None:
    p = write(tmp_path, "bad.csv", body)
    with pytest.raises(ReportParseError) as e:
        parse("generic", p)
    assert message in str(e.value)
    assert e.value.path == str(p) and e.value.format == "generic"
    assert e.value.position is not None and e.value.position.startswith(position)


def test_generic_bad_json(tmp_path: Path) -> None:
    text = (FIXTURES / "generic/doc_example.json").read_text()
    p = write(tmp_path, "cut.json", text[: len(text) // 2])
    with pytest.raises(ReportParseError) as e:
        parse("generic", p)
    assert e.value.format == "generic" and e.value.position and "line" in e.value.position
    p = write(tmp_path, "notobj.json", '{"schema": "aiva-generic/1", "findings": [1]}')
    with pytest.raises(ReportParseError) as e:
        parse("generic", p)
    assert e.value.position == "findings[0]"


def test_generic_reordered_same_fingerprints(tmp_path: Path) -> None:
    doc = json.loads((FIXTURES / "generic/doc_example.json").read_text())
    doc["findings"].reverse()
    p = write(tmp_path, "rev.json", json.dumps(doc))
    assert set(fps("generic", p)) == set(fps("generic", FIXTURES / "generic/doc_example.json"))
    header, *rows = (FIXTURES / "generic/doc_example.csv").read_text().splitlines(keepends=True)
    p = write(tmp_path, "rev.csv", header + "".join(reversed(rows)))
    assert set(fps("generic", p)) == set(fps("generic", FIXTURES / "generic/doc_example.csv"))


@pytest.mark.parametrize(
    "text",
    [
        "Title,Severity,Description\nA,High,x\n",  # DefectDojo's capitalised columns
        "title,severity,owner\nA,high,bob\n",  # a column AIVA does not define
        "title,description\nA,x\n",  # no severity
        '{"findings": [{"title": "A", "severity": "high"}]}',  # JSON without the schema marker
    ],
)
def test_generic_sniff_is_specific(tmp_path: Path, text: str) -> None:
    p = write(tmp_path, "x.csv" if not text.startswith("{") else "x.json", text)
    assert not get("generic").sniff(ReportSource(str(p)))


# ---- DefectDojo's generic layout ---------------------------------------------------------------


@pytest.mark.parametrize("name", ["findings.json", "findings.csv"])
def test_defectdojo_detected(name: str) -> None:
    assert detect(ReportSource(str(FIXTURES / "defectdojo_generic" / name))).name == "defectdojo_generic"


def test_defectdojo_json_fixture() -> None:
    fs = parse("defectdojo_generic", FIXTURES / "defectdojo_generic/findings.json")
    # the TLS finding has two endpoints (two findings); the repeated "Hard-coded key" is one.
    assert len(fs) == 4
    assert {f.tool.name for f in fs} == {"in-house scanner"}
    tls = [f for f in fs if f.rule_id == "TLS-OLD"]
    assert {(f.endpoint.host, f.endpoint.port) for f in tls if f.endpoint} == {
        ("a.test.example", 8443),
        ("b.test.example", 443),
    }
    assert {f.confidence for f in tls} == {Confidence.CERTAIN}
    assert {f.category for f in tls} == {FindingCategory.DAST}
    assert tls[0].remediation == "Disable TLS 1.0." and [c.id for c in tls[0].cwes] == [326]
    dep = one(fs, raw_id="dep-0001")
    assert dep.category is FindingCategory.SCA and dep.severity is Severity.HIGH
    assert dep.component is not None
    assert (dep.component.name, dep.component.version, dep.component.fixed_version) == (
        "com.fasterxml.jackson.core:jackson-databind",
        "2.12.1",
        "2.12.6.1",
    )
    assert dep.cvss_v3 is not None and dep.cvss_v3.base_score == 7.5
    key = one(fs, title="Hard-coded key")
    assert key.suppressed and "false-positive" in key.tags and key.category is FindingCategory.SAST
    assert key.location is not None and (key.location.file_path, key.location.start_line) == (
        "src/app/config.py",
        42,
    )


def test_defectdojo_csv_fixture() -> None:
    fs = parse("defectdojo_generic", FIXTURES / "defectdojo_generic/findings.csv")
    assert len(fs) == 3  # one per row (DefectDojo would merge the two XSS rows)
    xss = [f for f in fs if f.title == "Reflected XSS"]
    assert {f.endpoint.url for f in xss if f.endpoint} == {
        "https://shop.test.example/search?q=1",
        "https://shop.test.example/help",
    }
    assert {f.confidence for f in xss} == {Confidence.CERTAIN, Confidence.UNKNOWN}
    assert "Session theft." in xss[0].description
    hdr = one(fs, title="Missing header")
    assert hdr.severity is Severity.INFO  # empty severity
    assert {"duplicate", "inactive"} <= set(hdr.tags)
    assert hdr.endpoint is not None and (hdr.endpoint.host, hdr.endpoint.port) == ("shop.test.example", 8080)


def test_defectdojo_reordered_same_fingerprints(tmp_path: Path) -> None:
    doc = json.loads((FIXTURES / "defectdojo_generic/findings.json").read_text())
    doc["findings"].reverse()
    for f in doc["findings"]:
        if isinstance(f.get("endpoints"), list):
            f["endpoints"].reverse()
    p = write(tmp_path, "rev.json", json.dumps(doc))
    assert set(fps("defectdojo_generic", p)) == set(
        fps("defectdojo_generic", FIXTURES / "defectdojo_generic/findings.json")
    )
    header, *rows = (FIXTURES / "defectdojo_generic/findings.csv").read_text().splitlines(keepends=True)
    p = write(tmp_path, "rev.csv", header + "".join(reversed(rows)))
    assert set(fps("defectdojo_generic", p)) == set(
        fps("defectdojo_generic", FIXTURES / "defectdojo_generic/findings.csv")
    )


def test_defectdojo_truncated(tmp_path: Path) -> None:
    text = (FIXTURES / "defectdojo_generic/findings.json").read_text()
    p = write(tmp_path, "cut.json", text[: len(text) // 2])
    with pytest.raises(ReportParseError) as e:
        parse("defectdojo_generic", p)
    assert e.value.path == str(p) and e.value.format == "defectdojo_generic"
    assert e.value.position and e.value.position.startswith("line ")
    csv_text = (FIXTURES / "defectdojo_generic/findings.csv").read_text()
    p = write(tmp_path, "cut.csv", csv_text[: csv_text.index("Encode output") - 3])
    with pytest.raises(ReportParseError) as e:
        parse("defectdojo_generic", p)
    assert (
        e.value.format == "defectdojo_generic" and e.value.position and e.value.position.startswith("line ")
    )


def test_defectdojo_sniff_is_specific(tmp_path: Path) -> None:
    sniff = get("defectdojo_generic").sniff
    assert not sniff(ReportSource(str(FIXTURES / "generic/doc_example.json")))  # AIVA's layout
    assert not sniff(ReportSource(str(FIXTURES / "generic/doc_example.csv")))
    nested = write(
        tmp_path, "npm.json", '{"advisories": {"1": {"findings": [{"version": "1"}], "title": "x"}}}'
    )
    assert not sniff(ReportSource(str(nested)))  # a `findings` key that is not top-level
    extra = write(tmp_path, "extra.csv", "Title,Severity,Plugin ID\nA,High,1\n")
    assert not sniff(ReportSource(str(extra)))


def test_defectdojo_corpus_golden() -> None:
    corpus = require_corpus()
    fs = parse("defectdojo_generic", corpus / "generic/generic_report3.json")
    assert len(fs) == 5
    mitigated = [f for f in fs if "mitigated" in f.tags]
    assert len(mitigated) == 2 and all(f.suppressed for f in mitigated)
    two = [f for f in fs if f.title == "test title with endpoints as strings"]
    assert {f.endpoint.port for f in two if f.endpoint} == {80, 2345}
    dict_ep = one(fs, title="test title with endpoints as dict")
    assert dict_ep.endpoint is not None and dict_ep.endpoint.host == "exemple.com"
    assert [v.id for v in dict_ep.vulnerability_ids] == ["CVE-2020-36234"]
    assert dict_ep.location is not None and dict_ep.location.start_line == 13

    rows = parse("defectdojo_generic", corpus / "generic/generic_report1.csv")
    assert sorted(c.id for f in rows for c in f.cwes) == [1, 2, 3, 4, 5]
    four = parse("defectdojo_generic", corpus / "generic/generic_report4.csv")
    assert one(four, title="Title2").vulnerability_ids[0].kind == "ghsa"
    assert one(four, title="Title3").endpoint == one(four, title="Title3").endpoint.__class__(
        host="127.0.0.1", port=80
    )
    (img,) = parse("defectdojo_generic", corpus / "generic/test_with_image.json")
    assert "attachments" in img.tags and "iVBORw0KGgo" not in img.model_dump_json()
    fix = parse("defectdojo_generic", corpus / "generic/generic_report_fix_version.json")
    assert one(fix, title="test title with fix_version").component.fixed_version == "2.1.3"  # type: ignore[union-attr]
    report1 = parse("defectdojo_generic", corpus / "generic/generic_report1.json")
    assert {f.raw_id for f in report1} == {
        "3287f2d0-554f-491b-8516-3c349ead8ee5",
        "42500af3-68c5-4dc3-8022-191d93c2f1f7",
    }
    assert fps("defectdojo_generic", corpus / "generic/generic_report3.json") == [f.fingerprint for f in fs]


def test_defectdojo_empty_findings(tmp_path: Path) -> None:
    p = write(tmp_path, "empty.json", '{"name": "nightly", "findings": []}')
    assert detect(ReportSource(str(p))).name == "defectdojo_generic"
    assert parse("defectdojo_generic", p) == []

"""CISA KEV parsing: the real catalog (when ../shared is present), our fixtures, and bad input."""

from __future__ import annotations

import datetime as dt
import gzip
import json
from pathlib import Path

import pytest

from aiva.errors import ReportParseError
from aiva.intel import parse_kev

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "intel"
SHARED_KEV = ROOT.parent / "shared" / "intel" / "kev"
CATALOG = SHARED_KEV / "known_exploited_vulnerabilities.json"
SCHEMA = SHARED_KEV / "known_exploited_vulnerabilities_schema.json"


def _require_shared() -> None:
    if not (CATALOG.is_file() and SCHEMA.is_file()):
        pytest.skip(f"CISA KEV catalog not found at {SHARED_KEV} (../shared beside the checkout)")


def test_real_catalog_validates_against_cisa_schema() -> None:
    _require_shared()
    feed = parse_kev(CATALOG, SCHEMA)
    doc = json.loads(CATALOG.read_text(encoding="utf-8"))
    assert len(feed.entries) == doc["count"] == len(doc["vulnerabilities"])
    assert feed.version == doc["catalogVersion"]
    log4shell = next(e for e in feed.entries if e.cve_id == "CVE-2021-44228")
    assert log4shell.known_ransomware and log4shell.date_added == dt.date(2021, 12, 10)
    assert "CWE-502" in log4shell.cwes
    assert sum(e.known_ransomware for e in feed.entries) == sum(
        v.get("knownRansomwareCampaignUse") == "Known" for v in doc["vulnerabilities"])


def test_real_catalog_schema_violation_names_the_entry(tmp_path: Path) -> None:
    _require_shared()
    doc = json.loads(CATALOG.read_text(encoding="utf-8"))
    doc["vulnerabilities"][7]["cveID"] = "CVE-21-1"
    bad = tmp_path / "kev.json"
    bad.write_text(json.dumps(doc))
    with pytest.raises(ReportParseError) as ei:
        parse_kev(bad, SCHEMA)
    assert ei.value.format == "kev"
    assert ei.value.position == "$.vulnerabilities[7].cveID"
    assert str(bad) in str(ei.value)


def test_fixture_json_and_csv_agree() -> None:
    js = parse_kev(FIXTURES / "kev_small.json")
    cs = parse_kev(FIXTURES / "kev_small.csv")
    assert js.entries == cs.entries
    assert [e.cve_id for e in js.entries] == ["CVE-2021-44228", "CVE-2023-44487", "CVE-2023-4911"]
    assert [e.known_ransomware for e in js.entries] == [True, False, False]
    assert js.entries[0].cwes == ("CWE-20", "CWE-400", "CWE-502")
    assert js.version == "2099.01.01" and cs.version is None
    assert js.sha256 != cs.sha256


def test_fixture_validates_against_schema_when_given() -> None:
    _require_shared()
    assert len(parse_kev(FIXTURES / "kev_small.json", SCHEMA).entries) == 3


def test_gzip_is_detected_by_magic_bytes(tmp_path: Path) -> None:
    gz = tmp_path / "catalog.bin"  # no .gz suffix on purpose
    gz.write_bytes(gzip.compress((FIXTURES / "kev_small.json").read_bytes()))
    assert len(parse_kev(gz).entries) == 3


@pytest.mark.parametrize("content, position, reason", [
    ('{"vulnerabilities": [{"cveID": "CVE-2021-1', "line 1 column", "not valid JSON"),
    ('{"vulnerabilities": {}}', "$.vulnerabilities", "must be a list"),
    ('{"vulnerabilities": []}', None, "no vulnerabilities"),
    ('{"vulnerabilities": [{"cveID": "nope", "vendorProject": "a", "product": "b", "vulnerabilityName": "c",'
     ' "dateAdded": "2021-01-01", "shortDescription": "", "requiredAction": "", "dueDate": "2021-02-01"}]}',
     "$.vulnerabilities[0].cveID", "not a CVE id"),
    ('{"vulnerabilities": [{"cveID": "CVE-2021-0001", "vendorProject": "a", "product": "b",'
     ' "vulnerabilityName": "c", "dateAdded": "12/01/2021"}]}', "$.vulnerabilities[0].dateAdded", "YYYY-MM-DD"),
    ("cveID,vendor\nCVE-2021-0001,x\n", "line 1", "missing column"),
    ("cveID,vendorProject,product,vulnerabilityName,dateAdded,shortDescription,requiredAction,dueDate\n"
     "CVE-2021-0001,a,b,c,2021-01-01,d,e,2021-02-01\nCVE-2021-0002,a,b\n", "line 3", "expected 8 fields"),
    ("cveID,vendorProject,product,vulnerabilityName,dateAdded,shortDescription,requiredAction,dueDate\n"
     "CVE-2021-0001,a,b,c,2021-13-01,d,e,2021-02-01\n", "line 2 (dateAdded)", "YYYY-MM-DD"),
])
def test_bad_input_is_a_clear_parse_error(tmp_path: Path, content: str, position: str | None,
                                          reason: str) -> None:
    bad = tmp_path / "kev.txt"
    bad.write_text(content)
    with pytest.raises(ReportParseError) as ei:
        parse_kev(bad)
    assert ei.value.format == "kev" and ei.value.path == str(bad)
    assert reason in ei.value.reason
    if position is None:
        assert ei.value.position is None
    else:
        assert ei.value.position is not None and ei.value.position.startswith(position)


def test_missing_file_and_empty_file(tmp_path: Path) -> None:
    with pytest.raises(ReportParseError, match="cannot read file"):
        parse_kev(tmp_path / "absent.json")
    empty = tmp_path / "empty.json"
    empty.write_text("  \n")
    with pytest.raises(ReportParseError, match="empty"):
        parse_kev(empty)

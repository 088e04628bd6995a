"""JSON and CSV reports round-trip: every finding and field comes back."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from aiva.enums import VulnerabilityStatus
from aiva.reports.csv_export import COLUMN_NAMES, guard_cell
from aiva.reports.model import ReportFinding, RunSummary, jsonl_source
from aiva.reports.writer import write_reports
from aiva.schemas import Endpoint, Location, ToolInfo
from tests.reports import factory as fx

TRICKY_TITLE = 'Title, with "quotes", commas,\nand a second line; 中文 日本語 العربية'


def mixed_findings() -> list[ReportFinding]:
    return [
        fx.finding(1, title=TRICKY_TITLE, description="line one\r\nline two, \"quoted\""),
        fx.finding(2, title="=HYPERLINK(\"http://evil.example\",\"x\")", description="+cmd|' /C calc'!A0"),
        fx.finding(3, title="-2+3", rule_id="@SUM(1+1)", tool=ToolInfo(name="@tool"),
                   location=Location(file_path="-weird.py", start_line=1)),
        fx.finding(4, title="\uff1d1+1 full-width", status=VulnerabilityStatus.MITIGATED, change="mitigated"),
        fx.sca_finding(5, references=("https://a.example/x;y", "https://b.example/z"), tags=("t1", "t2")),
        fx.dast_finding(6, endpoint=Endpoint(url="https://h.example/p?a=1&b=2", parameter="a")),
        fx.finding(7, title="plain", warnings=("w1; with semicolon", "w2")),
    ]


def test_json_round_trip(tmp_path: Path) -> None:
    items = mixed_findings()
    summary = fx.summary(trend=fx.trend(3), by_severity={"high": 4, "critical": 1})
    jsonl = fx.write_jsonl(tmp_path / "in.jsonl", items)
    paths = write_reports(summary, jsonl_source(jsonl), tmp_path / "out", ["json"])
    doc = json.loads(Path(paths["json"]).read_text(encoding="utf-8"))
    assert set(doc) == {"summary", "findings"}
    assert RunSummary.model_validate(doc["summary"]) == summary
    back = [ReportFinding.model_validate(f) for f in doc["findings"]]
    assert back == items
    # every normalized field is present, defaults included
    assert set(doc["findings"][0]["finding"]) == set(type(items[0].finding).model_fields)


def test_json_of_no_findings_is_valid(tmp_path: Path) -> None:
    paths = write_reports(fx.summary(), fx.source([]), tmp_path, ["json"])
    doc = json.loads(Path(paths["json"]).read_text(encoding="utf-8"))
    assert doc["findings"] == []


def test_csv_round_trip(tmp_path: Path) -> None:
    items = mixed_findings()
    paths = write_reports(fx.summary(), fx.source(items), tmp_path, ["csv"])
    raw = Path(paths["csv"]).read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf"), "UTF-8 BOM for spreadsheet programs"
    with open(paths["csv"], encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == len(items)
    assert tuple(rows[0].keys()) == COLUMN_NAMES
    assert all(None not in r and None not in r.values() for r in rows), "row length differs from header"
    by_fp = {r["fingerprint"]: r for r in rows}
    assert set(by_fp) == {i.finding.fingerprint for i in items}

    assert by_fp["fp-000001"]["title"] == TRICKY_TITLE
    assert by_fp["fp-000001"]["description"] == 'line one\r\nline two, "quoted"'
    # formula injection: guarded with a leading apostrophe
    assert by_fp["fp-000002"]["title"] == "'=HYPERLINK(\"http://evil.example\",\"x\")"
    assert by_fp["fp-000002"]["description"] == "'+cmd|' /C calc'!A0"
    assert by_fp["fp-000003"]["title"] == "'-2+3"
    assert by_fp["fp-000003"]["rule_id"] == "'@SUM(1+1)"
    assert by_fp["fp-000003"]["tool_name"] == "'@tool"
    assert by_fp["fp-000003"]["file_path"] == "'-weird.py"
    assert by_fp["fp-000004"]["title"] == "'\uff1d1+1 full-width"
    assert by_fp["fp-000004"]["status"] == "mitigated"
    # no cell in the file starts with a formula character
    for row in rows:
        for name, value in row.items():
            assert not value.startswith(("=", "+", "-", "@", "\t", "\r")), (name, value)

    sca = by_fp["fp-000005"]
    assert sca["vulnerability_ids"] == "CVE-2024-1005"
    assert sca["cwes"] == "CWE-1321"
    assert sca["component_name"] == "lodash" and sca["component_fixed_version"] == "4.17.21"
    assert sca["component_purl"] == "pkg:npm/lodash@4.17.5"
    assert sca["cvss_v3_score"] == "9.8"
    assert sca["references"].split("\n") == ["https://a.example/x;y", "https://b.example/z"]
    assert sca["tags"] == "t1;t2"
    assert sca["file_path"] == ""
    assert by_fp["fp-000006"]["endpoint_url"] == "https://h.example/p?a=1&b=2"
    assert by_fp["fp-000007"]["warnings"].split("\n") == ["w1; with semicolon", "w2"]
    assert by_fp["fp-000001"]["first_seen"] == items[0].first_seen.isoformat()


def test_guard_cell() -> None:
    assert guard_cell("=1") == "'=1"
    assert guard_cell("safe=1") == "safe=1"
    assert guard_cell("") == ""
    assert guard_cell("\r\n") == "'\r\n"
    assert guard_cell("\tx") == "'\tx"  # (the schema strips whitespace, but the guard does not rely on it)

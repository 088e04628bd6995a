"""write_reports: formats, atomic output, and the HTML page's content and cap."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from aiva.enums import Severity, VulnerabilityStatus
from aiva.reports import writer
from aiva.reports.charts import Bar, Series, bar_chart, line_chart
from aiva.reports.html_report import HtmlSink
from aiva.reports.model import ReportFinding
from aiva.reports.writer import KNOWN_FORMATS, write_reports
from aiva.schemas import Component, CWEReference
from tests.reports import factory as fx


def _files(path: Path) -> list[str]:
    return sorted(p.name for p in path.iterdir())


def test_unknown_format_names_it_and_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(ValueError) as exc:
        write_reports(fx.summary(), fx.source([]), tmp_path / "out", ["html", "docx"])
    msg = str(exc.value)
    assert "'docx'" in msg
    for fmt in KNOWN_FORMATS:
        assert fmt in msg
    assert not (tmp_path / "out").exists()


def test_all_formats_written(tmp_path: Path) -> None:
    items = [fx.finding(i) for i in range(1, 6)] + [fx.sca_finding(6), fx.dast_finding(7)]
    paths = write_reports(fx.summary(run_id="run/../7"), fx.source(items), tmp_path, ["HTML", "json", "csv",
                                                                                      "sarif", "json", "pdf"])
    assert list(paths) == ["html", "json", "csv", "sarif", "pdf"]
    for fmt, path in paths.items():
        p = Path(path)
        assert p.parent == tmp_path and p.suffix == f".{fmt}" and p.stat().st_size > 0
        assert ".." not in p.name and "/" not in p.name
    assert _files(tmp_path) == sorted(Path(p).name for p in paths.values())  # no temp files left
    assert write_reports(fx.summary(), fx.source(items), tmp_path, []) == {}


class _Boom(Exception):
    pass


def _failing_source(n: int) -> Iterator[ReportFinding]:
    for i in range(1, n + 1):
        yield fx.finding(i)
    raise _Boom("store connection lost")


def test_no_partial_file_when_the_source_fails(tmp_path: Path) -> None:
    with pytest.raises(_Boom):
        write_reports(fx.summary(), lambda: _failing_source(50), tmp_path, list(KNOWN_FORMATS))
    assert _files(tmp_path) == []


def test_no_partial_file_when_a_writer_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # earlier runs' reports stay as they were; no new or temporary file appears
    old = write_reports(fx.summary(), fx.source([fx.finding(1)]), tmp_path, ["json", "html"])
    before = {fmt: Path(p).read_bytes() for fmt, p in old.items()}

    class FailingSink:
        def __init__(self, *_: object) -> None:
            pass

        def add(self, item: ReportFinding) -> None:
            if item.id == 3:
                raise _Boom("writer failed")

        def finish(self) -> None:
            pass

        def abort(self) -> None:
            pass

    monkeypatch.setitem(writer.SINKS, "csv", lambda summary, out: FailingSink())
    items = [fx.finding(i) for i in range(1, 10)]
    with pytest.raises(_Boom):
        write_reports(fx.summary(), fx.source(items), tmp_path, ["json", "html", "csv", "sarif"])
    assert _files(tmp_path) == sorted(Path(p).name for p in old.values())
    assert {fmt: Path(p).read_bytes() for fmt, p in old.items()} == before


def test_no_partial_file_when_finish_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken_finish(self: object) -> None:
        raise _Boom("render failed")

    monkeypatch.setattr(HtmlSink, "finish", broken_finish)
    with pytest.raises(_Boom):
        write_reports(fx.summary(), fx.source([fx.finding(1)]), tmp_path, ["json", "csv", "sarif", "html"])
    assert _files(tmp_path) == []


def _html(tmp_path: Path, items: list[ReportFinding], **summary: object) -> str:
    paths = write_reports(fx.summary(**summary), fx.source(items), tmp_path, ["html"])
    return Path(paths["html"]).read_text(encoding="utf-8")


def test_html_lists_every_finding_grouped(tmp_path: Path) -> None:
    items = [
        fx.finding(1, severity=Severity.LOW, risk_score=9.5),
        fx.finding(2, severity=Severity.CRITICAL, risk_score=9.0),
        fx.finding(3, severity=Severity.HIGH, risk_score=5.0),
        fx.finding(4, severity=Severity.HIGH, risk_score=7.2, status=VulnerabilityStatus.MITIGATED,
                   change="mitigated"),
        fx.sca_finding(5),
        fx.dast_finding(6),
    ]
    page = _html(tmp_path, items)
    assert page.count('<details class="finding') == len(items)
    assert "more findings in the JSON/CSV/SARIF reports" not in page
    # one asset (no target): grouped by risk level, then severity (the executive summary's top risks come first)
    order = [int(n) for n in re.findall(r"Finding number (\d+)", page.split('<section id="findings">', 1)[1])]
    assert order.index(2) < order.index(1)  # both critical risk; critical severity before low
    assert order.index(1) < order.index(4) < order.index(3)  # critical risk, then high, then medium
    for text in ("CVE-2024-1005", "CWE-1321", "lodash", "4.17.5", "fixed in 4.17.21", "src/app_1.py:10-12",
                 "https://app.example.com:8443/search/6?q=x (parameter q)", "mitigated in this run"):
        assert text in page, text


def test_html_cap_says_how_many_more(tmp_path: Path) -> None:
    items = [fx.finding(i, risk_score=round(1 + i / 10, 1)) for i in range(1, 26)]
    items.append(fx.finding(99, risk_score=10.0, status=VulnerabilityStatus.MITIGATED, change="mitigated"))
    out = tmp_path / "capped.html"
    with open(out, "wb") as fh:
        sink = HtmlSink(fx.summary(), fh, cap=10)
        for item in items:
            sink.add(item)
        sink.finish()
    page = out.read_text(encoding="utf-8")
    assert "16 more findings in the JSON/CSV/SARIF reports." in page
    assert page.count('<details class="finding') == 10
    shown = {int(n) for n in re.findall(r"Finding number (\d+)", page)}
    assert shown == set(range(16, 26)), "the highest-risk open findings are kept"


def test_html_summary_charts_stages_and_text(tmp_path: Path) -> None:
    items = [
        fx.finding(1, first_seen=fx.NOW - timedelta(days=3)),
        fx.finding(2, first_seen=fx.NOW - timedelta(days=10)),
        fx.finding(3, first_seen=fx.NOW - timedelta(days=45)),
        fx.finding(4, first_seen=fx.NOW - timedelta(days=200)),
        fx.finding(5, first_seen=fx.NOW - timedelta(days=400), status=VulnerabilityStatus.MITIGATED),
        fx.finding(6, title="中文标题 / 日本語タイトル / عنوان عربي", remediation=None,
                   cwes=(CWEReference(id=89),)),
        fx.sca_finding(7, remediation=None,
                       component=Component(name="lodash", version="4.17.1", fixed_version="4.17.21")),
    ]
    page = _html(tmp_path, items, trend=fx.trend(4), tickets_opened=3)
    assert '<meta charset="utf-8">' in page
    assert "中文标题 / 日本語タイトル / عنوان عربي" in page
    assert "Use parameterised queries" in page  # CWE-89 generic guidance
    assert "Upgrade lodash 4.17.1 to 4.17.21 or later." in page
    assert "Guidance (generic)" in page
    assert len(re.findall(r"<svg ", page)) == 5  # severity, risk, age, top assets, trend
    assert "Trend over recent runs" in page
    ages = dict(re.findall(r"<tr><td>(0-7 days|8-30 days|31-90 days|&gt;90 days)</td><td class=\"num\">(\d+)",
                           page))
    assert ages == {"0-7 days": "3", "8-30 days": "1", "31-90 days": "1", "&gt;90 days": "1"}
    assert "timeout once" in page and "<td>scan</td>" in page
    assert "tickets opened" in page
    assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")

    no_trend = _html(tmp_path / "b", items[:2])
    assert len(re.findall(r"<svg ", no_trend)) == 4


def test_charts_escape_and_handle_empty_data() -> None:
    svg = bar_chart('<b>"t"</b>', [Bar("<x>&", 3, 'red" onload="x')])
    assert "<b>" not in svg and "&lt;x&gt;&amp;" in svg and 'red&quot; onload=&quot;x' in svg
    assert "no data" in bar_chart("t", [Bar("a", 0)])
    assert "no data" in line_chart("t", [], [])
    one = line_chart("t", ["<d>"], [Series("<s>", [5])])
    assert "<polyline" not in one and "&lt;d&gt;" in one and "&lt;s&gt;" in one


def test_huge_texts_are_shortened(tmp_path: Path) -> None:
    big = "A" * 60_000
    item = fx.finding(1, title=big, description=big, remediation=big, target=big, rule_id=big,
                      references=("https://x.example/" + big,))
    page = _html(tmp_path, [item])
    assert len(page) < 60_000
    assert "(shortened; full text in the JSON report)" in page

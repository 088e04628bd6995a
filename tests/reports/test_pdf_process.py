"""write_reports with the PDF in a process of its own (large runs): the same files as one pass, and still
all of them or none when either side fails."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from aiva.reports.model import JsonlFindings, ReportFinding, jsonl_source
from aiva.reports.writer import write_reports
from tests.reports import factory as fx

FORMATS = ["html", "json", "csv", "sarif", "pdf"]


def _jsonl(path: Path, items: list[ReportFinding], tail: bytes = b"") -> Path:
    path.write_bytes(b"".join(orjson.dumps(i.model_dump(mode="json")) + b"\n" for i in items) + tail)
    return path


def _items() -> list[ReportFinding]:
    return [fx.finding(i) for i in range(1, 30)] + [fx.sca_finding(30), fx.dast_finding(31)]


def test_pdf_process_writes_what_one_pass_writes(tmp_path: Path) -> None:
    src = jsonl_source(_jsonl(tmp_path / "f.jsonl", _items()))
    summary = fx.summary()
    one = write_reports(summary, src, tmp_path / "one", FORMATS, pdf_top=10)
    two = write_reports(summary, src, tmp_path / "two", FORMATS, pdf_top=10, pdf_process=True)
    assert list(two) == list(one) == FORMATS
    for fmt in ("json", "csv", "sarif", "html"):
        assert Path(two[fmt]).read_bytes() == Path(one[fmt]).read_bytes(), fmt
    pdf = Path(two["pdf"]).read_bytes()
    assert pdf.startswith(b"%PDF-") and pdf.rstrip().endswith(b"%%EOF")
    # same page count: the PDF shows the same digest (page objects, a weasyprint PDF's "/Type /Page")
    assert pdf.count(b"/Type /Page\n") == Path(one["pdf"]).read_bytes().count(b"/Type /Page\n")
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == sorted(Path(p).name for p in two.values())


def test_a_bad_line_leaves_no_file_on_either_side(tmp_path: Path) -> None:
    src = jsonl_source(_jsonl(tmp_path / "f.jsonl", _items(), tail=b'{"not": "a finding"}\n'))
    out = tmp_path / "out"
    with pytest.raises(ValueError):  # pydantic's ValidationError, in this process or the PDF's
        write_reports(fx.summary(), src, out, FORMATS, pdf_process=True)
    assert list(out.iterdir()) == []


class _GoodHereBadThere(JsonlFindings):
    """This process reads good findings; the PDF's process, opening `path`, meets a bad line."""

    def __init__(self, path: Path, items: list[ReportFinding]) -> None:
        super().__init__(path)
        self._items = items

    def __call__(self) -> Iterator[ReportFinding]:
        return iter(self._items)


def test_a_failing_pdf_process_leaves_no_file(tmp_path: Path) -> None:
    items = _items()
    src = _GoodHereBadThere(_jsonl(tmp_path / "f.jsonl", items[:3], tail=b"{truncated"), items)
    out = tmp_path / "out"
    with pytest.raises(orjson.JSONDecodeError):  # raised in the PDF's process, re-raised here
        write_reports(fx.summary(), src, out, FORMATS, pdf_process=True)
    assert list(out.iterdir()) == []  # the other four were complete: none of them appears

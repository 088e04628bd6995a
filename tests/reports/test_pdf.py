"""PDF report: weasyprint renders the print variant; pages are not blank; it stays short.

Page images come from pdftoppm and text from pdftotext (Debian package poppler-utils);
the tests that need them skip with a reason when they are absent. Chinese and Japanese
glyphs need a CJK font (Debian package fonts-noto-cjk); without one those checks skip.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from aiva.enums import Severity, VulnerabilityStatus
from aiva.reports.html_report import PdfSink
from aiva.reports.model import ReportFinding
from aiva.reports.writer import write_reports
from tests.reports import factory as fx

needs_poppler = pytest.mark.skipif(
    shutil.which("pdftoppm") is None or shutil.which("pdftotext") is None,
    reason="pdftoppm/pdftotext not installed (Debian package poppler-utils)",
)


def _has_cjk_font() -> bool:
    if shutil.which("fc-list") is None:
        return False
    out = subprocess.run(["fc-list", ":lang=zh"], capture_output=True, text=True, check=False).stdout
    return bool(out.strip())


def non_latin_findings() -> list[ReportFinding]:
    return [
        fx.finding(1, title="跨站脚本漏洞 (Chinese)", description="用户输入未经转义。", severity=Severity.CRITICAL,
                   risk_score=9.5),
        fx.finding(2, title="クロスサイトスクリプティング (Japanese)", description="入力がエスケープされていません。"),
        fx.finding(3, title="ثغرة حقن SQL (Arabic)", description="مدخلات المستخدم غير مفلترة."),
        fx.sca_finding(4),
        fx.dast_finding(5),
        fx.finding(6, status=VulnerabilityStatus.MITIGATED, change="mitigated", risk_score=2.0),
    ]


@pytest.fixture(scope="module")
def pdf_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("pdf")
    summary = fx.summary(product="商店 متجر", trend=fx.trend(4))
    paths = write_reports(summary, fx.source(non_latin_findings()), out, ["pdf"])
    return Path(paths["pdf"])


def _pdftotext(pdf: Path) -> str:
    done = subprocess.run(["pdftotext", "-enc", "UTF-8", str(pdf), "-"], capture_output=True, check=True)
    return done.stdout.decode("utf-8")


def _pgm_has_ink(path: Path) -> bool:
    """True when a binary PGM (P5) image has at least a few clearly non-white pixels."""
    data = path.read_bytes()
    tokens: list[bytes] = []
    pos = 0
    while len(tokens) < 4:
        m = re.compile(rb"\s*(#[^\n]*\n\s*)*(\S+)").match(data, pos)
        assert m is not None
        tokens.append(m.group(2))
        pos = m.end()
    assert tokens[0] == b"P5" and int(tokens[3]) == 255
    pixels = data[pos + 1:]
    assert len(pixels) == int(tokens[1]) * int(tokens[2])
    return sum(1 for b in pixels if b < 200) > 50


def test_pdf_is_a_pdf(pdf_path: Path) -> None:
    head = pdf_path.read_bytes()[:8]
    assert head.startswith(b"%PDF-")


@needs_poppler
def test_pdf_pages_are_not_blank(pdf_path: Path, tmp_path: Path) -> None:
    subprocess.run(["pdftoppm", "-r", "30", "-gray", str(pdf_path), str(tmp_path / "page")], check=True)
    pages = sorted(tmp_path.glob("page*.pgm"))
    assert pages, "pdftoppm produced no page"
    blank = [p.name for p in pages if not _pgm_has_ink(p)]
    assert not blank, f"blank pages: {blank}"


@needs_poppler
def test_pdf_text(pdf_path: Path) -> None:
    text = " ".join(_pdftotext(pdf_path).split())
    assert "Security findings report" in text
    assert "Executive summary" in text and "Pipeline stages" in text
    assert "CVE-2024-1004" in text
    # Arabic is covered by DejaVu Sans: its letters (or their presentation forms) are in the text layer
    assert re.search(r"[\u0600-\u06ff\ufb50-\ufdff\ufe70-\ufeff]", text), "no Arabic text in the PDF"


@needs_poppler
def test_pdf_cjk_text(pdf_path: Path) -> None:
    if not _has_cjk_font():
        pytest.skip("no CJK font (fc-list :lang=zh is empty): install Debian package fonts-noto-cjk")
    text = _pdftotext(pdf_path)
    assert "跨站脚本漏洞" in text
    assert "クロスサイトスクリプティング" in text


@needs_poppler
def test_pdf_lists_top_findings_only(tmp_path: Path) -> None:
    """The PDF keeps the top `cap` findings and says how many more the other reports hold."""
    items = [fx.finding(i, risk_score=round(1 + (i % 90) / 10, 1)) for i in range(1, 61)]
    out = tmp_path / "top.pdf"
    with open(out, "wb") as fh:
        sink = PdfSink(fx.summary(), fh, cap=15)
        for item in items:
            sink.add(item)
        sink.finish()
    text = " ".join(_pdftotext(out).split())
    assert "45 more findings in the JSON/CSV/SARIF reports." in text
    assert "top 15 findings by risk" in text
    assert text.count("Fingerprint") == 0  # print variant is compact
    shown = set(re.findall(r"Finding number (\d+)", text))
    assert len(shown) == 15
    best = sorted(items, key=lambda i: i.risk_score, reverse=True)[:15]
    assert {str(i.id) for i in best} == shown
    info = subprocess.run(["pdfinfo", str(out)], capture_output=True, text=True, check=True).stdout
    pages = int(re.search(r"Pages:\s+(\d+)", info).group(1))  # type: ignore[union-attr]
    assert pages <= 8


def test_pdf_renderer_fetches_nothing() -> None:
    """Defence in depth: weasyprint may not read local files or the network while rendering."""
    from aiva.reports.html_report import _url_fetcher

    fetcher = _url_fetcher()
    for url in ("file:///etc/passwd", "http://127.0.0.1:9/x.css", "https://example.org/f.woff2"):
        with pytest.raises(ValueError):
            fetcher(url)

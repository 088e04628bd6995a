"""Write a run's reports: every requested format from one pass over the findings.

    paths = write_reports(summary, jsonl_source(path), out_dir, ["html", "pdf", "json", "csv", "sarif"])

Each format is written to a hidden temporary file in `out_dir` and moved into place
with `os.replace` only after every format has been written completely: either all the
requested files appear whole, or (when anything raises) none does and the temporary
files are removed. Re-running a report replaces the previous files atomically.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import re
import tempfile
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path
from typing import BinaryIO

from aiva.reports.common import ReportSink
from aiva.reports.compliance_report import ComplianceSink
from aiva.reports.csv_export import CsvSink
from aiva.reports.html_report import HtmlSink, PdfSink
from aiva.reports.json_export import JsonSink
from aiva.reports.model import FindingsSource, JsonlFindings, RunSummary
from aiva.reports.sarif_export import SarifSink
from aiva.reports.vex_export import VexSink

SinkFactory = Callable[[RunSummary, BinaryIO], ReportSink]

SINKS: dict[str, SinkFactory] = {
    "html": lambda summary, out: HtmlSink(summary, out),
    "pdf": lambda summary, out: PdfSink(summary, out),
    "json": lambda summary, out: JsonSink(summary, out),
    "csv": lambda summary, out: CsvSink(out),
    "sarif": lambda summary, out: SarifSink(summary, out),
    "vex": lambda summary, out: VexSink(summary, out),
    "compliance": lambda summary, out: ComplianceSink(summary, out),
}
KNOWN_FORMATS: tuple[str, ...] = tuple(SINKS)
EXTENSIONS: dict[str, str] = {
    "html": "html", "pdf": "pdf", "json": "json", "csv": "csv", "sarif": "sarif", "vex": "cdx.json",
    "compliance": "compliance.html",
}

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def _slug(text: str, limit: int = 80) -> str:
    return re.sub(r"\.{2,}", ".", _UNSAFE.sub("-", text)).strip(".-")[:limit] or "x"


def report_basename(summary: RunSummary) -> str:
    """The reports' file name without extension: "aiva-<product>-<run id>", reduced to safe characters."""
    return f"aiva-{_slug(summary.product)}-{_slug(summary.run_id)}"


def normalize_formats(formats: Sequence[str]) -> list[str]:
    """Lower-cased, de-duplicated formats in the given order; ValueError naming any unknown one."""
    out: list[str] = []
    for fmt in formats:
        name = fmt.strip().lower()
        if name not in SINKS:
            raise ValueError(f"unknown report format {fmt!r}; known formats: {', '.join(KNOWN_FORMATS)}")
        if name not in out:
            out.append(name)
    return out


def write_reports(
    summary: RunSummary,
    findings: FindingsSource,
    out_dir: Path,
    formats: Sequence[str],
    *,
    basename: str | None = None,
    pdf_top: int | None = None,
    pdf_process: bool = False,
) -> dict[str, str]:
    """Write the requested report formats for one run into `out_dir`; return format -> file path.

    Formats: html, pdf, json, csv, sarif, vex (see KNOWN_FORMATS); `pdf_top` caps the findings
    detailed in the PDF (AIVA_PDF_TOP_FINDINGS). An unknown format raises
    ValueError before anything is written. The findings are read once and fed to every
    format; PDF rendering (weasyprint) runs synchronously at the end, or, with `pdf_process` and
    findings from a JSON Lines file, in a spawned process at the same time as the other formats
    (worth it for large runs; all files still appear together or not at all). Files are named
    `<basename>.<ext>` (default `report_basename(summary)`).
    """
    wanted = normalize_formats(formats)
    if not wanted:
        return {}
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    base = _slug(basename) if basename else report_basename(summary)

    temps: list[tuple[str, str, BinaryIO | None]] = []  # (format, temp path, open file; None: the side PDF)
    sinks: list[ReportSink] = []
    side: ProcessPoolExecutor | None = None
    side_pdf: Future[None] | None = None
    done = False
    try:
        for fmt in wanted:
            fd, tmp = tempfile.mkstemp(dir=out_dir, prefix=f".{base}.", suffix=f".{EXTENSIONS[fmt]}.part")
            if fmt == "pdf" and pdf_process and len(wanted) > 1 and isinstance(findings, JsonlFindings):
                os.close(fd)
                temps.append((fmt, tmp, None))
                side = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
                side_pdf = side.submit(render_pdf_file, summary.model_dump_json(), str(findings.path), tmp, pdf_top)
                continue
            fh = os.fdopen(fd, "wb", buffering=1 << 20)
            temps.append((fmt, tmp, fh))
            sinks.append(_sink(fmt, summary, fh, pdf_top))
        for item in findings():
            for sink in sinks:
                sink.add(item)
        for sink in sinks:
            sink.finish()
        for _, _, written in temps:
            if written is not None:
                written.flush()
                os.fsync(written.fileno())
                written.close()
        if side_pdf is not None:
            side_pdf.result()  # the child's exception, if it failed
        result: dict[str, str] = {}
        for fmt, tmp, _ in temps:
            final = out_dir / f"{base}.{EXTENSIONS[fmt]}"
            os.replace(tmp, final)
            result[fmt] = str(final)
        done = True
        return result
    finally:
        if side is not None:
            # Waits for a PDF still being written: its temp file can only be removed once it is closed.
            side.shutdown(wait=True, cancel_futures=True)
        if not done:
            for sink in sinks:
                with contextlib.suppress(Exception):
                    sink.abort()
            for _, tmp, left in temps:
                with contextlib.suppress(Exception):
                    if left is not None:
                        left.close()
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)


def _sink(fmt: str, summary: RunSummary, out: BinaryIO, pdf_top: int | None) -> ReportSink:
    """The format's sink; the PDF's capped at `pdf_top` findings when given (else its own default)."""
    if fmt == "pdf" and pdf_top is not None:
        return PdfSink(summary, out, cap=pdf_top)
    return SINKS[fmt](summary, out)


def render_pdf_file(summary_json: str, jsonl: str, out: str, pdf_top: int | None) -> None:
    """In a process of its own: the PDF report of the findings in `jsonl`, written and synced to `out`.

    weasyprint's layout holds the GIL for seconds; beside the pass that writes the other formats it
    costs no wall time (one process spawn, about a second, and a second read of the findings).
    """
    summary = RunSummary.model_validate_json(summary_json)
    with open(out, "wb", buffering=1 << 20) as fh:
        sink = _sink("pdf", summary, fh, pdf_top)
        for item in JsonlFindings(jsonl)():
            sink.add(item)
        sink.finish()
        fh.flush()
        os.fsync(fh.fileno())

"""CSV report: one row per finding, every normalized field flattened into a column.

Format:
- UTF-8 with a byte-order mark (so spreadsheet programs detect UTF-8 and show Chinese,
  Japanese or Arabic text correctly; read it back with ``encoding="utf-8-sig"``),
  RFC 4180 quoting (commas, quotes and newlines inside a cell survive), ``\\r\\n`` rows.
- Lists of identifiers (CWEs, vulnerability ids, tags) are joined with ``;``;
  lists of free text (references, warnings) are joined with a newline.
- Formula (CSV) injection guard: any cell whose text starts with ``=``, ``+``, ``-``,
  ``@``, a tab or a carriage return (or the full-width forms U+FF1D, U+FF0B, U+FF0D, U+FF20, which some
  spreadsheet locales also treat as formulas) is written with a leading apostrophe
  ``'``, so a spreadsheet shows it as text instead of evaluating it. The apostrophe
  is part of the cell's value in the file: strip one leading ``'`` when you need the
  scanner's exact text (the JSON report has it unaltered).
"""

from __future__ import annotations

import contextlib
import csv
import io
from typing import BinaryIO

from aiva.reports.model import ReportFinding

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")


_FORMULA_START = frozenset(FORMULA_PREFIXES)


def guard_cell(value: str) -> str:
    """Neutralise a cell that a spreadsheet would read as a formula (prefix an apostrophe)."""
    if value and value[0] in _FORMULA_START:
        return "'" + value
    return value


COLUMN_NAMES: tuple[str, ...] = (
    "id", "fingerprint", "fingerprint_version", "status", "change", "risk_score", "risk_level",
    "severity", "confidence", "category", "title", "description", "tool_name", "tool_version", "format",
    "rule_id", "cwes", "vulnerability_ids",
    "cvss_v3_version", "cvss_v3_vector", "cvss_v3_score", "cvss_v4_version", "cvss_v4_vector", "cvss_v4_score",
    "component_name", "component_version", "component_fixed_version", "component_ecosystem", "component_purl",
    "component_path",
    "file_path", "start_line", "end_line", "snippet",
    "endpoint_url", "endpoint_host", "endpoint_port", "endpoint_protocol", "endpoint_parameter",
    "target", "remediation", "references", "tags", "warnings", "raw_id", "suppressed", "secret_hash",
    "first_seen", "last_seen", "occurrences", "correlation_group", "correlation_rule", "also_reported_by",
)
_NONE5 = ("", "", "", "", "")


def _num(value: float | int | None) -> str:
    return "" if value is None else str(value)


def csv_row(item: ReportFinding) -> list[str]:
    """One finding as a CSV row (column order of COLUMN_NAMES), injection-guarded.

    Written out longhand (no per-column callables): it runs once per finding, 100,000 times
    for a large run.
    """
    f = item.finding
    v3, v4, comp, loc, ep = f.cvss_v3, f.cvss_v4, f.component, f.location, f.endpoint
    cvss3 = (v3.version, v3.vector, str(v3.base_score)) if v3 else ("", "", "")
    cvss4 = (v4.version, v4.vector, str(v4.base_score)) if v4 else ("", "", "")
    comp_cells = (
        (comp.name, comp.version or "", comp.fixed_version or "", comp.ecosystem or "", comp.purl or "",
         comp.path or "")
        if comp else ("", "", "", "", "", "")
    )
    loc_cells = (
        (loc.file_path or "", _num(loc.start_line), _num(loc.end_line), loc.snippet or "") if loc else ("", "", "", "")
    )
    ep_cells = (
        (ep.url or "", ep.host or "", _num(ep.port), ep.protocol or "", ep.parameter or "") if ep else _NONE5
    )
    row = [
        str(item.id), f.fingerprint, f.fingerprint_version, item.status.value, item.change,
        str(item.risk_score), item.risk_level.value, f.severity.value, f.confidence.value, f.category.value,
        f.title, f.description, f.tool.name, f.tool.version or "", f.format, f.rule_id or "",
        ";".join(str(c) for c in f.cwes), ";".join(v.id for v in f.vulnerability_ids),
        *cvss3, *cvss4, *comp_cells, *loc_cells, *ep_cells,
        f.target or "", f.remediation or "", "\n".join(f.references), ";".join(f.tags), "\n".join(f.warnings),
        f.raw_id or "", "true" if f.suppressed else "false", f.secret_hash or "",
        item.first_seen.isoformat(), item.last_seen.isoformat(), str(item.occurrences),
        *((c.group, c.rule, ";".join(c.also_reported_by)) if (c := item.correlation) else ("", "", "")),
    ]
    return [("'" + c) if c and c[0] in _FORMULA_START else c for c in row]


class CsvSink:
    """Streams the CSV report into a binary file."""

    def __init__(self, out: BinaryIO) -> None:
        """Write the BOM and the header row."""
        self._text = io.TextIOWrapper(out, encoding="utf-8", newline="", write_through=False)
        self._text.write("\ufeff")
        self._writer = csv.writer(self._text, dialect="excel")
        self._writer.writerow(COLUMN_NAMES)

    def add(self, item: ReportFinding) -> None:
        """Write one finding's row."""
        self._writer.writerow(csv_row(item))

    def finish(self) -> None:
        """Flush the text layer into the file (the writer closes the file)."""
        self._text.flush()
        self._text.detach()

    def abort(self) -> None:
        """Detach the text layer so that closing it does not close the file twice."""
        with contextlib.suppress(ValueError, OSError):  # already detached, or the file is broken
            self._text.detach()

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
from collections.abc import Callable
from typing import BinaryIO

from aiva.reports.model import ReportFinding

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")


def guard_cell(value: str) -> str:
    """Neutralise a cell that a spreadsheet would read as a formula (prefix an apostrophe)."""
    if value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def _s(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


_Getter = Callable[[ReportFinding], object]

COLUMNS: tuple[tuple[str, _Getter], ...] = (
    ("id", lambda r: r.id),
    ("fingerprint", lambda r: r.finding.fingerprint),
    ("fingerprint_version", lambda r: r.finding.fingerprint_version),
    ("status", lambda r: r.status.value),
    ("change", lambda r: r.change),
    ("risk_score", lambda r: r.risk_score),
    ("risk_level", lambda r: r.risk_level.value),
    ("severity", lambda r: r.finding.severity.value),
    ("confidence", lambda r: r.finding.confidence.value),
    ("category", lambda r: r.finding.category.value),
    ("title", lambda r: r.finding.title),
    ("description", lambda r: r.finding.description),
    ("tool_name", lambda r: r.finding.tool.name),
    ("tool_version", lambda r: r.finding.tool.version),
    ("format", lambda r: r.finding.format),
    ("rule_id", lambda r: r.finding.rule_id),
    ("cwes", lambda r: ";".join(str(c) for c in r.finding.cwes)),
    ("vulnerability_ids", lambda r: ";".join(v.id for v in r.finding.vulnerability_ids)),
    ("cvss_v3_version", lambda r: r.finding.cvss_v3.version if r.finding.cvss_v3 else None),
    ("cvss_v3_vector", lambda r: r.finding.cvss_v3.vector if r.finding.cvss_v3 else None),
    ("cvss_v3_score", lambda r: r.finding.cvss_v3.base_score if r.finding.cvss_v3 else None),
    ("cvss_v4_version", lambda r: r.finding.cvss_v4.version if r.finding.cvss_v4 else None),
    ("cvss_v4_vector", lambda r: r.finding.cvss_v4.vector if r.finding.cvss_v4 else None),
    ("cvss_v4_score", lambda r: r.finding.cvss_v4.base_score if r.finding.cvss_v4 else None),
    ("component_name", lambda r: r.finding.component.name if r.finding.component else None),
    ("component_version", lambda r: r.finding.component.version if r.finding.component else None),
    ("component_fixed_version", lambda r: r.finding.component.fixed_version if r.finding.component else None),
    ("component_ecosystem", lambda r: r.finding.component.ecosystem if r.finding.component else None),
    ("component_purl", lambda r: r.finding.component.purl if r.finding.component else None),
    ("component_path", lambda r: r.finding.component.path if r.finding.component else None),
    ("file_path", lambda r: r.finding.location.file_path if r.finding.location else None),
    ("start_line", lambda r: r.finding.location.start_line if r.finding.location else None),
    ("end_line", lambda r: r.finding.location.end_line if r.finding.location else None),
    ("snippet", lambda r: r.finding.location.snippet if r.finding.location else None),
    ("endpoint_url", lambda r: r.finding.endpoint.url if r.finding.endpoint else None),
    ("endpoint_host", lambda r: r.finding.endpoint.host if r.finding.endpoint else None),
    ("endpoint_port", lambda r: r.finding.endpoint.port if r.finding.endpoint else None),
    ("endpoint_protocol", lambda r: r.finding.endpoint.protocol if r.finding.endpoint else None),
    ("endpoint_parameter", lambda r: r.finding.endpoint.parameter if r.finding.endpoint else None),
    ("target", lambda r: r.finding.target),
    ("remediation", lambda r: r.finding.remediation),
    ("references", lambda r: "\n".join(r.finding.references)),
    ("tags", lambda r: ";".join(r.finding.tags)),
    ("warnings", lambda r: "\n".join(r.finding.warnings)),
    ("raw_id", lambda r: r.finding.raw_id),
    ("suppressed", lambda r: r.finding.suppressed),
    ("secret_hash", lambda r: r.finding.secret_hash),
    ("first_seen", lambda r: r.first_seen.isoformat()),
    ("last_seen", lambda r: r.last_seen.isoformat()),
    ("occurrences", lambda r: r.occurrences),
)
COLUMN_NAMES: tuple[str, ...] = tuple(name for name, _ in COLUMNS)


def csv_row(item: ReportFinding) -> list[str]:
    """One finding as a CSV row (column order of COLUMN_NAMES), injection-guarded."""
    return [guard_cell(_s(get(item))) for _, get in COLUMNS]


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

"""CISA Known Exploited Vulnerabilities (KEV) catalog: JSON or CSV, into `KevEntry`s (pure).

Formats (both published by CISA at https://www.cisa.gov/known-exploited-vulnerabilities-catalog):

- JSON: `{"catalogVersion", "dateReleased", "count", "vulnerabilities": [{"cveID", ...}]}`,
  validated against CISA's JSON schema (known_exploited_vulnerabilities_schema.json) with
  `jsonschema` when the schema file is given; a structural check runs either way.
- CSV: header `cveID,vendorProject,product,vulnerabilityName,dateAdded,shortDescription,
  requiredAction,dueDate,knownRansomwareCampaignUse,notes,cwes`.

Either may be gzip-compressed (detected by magic bytes). Bad input raises
`ReportParseError(path, "kev", reason, position)`.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from aiva.errors import ReportParseError
from aiva.intel._io import CVE_RE, read_feed

FMT = "kev"
CSV_COLUMNS = (
    "cveID", "vendorProject", "product", "vulnerabilityName", "dateAdded", "shortDescription",
    "requiredAction", "dueDate", "knownRansomwareCampaignUse", "notes", "cwes",
)
REQUIRED_COLUMNS = CSV_COLUMNS[:8]
_CWE_TOKEN = re.compile(r"CWE-\d+")
_MAX_REASON = 300


@dataclass(frozen=True, slots=True)
class KevEntry:
    """One catalog entry: what AIVA needs of it (the prose stays in the catalog)."""

    cve_id: str
    vendor_project: str
    product: str
    vulnerability_name: str
    date_added: dt.date
    due_date: dt.date | None = None
    known_ransomware: bool = False
    required_action: str = ""
    cwes: tuple[str, ...] = ()


@dataclass(frozen=True)
class KevFeed:
    """A parsed catalog: its entries (one per CVE), version and the file's sha256."""

    entries: tuple[KevEntry, ...]
    version: str | None
    released: str | None
    sha256: str


def parse_kev(path: str | Path, schema_path: str | Path | None = None) -> KevFeed:
    """Parse a KEV catalog file (JSON or CSV, optionally gzipped); validate JSON against the schema if given."""
    p = str(path)
    text, sha = read_feed(p, FMT)
    if text.lstrip()[:1] in ("{", "["):
        entries, version, released = _parse_json(p, text, schema_path)
    else:
        entries, version, released = _parse_csv(p, text), None, None
    if not entries:
        raise ReportParseError(p, FMT, "the catalog has no vulnerabilities")
    return KevFeed(entries=tuple(entries), version=version, released=released, sha256=sha)


def _parse_json(
    path: str, text: str, schema_path: str | Path | None
) -> tuple[list[KevEntry], str | None, str | None]:
    try:
        doc = orjson.loads(text)
    except orjson.JSONDecodeError as e:
        raise ReportParseError(path, FMT, f"not valid JSON: {e.msg}", f"line {e.lineno} column {e.colno}") from e
    if schema_path is not None:
        _validate_schema(path, doc, schema_path)
    if not isinstance(doc, dict):
        raise ReportParseError(path, FMT, f"expected a JSON object, got {type(doc).__name__}", "$")
    vulns = doc.get("vulnerabilities")
    if not isinstance(vulns, list):
        raise ReportParseError(path, FMT, "'vulnerabilities' must be a list", "$.vulnerabilities")
    entries: list[KevEntry] = []
    for i, item in enumerate(vulns):
        where = f"$.vulnerabilities[{i}]"
        if not isinstance(item, dict):
            raise ReportParseError(path, FMT, "each vulnerability must be an object", where)
        raw_cwes = item.get("cwes") or []
        if not isinstance(raw_cwes, list) or not all(isinstance(c, str) for c in raw_cwes):
            raise ReportParseError(path, FMT, "'cwes' must be a list of strings", f"{where}.cwes")
        entries.append(_entry(path, where, item, tuple(c.strip() for c in raw_cwes if c.strip())))
    version = doc.get("catalogVersion")
    released = doc.get("dateReleased")
    return (_dedupe(entries), version if isinstance(version, str) else None,
            released if isinstance(released, str) else None)


def _validate_schema(path: str, doc: Any, schema_path: str | Path) -> None:
    from jsonschema import validators
    from jsonschema.exceptions import SchemaError, best_match

    sp = str(schema_path)
    try:
        schema = orjson.loads(Path(sp).read_bytes())
    except OSError as e:
        raise ReportParseError(sp, "kev schema", f"cannot read file: {e.strerror}") from e
    except orjson.JSONDecodeError as e:
        raise ReportParseError(sp, "kev schema", f"not valid JSON: {e.msg}", f"line {e.lineno}") from e
    cls = validators.validator_for(schema)
    try:
        cls.check_schema(schema)
    except SchemaError as e:
        raise ReportParseError(sp, "kev schema", f"not a valid JSON schema: {e.message}") from e
    validator = cls(schema, format_checker=cls.FORMAT_CHECKER)
    error = best_match(validator.iter_errors(doc))
    if error is not None:
        where = "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
        reason = error.message
        if len(reason) > _MAX_REASON:
            reason = reason[:_MAX_REASON] + "..."
        raise ReportParseError(path, FMT, f"does not match the KEV schema: {reason}", where)


def _parse_csv(path: str, text: str) -> list[KevEntry]:
    reader = csv.DictReader(io.StringIO(text, newline=""), strict=True)
    try:
        header = reader.fieldnames
    except csv.Error as e:
        raise ReportParseError(path, FMT, f"not valid CSV: {e}", "line 1") from e
    if not header:
        raise ReportParseError(path, FMT, "the file is empty", "line 1")
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise ReportParseError(
            path, FMT, f"not a KEV CSV: missing column(s) {', '.join(missing)} (expected header "
            f"{','.join(CSV_COLUMNS)})", "line 1",
        )
    entries: list[KevEntry] = []
    try:
        for row in reader:
            where = f"line {reader.line_num}"
            if None in row or any(v is None for v in row.values()):
                raise ReportParseError(path, FMT, f"expected {len(header)} fields", where)
            cwes = tuple(_CWE_TOKEN.findall(row.get("cwes") or ""))
            entries.append(_entry(path, where, row, cwes))
    except csv.Error as e:
        raise ReportParseError(path, FMT, f"not valid CSV: {e}", f"line {reader.line_num}") from e
    return _dedupe(entries)


def _entry(path: str, where: str, item: dict[str, Any], cwes: tuple[str, ...]) -> KevEntry:
    def text(key: str, required: bool = True) -> str:
        value = item.get(key)
        if value is None and not required:
            return ""
        if not isinstance(value, str) or (required and not value.strip()):
            raise ReportParseError(path, FMT, f"'{key}' must be a non-empty string", _at(where, key))
        return value.strip()

    cve = text("cveID").upper()
    if not CVE_RE.match(cve):
        raise ReportParseError(path, FMT, f"'cveID' is not a CVE id: {cve[:60]!r}", _at(where, "cveID"))
    due_raw = text("dueDate", required=False)
    return KevEntry(
        cve_id=cve,
        vendor_project=text("vendorProject"),
        product=text("product"),
        vulnerability_name=text("vulnerabilityName"),
        date_added=_date(path, _at(where, "dateAdded"), text("dateAdded")),
        due_date=_date(path, _at(where, "dueDate"), due_raw) if due_raw else None,
        known_ransomware=text("knownRansomwareCampaignUse", required=False).lower() == "known",
        required_action=text("requiredAction", required=False),
        cwes=cwes,
    )


def _at(where: str, key: str) -> str:
    return f"{where}.{key}" if where.startswith("$") else f"{where} ({key})"


def _date(path: str, where: str, value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError as e:
        raise ReportParseError(path, FMT, f"not a YYYY-MM-DD date: {value[:40]!r}", where) from e


def _dedupe(entries: list[KevEntry]) -> list[KevEntry]:
    """One entry per CVE; a repeated CVE keeps its earliest dateAdded (CISA lists each CVE once)."""
    best: dict[str, KevEntry] = {}
    for e in entries:
        seen = best.get(e.cve_id)
        if seen is None or e.date_added < seen.date_added:
            best[e.cve_id] = e
    return list(best.values())

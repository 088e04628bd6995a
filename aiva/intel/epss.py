"""FIRST EPSS scores: the daily CSV (https://www.first.org/epss/data_stats) into `EpssScore`s (pure).

Layout of the official file (`epss_scores-YYYY-MM-DD.csv.gz`):

    #model_version:v2023.03.01,score_date:2023-03-05T00:00:00+0000
    cve,epss,percentile
    CVE-1999-0001,0.01167,0.83283

The comment line is optional (files before 2022 lack it); gzip is detected by its
magic bytes. Bad input raises `ReportParseError(path, "epss", reason, "line N")`.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
from dataclasses import dataclass
from pathlib import Path

from aiva.errors import ReportParseError
from aiva.intel._io import CVE_RE, read_feed

FMT = "epss"
HEADER = ("cve", "epss", "percentile")


@dataclass(frozen=True, slots=True)
class EpssScore:
    """One CVE's EPSS probability (0-1) and percentile (0-1) on the feed's score date."""

    cve_id: str
    epss: float
    percentile: float
    score_date: dt.date | None = None


@dataclass(frozen=True)
class EpssFeed:
    """A parsed EPSS file: its scores, model version, score date and the file's sha256."""

    scores: tuple[EpssScore, ...]
    model_version: str | None
    score_date: dt.date | None
    sha256: str


def parse_epss(path: str | Path) -> EpssFeed:
    """Parse an EPSS CSV (optionally gzipped) into scores; every row is checked (id, 0 <= value <= 1)."""
    p = str(path)
    text, sha = read_feed(p, FMT)
    lines = io.StringIO(text, newline="")
    model_version: str | None = None
    score_date: dt.date | None = None
    line_no = 0
    first = lines.readline()
    line_no += 1
    if first.startswith("#"):
        model_version, score_date = _comment(p, first[1:].strip(), line_no)
        header_line = lines.readline()
        line_no += 1
    else:
        header_line = first
    header = tuple(h.strip().lower() for h in header_line.strip().split(","))
    if header != HEADER:
        raise ReportParseError(
            p, FMT, f"expected the header {','.join(HEADER)}, got {header_line.strip()[:80]!r}", f"line {line_no}"
        )
    scores: list[EpssScore] = []
    seen: set[str] = set()
    reader = csv.reader(lines, strict=True)
    try:
        for row in reader:
            n = line_no + reader.line_num
            if not row or (len(row) == 1 and not row[0].strip()):
                continue
            if len(row) != 3:
                raise ReportParseError(p, FMT, f"expected 3 fields, got {len(row)}", f"line {n}")
            cve = row[0].strip().upper()
            if not CVE_RE.match(cve):
                raise ReportParseError(p, FMT, f"not a CVE id: {row[0][:60]!r}", f"line {n}")
            if cve in seen:
                raise ReportParseError(p, FMT, f"{cve} is listed twice", f"line {n}")
            seen.add(cve)
            scores.append(EpssScore(cve, _prob(p, n, "epss", row[1]), _prob(p, n, "percentile", row[2]),
                                    score_date))
    except csv.Error as e:
        raise ReportParseError(p, FMT, f"not valid CSV: {e}", f"line {line_no + reader.line_num}") from e
    if not scores:
        raise ReportParseError(p, FMT, "the file has no scores", f"line {line_no + 1}")
    return EpssFeed(scores=tuple(scores), model_version=model_version, score_date=score_date, sha256=sha)


def _comment(path: str, body: str, line_no: int) -> tuple[str | None, dt.date | None]:
    fields: dict[str, str] = {}
    for part in body.split(","):
        key, sep, value = part.partition(":")
        if sep:
            fields[key.strip().lower()] = value.strip()
    raw_date = fields.get("score_date")
    score_date = None
    if raw_date:
        try:
            score_date = dt.date.fromisoformat(raw_date[:10])
        except ValueError as e:
            raise ReportParseError(path, FMT, f"bad score_date {raw_date[:40]!r}", f"line {line_no}") from e
    return fields.get("model_version") or None, score_date


def _prob(path: str, line: int, name: str, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError as e:
        raise ReportParseError(path, FMT, f"{name} is not a number: {raw[:40]!r}", f"line {line}") from e
    if math.isnan(value) or not 0.0 <= value <= 1.0:
        raise ReportParseError(path, FMT, f"{name} must be between 0 and 1, got {raw[:40]}", f"line {line}")
    return value

"""FIRST EPSS CSV parsing: comment line, gzip by magic bytes, strict rows."""

from __future__ import annotations

import datetime as dt
import gzip
from pathlib import Path

import pytest

from aiva.errors import ReportParseError
from aiva.intel import parse_epss

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "intel"


def test_fixture_parses_with_model_version_and_date() -> None:
    feed = parse_epss(FIXTURES / "epss_small.csv")
    assert feed.model_version == "v2025.03.14"
    assert feed.score_date == dt.date(2099, 1, 1)
    assert len(feed.scores) == 5
    first = feed.scores[0]
    assert (first.cve_id, first.epss, first.percentile, first.score_date) == (
        "CVE-2021-44228", 0.94358, 0.99957, dt.date(2099, 1, 1))


def test_gzip_by_magic_bytes_and_no_comment_line(tmp_path: Path) -> None:
    gz = tmp_path / "epss.csv"  # gzip content without the suffix
    gz.write_bytes(gzip.compress(b"cve,epss,percentile\nCVE-2020-0001,0.5,0.9\n"))
    feed = parse_epss(gz)
    assert feed.model_version is None and feed.score_date is None
    assert feed.scores[0].epss == 0.5


@pytest.mark.parametrize("content, line, reason", [
    ("#model_version:v1,score_date:2023-01-01T00:00:00+0000\ncve,score\n", "line 2", "expected the header"),
    ("cve,epss,percentile\nCVE-2020-0001,0.5\n", "line 2", "expected 3 fields"),
    ("cve,epss,percentile\nCVE-2020-0001,0.5,0.9\nCVE-2020-0002,1.5,0.9\n", "line 3", "between 0 and 1"),
    ("cve,epss,percentile\nCVE-2020-0001,abc,0.9\n", "line 2", "not a number"),
    ("cve,epss,percentile\nCVE-2020-0001,nan,0.9\n", "line 2", "between 0 and 1"),
    ("#x\ncve,epss,percentile\nGHSA-xxxx,0.1,0.9\n", "line 3", "not a CVE id"),
    ("cve,epss,percentile\nCVE-2020-0001,0.1,0.9\nCVE-2020-0001,0.2,0.9\n", "line 3", "listed twice"),
    ("cve,epss,percentile\n", "line 2", "no scores"),
    ("#model_version:v1,score_date:yesterday\ncve,epss,percentile\n", "line 1", "bad score_date"),
])
def test_bad_rows_name_the_line(tmp_path: Path, content: str, line: str, reason: str) -> None:
    bad = tmp_path / "epss.csv"
    bad.write_text(content)
    with pytest.raises(ReportParseError) as ei:
        parse_epss(bad)
    assert (ei.value.format, ei.value.position, ei.value.path) == ("epss", line, str(bad))
    assert reason in ei.value.reason


def test_truncated_gzip_is_a_parse_error(tmp_path: Path) -> None:
    bad = tmp_path / "epss.csv.gz"
    bad.write_bytes(gzip.compress(b"cve,epss,percentile\n" + b"CVE-2020-0001,0.1,0.2\n" * 1000)[:40])
    with pytest.raises(ReportParseError, match="gzip"):
        parse_epss(bad)

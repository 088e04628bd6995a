"""The corpus test: every MANIFEST.tsv row parses to AIVA's expected count, and every
difference from the peer's count is explained; fingerprints are stable."""

from __future__ import annotations

import pytest

from aiva.parsers import get, open_report, report_coverage
from aiva.parsers.base import ReportSource
from tests.corpus import expectations, manifest_rows, require_corpus

ROWS = manifest_rows()
EXPECTED = expectations()


def _ids(rows: list) -> list[str]:
    return [r.file for r in rows]


def test_every_manifest_row_has_an_expectation() -> None:
    """No corpus row may be skipped silently: each has an expectation, and differences carry a reason."""
    require_corpus()
    missing = [r.file for r in ROWS if r.file not in EXPECTED]
    assert not missing, f"corpus rows without an expectation in tests/corpus_expected/: {missing}"
    for r in ROWS:
        e = EXPECTED[r.file]
        assert e.peer_count == r.peer_count, f"{r.file}: peer count in expectation differs from MANIFEST.tsv"
        if e.aiva_count != e.peer_count:
            assert len(e.reason) >= 20, f"{r.file}: AIVA's count differs from the peer's without a reason"


@pytest.mark.parametrize("row", ROWS, ids=_ids(ROWS))
def test_corpus_count(row) -> None:
    """The parser detected from content extracts AIVA's expected number of findings."""
    corpus = require_corpus()
    if row.file not in EXPECTED:
        pytest.fail(f"{row.file}: no expectation recorded")
    exp = EXPECTED[row.file]
    path = corpus / row.file
    # An empty file carries no format to detect; a user names it (--format), and so does the test.
    parser, findings = open_report(str(path), exp.format if path.stat().st_size == 0 else None)
    got = list(findings)
    assert parser.name == exp.format, f"{row.file}: detected {parser.name}, expected {exp.format}"
    assert len(got) == exp.aiva_count, f"{row.file}: {len(got)} findings, expected {exp.aiva_count}"
    assert len({f.fingerprint for f in got}) == len(got), f"{row.file}: two findings share a fingerprint"
    # The scope of a scan is (target, tool): a fixed-tool format's findings must name the tool it declares
    # (an empty report of it claims that tool's scope), and a format's coverage must agree with its findings.
    if parser.tool_name is not None:
        assert {f.tool.name for f in got} <= {parser.tool_name}, f"{row.file}: findings name another tool"
    target, tool = report_coverage(parser, str(path))
    if got and tool is not None:
        assert {f.tool.name for f in got} == {tool}, f"{row.file}: coverage names {tool}"
    if got and target is not None:
        assert target in {f.target for f in got}, f"{row.file}: coverage names target {target!r}"


@pytest.mark.parametrize("row", ROWS, ids=_ids(ROWS))
def test_fingerprints_stable(row) -> None:
    """Parsing twice gives the same fingerprints; no fingerprint depends on the parse order."""
    corpus = require_corpus()
    exp = EXPECTED.get(row.file)
    if exp is None:
        pytest.fail(f"{row.file}: no expectation recorded")
    path = str(corpus / row.file)
    parser = get(exp.format)
    a = [f.fingerprint for f in parser.parse(ReportSource(path), _ctx())]
    b = [f.fingerprint for f in parser.parse(ReportSource(path), _ctx())]
    assert a == b


def _ctx():
    from aiva.parsers.base import ParseContext

    return ParseContext()

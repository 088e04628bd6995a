"""Contracts validate what the CLI and the API send before a run starts."""

import pytest
from pydantic import ValidationError

from aiva.contracts import REPORT_FORMATS, PipelineInput, ReportInput


def test_report_formats_match_the_writers() -> None:
    from aiva.reports.writer import KNOWN_FORMATS

    assert set(REPORT_FORMATS) == set(KNOWN_FORMATS)


def test_unknown_report_format_is_refused_before_the_run() -> None:
    with pytest.raises(ValidationError, match="unknown report format"):
        PipelineInput(product="p", reports=[ReportInput(path="/x")], report_formats=["html", "docx"])


def test_a_run_needs_reports_and_a_product() -> None:
    with pytest.raises(ValidationError):
        PipelineInput(product="", reports=[ReportInput(path="/x")])
    with pytest.raises(ValidationError):
        PipelineInput(product="p", reports=[])

"""Pieces every report writer shares: orderings, display strings, and the sink protocol.

A sink consumes findings one at a time (`add`) and completes its output (`finish`);
`aiva.reports.writer` feeds all requested sinks from one pass over the findings, so the
JSON Lines input is parsed once however many formats are asked for.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol

from aiva.enums import RiskLevel, Severity
from aiva.reports.model import ReportFinding
from aiva.schemas import Finding

SEVERITY_ORDER: tuple[Severity, ...] = (
    Severity.CRITICAL,
    Severity.HIGH,
    Severity.MEDIUM,
    Severity.LOW,
    Severity.INFO,
)
RISK_ORDER: tuple[RiskLevel, ...] = (
    RiskLevel.CRITICAL,
    RiskLevel.HIGH,
    RiskLevel.MEDIUM,
    RiskLevel.LOW,
    RiskLevel.NONE,
)
RISK_RANK: dict[RiskLevel, int] = {level: len(RISK_ORDER) - 1 - i for i, level in enumerate(RISK_ORDER)}

SEVERITY_COLORS: dict[str, str] = {
    "critical": "#7f1d1d",
    "high": "#dc2626",
    "medium": "#f59e0b",
    "low": "#2563eb",
    "info": "#6b7280",
    "none": "#9ca3af",
}


class ReportSink(Protocol):
    """One output format being written: fed each finding, then finished (or aborted)."""

    def add(self, item: ReportFinding) -> None:
        """Take the next finding into the output."""

    def finish(self) -> None:
        """Write everything still pending; the output file is complete afterwards."""

    def abort(self) -> None:
        """Release resources after a failure (the writer deletes the partial file)."""


def location_text(finding: Finding) -> str | None:
    """"path:start-end" for a code finding, None when it has no file."""
    loc = finding.location
    if loc is None or not loc.file_path:
        return None
    if loc.start_line:
        if loc.end_line and loc.end_line != loc.start_line:
            return f"{loc.file_path}:{loc.start_line}-{loc.end_line}"
        return f"{loc.file_path}:{loc.start_line}"
    return loc.file_path


def endpoint_text(finding: Finding) -> str | None:
    """The endpoint as one string (its URL, else protocol://host:port), with the parameter; None if absent."""
    ep = finding.endpoint
    if ep is None:
        return None
    if ep.url:
        base = ep.url
    elif ep.host:
        base = f"{ep.protocol}://{ep.host}" if ep.protocol else ep.host
        if ep.port is not None:
            base += f":{ep.port}"
    elif ep.port is not None:
        base = f"port {ep.port}"
    else:
        base = ""
    if ep.parameter:
        base = f"{base} (parameter {ep.parameter})" if base else f"parameter {ep.parameter}"
    return base or None


def rule_key(finding: Finding) -> str:
    """The rule a finding belongs to within its tool: its rule id, else its first advisory id,
    else its first CWE, else a per-category catch-all."""
    if finding.rule_id:
        return finding.rule_id
    if finding.vulnerability_ids:
        return finding.vulnerability_ids[0].id
    if finding.cwes:
        return str(finding.cwes[0])
    return f"aiva-{finding.category.value}"


def as_utc(value: datetime) -> datetime:
    """A datetime made timezone-aware (naive ones are taken as UTC)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def truncate(text: str | None, limit: int) -> tuple[str, bool]:
    """The text cut to `limit` characters (with an ellipsis) and whether it was cut."""
    if not text:
        return "", False
    if len(text) <= limit:
        return text, False
    return text[:limit].rstrip() + "\u2026", True

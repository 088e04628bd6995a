"""Compliance report (format "compliance"): a standalone HTML page, one section per framework.

It renders the analysis stage's compliance evaluation carried by the run summary
(`RunSummary.compliance`, the JSON of `aiva.compliance.ComplianceReport`): per framework
its status, every control with PASS/FAIL, and for each failed control the evidence
findings (title, severity, risk, status, location). The findings stream past `add`
once; only those whose fingerprint is evidence of some control are kept, so memory is
bounded by the number of evidence fingerprints, not by the number of findings.

Like the HTML report, the page is autoescaped, runs no script, loads nothing, and carries
the same Content-Security-Policy; its only links are in-page anchors.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import BinaryIO

from aiva.reports.common import SEVERITY_COLORS, as_utc, endpoint_text, location_text, truncate
from aiva.reports.html_report import CSP, FrameworkView, compliance_views, environment
from aiva.reports.model import ReportFinding, RunSummary

EVIDENCE_ROWS = 500  # evidence findings listed per failed control


@dataclass(frozen=True, slots=True)
class Evidence:
    """What the compliance report shows of an evidence finding (plain strings, escaped by the template)."""

    id: int
    title: str
    severity: str
    severity_class: str
    risk_score: str
    risk_level: str
    status: str
    where: str
    asset: str
    fingerprint: str


def evidence_view(item: ReportFinding) -> Evidence:
    """An evidence finding as the compliance report lists it."""
    f = item.finding
    comp = f.component
    where = location_text(f) or endpoint_text(f) or (f"{comp.name} {comp.version or ''}".strip() if comp else "")
    return Evidence(
        id=item.id,
        title=truncate(f.title, 300)[0],
        severity=f.severity.value,
        severity_class=f.severity.value if f.severity.value in SEVERITY_COLORS else "other",
        risk_score=f"{item.risk_score:.1f}",
        risk_level=item.risk_level.value,
        status=item.status.value.replace("_", " "),
        where=truncate(where, 300)[0],
        asset=truncate(f.target, 200)[0],
        fingerprint=truncate(f.fingerprint, 200)[0],
    )


@dataclass(frozen=True, slots=True)
class FailedControl:
    """A failed control with the evidence findings found in the run's findings (at most `rows`)."""

    anchor: str
    id: str
    label: str
    evidence_count: int
    resolved: int
    rows: list[Evidence]
    more: int  # evidence found but not listed (beyond the row cap)
    missing: int  # evidence fingerprints not among the findings the report was given


class ComplianceSink:
    """Writes the compliance report: keeps the evidence findings as they stream in, renders at finish."""

    def __init__(self, summary: RunSummary, out: BinaryIO, *, rows: int = EVIDENCE_ROWS) -> None:
        """Read the summary's compliance evaluation and note which fingerprints are evidence."""
        self._summary = summary
        self._out = out
        self._rows = rows
        self.frameworks: list[FrameworkView] = compliance_views(summary.compliance, links=0)
        self._wanted: set[str] = {fp for fw in self.frameworks for c in fw.controls for fp in c.evidence}
        self.evidence: dict[str, Evidence] = {}

    def add(self, item: ReportFinding) -> None:
        """Keep the finding if it is evidence of a control (first occurrence wins)."""
        fp = item.finding.fingerprint
        if fp in self._wanted and fp not in self.evidence:
            self.evidence[fp] = evidence_view(item)

    def _failed(self, index: int, fw: FrameworkView) -> list[FailedControl]:
        out = []
        for j, c in enumerate(fw.controls):
            if c.passed:
                continue
            found = [self.evidence[fp] for fp in c.evidence if fp in self.evidence]
            found.sort(key=lambda e: (-float(e.risk_score), e.title))
            out.append(FailedControl(
                anchor=f"c-{index}-{j}", id=c.id, label=c.label, evidence_count=len(c.evidence),
                resolved=c.resolved, rows=found[: self._rows], more=max(0, len(found) - self._rows),
                missing=len(c.evidence) - len(found),
            ))
        return out

    def finish(self) -> None:
        """Render the page into the file."""
        s = self._summary
        context = {
            "csp": CSP,
            "summary": s,
            "started": as_utc(s.started_at).strftime("%Y-%m-%d %H:%M:%S UTC"),
            "finished": as_utc(s.finished_at).strftime("%Y-%m-%d %H:%M:%S UTC") if s.finished_at else "",
            "frameworks": [
                {"index": i, "fw": fw, "failed": self._failed(i, fw)} for i, fw in enumerate(self.frameworks, 1)
            ],
        }
        for chunk in environment().get_template("compliance.html.j2").generate(context):
            self._out.write(chunk.encode())

    def abort(self) -> None:
        """Nothing to release."""

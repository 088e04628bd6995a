"""Evaluate findings against compliance frameworks: per control, pass/fail and the evidence.

A control fails when at least one OPEN finding (new, active, reopened) maps to it;
the evidence is the fingerprints of those findings. Findings mapped to a control but
no longer open (mitigated, false positive, risk accepted, ...) are counted as
`resolved`, never as failures.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict

from aiva.compliance.tables import Framework, Rule, frameworks
from aiva.enums import ComplianceFramework, FindingCategory, Severity, VulnerabilityStatus
from aiva.schemas import CWEReference, Finding


@dataclass(frozen=True)
class ComplianceFinding:
    """What compliance mapping reads of a finding, with its lifecycle status."""

    fingerprint: str
    status: VulnerabilityStatus
    severity: Severity
    category: FindingCategory = FindingCategory.OTHER
    cwes: frozenset[int] = frozenset()
    has_vuln_id: bool = False
    title: str = ""

    @classmethod
    def from_finding(
        cls, finding: Finding, status: VulnerabilityStatus = VulnerabilityStatus.NEW
    ) -> ComplianceFinding:
        """From a parsed finding (a fresh scan result is open: `new`)."""
        return cls(
            fingerprint=finding.fingerprint, status=status, severity=finding.severity, category=finding.category,
            cwes=frozenset(c.id for c in finding.cwes), has_vuln_id=bool(finding.vulnerability_ids),
            title=finding.title,
        )

    @classmethod
    def from_data(cls, data: Mapping[str, Any], status: str | VulnerabilityStatus) -> ComplianceFinding:
        """From a stored row: `findings.data` (the finding's JSON) and `findings.status`."""
        cwes = set()
        for c in data.get("cwes") or ():
            ref = CWEReference.parse(c["id"] if isinstance(c, dict) else c)
            if ref is not None:
                cwes.add(ref.id)
        try:
            category = FindingCategory(data.get("category") or "other")
        except ValueError:
            category = FindingCategory.OTHER
        return cls(
            fingerprint=str(data["fingerprint"]), status=VulnerabilityStatus(status),
            severity=Severity(data["severity"]), category=category, cwes=frozenset(cwes),
            has_vuln_id=bool(data.get("vulnerability_ids")), title=str(data.get("title") or ""),
        )


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class ControlResult(_Out):
    """One control: passed or not, the open findings that fail it, how many mapped ones are resolved."""

    id: str
    title: str
    passed: bool
    evidence: tuple[str, ...] = ()
    resolved: int = 0


class FrameworkResult(_Out):
    """One framework's controls, evaluated."""

    framework: ComplianceFramework
    name: str
    sources: tuple[str, ...]
    controls: tuple[ControlResult, ...]
    open_findings: int
    open_unmapped: int

    @property
    def passed(self) -> bool:
        """True when every control passes."""
        return all(c.passed for c in self.controls)

    @property
    def failed_controls(self) -> list[ControlResult]:
        """The controls that fail, in the framework's order."""
        return [c for c in self.controls if not c.passed]


class ComplianceReport(_Out):
    """Every evaluated framework's result."""

    frameworks: dict[ComplianceFramework, FrameworkResult]

    def __getitem__(self, which: ComplianceFramework) -> FrameworkResult:
        return self.frameworks[which]


def evaluate(
    findings: Iterable[ComplianceFinding | Finding],
    which: Iterable[ComplianceFramework] | None = None,
) -> ComplianceReport:
    """Evaluate the findings against each framework (all of them by default).

    Plain `Finding`s (straight from a parser) count as open.
    """
    items = [f if isinstance(f, ComplianceFinding) else ComplianceFinding.from_finding(f) for f in findings]
    tables = frameworks()
    chosen = list(which) if which is not None else list(ComplianceFramework)
    return ComplianceReport(frameworks={fw: _evaluate_one(tables[fw], items) for fw in chosen})


def _evaluate_one(fw: Framework, items: list[ComplianceFinding]) -> FrameworkResult:
    by_cwe: dict[int, list[tuple[int, Rule]]] = defaultdict(list)
    other: list[tuple[int, Rule]] = []
    for i, control in enumerate(fw.controls):
        for rule in control.rules:
            if rule.cwes:
                for cwe in rule.cwes:
                    by_cwe[cwe].append((i, rule))
            else:
                other.append((i, rule))
    evidence: list[set[str]] = [set() for _ in fw.controls]
    resolved: list[set[str]] = [set() for _ in fw.controls]
    open_count = unmapped = 0
    for f in items:
        is_open = f.status.is_open
        open_count += is_open
        hit = False
        candidates = [c for cwe in f.cwes for c in by_cwe.get(cwe, ())] + other
        for i, rule in candidates:
            if _matches(rule, f):
                hit = True
                (evidence if is_open else resolved)[i].add(f.fingerprint)
        unmapped += is_open and not hit
    controls = tuple(
        _control_result(c.id, c.title, evidence[i], resolved[i] - evidence[i]) for i, c in enumerate(fw.controls)
    )
    return FrameworkResult(framework=fw.framework, name=fw.name, sources=fw.sources, controls=controls,
                           open_findings=open_count, open_unmapped=unmapped)


def _control_result(cid: str, title: str, open_fps: set[str], resolved_fps: set[str]) -> ControlResult:
    return ControlResult(id=cid, title=title, passed=not open_fps, evidence=tuple(sorted(open_fps)),
                         resolved=len(resolved_fps))


def _matches(rule: Rule, f: ComplianceFinding) -> bool:
    if rule.cwes and rule.cwes.isdisjoint(f.cwes):
        return False
    if rule.categories and f.category not in rule.categories:
        return False
    if rule.min_severity is not None and f.severity.rank < rule.min_severity.rank:
        return False
    return not (rule.require_vuln_id and not f.has_vuln_id)

"""What a report is rendered from: the run's summary and its findings with their state."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field

from aiva.enums import RiskLevel, VulnerabilityStatus
from aiva.schemas import Finding


class Correlation(BaseModel):
    """The cross-tool issue a finding belongs to: its group, the rule that joined it, the other tools."""

    model_config = ConfigDict(frozen=True)

    group: str
    rule: str
    also_reported_by: tuple[str, ...] = ()  # the other open sources' tools, sorted


class ReportFinding(BaseModel):
    """A finding as it stands in the product after this run."""

    model_config = ConfigDict(frozen=True)

    id: int
    finding: Finding
    status: VulnerabilityStatus
    risk_score: float = Field(ge=0.0, le=10.0)
    risk_level: RiskLevel
    first_seen: datetime
    last_seen: datetime
    occurrences: int = 1
    change: str = "unchanged"  # what this run did to it: new, reopened, mitigated, unchanged
    correlation: Correlation | None = None  # None: no other tool reports the same weakness


class StageTiming(BaseModel):
    """How one pipeline activity went, read from the workflow history."""

    name: str
    attempts: int
    duration_ms: float | None
    outcome: str
    failure: str | None = None


class TrendPoint(BaseModel):
    """One earlier (or this) run's counts, for the report's trend chart; oldest first in RunSummary.trend."""

    run_id: str
    started_at: datetime
    open: int = 0
    new: int = 0
    mitigated: int = 0


class SlaBreach(BaseModel):
    """An open finding past its SLA due date."""

    fingerprint: str
    severity: str
    due: datetime
    overdue_days: int


class AttackPathHop(BaseModel):
    """One hop of an attack path, with the findings that make it possible."""

    source: str | None
    target: str
    kind: str
    probability: float
    via: str
    findings: list[dict[str, Any]] = []


class AttackPathView(BaseModel):
    """A path from the internet to a crown jewel."""

    entry: str
    target: str
    probability: float
    hops: list[AttackPathHop]


class RunSummary(BaseModel):
    """The run as a whole: who, what, when, and the counts a reader needs first."""

    run_id: str
    product: str
    started_at: datetime
    finished_at: datetime | None = None
    reports: list[str] = []
    total_findings: int = 0
    new: int = 0
    active: int = 0
    reopened: int = 0
    mitigated: int = 0
    unchanged: int = 0
    by_severity: dict[str, int] = {}
    by_risk: dict[str, int] = {}
    by_status: dict[str, int] = {}
    tickets_opened: int = 0
    stages: list[StageTiming] = []
    trend: list[TrendPoint] = []  # optional: previous runs of the product (oldest first), for the trend chart
    kev_open: int = 0  # open findings of the run on a CISA KEV vulnerability
    multi_tool_groups: int = 0  # issues reported by more than one tool (cross-tool correlation)
    correlated_findings: int = 0  # the findings in groups of more than one source
    sla_breaches: list[SlaBreach] = []  # the product's open findings past due, most overdue first (capped)
    sla_breach_count: int = 0
    # the analysis stage's compliance evaluation (aiva.compliance.ComplianceReport as JSON), when it ran
    compliance: dict[str, Any] = {}
    attack_paths: list[AttackPathView] = []


FindingsSource = Callable[[], Iterator[ReportFinding]]


class JsonlFindings:
    """A re-iterable FindingsSource over a JSON Lines file (one ReportFinding per line), which another
    process can open by its path too (the PDF renders in one beside the other formats)."""

    def __init__(self, path: Path | str) -> None:
        """Read from `path` at each iteration."""
        self.path = Path(path)

    def __call__(self) -> Iterator[ReportFinding]:
        """The findings, in file order."""
        with open(self.path, "rb") as f:
            for line in f:
                if line.strip():
                    yield ReportFinding.model_validate(orjson.loads(line))


def jsonl_source(path: Path) -> JsonlFindings:
    """A re-iterable source of findings streamed from a JSON Lines file (one ReportFinding per line)."""
    return JsonlFindings(path)

"""Inputs and results of the pipeline workflow and of each activity (one model each).

These cross the Temporal boundary, so they stay small: ids, paths and counts,
never findings (claim check: findings live in PostgreSQL).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from aiva.enums import ModuleName, Severity


class _Contract(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ReportInput(_Contract):
    """One scanner report to ingest."""

    path: str = Field(min_length=1)
    format: str | None = None
    target: str | None = None
    complete: bool = True


# The report formats the report stage writes (aiva.reports.writer.KNOWN_FORMATS; a test keeps them equal).
REPORT_FORMATS = ("html", "pdf", "json", "csv", "sarif", "vex", "compliance")


# The scanners `aiva start --scan-dir` runs by default (aiva.scanners.SCANNERS; a test keeps them in step).
DEFAULT_SCANNERS = ("bandit", "semgrep", "checkov", "detect-secrets")


class ScanDirInput(_Contract):
    """A directory (or git URL) for the scan stage to run real scanners on."""

    path: str = Field(min_length=1, max_length=4096)
    scanners: list[str] = Field(default_factory=lambda: list(DEFAULT_SCANNERS), min_length=1)
    target: str | None = None


class PipelineInput(_Contract):
    """What `aiva start` asks for: report files, directories to scan, or both."""

    product: str = Field(min_length=1, max_length=200)
    reports: list[ReportInput] = Field(default_factory=list, max_length=200)
    scan_dirs: list[ScanDirInput] = Field(default_factory=list, max_length=20)
    remediation: bool = True
    min_ticket_severity: Severity = Severity.HIGH
    report_formats: list[str] = ["html", "pdf", "json"]
    requested_by: str = "cli"

    @field_validator("report_formats")
    @classmethod
    def _known_formats(cls, v: list[str]) -> list[str]:
        bad = [f for f in v if f not in REPORT_FORMATS]
        if bad:
            raise ValueError(f"unknown report format(s) {', '.join(bad)}; known: {', '.join(REPORT_FORMATS)}")
        return v

    @model_validator(mode="after")
    def _something_to_do(self) -> PipelineInput:
        if not self.reports and not self.scan_dirs:
            raise ValueError("a run needs at least one report file or one directory to scan")
        return self


class StageCounts(_Contract):
    """Counts the progress query and the result report."""

    reports: int = 0
    ingested_findings: int = 0
    new: int = 0
    active: int = 0
    reopened: int = 0
    mitigated: int = 0
    unchanged: int = 0
    critical: int = 0
    high: int = 0
    tickets_opened: int = 0
    tickets_by_integration: dict[str, int] = {}
    tickets_closed_fixed: int = 0
    kev: int = 0
    attack_paths: int = 0
    multi_tool_groups: int = 0


class PipelineProgress(_Contract):
    """Answer of the `progress` query."""

    stage: str = "pending"
    status: str = "running"
    stages_done: list[str] = []
    counts: StageCounts = StageCounts()
    cancel_reason: str | None = None
    error: str | None = None


class PipelineResult(_Contract):
    """What a completed run returns."""

    run_id: str
    product: str
    counts: StageCounts
    reports: dict[str, str] = {}
    warnings: int = 0


class IngestInput(_Contract):
    """Scan stage: parse one report and store its findings."""

    run_id: str
    product: str
    index: int = Field(ge=0)
    report: ReportInput


class ScannerInput(_Contract):
    """Scan stage: run one scanner on a directory or a git URL and store its findings."""

    run_id: str
    product: str
    index: int = Field(ge=0)
    scanner: str = Field(min_length=1, max_length=64)
    target_dir: str = Field(min_length=1, max_length=4096)
    target: str | None = None
    timeout_s: float = Field(default=1800.0, gt=0, le=86_400)


class IngestResult(_Contract):
    """Claim check for one ingested report."""

    scan_id: int
    format: str
    findings: int
    warnings: int
    sha256: str


class RunRef(_Contract):
    """Input of the stages that work on a whole run."""

    run_id: str
    product: str


class AnalysisResult(_Contract):
    """Lifecycle counts of the run against the product's stored findings."""

    total: int
    new: int
    active: int
    reopened: int
    mitigated: int
    unchanged: int
    triaged: int = 0
    reactivated: int = 0


class VulnerabilityView(_Contract):
    """Analysis, in parallel 1/3: cross-tool correlation and the experience model."""

    groups: int
    multi_tool_groups: int
    correlated_findings: int
    fp_scored: int
    auto_closed: int


class ComplianceView(_Contract):
    """Analysis, in parallel 2/3: failed controls per framework."""

    failed_controls: dict[str, int]


class ThreatView(_Contract):
    """Analysis, in parallel 3/3: the run's open findings against known exploitation."""

    kev: int = 0
    epss_10: int = 0
    never_enriched: int = 0
    with_vuln_id: int = 0


class AttackPathsResult(_Contract):
    """Risk stage: attack paths from the internet to crown jewels (details stored on the run)."""

    paths: int
    top: list[str] = []
    skipped_reason: str | None = None


class RiskResult(_Contract):
    """How the run's open findings scored."""

    scored: int
    by_level: dict[str, int]


class RemediationInput(_Contract):
    """Remediation stage: which findings get tickets, in which integration (None: every configured one)."""

    run_id: str
    product: str
    min_severity: Severity = Severity.HIGH
    integration: str | None = None


class IntegrationPlan(_Contract):
    """The ticketing integrations configured on the workers, each opened by its own activity."""

    integrations: list[str] = []


class TicketSyncResult(_Contract):
    """Open tickets whose finding a run found fixed (or that were triaged away), now closed."""

    closed: int = 0
    failed: int = 0
    failures: list[str] = []


class RemediationResult(_Contract):
    """Tickets this run opened (or why none)."""

    integration: str
    opened: int
    already_open: int = 0
    skipped_reason: str | None = None


class CompensationResult(_Contract):
    """What an undo step reverted, and what it could not (retrying would not help: a human must)."""

    step: ModuleName
    undone: int
    failed: int = 0
    failures: list[str] = []


class ReportStageInput(_Contract):
    """Report stage: which formats to write."""

    run_id: str
    product: str
    formats: list[str]


class ReportStageResult(_Contract):
    """Where the reports were written."""

    files: dict[str, str]


class TriageResult(_Contract):
    """What a triage decision did."""

    rule_id: int
    triaged: int
    reactivated: int


class IntelSource(_Contract):
    """One threat-intel feed: a KEV catalog or an EPSS CSV, by path or http(s) URL."""

    kind: str = Field(pattern="^(kev|epss)$")
    location: str = Field(min_length=1)


class IntelRefreshInput(_Contract):
    """What the scheduled intel refresh loads."""

    sources: list[IntelSource] = Field(min_length=1)


class IntelRefreshResult(_Contract):
    """How many intel rows changed per feed, and how many findings were re-scored because of it."""

    changed: dict[str, int]
    rescored: int

"""The vocabulary's enumerations, defined once for the whole product.

Every layer (parsers, store, workflows, CLI, reports) imports these; nothing
redefines a severity or a status elsewhere. Values are lower-case strings so that
they read well in PostgreSQL, JSON reports and the Temporal UI.
"""

from __future__ import annotations

from enum import Enum


class Severity(str, Enum):
    """How bad a finding is, as the scanner (or its CVSS score) rates it."""

    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    INFO = "info"

    @property
    def rank(self) -> int:
        """Order for sorting: critical is 4, info is 0."""
        return _SEVERITY_RANK[self]

    @classmethod
    def from_cvss_score(cls, score: float) -> Severity:
        """The CVSS v3 qualitative rating of a base score (FIRST's table)."""
        if score >= 9.0:
            return cls.CRITICAL
        if score >= 7.0:
            return cls.HIGH
        if score >= 4.0:
            return cls.MEDIUM
        if score > 0.0:
            return cls.LOW
        return cls.INFO


_SEVERITY_RANK = {
    Severity.CRITICAL: 4,
    Severity.HIGH: 3,
    Severity.MEDIUM: 2,
    Severity.LOW: 1,
    Severity.INFO: 0,
}


class Confidence(str, Enum):
    """How sure the scanner is that the finding is real."""

    CERTAIN = "certain"
    FIRM = "firm"
    TENTATIVE = "tentative"
    UNKNOWN = "unknown"


class VulnerabilityStatus(str, Enum):
    """A finding's lifecycle state in one product."""

    NEW = "new"
    ACTIVE = "active"
    MITIGATED = "mitigated"
    REOPENED = "reopened"
    FALSE_POSITIVE = "false_positive"
    RISK_ACCEPTED = "risk_accepted"
    OUT_OF_SCOPE = "out_of_scope"

    @property
    def is_open(self) -> bool:
        """Open states are the ones a scan may confirm or mitigate."""
        return self in OPEN_STATUSES

    @property
    def is_human_decision(self) -> bool:
        """States a person set; re-scans never override them."""
        return self in HUMAN_STATUSES


OPEN_STATUSES = frozenset({VulnerabilityStatus.NEW, VulnerabilityStatus.ACTIVE, VulnerabilityStatus.REOPENED})
# Their values, in a fixed order: for SQL (`status = ANY(...)`) and for rows read back as text.
OPEN_STATUS_VALUES = tuple(sorted(s.value for s in OPEN_STATUSES))
HUMAN_STATUSES = frozenset(
    {VulnerabilityStatus.FALSE_POSITIVE, VulnerabilityStatus.RISK_ACCEPTED, VulnerabilityStatus.OUT_OF_SCOPE}
)


class FindingCategory(str, Enum):
    """What kind of scanner produced the finding; correlation rules differ per kind."""

    SAST = "sast"
    SCA = "sca"
    CONTAINER = "container"
    SECRET = "secret"  # noqa: S105 - a category name, not a credential
    IAC = "iac"
    DAST = "dast"
    NETWORK = "network"
    LICENSE = "license"
    OTHER = "other"


class TaskStatus(str, Enum):
    """State of a pipeline stage or a remediation task."""

    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    COMPENSATED = "compensated"
    SKIPPED = "skipped"


class AssetType(str, Enum):
    """What a scan target is."""

    REPOSITORY = "repository"
    CONTAINER_IMAGE = "container_image"
    HOST = "host"
    WEB_APPLICATION = "web_application"
    API = "api"
    CLOUD_RESOURCE = "cloud_resource"
    KUBERNETES_CLUSTER = "kubernetes_cluster"
    DATABASE = "database"
    OTHER = "other"


class AssetStatus(str, Enum):
    """Whether an asset is still in service."""

    ACTIVE = "active"
    INACTIVE = "inactive"
    DECOMMISSIONED = "decommissioned"


class BusinessCriticality(str, Enum):
    """How much the business depends on an asset."""

    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


class Environment(str, Enum):
    """Where an asset runs."""

    PRODUCTION = "production"
    STAGING = "staging"
    DEVELOPMENT = "development"
    TEST = "test"


class Exploitability(str, Enum):
    """What is known about exploitation of a vulnerability."""

    ACTIVELY_EXPLOITED = "actively_exploited"
    PROOF_OF_CONCEPT = "proof_of_concept"
    THEORETICAL = "theoretical"
    UNKNOWN = "unknown"


class RiskLevel(str, Enum):
    """Bucket of a computed risk score (0 to 10)."""

    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    NONE = "none"

    @classmethod
    def from_score(cls, score: float) -> RiskLevel:
        """Bucket a 0 to 10 risk score; the same cut points as CVSS ratings."""
        if score >= 9.0:
            return cls.CRITICAL
        if score >= 7.0:
            return cls.HIGH
        if score >= 4.0:
            return cls.MEDIUM
        if score > 0.0:
            return cls.LOW
        return cls.NONE


class ComplianceFramework(str, Enum):
    """Frameworks findings are mapped to."""

    OWASP_TOP10_2021 = "owasp_top10_2021"
    CWE_TOP25 = "cwe_top25"
    PCI_DSS_4 = "pci_dss_4"
    SOX = "sox"
    GDPR = "gdpr"


class ModuleName(str, Enum):
    """The pipeline's stages, in order."""

    SCAN = "scan"
    ANALYSIS = "analysis"
    RISK = "risk"
    REMEDIATION = "remediation"
    REPORT = "report"


class IntegrationType(str, Enum):
    """Remediation targets a run can drive."""

    WEBHOOK = "webhook"
    JIRA = "jira"
    SERVICENOW = "servicenow"
    GITHUB = "github"
    SLACK = "slack"


class SyncStrategy(str, Enum):
    """How a remediation integration follows finding state."""

    CREATE_ONLY = "create_only"
    CREATE_AND_CLOSE = "create_and_close"
    BIDIRECTIONAL = "bidirectional"

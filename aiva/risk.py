"""Risk scoring (pure): a 0-10 score per finding, bucketed into RiskLevel.

Base: the CVSS base score when the finding has one, else a severity default.
The base is then weighted by what raises or lowers real-world risk (each factor
documented and pinned by unit tests):

    score = clamp(base * exploit * asset, 0, 10)

    exploit = 1.5 if the vulnerability is in CISA KEV
              else 1 + EPSS probability * 0.5        (EPSS unknown -> 1.0)
    asset   = criticality (critical 1.2, high 1.1, medium 1.0, low 0.8)
              * exposure (internet-facing 1.2, internal 1.0)
              * environment (production 1.0, staging 0.9, development/test 0.7)
"""

from __future__ import annotations

from dataclasses import dataclass

from aiva.enums import BusinessCriticality, Environment, RiskLevel, Severity

SEVERITY_BASE = {
    Severity.CRITICAL: 9.5,
    Severity.HIGH: 8.0,
    Severity.MEDIUM: 5.5,
    Severity.LOW: 3.0,
    Severity.INFO: 0.0,
}
CRITICALITY = {
    BusinessCriticality.CRITICAL: 1.2,
    BusinessCriticality.HIGH: 1.1,
    BusinessCriticality.MEDIUM: 1.0,
    BusinessCriticality.LOW: 0.8,
}
ENVIRONMENT = {
    Environment.PRODUCTION: 1.0,
    Environment.STAGING: 0.9,
    Environment.DEVELOPMENT: 0.7,
    Environment.TEST: 0.7,
}
KEV_FACTOR = 1.5
EPSS_WEIGHT = 0.5
EXPOSED_FACTOR = 1.2


@dataclass(frozen=True)
class ThreatIntel:
    """What is known about exploitation of a finding's vulnerabilities."""

    in_kev: bool = False
    epss: float | None = None


@dataclass(frozen=True)
class AssetContext:
    """What the finding's asset means to the business."""

    criticality: BusinessCriticality = BusinessCriticality.MEDIUM
    internet_facing: bool = False
    environment: Environment = Environment.PRODUCTION


@dataclass(frozen=True)
class RiskScore:
    """A score, its bucket, and the factors that produced it (for the report)."""

    score: float
    level: RiskLevel
    base: float
    exploit_factor: float
    asset_factor: float


def score_finding(
    cvss: float | None,
    severity: Severity,
    intel: ThreatIntel | None = None,
    asset: AssetContext | None = None,
) -> RiskScore:
    """Score one finding; see the module docstring for the formula."""
    base = cvss if cvss is not None else SEVERITY_BASE[severity]
    intel = intel or ThreatIntel()
    asset = asset or AssetContext()
    if intel.in_kev:
        exploit = KEV_FACTOR
    elif intel.epss is not None:
        exploit = 1.0 + max(0.0, min(1.0, intel.epss)) * EPSS_WEIGHT
    else:
        exploit = 1.0
    asset_f = (
        CRITICALITY[asset.criticality]
        * (EXPOSED_FACTOR if asset.internet_facing else 1.0)
        * ENVIRONMENT[asset.environment]
    )
    score = round(max(0.0, min(10.0, base * exploit * asset_f)), 2)
    return RiskScore(score, RiskLevel.from_score(score), base, exploit, asset_f)

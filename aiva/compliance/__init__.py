"""Compliance views (pure): findings mapped to OWASP Top 10 2021, CWE Top 25 2024, PCI DSS 4.0, SOX and GDPR.

The mapping tables are package data under `aiva/data/` (each names its source);
`evaluate` says per control whether it passes and which open findings make it fail.
"""

from aiva.compliance.evaluate import (
    ComplianceFinding,
    ComplianceReport,
    ControlResult,
    FrameworkResult,
    evaluate,
)
from aiva.compliance.tables import Control, Framework, Rule, framework, frameworks

__all__ = [
    "ComplianceFinding", "ComplianceReport", "Control", "ControlResult", "Framework", "FrameworkResult", "Rule",
    "evaluate", "framework", "frameworks",
]

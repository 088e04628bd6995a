"""Triage decisions (pure): what a person decided about a finding, and how far it reaches.

A decision is a rule keyed by fingerprint and scope: this target (asset), this
product, or all products. The most specific live rule wins; a risk acceptance
may expire, and then the finding is active again.
"""

from __future__ import annotations

import re
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator

from aiva.enums import VulnerabilityStatus

SCOPES = ("target", "product", "all")
DECISIONS = (VulnerabilityStatus.FALSE_POSITIVE, VulnerabilityStatus.RISK_ACCEPTED, VulnerabilityStatus.OUT_OF_SCOPE)
_FP = re.compile(r"^[0-9a-f]{16,64}$")


class TriageDecision(BaseModel):
    """A person's decision about one fingerprint, within a scope."""

    model_config = ConfigDict(extra="forbid")

    fingerprint: str
    product: str = Field(min_length=1)
    status: VulnerabilityStatus
    reason: str = Field(min_length=3, max_length=2000)
    actor: str = Field(min_length=1, max_length=200)
    scope: str = "product"
    target: str | None = None
    expires_at: datetime | None = None

    @field_validator("fingerprint")
    @classmethod
    def _fp(cls, v: str) -> str:
        if not _FP.match(v):
            raise ValueError(f"not an AIVA fingerprint (hex, 16-64 digits): {v[:80]!r}")
        return v

    @field_validator("status")
    @classmethod
    def _decision(cls, v: VulnerabilityStatus) -> VulnerabilityStatus:
        if v not in DECISIONS:
            raise ValueError(f"a triage decision is one of {', '.join(d.value for d in DECISIONS)}, not {v.value}")
        return v

    @field_validator("scope")
    @classmethod
    def _scope(cls, v: str) -> str:
        if v not in SCOPES:
            raise ValueError(f"scope is one of {', '.join(SCOPES)}, not {v!r}")
        return v

    def check(self, now: datetime) -> None:
        """Cross-field rules: a target scope names its target; an expiry is in the future and only for acceptance."""
        if self.scope == "target" and not self.target:
            raise ValueError("scope 'target' needs the target (asset name)")
        if self.expires_at is not None:
            if self.status is not VulnerabilityStatus.RISK_ACCEPTED:
                raise ValueError("only a risk acceptance can expire")
            if self.expires_at <= now:
                raise ValueError(f"expiry {self.expires_at.isoformat()} is not in the future")

"""Request and response models of the HTTP API, and its one error type (rendered as JSON)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from aiva.contracts import PipelineProgress, TriageResult
from aiva.enums import Severity, VulnerabilityStatus


class ApiError(Exception):
    """An error the API answers with: {"error": {"type", "message", ...context}} and a status code."""

    def __init__(self, status: int, type_: str, message: str, headers: dict[str, str] | None = None,
                 **context: Any) -> None:
        super().__init__(message)
        self.status = status
        self.type = type_
        self.message = message
        self.headers = headers or {}
        self.context = context

    def body(self) -> dict[str, Any]:
        """The JSON body."""
        return {"error": {"type": self.type, "message": self.message, **self.context}}


# One message for every authentication failure, so answers never tell a wrong key from a revoked one.
UNAUTHORIZED = "missing or invalid API key"


def unauthorized() -> ApiError:
    """401 with the one message (and the challenge header HTTP asks for)."""
    return ApiError(401, "Unauthorized", UNAUTHORIZED, headers={"WWW-Authenticate": "Bearer"})


class ErrorDetail(BaseModel):
    """The error object (more context keys may follow, e.g. field, scope, limit)."""

    model_config = ConfigDict(extra="allow")
    type: str
    message: str


class ErrorBody(BaseModel):
    """Every error answer."""

    error: ErrorDetail


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RunAccepted(_Out):
    """POST /runs: the run was started."""

    run_id: str
    status_url: str
    temporal_ui_url: str
    reports: list[str]


class RunSummary(_Out):
    """One run, as Temporal visibility lists it."""

    run_id: str
    product: str | None
    status: str
    stage: str | None
    critical: int
    high: int
    started_at: datetime | None
    closed_at: datetime | None


class RunList(_Out):
    """GET /runs."""

    runs: list[RunSummary]


class RunStatus(_Out):
    """GET /runs/{id}: Temporal's execution status and the workflow's own progress query."""

    run_id: str
    execution_status: str
    progress: PipelineProgress
    temporal_ui_url: str


class CancelRequest(_Out):
    """POST /runs/{id}/cancel."""

    reason: str = Field(default="cancelled through the API", min_length=1, max_length=500)


class CancelAccepted(_Out):
    """The cancel_run signal was delivered; compensation runs in the workflow."""

    run_id: str
    cancel_requested: bool = True


class FindingOut(_Out):
    """One current finding of a product."""

    id: int
    fingerprint: str
    title: str
    severity: Severity
    status: VulnerabilityStatus
    tool: str
    category: str
    rule_id: str | None
    asset: str
    cvss_score: float | None
    risk_score: float
    risk_level: str
    occurrences: int
    first_seen_at: datetime
    last_seen_at: datetime
    correlation_group: str | None = None  # the cross-tool issue it belongs to (other tools report it too)
    correlation_rule: str | None = None


class FindingsPage(_Out):
    """GET /products/{product}/findings: one page; pass next_cursor back as ?cursor= for the next."""

    product: str
    findings: list[FindingOut]
    next_cursor: str | None


class TriageRequest(_Out):
    """POST /triage: a TriageDecision without the actor (the API key's name is the actor)."""

    fingerprint: str = Field(pattern=r"^[0-9a-f]{16,64}$", description="an AIVA fingerprint (hex)")
    product: str = Field(min_length=1, max_length=200)
    status: VulnerabilityStatus
    reason: str = Field(min_length=3, max_length=2000)
    scope: str = "product"
    target: str | None = None
    expires_at: datetime | None = None


class TriageOut(TriageResult):
    """What the decision did."""


class Health(_Out):
    """GET /healthz."""

    ok: bool
    postgres: str
    temporal: str


class RunForm(BaseModel):
    """The text fields of POST /runs (multipart/form-data, next to the `files`)."""

    model_config = ConfigDict(extra="forbid")

    product: str = Field(min_length=1, max_length=200)
    target: str | None = Field(default=None, max_length=500)
    format: str | None = Field(default=None, max_length=64, description="force one format for every file")
    formats: list[str] | None = Field(default=None, description="report formats, comma-separated or repeated")
    remediation: bool = True
    min_ticket_severity: Severity = Severity.HIGH

    @classmethod
    def from_fields(cls, fields: dict[str, list[str]]) -> RunForm:
        """Build from multipart fields: `formats` may repeat or be comma-separated; other fields appear once."""
        data: dict[str, Any] = {}
        for name, values in fields.items():
            if name == "formats":
                data[name] = [f.strip() for v in values for f in v.split(",") if f.strip()]
            elif len(values) > 1:
                raise ApiError(422, "ValidationError", f"form field {name!r} given {len(values)} times", field=name)
            else:
                data[name] = values[0] if values[0] != "" else None
        return cls.model_validate(data)

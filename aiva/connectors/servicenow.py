"""The ServiceNow integration: one incident per ticket key, over the Table API.

Table API calls (basic auth; bodies and answers wrapped as {"result": ...}):

    GET   /api/now/table/{table}?sysparm_query=correlation_id=C&sysparm_fields=sys_id,number,state&sysparm_limit=1
    POST  /api/now/table/{table}              create the incident
    PATCH /api/now/table/{table}/{sys_id}     resolve it: state, close_code, close_notes

Idempotency: the incident's `correlation_id` (the field ServiceNow keeps for another
system's identifier) is the AIVA ticket key, and `correlation_display` is "AIVA".
`correlation_id` holds 100 characters and ServiceNow truncates longer values silently
(which would break the look-up), and `^` separates terms of an encoded query; so a key
longer than 100 characters, or with a character outside [A-Za-z0-9._:-], is sent as
"aiva-sha256:" + the SHA-256 hex of the key (76 characters, stable across attempts).
`open_ticket` queries that correlation id first and returns the incident it finds, so a
retry opens nothing; `close_ticket` resolves the incident it finds, unless it is already
resolved, closed or canceled (`done_states`); none found is a no-op.

Severity to impact / urgency (1 high, 2 medium, 3 low; ServiceNow derives the priority
from the pair with its default matrix):

    AIVA severity   impact  urgency  priority
    critical        1       1        1 Critical
    high            1       2        2 High
    medium          2       2        3 Moderate
    low             2       3        4 Low
    info            3       3        5 Planning

Scanner text is attacker-controlled: it is sent as plain field values (ServiceNow
stores text; nothing here builds HTML or an encoded query from it), stripped of
control, bidi-override and lone-surrogate characters and clipped: short_description to
160 characters on one line, description to 4,000 (the incident table's field sizes).
Nothing here retries: Temporal does.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from aiva.connectors.base import json_object, send
from aiva.connectors.text import clean_text, finding_facts, one_line, ticket_title
from aiva.errors import IntegrationRejected

NAME = "servicenow"

IMPACT_URGENCY_BY_SEVERITY: dict[str, tuple[int, int]] = {
    "critical": (1, 1),
    "high": (1, 2),
    "medium": (2, 2),
    "low": (2, 3),
    "info": (3, 3),
}
DEFAULT_IMPACT_URGENCY = (2, 2)

MAX_SHORT_DESCRIPTION = 160
MAX_DESCRIPTION = 4_000
MAX_BLOCK = 1_500  # one free-text section of the description
MAX_CLOSE_NOTES = 2_000
MAX_CORRELATION_ID = 100
CORRELATION_DISPLAY = "AIVA"
HASHED_PREFIX = "aiva-sha256:"
RECORD_FIELDS = "sys_id,number,state"

_SAFE_CORRELATION = re.compile(rf"^[A-Za-z0-9._:-]{{1,{MAX_CORRELATION_ID}}}$")
_SYS_ID = re.compile(r"^[0-9a-f]{32}$")


class ServiceNowConfig(BaseModel):
    """Where and how to open ServiceNow incidents."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    instance_url: str = Field(description="the instance, e.g. https://yourco.service-now.com")
    username: str = Field(min_length=1)
    password: SecretStr
    table: str = Field(default="incident", pattern=r"^[a-z][a-z0-9_]{0,79}$")
    assignment_group: str | None = Field(default=None, description="sys_id (or name) of the group to assign to")
    caller: str | None = Field(default=None, description="caller_id: sys_id (or user name) of the caller")
    closed_state: int = Field(default=6, ge=1, description="state set on close: 6 Resolved, 7 Closed")
    close_code: str = Field(default="Solution provided", min_length=1, max_length=40,
                            description="close_code on close (older releases: 'Solved (Permanently)')")
    done_states: tuple[int, ...] = Field(default=(6, 7, 8),
                                         description="states that need no closing: resolved, closed, canceled")

    @field_validator("instance_url")
    @classmethod
    def _http_url(cls, v: str) -> str:
        url = httpx.URL(v)
        if url.scheme not in ("http", "https") or not url.host:
            raise ValueError("instance_url must be an http(s) URL such as https://yourco.service-now.com")
        return v.rstrip("/")


def correlation_id(key: str) -> str:
    """The key itself when ServiceNow can store and query it unchanged, else its stable hash form."""
    if _SAFE_CORRELATION.match(key) and not key.startswith(HASHED_PREFIX):
        return key
    return HASHED_PREFIX + hashlib.sha256(key.encode()).hexdigest()


def short_description_of(finding: dict[str, Any]) -> str:
    """One line, at most 160 characters, never empty."""
    return ticket_title(finding, MAX_SHORT_DESCRIPTION)


def description_of(finding: dict[str, Any], product: str, run_id: str, key: str) -> str:
    """The incident description as plain text: facts, scanner text, snippet; at most 4,000 characters."""
    parts = ["\n".join(f"{label}: {value}" for label, value in finding_facts(finding, product, run_id))]
    loc = finding.get("location")
    snippet = loc.get("snippet") if isinstance(loc, dict) else None
    for heading, text in (("Description", finding.get("description")), ("Remediation", finding.get("remediation")),
                          ("Snippet", snippet)):
        body = clean_text(text or "", MAX_BLOCK)
        if body:
            parts.append(f"{heading}:\n{body}")
    # the footer goes first in the budget so that clipping never drops the key
    footer = f"Opened by AIVA under key {one_line(key, 300)}."
    body = clean_text("\n\n".join(parts), MAX_DESCRIPTION - len(footer) - 2)
    return f"{body}\n\n{footer}" if body else footer


class ServiceNowConnector:
    """Opens and resolves ServiceNow incidents, one per AIVA ticket key."""

    name = NAME

    def __init__(self, client: httpx.AsyncClient, config: ServiceNowConfig) -> None:
        self._client = client
        self._config = config
        self._table = f"{config.instance_url}/api/now/table/{config.table}"
        self._auth = httpx.BasicAuth(config.username, config.password.get_secret_value())
        self._headers = {"Accept": "application/json"}

    async def _call(self, method: str, url: str, **kwargs: Any) -> dict[str, Any]:
        resp = await send(self._client, NAME, method, url, auth=self._auth, headers=self._headers, **kwargs)
        return json_object(resp, NAME)

    async def _find(self, cid: str) -> dict[str, Any] | None:
        """The record whose correlation_id is `cid`, or None."""
        data = await self._call("GET", self._table, params={
            "sysparm_query": f"correlation_id={cid}", "sysparm_fields": RECORD_FIELDS, "sysparm_limit": "1",
            "sysparm_exclude_reference_link": "true",
        })
        result = data.get("result")
        if not isinstance(result, list):
            raise IntegrationRejected(NAME, self._table, "query answered without a result list")
        first = result[0] if result else None
        return first if isinstance(first, dict) else None

    async def open_ticket(self, key: str, run_id: str, product: str, finding: dict[str, Any]) -> str:
        """Create the incident for `key`, or return the one a previous attempt created; returns its number."""
        cid = correlation_id(key)
        existing = await self._find(cid)
        if existing is not None:
            return self._number(existing)
        severity = str(finding.get("severity") or "").lower()
        impact, urgency = IMPACT_URGENCY_BY_SEVERITY.get(severity, DEFAULT_IMPACT_URGENCY)
        record: dict[str, str] = {
            "short_description": short_description_of(finding),
            "description": description_of(finding, product, run_id, key),
            "impact": str(impact),
            "urgency": str(urgency),
            "correlation_id": cid,
            "correlation_display": CORRELATION_DISPLAY,
        }
        if self._config.assignment_group:
            record["assignment_group"] = self._config.assignment_group
        if self._config.caller:
            record["caller_id"] = self._config.caller
        data = await self._call("POST", self._table, json=record,
                                params={"sysparm_fields": RECORD_FIELDS, "sysparm_exclude_reference_link": "true"})
        created = data.get("result")
        if not isinstance(created, dict):
            raise IntegrationRejected(NAME, self._table, "create answered without a result record")
        return self._number(created)

    async def close_ticket(self, key: str, ticket_id: str | None, run_id: str, reason: str) -> None:
        """Resolve the incident with `reason` as close notes; already done, or none, is a no-op."""
        existing = await self._find(correlation_id(key))
        if existing is None:
            return
        if str(existing.get("state") or "") in {str(s) for s in self._config.done_states}:
            return
        sys_id = str(existing.get("sys_id") or "")
        if not _SYS_ID.match(sys_id):  # it goes into the URL path: refuse anything but a sys_id
            raise IntegrationRejected(NAME, self._table, f"record without a valid sys_id: {sys_id[:40]!r}")
        notes = clean_text(f"{reason}\n\nResolved by AIVA (run {run_id}).", MAX_CLOSE_NOTES)
        await self._call("PATCH", f"{self._table}/{sys_id}",
                         json={"state": str(self._config.closed_state), "close_code": self._config.close_code,
                               "close_notes": notes},
                         params={"sysparm_fields": RECORD_FIELDS, "sysparm_exclude_reference_link": "true"})

    def _number(self, record: dict[str, Any]) -> str:
        """The incident number (INC0010001) AIVA shows, else its sys_id."""
        number = str(record.get("number") or record.get("sys_id") or "")
        if not number:
            raise IntegrationRejected(NAME, self._table, "record without a number or sys_id")
        return number

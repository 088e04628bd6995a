"""The JIRA Cloud integration: one issue per ticket key, closed through the project's workflow.

REST API v3 calls (basic auth, `email:api_token`):

    POST /rest/api/3/search/jql                      find the issue carrying the key's label
    POST /rest/api/3/issue                           create it (summary, issuetype, priority, labels, ADF description)
    GET  /rest/api/3/issue/{key}?fields=status,labels  the issue AIVA recorded, when the search misses it
    GET  /rest/api/3/issue/{key}/transitions         the transitions available from its current status
    POST /rest/api/3/issue/{key}/comment             the reason for closing, as an ADF comment
    POST /rest/api/3/issue/{key}/transitions         move it to done (204)

Idempotency: every issue carries the label `label_prefix + sha256(key)[:20]` (JIRA labels
cannot hold spaces, and AIVA keys are long; 80 bits of hash make a collision negligible).
`open_ticket` searches that label in the project first and returns the issue it finds,
so a retry after a crash between the create call and AIVA's bookkeeping opens nothing.
`close_ticket` finds the issue the same way (or, since the enhanced search is eventually
consistent, by the issue key AIVA recorded, provided it carries the label), comments the
reason, then transitions it. Already done, or never opened, is a no-op. The comment goes
first: a retry after a lost transition answer sees the issue done and stops, so the
comment is never lost; at worst a failed transition repeats it.

Severity to JIRA priority (the names of JIRA's default priority scheme; a project with
another scheme sets `set_priority=False` or renames its priorities):

    AIVA severity   JIRA priority
    critical        Highest
    high            High
    medium          Medium
    low             Low
    info            Lowest

Scanner text is attacker-controlled: it only ever travels as ADF `text` nodes (never
parsed as markup), stripped of control, bidi-override and lone-surrogate characters,
each field clipped, so the description stays well under JIRA's 32,767-character limit.
The summary is one line of at most 255 characters. Nothing here retries: Temporal does.
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

NAME = "jira"

PRIORITY_BY_SEVERITY: dict[str, str] = {
    "critical": "Highest",
    "high": "High",
    "medium": "Medium",
    "low": "Low",
    "info": "Lowest",
}
DEFAULT_PRIORITY = "Medium"

MAX_SUMMARY = 255
MAX_BLOCK = 4_000  # free text: description, remediation
MAX_SNIPPET = 2_000
MAX_LINES = 60  # lines kept per block; the rest is folded into the last line
MAX_COMMENT = 2_000
LABEL_HASH_CHARS = 20
ISSUE_KEY_RE = re.compile(r"^[A-Z][A-Z0-9_]*-[1-9][0-9]{0,11}$")


class JiraConfig(BaseModel):
    """Where and how to open JIRA Cloud issues."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    base_url: str = Field(description="the site, e.g. https://yourco.atlassian.net")
    email: str = Field(min_length=1, description="the Atlassian account the API token belongs to")
    api_token: SecretStr
    project_key: str = Field(pattern=r"^[A-Z][A-Z0-9_]{0,254}$", description="e.g. SEC")
    issue_type: str = Field(default="Bug", min_length=1, max_length=255)
    done_transition: str = Field(default="Done", min_length=1, max_length=255,
                                 description="transition to close with (case-insensitive); else any to a done status")
    label_prefix: str = Field(default="aiva-", pattern=r"^[A-Za-z0-9_.:-]{0,40}$",
                              description="prefix of the idempotency label (no spaces: JIRA labels cannot hold them)")
    set_priority: bool = Field(default=True, description="send the priority (off for projects without the field)")

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, v: str) -> str:
        url = httpx.URL(v)
        if url.scheme not in ("http", "https") or not url.host:
            raise ValueError("base_url must be an http(s) URL such as https://yourco.atlassian.net")
        return v.rstrip("/")


def issue_label(key: str, prefix: str = "aiva-") -> str:
    """The idempotency label of a ticket key: stable, short, JQL-safe."""
    return prefix + hashlib.sha256(key.encode()).hexdigest()[:LABEL_HASH_CHARS]


# --- Atlassian Document Format: only doc, paragraph, text, hardBreak and codeBlock nodes ---


def _text(s: str, *marks: str) -> dict[str, Any]:
    node: dict[str, Any] = {"type": "text", "text": s}
    if marks:
        node["marks"] = [{"type": m} for m in marks]
    return node


def _lines(s: str) -> list[dict[str, Any]]:
    """Text nodes separated by hard breaks (ADF forbids empty text nodes)."""
    lines = s.split("\n")
    if len(lines) > MAX_LINES:
        lines = [*lines[: MAX_LINES - 1], " ".join(lines[MAX_LINES - 1 :])]
    out: list[dict[str, Any]] = []
    for i, line in enumerate(lines):
        if i:
            out.append({"type": "hardBreak"})
        if line:
            out.append(_text(line))
    return out


def _paragraph(*content: dict[str, Any]) -> dict[str, Any]:
    return {"type": "paragraph", "content": list(content)}


def adf_document(blocks: list[dict[str, Any]]) -> dict[str, Any]:
    """An ADF document from block nodes (an empty body is one empty paragraph)."""
    return {"type": "doc", "version": 1, "content": blocks or [_paragraph()]}


def adf_plain(text: str) -> dict[str, Any]:
    """Plain text as an ADF document: one paragraph, lines kept."""
    return adf_document([_paragraph(*_lines(text))] if text else [])


def describe(finding: dict[str, Any], product: str, run_id: str, label: str) -> dict[str, Any]:
    """The issue description in ADF: the facts, the scanner's text, the snippet, the key label."""
    blocks = [_paragraph(_text(f"{name}: ", "strong"), _text(value))
              for name, value in finding_facts(finding, product, run_id)]
    for heading, field in (("Description", "description"), ("Remediation", "remediation")):
        text = clean_text(finding.get(field) or "", MAX_BLOCK)
        if text:
            blocks += [_paragraph(_text(heading, "strong")), _paragraph(*_lines(text))]
    loc = finding.get("location")
    snippet = clean_text(loc.get("snippet") or "", MAX_SNIPPET) if isinstance(loc, dict) else ""
    if snippet:
        # a code block's text takes no marks and is shown verbatim: the right home for code
        blocks += [_paragraph(_text("Snippet", "strong")), {"type": "codeBlock", "content": [_text(snippet)]}]
    blocks.append(_paragraph(_text(f"Opened by AIVA. Do not remove the label {label}: it identifies this issue.",
                                   "em")))
    return adf_document(blocks)


def summary_of(finding: dict[str, Any]) -> str:
    """One line, at most 255 characters (JIRA's limit), never empty."""
    return ticket_title(finding, MAX_SUMMARY)


class JiraConnector:
    """Opens and closes JIRA Cloud issues, one per AIVA ticket key."""

    name = NAME

    def __init__(self, client: httpx.AsyncClient, config: JiraConfig) -> None:
        self._client = client
        self._config = config
        self._api = f"{config.base_url}/rest/api/3"
        self._auth = httpx.BasicAuth(config.email, config.api_token.get_secret_value())
        self._headers = {"Accept": "application/json"}

    async def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return await send(self._client, NAME, method, f"{self._api}{path}", auth=self._auth,
                          headers=self._headers, **kwargs)

    async def _find(self, label: str) -> dict[str, Any] | None:
        """The issue carrying `label` in the project, or None."""
        # labels are [A-Za-z0-9_.:-] and project keys [A-Z0-9_] (both validated): nothing to escape in JQL
        jql = f'labels = "{label}" AND project = "{self._config.project_key}"'
        resp = await self._call("POST", "/search/jql", json={"jql": jql, "fields": ["status", "labels"],
                                                             "maxResults": 1})
        issues = json_object(resp, NAME).get("issues")
        if not isinstance(issues, list):
            raise IntegrationRejected(NAME, str(resp.request.url), "search answered without an issues list",
                                      resp.status_code)
        first = issues[0] if issues else None
        return first if isinstance(first, dict) and first.get("key") else None

    async def _get(self, issue_key: str, label: str) -> dict[str, Any] | None:
        """The issue AIVA recorded, if it still exists and still carries our label."""
        try:
            resp = await self._call("GET", f"/issue/{issue_key}", params={"fields": "status,labels"})
        except IntegrationRejected as e:
            if e.status_code == 404:  # deleted, or never there: nothing to close
                return None
            raise
        issue = json_object(resp, NAME)
        labels = (issue.get("fields") or {}).get("labels") or []
        return issue if issue.get("key") and label in labels else None

    async def open_ticket(self, key: str, run_id: str, product: str, finding: dict[str, Any]) -> str:
        """Create the issue for `key`, or return the one a previous attempt created; returns its key."""
        label = issue_label(key, self._config.label_prefix)
        existing = await self._find(label)
        if existing is not None:
            return str(existing["key"])
        fields: dict[str, Any] = {
            "project": {"key": self._config.project_key},
            "issuetype": {"name": self._config.issue_type},
            "summary": summary_of(finding),
            "labels": [label],
            "description": describe(finding, product, run_id, label),
        }
        if self._config.set_priority:
            severity = str(finding.get("severity") or "").lower()
            fields["priority"] = {"name": PRIORITY_BY_SEVERITY.get(severity, DEFAULT_PRIORITY)}
        resp = await self._call("POST", "/issue", json={"fields": fields})
        created = json_object(resp, NAME)
        if not created.get("key"):
            raise IntegrationRejected(NAME, str(resp.request.url), "create answered without an issue key",
                                      resp.status_code)
        return str(created["key"])

    async def close_ticket(self, key: str, ticket_id: str | None, run_id: str, reason: str) -> None:
        """Comment `reason` and move the issue to done; done already, or no issue, is a no-op."""
        label = issue_label(key, self._config.label_prefix)
        issue = await self._find(label)
        if issue is None and ticket_id and ISSUE_KEY_RE.match(ticket_id):
            issue = await self._get(ticket_id, label)
        if issue is None:
            return
        issue_key = str(issue["key"])
        if not ISSUE_KEY_RE.match(issue_key):
            raise IntegrationRejected(NAME, self._api, f"unexpected issue key {issue_key[:40]!r}")
        status = (issue.get("fields") or {}).get("status") or {}
        if (status.get("statusCategory") or {}).get("key") == "done":
            return
        transition = await self._done_transition(issue_key)
        text = clean_text(f"{reason}\n\nClosed by AIVA (run {run_id}).", MAX_COMMENT)
        await self._call("POST", f"/issue/{issue_key}/comment", json={"body": adf_plain(text)})
        await self._call("POST", f"/issue/{issue_key}/transitions", json={"transition": {"id": transition}})

    async def _done_transition(self, issue_key: str) -> str:
        """The id of the configured done transition, else of any transition to a done status."""
        resp = await self._call("GET", f"/issue/{issue_key}/transitions")
        raw = json_object(resp, NAME).get("transitions")
        transitions = [t for t in raw if isinstance(t, dict) and t.get("id")] if isinstance(raw, list) else []
        wanted = self._config.done_transition.casefold()
        by_name = [t for t in transitions if str(t.get("name") or "").casefold() == wanted]
        to_done = [t for t in transitions
                   if ((t.get("to") or {}).get("statusCategory") or {}).get("key") == "done"]
        candidates = by_name or to_done
        if not candidates:
            available = ", ".join(
                f"{one_line(t.get('name') or '?', 60)} (to {one_line((t.get('to') or {}).get('name') or '?', 60)})"
                for t in transitions[:20]
            ) or "none"
            raise IntegrationRejected(
                NAME, str(resp.request.url),
                f"issue {issue_key} has no transition named {self._config.done_transition!r} and none to a done"
                f" status; available: {available} (set the done transition name)",
            )
        return str(candidates[0]["id"])

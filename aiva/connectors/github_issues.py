"""The GitHub Issues integration: one issue per ticket key, closed by comment + state change.

API calls (REST, `X-GitHub-Api-Version: 2022-11-28`, `Authorization: Bearer TOKEN`,
`Accept: application/vnd.github+json`), relative to `api_url` (https://api.github.com,
or https://HOST/api/v3 on GitHub Enterprise Server):

    GET   /repos/{owner}/{repo}/issues?labels=L&state=all&sort=created&direction=asc
    POST  /repos/{owner}/{repo}/issues                     {title, body, labels}
    GET   /repos/{owner}/{repo}/issues/{number}            (close, when the label search misses)
    POST  /repos/{owner}/{repo}/issues/{number}/comments   {body}
    PATCH /repos/{owner}/{repo}/issues/{number}            {state: closed, state_reason}

Idempotency: every issue carries the label `aiva:` + the first 16 hex digits of
sha256(key) (label names are limited to 50 characters; 64 bits of hash make a collision
between two keys negligible) and, in its body, the hidden marker
`<!-- aiva-key: KEY -->`. `open_ticket` lists the issues with that label (state=all,
oldest first) before creating one and returns the existing number, preferring the one
whose body carries the marker. GitHub silently drops labels on a new issue when the
token lacks push/triage access; without its label the issue could not be found again,
so that answer is a rejection (naming the issue) rather than a duplicate on every retry.
`close_ticket` finds the issue the same way (or by the stored number, if its body has
the marker), comments with the reason, then PATCHes it closed; an issue already closed,
or none at all, is a no-op. A crash between the comment and the PATCH means one
duplicate comment on the retry, never a second issue.

Labels: `aiva`, the key label, the severity label, then the configured extra labels.

    severity   label
    critical   severity:critical
    high       severity:high
    medium     severity:medium
    low        severity:low
    info       severity:info
    other      severity:unknown

Scanner text is attacker-controlled. It first loses control, zero-width, bidi and
lone-surrogate characters (`aiva.connectors.text`). Short values then go into code
spans and long ones into fenced code blocks whose fence is longer than any backtick
run inside, so they cannot @mention anyone, reference or close issues ("fixes #1"),
inject HTML or break out of the fence. The title is plain text with `@name` and
`#123` defused by a zero-width space. Every field is bounded; the body stays under
GitHub's 65,536 chars.

Errors (`send` classifies the rest: other 4xx rejected, 408/429/5xx/timeouts retried):

    answer                                          raised
    403 with x-ratelimit-remaining: 0, retry-after,
        or a "rate limit" message (primary/secondary) IntegrationUnavailable
    403 otherwise (no permission)                   IntegrationRejected
    401 bad credentials, 404 no such repo/access,
        410 issues disabled, 422 validation failed  IntegrationRejected
    404 / 410 on the stored issue during close      no-op
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Generator
from typing import Any, Literal
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from aiva.connectors.base import MAX_ERROR_TEXT, json_object, send
from aiva.connectors.text import clip, strip_unsafe
from aiva.errors import IntegrationRejected, IntegrationUnavailable

NAME = "github"
API_VERSION = "2022-11-28"
MAX_BODY = 65_536
MAX_TITLE = 256
MAX_LABEL = 50
KEY_LABEL_PREFIX = "aiva:"
SEVERITIES = ("critical", "high", "medium", "low", "info")

_OWNER = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$")
_REPO_NAME = re.compile(r"^[A-Za-z0-9._-]{1,100}$")
_MENTION = re.compile(r"(?<!\w)@(?=[A-Za-z0-9])")
_REFERENCE = re.compile(r"#(?=\d)")
_BACKTICKS = re.compile(r"`+")
_ZWSP = "\u200b"


class GitHubIssuesConfig(BaseModel):
    """Where and how to open issues: API base, repository, token, labels, close reason."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    api_url: str = "https://api.github.com"
    repo: str = Field(description="owner/name")
    token: SecretStr
    labels: tuple[str, ...] = ()
    close_state_reason: Literal["completed", "not_planned"] = "not_planned"

    @field_validator("api_url")
    @classmethod
    def _api_url(cls, v: str) -> str:
        v = v.strip().rstrip("/")
        if not v.startswith(("https://", "http://")):
            raise ValueError("api_url must be an http(s) URL, e.g. https://api.github.com or https://HOST/api/v3")
        return v

    @field_validator("repo")
    @classmethod
    def _repo(cls, v: str) -> str:
        owner, sep, name = v.strip().partition("/")
        if not sep or not _OWNER.match(owner) or not _REPO_NAME.match(name) or name in (".", ".."):
            raise ValueError(f"repo must be 'owner/name', got {v!r}")
        return f"{owner}/{name}"

    @field_validator("labels")
    @classmethod
    def _labels(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        out = tuple(label.strip() for label in v if label.strip())
        for label in out:
            if len(label) > MAX_LABEL:
                raise ValueError(f"label {label!r} is longer than GitHub's {MAX_LABEL} characters")
        return out


def key_label(key: str) -> str:
    """The label that identifies the issue opened under `key` (stable, 21 characters)."""
    return KEY_LABEL_PREFIX + hashlib.sha256(key.encode()).hexdigest()[:16]


def key_marker(key: str) -> str:
    """The hidden body marker naming `key` (quoted so it cannot end the HTML comment)."""
    return f"<!-- aiva-key: {quote(key, safe=':@._~/+=')} -->"


def severity_label(severity: object) -> str:
    """'severity:high' and so on; anything unexpected is 'severity:unknown'."""
    s = str(severity or "").strip().lower()
    return f"severity:{s if s in SEVERITIES else 'unknown'}"


# -- neutralising scanner text ------------------------------------------------------------


def _one_line(value: object, limit: int) -> str:
    return clip(" ".join(strip_unsafe(value).split()), limit)


def _code_span(value: object, limit: int = 300) -> str:
    """Inline code: GitHub renders it verbatim (no mentions, references or HTML)."""
    s = _one_line(value, limit)
    if not s:
        return "—"
    fence = "`" * (max((len(m) for m in _BACKTICKS.findall(s)), default=0) + 1)
    pad = " " if s.startswith("`") or s.endswith("`") else ""
    return f"{fence}{pad}{s}{pad}{fence}"


def _code_block(value: object, limit: int) -> str:
    """A fenced block longer than any backtick run inside, so the text cannot close it."""
    s = strip_unsafe(value).strip("\n")
    if len(s) > limit:
        s = s[:limit] + f"\n… [truncated by AIVA: {len(s) - limit:,} more characters]"
    fence = "`" * max(3, max((len(m) for m in _BACKTICKS.findall(s)), default=0) + 1)
    return f"{fence}text\n{s}\n{fence}"


def _plain_title(value: object, limit: int) -> str:
    """An issue title: one line, with @mentions and #references defused."""
    s = _one_line(value, limit * 2)
    return clip(_REFERENCE.sub("#" + _ZWSP, _MENTION.sub("@" + _ZWSP, s)), limit)


def _location(loc: object) -> str | None:
    if isinstance(loc, dict):
        path = loc.get("file_path")
        if not path:
            return None
        start, end = loc.get("start_line"), loc.get("end_line")
        if start is None:
            return str(path)
        return f"{path}:{start}" + (f"-{end}" if end not in (None, start) else "")
    return str(loc) if loc else None


def _component(comp: object) -> str | None:
    if isinstance(comp, dict):
        name = comp.get("purl") or (
            f"{comp.get('name')}@{comp['version']}" if comp.get("version") else comp.get("name"))
        return str(name) if name else None
    return str(comp) if comp else None


def _endpoint(ep: object) -> str | None:
    if isinstance(ep, dict):
        where = ep.get("url") or ":".join(str(p) for p in (ep.get("host"), ep.get("port")) if p)
        if ep.get("parameter"):
            where = f"{where} (parameter {ep['parameter']})"
        return str(where) if where else None
    return str(ep) if ep else None


def _joined(values: object) -> str | None:
    if isinstance(values, list | tuple) and values:
        return ", ".join(str(v) for v in values)
    return None


def issue_title(finding: dict[str, Any]) -> str:
    """'[AIVA] high: Title', bounded to GitHub's 256 characters."""
    sev = str(finding.get("severity") or "unknown").lower()
    return _plain_title(f"[AIVA] {sev}: {finding.get('title') or 'security finding'}", MAX_TITLE)


def issue_body(key: str, run_id: str, product: str, finding: dict[str, Any]) -> str:
    """The issue's Markdown body: marker, facts as code spans, long text as fenced blocks."""
    comp = finding.get("component")
    fixed = comp.get("fixed_version") if isinstance(comp, dict) else None
    risk = finding.get("risk_score")
    facts: list[tuple[str, str | None]] = [
        ("Title", str(finding.get("title") or "")),
        ("Severity", str(finding.get("severity") or "unknown")),
        ("Risk score", f"{risk:.1f}" if isinstance(risk, int | float) else None),
        ("Change", finding.get("change")),
        ("Tool", finding.get("tool")),
        ("Asset", finding.get("asset")),
        ("Rule", finding.get("rule_id")),
        ("Vulnerabilities", _joined(finding.get("vulnerability_ids"))),
        ("CWEs", _joined(finding.get("cwes"))),
        ("Component", _component(comp)),
        ("Fixed in", str(fixed) if fixed else None),
        ("Location", _location(finding.get("location"))),
        ("Endpoint", _endpoint(finding.get("endpoint"))),
        ("Product", product),
        ("Run", run_id),
        ("Fingerprint", finding.get("fingerprint")),
    ]
    lines = [key_marker(key), "", "### Security finding reported by AIVA", ""]
    lines += [f"- **{label}:** {_code_span(value)}" for label, value in facts if value not in (None, "")]
    loc = finding.get("location")
    sections = [
        ("Description", finding.get("description"), 24_000),
        ("Code", loc.get("snippet") if isinstance(loc, dict) else None, 6_000),
        ("Remediation", finding.get("remediation"), 24_000),
    ]
    for heading, text, limit in sections:
        if text:
            lines += ["", f"#### {heading}", "", _code_block(text, limit)]
    lines += ["", "_Opened by AIVA. Scanner output is shown verbatim in code; it is not AIVA's text._", ""]
    body = "\n".join(lines)
    # The per-field limits keep the body far below the cap; this is the backstop.
    return body if len(body) <= MAX_BODY else body[:MAX_BODY]


# -- HTTP ---------------------------------------------------------------------------------


class _BearerAuth(httpx.Auth):
    """Bearer auth that keeps the response: `send` drops it, and a 403 needs its headers."""

    def __init__(self, token: str) -> None:
        self._token = token
        self.response: httpx.Response | None = None

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self._token}"
        self.response = yield request


def _rate_limited(resp: httpx.Response) -> bool:
    """GitHub's primary and secondary rate limits, which it may answer with 403."""
    if resp.headers.get("x-ratelimit-remaining") == "0" or "retry-after" in resp.headers:
        return True
    return "rate limit" in resp.text[:MAX_ERROR_TEXT].lower()


class GitHubIssuesConnector:
    """Opens and closes AIVA tickets as GitHub issues in one repository."""

    name = NAME

    def __init__(self, client: httpx.AsyncClient, config: GitHubIssuesConfig) -> None:
        self._client = client
        self._config = config
        self._issues = f"{config.api_url}/repos/{config.repo}/issues"
        self._headers = {
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": API_VERSION,
            "User-Agent": "aiva-remediation",
        }

    async def _call(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        auth = _BearerAuth(self._config.token.get_secret_value())
        try:
            return await send(self._client, NAME, method, url, headers=self._headers, auth=auth, **kwargs)
        except IntegrationRejected as e:
            if e.status_code == 403 and auth.response is not None and _rate_limited(auth.response):
                raise IntegrationUnavailable(
                    NAME, url, f"rate limited: {auth.response.text[:MAX_ERROR_TEXT]}", 403) from e
            raise

    def _issue(self, resp: httpx.Response) -> dict[str, Any]:
        data = json_object(resp, NAME)
        if not isinstance(data.get("number"), int):
            raise IntegrationRejected(NAME, str(resp.request.url), "expected an issue object with a number",
                                      resp.status_code)
        return data

    async def _find(self, key: str) -> dict[str, Any] | None:
        """The issue labelled for `key` (the one with the body marker first, else the oldest)."""
        params = {"labels": key_label(key), "state": "all", "sort": "created", "direction": "asc",
                  "per_page": "20"}
        resp = await self._call("GET", self._issues, params=params)
        try:
            items = resp.json()
        except ValueError as e:
            raise IntegrationRejected(NAME, self._issues, f"expected JSON, got {resp.text[:80]!r}",
                                      resp.status_code) from e
        if not isinstance(items, list):
            raise IntegrationRejected(NAME, self._issues, "expected a JSON array of issues", resp.status_code)
        # The issues endpoint lists pull requests too; ours are never pull requests.
        issues = [i for i in items if isinstance(i, dict) and isinstance(i.get("number"), int)
                  and "pull_request" not in i]
        marker = key_marker(key)
        for issue in issues:
            if marker in str(issue.get("body") or ""):
                return issue
        return issues[0] if issues else None

    async def open_ticket(self, key: str, run_id: str, product: str, finding: dict[str, Any]) -> str:
        """Open the issue for `key` (or return the one opened before); return its number."""
        existing = await self._find(key)
        if existing is not None:
            return str(existing["number"])
        label = key_label(key)
        labels = list(dict.fromkeys(["aiva", label, severity_label(finding.get("severity")),
                                     *self._config.labels]))
        payload = {"title": issue_title(finding), "body": issue_body(key, run_id, product, finding),
                   "labels": labels}
        resp = await self._call("POST", self._issues, json=payload)
        issue = self._issue(resp)
        names = {str(lb.get("name")) for lb in issue.get("labels") or [] if isinstance(lb, dict)}
        if label not in names:
            raise IntegrationRejected(
                NAME, self._issues,
                f"issue #{issue['number']} was opened without its label {label!r}: the token needs"
                " push (or triage) access to set labels, and without the label AIVA cannot find the"
                " issue again", resp.status_code)
        return str(issue["number"])

    async def _by_number(self, key: str, ticket_id: str | None) -> dict[str, Any] | None:
        if not ticket_id or not ticket_id.isdigit():
            return None
        try:
            issue = self._issue(await self._call("GET", f"{self._issues}/{ticket_id}"))
        except IntegrationRejected as e:
            if e.status_code in (404, 410):
                return None
            raise
        # Only an issue whose body names this key is ours to close.
        return issue if key_marker(key) in str(issue.get("body") or "") else None

    async def close_ticket(self, key: str, ticket_id: str | None, run_id: str, reason: str) -> None:
        """Comment with the reason and close the issue; already closed or never opened is a no-op."""
        issue = await self._find(key) or await self._by_number(key, ticket_id)
        if issue is None or issue.get("state") == "closed":
            return
        url = f"{self._issues}/{issue['number']}"
        comment = f"Closed by AIVA (run {_code_span(run_id, 120)}): {_code_span(reason, 1_000)}"
        await self._call("POST", f"{url}/comments", json={"body": comment})
        await self._call("PATCH", url, json={"state": "closed", "state_reason": self._config.close_state_reason})

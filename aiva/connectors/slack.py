"""The Slack integration: one channel message per ticket key, edited to "rolled back" on close.

Web API calls (`Authorization: Bearer xoxb-…`; writes as JSON, reads as GET parameters),
relative to `api_url` (https://slack.com/api):

    POST chat.postMessage       {channel, text, blocks, metadata, unfurl_links: false, unfurl_media: false}
    POST chat.update            {channel, ts, text, blocks, metadata}
    GET  conversations.history  channel, include_all_metadata=true, oldest, limit, cursor
                                (and latest=oldest=TS, inclusive, limit=1 to read one message)

The bot needs the chat:write scope, channels:history (groups:history for a private
channel) and to be a member of the channel, which must be given by ID (C…/G…/D…):
chat.update and conversations.history do not accept names.

Idempotency: every message carries metadata
{"event_type": "aiva_finding", "event_payload": {"key", "run_id", "fingerprint", "state"}}.
Before posting, `open_ticket` reads the channel's recent history with
include_all_metadata (at most `history_pages` pages of `history_page_size`, no older
than `lookback_hours`, following response_metadata.next_cursor) and returns the
message already posted under the key. The ticket id is "CHANNEL:TS". A message that
has scrolled out of that window is not found, so a retry that late posts again.
`close_ticket` reads the message by its ts (or searches by key) and chat.updates it:
a "rolled back" notice with the reason on top of the original blocks, and
event_payload.state "closed". A message already closed, deleted or never posted is
a no-op.

Severity shows as an emoji in the header:

    critical :red_circle:   high :large_orange_circle:   medium :large_yellow_circle:
    low :large_blue_circle:   info :white_circle:        other :grey_question:

Scanner text is attacker-controlled. It first loses control, zero-width, bidi and
lone-surrogate characters (`aiva.connectors.text`); then `&`, `<` and `>` are escaped
as Slack's mrkdwn requires (so `<!channel>`, `<@U123>` and `<http://x|y>` cannot be
smuggled in), text objects are `verbatim` (no automatic mention, channel or URL
parsing), a bare `@name` gets a zero-width space, backticks become U+02CB (so scanner
text can neither open nor close a code block; `*`, `_` and `~` may still style it)
and every field is cut to Slack's block limits (header 150, section 3,000, field
2,000 characters, at most 10 fields).

Errors: Slack answers HTTP 200 with {"ok": false, "error": CODE}; `send` handles the
HTTP level (429 with Retry-After, 5xx, timeouts: retryable; other 4xx: rejected).

    error                                              raised
    ratelimited, rate_limited, internal_error,
    fatal_error, service_unavailable, request_timeout,
    team_added_to_org                                  IntegrationUnavailable (retried)
    message_not_found (close only)                     no-op
    invalid_auth, not_authed, account_inactive,
    token_revoked, token_expired, missing_scope,
    channel_not_found, not_in_channel, is_archived,
    invalid_blocks, invalid_metadata_format, msg_too_long,
    cant_update_message, … every other code            IntegrationRejected
"""

from __future__ import annotations

import re
import time
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from aiva.connectors.base import json_object, send
from aiva.connectors.text import strip_unsafe
from aiva.errors import IntegrationRejected, IntegrationUnavailable

NAME = "slack"
EVENT_TYPE = "aiva_finding"
RETRYABLE = frozenset({
    "ratelimited", "rate_limited", "internal_error", "fatal_error", "service_unavailable",
    "request_timeout", "team_added_to_org",
})
SEVERITY_EMOJI = {
    "critical": ":red_circle:", "high": ":large_orange_circle:", "medium": ":large_yellow_circle:",
    "low": ":large_blue_circle:", "info": ":white_circle:",
}
MAX_HEADER = 150
MAX_SECTION = 3_000
MAX_FIELD = 2_000
MAX_FIELDS = 10
MAX_BLOCKS = 50
MAX_FALLBACK = 400

_CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{2,}$")
_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
_MENTION = re.compile(r"(?<!\w)@(?=\w)")
_PARTIAL_ENTITY = re.compile(r"&[a-z]*$")
_GRAVE = "\u02cb"  # looks like a backtick, cannot end a code block


class SlackConfig(BaseModel):
    """Where and how to post: API base, bot token, channel ID, and how far back to look."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    api_url: str = "https://slack.com/api"
    token: SecretStr
    channel: str = Field(description="conversation ID, e.g. C0123456789")
    lookback_hours: float = Field(default=168.0, gt=0, le=24 * 90)
    history_pages: int = Field(default=3, ge=1, le=20)
    history_page_size: int = Field(default=200, ge=1, le=999)

    @field_validator("api_url")
    @classmethod
    def _api_url(cls, v: str) -> str:
        v = v.strip().rstrip("/")
        if not v.startswith(("https://", "http://")):
            raise ValueError("api_url must be an http(s) URL, e.g. https://slack.com/api")
        return v

    @field_validator("channel")
    @classmethod
    def _channel(cls, v: str) -> str:
        v = v.strip()
        if not _CHANNEL_ID.match(v):
            raise ValueError(f"channel must be a Slack conversation ID like C0123456789, not {v!r}"
                             " (chat.update and conversations.history need the ID)")
        return v


# -- neutralising scanner text ------------------------------------------------------------


def mrkdwn(value: object, cap: int, *, one_line: bool = True) -> str:
    """Scanner text as safe mrkdwn: escaped, mentions defused, at most `cap` characters."""
    s = strip_unsafe(value)
    if one_line:
        s = " ".join(s.split())
    s = _MENTION.sub("@\u200b", s).replace("`", _GRAVE)
    out: list[str] = []
    n = 0
    for ch in s:
        esc = _ESCAPES.get(ch, ch)
        if n + len(esc) > cap - 1:  # cut between entities, never inside one
            out.append("…")
            break
        out.append(esc)
        n += len(esc)
    return "".join(out)


def _code_block(value: object, cap: int) -> str:
    inner = mrkdwn(str(value).strip("\n"), cap - 6, one_line=False)
    return f"```{inner}```"


def _text(text: str) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": text, "verbatim": True}


def _location(loc: object) -> str | None:
    if not isinstance(loc, dict):
        return str(loc) if loc else None
    if not loc.get("file_path"):
        return None
    line = loc.get("start_line")
    return f"{loc['file_path']}:{line}" if line is not None else str(loc["file_path"])


def _component(comp: object) -> str | None:
    if not isinstance(comp, dict):
        return str(comp) if comp else None
    name = comp.get("purl") or (f"{comp.get('name')}@{comp['version']}" if comp.get("version") else comp.get("name"))
    if name and comp.get("fixed_version"):
        return f"{name} (fixed in {comp['fixed_version']})"
    return str(name) if name else None


def _endpoint(ep: object) -> str | None:
    if not isinstance(ep, dict):
        return str(ep) if ep else None
    where = ep.get("url") or ":".join(str(p) for p in (ep.get("host"), ep.get("port")) if p)
    return str(where) if where else None


def _joined(values: object) -> str | None:
    return ", ".join(str(v) for v in values) if isinstance(values, list | tuple) and values else None


def _severity(finding: dict[str, Any]) -> str:
    sev = str(finding.get("severity") or "").lower()
    return sev if sev in SEVERITY_EMOJI else "unknown"


def message_text(finding: dict[str, Any]) -> str:
    """The notification fallback: severity and title."""
    sev = _severity(finding)
    return mrkdwn(f"AIVA {sev} finding: {finding.get('title') or 'security finding'}", MAX_FALLBACK)


def message_blocks(run_id: str, product: str, finding: dict[str, Any]) -> list[dict[str, Any]]:
    """Header, title, up to 10 facts, description and remediation, context: all within Slack's limits."""
    sev = _severity(finding)
    emoji = SEVERITY_EMOJI.get(sev, ":grey_question:")
    risk = finding.get("risk_score")
    facts = [
        ("Severity", sev), ("Risk score", f"{risk:.1f}" if isinstance(risk, int | float) else None),
        ("Change", finding.get("change")), ("Tool", finding.get("tool")), ("Asset", finding.get("asset")),
        ("Rule", finding.get("rule_id")), ("Component", _component(finding.get("component"))),
        ("Location", _location(finding.get("location"))), ("Endpoint", _endpoint(finding.get("endpoint"))),
        ("Identifiers", _joined([*(finding.get("vulnerability_ids") or []), *(finding.get("cwes") or [])])),
    ]
    fields = [_text(f"*{label}*\n{mrkdwn(value, 300)}") for label, value in facts if value not in (None, "")]
    blocks: list[dict[str, Any]] = [
        # The header is plain text we write ourselves: no scanner text goes in it.
        {"type": "header", "text": {"type": "plain_text", "text": f"{emoji} AIVA: {sev} security finding"[
            :MAX_HEADER], "emoji": True}},
        {"type": "section", "text": _text(f"*{mrkdwn(finding.get('title') or 'security finding', 500)}*")},
        {"type": "section", "fields": fields[:MAX_FIELDS]},
    ]
    for heading in ("description", "remediation"):
        if finding.get(heading):
            label = f"*{heading.capitalize()}*\n"
            blocks.append({"type": "section", "text": _text(label + _code_block(
                finding[heading], MAX_SECTION - len(label)))})
    context = (f"Run {mrkdwn(run_id, 120)} · Product {mrkdwn(product, 200)}"
               f" · Fingerprint {mrkdwn(finding.get('fingerprint') or '?', 120)}")
    blocks.append({"type": "context", "elements": [_text(context)]})
    return blocks


# -- the connector --------------------------------------------------------------------------


def _key_of(message: object) -> str | None:
    if not isinstance(message, dict):
        return None
    meta = message.get("metadata")
    if not isinstance(meta, dict) or meta.get("event_type") != EVENT_TYPE:
        return None
    payload = meta.get("event_payload")
    return str(payload.get("key")) if isinstance(payload, dict) and payload.get("key") else None


class SlackConnector:
    """Posts AIVA tickets as Slack messages in one channel; closing edits them."""

    name = NAME

    def __init__(self, client: httpx.AsyncClient, config: SlackConfig) -> None:
        self._client = client
        self._config = config

    async def _api(self, method: str, *, body: dict[str, Any] | None = None, params: dict[str, str] | None = None,
                   allow: frozenset[str] = frozenset()) -> dict[str, Any]:
        """One Web API call; ok:false raised as retryable or not, except the codes in `allow`."""
        url = f"{self._config.api_url}/{method}"
        headers = {"Authorization": f"Bearer {self._config.token.get_secret_value()}"}
        if body is not None:
            headers["Content-Type"] = "application/json; charset=utf-8"  # without charset Slack warns
            resp = await send(self._client, NAME, "POST", url, json=body, headers=headers)
        else:
            resp = await send(self._client, NAME, "GET", url, params=params, headers=headers)
        data = json_object(resp, NAME)
        if data.get("ok") is True:
            return data
        error = str(data.get("error") or "unknown_error")
        if error in allow:
            return data
        detail = error
        if data.get("needed"):
            detail += f" (needed {data.get('needed')}, provided {data.get('provided')})"
        messages = (data.get("response_metadata") or {}).get("messages")
        if isinstance(messages, list) and messages:
            detail += ": " + "; ".join(str(m) for m in messages[:3])
        if error in RETRYABLE:
            raise IntegrationUnavailable(NAME, url, detail[:300], resp.status_code)
        raise IntegrationRejected(NAME, url, detail[:300], resp.status_code)

    async def _find(self, key: str) -> tuple[str, dict[str, Any]] | None:
        """(channel, message) for the message posted under `key` in the recent history, if any."""
        channel = self._config.channel
        params = {"channel": channel, "include_all_metadata": "true",
                  "limit": str(self._config.history_page_size),
                  "oldest": f"{time.time() - self._config.lookback_hours * 3600:.6f}"}
        for _ in range(self._config.history_pages):
            data = await self._api("conversations.history", params=params)
            for message in data.get("messages") or []:
                if _key_of(message) == key:
                    return channel, message
            cursor = (data.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                break
            params = {**params, "cursor": str(cursor)}
        return None

    async def _one(self, key: str, ticket_id: str | None) -> tuple[str, dict[str, Any]] | None:
        """The message named by a "CHANNEL:TS" ticket id, if it is still there and carries `key`."""
        channel, sep, ts = (ticket_id or "").partition(":")
        if not sep or not _CHANNEL_ID.match(channel) or not ts:
            return None
        data = await self._api("conversations.history", params={
            "channel": channel, "latest": ts, "oldest": ts, "inclusive": "true", "limit": "1",
            "include_all_metadata": "true"})
        for message in data.get("messages") or []:
            if isinstance(message, dict) and message.get("ts") == ts and _key_of(message) == key:
                return channel, message
        return None

    async def open_ticket(self, key: str, run_id: str, product: str, finding: dict[str, Any]) -> str:
        """Post the message for `key` (or find the one posted before); return "CHANNEL:TS"."""
        found = await self._find(key)
        if found is not None:
            return f"{found[0]}:{found[1].get('ts')}"
        payload = {"key": key, "run_id": run_id, "fingerprint": str(finding.get("fingerprint") or ""),
                   "state": "open"}
        data = await self._api("chat.postMessage", body={
            "channel": self._config.channel, "text": message_text(finding),
            "blocks": message_blocks(run_id, product, finding),
            "metadata": {"event_type": EVENT_TYPE, "event_payload": payload},
            "unfurl_links": False, "unfurl_media": False,
        })
        channel, ts = data.get("channel"), data.get("ts")
        if not isinstance(channel, str) or not isinstance(ts, str):
            raise IntegrationRejected(NAME, f"{self._config.api_url}/chat.postMessage",
                                      "ok without channel and ts")
        return f"{channel}:{ts}"

    async def close_ticket(self, key: str, ticket_id: str | None, run_id: str, reason: str) -> None:
        """Edit the message to say it was rolled back; already closed or never posted is a no-op."""
        found = await self._one(key, ticket_id) or await self._find(key)
        if found is None:
            return
        channel, message = found
        meta = message.get("metadata") or {}
        payload = dict(meta.get("event_payload") or {})
        if payload.get("state") == "closed":
            return
        payload.update({"key": key, "state": "closed"})
        notice = {"type": "section", "text": _text(
            f":leftwards_arrow_with_hook: *Rolled back by AIVA* (run {mrkdwn(run_id, 120)}):"
            f" {mrkdwn(reason, 1_000)}")}
        old_blocks = [b for b in message.get("blocks") or [] if isinstance(b, dict)]
        # The stored text is what AIVA posted, already escaped: escaping it again would show "&amp;".
        stored = _PARTIAL_ENTITY.sub("", str(message.get("text") or "")[:MAX_FALLBACK])
        text = f"[rolled back] {stored}"
        await self._api("chat.update", allow=frozenset({"message_not_found"}), body={
            "channel": channel, "ts": message.get("ts"), "text": text,
            "blocks": [notice, *old_blocks][:MAX_BLOCKS],
            "metadata": {"event_type": EVENT_TYPE, "event_payload": payload},
        })

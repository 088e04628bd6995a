"""A local fake of the Slack Web API: the three methods AIVA's Slack connector uses.

Shipped with the code as the fake at the edge (like webhook_receiver): tests and
`aiva dev` point `api_url` at it. It answers in Slack's shapes, HTTP 200 with
{"ok": true, ...} or {"ok": false, "error": CODE}:

    POST /api/chat.postMessage       {"ok", "channel", "ts", "message"}
    POST /api/chat.update            {"ok", "channel", "ts", "text", "message"}
    GET|POST /api/conversations.history
                                     {"ok", "messages" (newest first), "has_more", "pin_count",
                                      "response_metadata": {"next_cursor"} when more pages exist}

Arguments arrive as JSON (writes), form fields (blocks and metadata as JSON strings) or
query parameters, as Slack accepts. The token comes from `Authorization: Bearer` or a
`token` argument: missing is not_authed, wrong is invalid_auth. It checks what Slack
checks and the connector must respect: channel_not_found, not_in_channel, is_archived,
no_text, msg_too_long, invalid_blocks (block kinds and Slack's length limits, with the
response_metadata.messages Slack gives), invalid_metadata_format, message_not_found.
History includes a message's `metadata` only with include_all_metadata=true.
`fail_next(n, error)` makes the next n calls fail: "503" (HTTP 503), "ratelimited"
(HTTP 429 with Retry-After) or any Slack error code (HTTP 200, ok: false).

    python -m aiva.connectors.slack_fake --port 8767 --channel C0AIVA0001 --token xoxb-dev
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlsplit

from aiva.connectors.fake_server import JsonHandler, LocalServer, Refused, serve_main

MAX_REQUEST = 2 * 1024 * 1024
MAX_TEXT = 40_000
MAX_BLOCKS = 50
LIMITS = {"header": 150, "section": 3_000, "field": 2_000, "context": 2_000}
BOT_USER, BOT_ID, APP_ID, TEAM = "U0AIVABOT", "B0AIVABOT", "A0AIVAAPP", "T0AIVATEAM"
_EVENT_TYPE = re.compile(r"^[A-Za-z0-9_]{1,255}$")


@dataclass
class Message:
    """One channel message as the fake keeps it."""

    ts: str
    text: str
    blocks: list[dict[str, Any]] = field(default_factory=list)
    metadata: dict[str, Any] | None = None
    edited_ts: str | None = None
    user: str = BOT_USER


@dataclass
class Workspace:
    """Thread-safe state of the fake: channels and their messages, staged failures, a log."""

    token: str
    channels: dict[str, list[Message]] = field(default_factory=dict)
    not_member: set[str] = field(default_factory=set)
    archived: set[str] = field(default_factory=set)
    requests: int = 0
    log: list[str] = field(default_factory=list)
    fail_count: int = 0
    fail_error: str = "ratelimited"
    delay_s: float = 0.0
    last_ts: Decimal = Decimal(0)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def fail_next(self, n: int, error: str = "ratelimited") -> None:
        """Make the next `n` calls fail: "503", "ratelimited" (HTTP 429) or a Slack error code."""
        with self.lock:
            self.fail_count, self.fail_error = n, error

    def calls(self, method: str) -> int:
        """How many calls of a Web API method were received."""
        with self.lock:
            return self.log.count(method)

    def messages(self, channel: str) -> list[Message]:
        """Copies of a channel's messages, oldest first."""
        with self.lock:
            return [Message(**vars(m)) for m in self.channels.get(channel, [])]

    def next_ts(self) -> str:
        """A message timestamp like Slack's ("1700000000.000100"), strictly increasing."""
        with self.lock:
            ts = max(Decimal(f"{time.time():.6f}"), self.last_ts + Decimal("0.000001"))
            self.last_ts = ts
            return f"{ts:.6f}"

    def add_message(self, channel: str, text: str, metadata: dict[str, Any] | None = None) -> str:
        """Post a message as someone else would (noise for history paging); return its ts."""
        ts = self.next_ts()
        with self.lock:
            self.channels.setdefault(channel, []).append(Message(ts, text, [], metadata, user="U0HUMAN01"))
        return ts


def _block_errors(blocks: object) -> list[str]:
    """Slack-style messages for blocks Slack would refuse (kinds and length limits)."""
    if not isinstance(blocks, list):
        return ["[ERROR] must be an array [json-pointer:/blocks]"]
    if len(blocks) > MAX_BLOCKS:
        return [f"[ERROR] must be less than {MAX_BLOCKS + 1} items [json-pointer:/blocks]"]
    errors: list[str] = []

    def text_obj(obj: object, limit: int, where: str, plain_only: bool = False) -> None:
        if not isinstance(obj, dict) or obj.get("type") not in (("plain_text",) if plain_only
                                                                 else ("plain_text", "mrkdwn")):
            errors.append(f"[ERROR] must be a valid text object [json-pointer:{where}]")
            return
        text = obj.get("text")
        if not isinstance(text, str) or not text:
            errors.append(f"[ERROR] must be more than 0 characters [json-pointer:{where}/text]")
        elif len(text) > limit:
            errors.append(f"[ERROR] must be less than {limit + 1} characters [json-pointer:{where}/text]")

    for i, b in enumerate(blocks):
        where = f"/blocks/{i}"
        kind = b.get("type") if isinstance(b, dict) else None
        if not isinstance(b, dict) or kind not in ("header", "section", "context", "divider"):
            errors.append(f"[ERROR] unsupported type [json-pointer:{where}]")
        elif kind == "header":
            text_obj(b.get("text"), LIMITS["header"], f"{where}/text", plain_only=True)
        elif kind == "section":
            if "text" not in b and "fields" not in b:
                errors.append(f"[ERROR] must provide text or fields [json-pointer:{where}]")
            if "text" in b:
                text_obj(b["text"], LIMITS["section"], f"{where}/text")
            fields = b.get("fields", [])
            if not isinstance(fields, list) or len(fields) > 10:
                errors.append(f"[ERROR] must be less than 11 items [json-pointer:{where}/fields]")
            else:
                for j, f in enumerate(fields):
                    text_obj(f, LIMITS["field"], f"{where}/fields/{j}")
        elif kind == "context":
            elements = b.get("elements")
            if not isinstance(elements, list) or not 0 < len(elements) <= 10:
                errors.append(f"[ERROR] must have 1 to 10 elements [json-pointer:{where}/elements]")
            else:
                for j, e in enumerate(elements):
                    text_obj(e, LIMITS["context"], f"{where}/elements/{j}")
    return errors


def _cursor(ts: str) -> str:
    return base64.b64encode(f"next_ts:{ts}".encode()).decode()


def _uncursor(cursor: str) -> Decimal | None:
    try:
        raw = base64.b64decode(cursor, validate=True).decode()
        return Decimal(raw.removeprefix("next_ts:")) if raw.startswith("next_ts:") else None
    except (ValueError, InvalidOperation):
        return None


def _failed(error: str, **extra: Any) -> Refused:
    """Slack's failure answer: HTTP 200 with ok false and the error code."""
    return Refused(200, {"ok": False, "error": error, **extra})


def _handler(ws: Workspace) -> type[JsonHandler]:
    def message_obj(m: Message, with_metadata: bool) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "message", "text": m.text, "user": m.user, "ts": m.ts, "team": TEAM}
        if m.user == BOT_USER:
            out.update({"bot_id": BOT_ID, "app_id": APP_ID, "blocks": m.blocks})
        if m.edited_ts:
            out["edited"] = {"user": m.user, "ts": m.edited_ts}
        if with_metadata and m.metadata:
            out["metadata"] = m.metadata
        return out

    class Handler(JsonHandler):
        content_type = "application/json; charset=utf-8"
        max_body = MAX_REQUEST
        body_errors = {
            "too_large": (413, {"ok": False, "error": "request_too_large"}),
            "not_json": (200, {"ok": False, "error": "invalid_json"}),
            "not_object": (200, {"ok": False, "error": "invalid_json"}),
        }

        def _args(self) -> dict[str, Any]:
            """Query, JSON or form arguments; blocks and metadata decoded when sent as strings."""
            args: dict[str, Any] = self.query()
            raw = self.read_body()
            ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
            if raw and ctype == "application/json":
                args.update(self.read_json(raw))
            elif raw:
                args.update(self.read_form(raw))
                for name in ("blocks", "metadata"):
                    if isinstance(args.get(name), str):
                        try:
                            args[name] = json.loads(args[name])
                        except ValueError:
                            raise _failed("invalid_blocks" if name == "blocks" else "invalid_metadata_format") from None
            return args

        def _handle(self) -> None:
            method = urlsplit(self.path).path.rsplit("/", 1)[-1]
            with ws.lock:
                ws.requests += 1
                ws.log.append(method)
                fail = ws.fail_count > 0
                if fail:
                    ws.fail_count -= 1
                error = ws.fail_error
            if ws.delay_s:
                time.sleep(ws.delay_s)
            args = self._args()
            if fail:
                if error == "503":
                    raise Refused(503, {"ok": False, "error": "service_unavailable"})
                if error == "ratelimited":
                    raise Refused(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "1"})
                raise _failed(error)
            bearer = self.auth_token()
            token = bearer if bearer is not None else str(args.get("token") or "")
            if not token:
                raise _failed("not_authed")
            if token != ws.token:
                raise _failed("invalid_auth")
            handler = {"chat.postMessage": self._post, "chat.update": self._update,
                       "conversations.history": self._history}.get(method)
            if handler is None:
                raise Refused(404, {"ok": False, "error": "unknown_method", "req_method": method})
            handler(args)

        def do_GET(self) -> None:
            self.answer(self._handle)

        do_POST = do_GET

        def _channel(self, args: dict[str, Any], write: bool) -> str:
            ch = str(args.get("channel") or "")
            with ws.lock:
                known, member, archived = ch in ws.channels, ch not in ws.not_member, ch in ws.archived
            if not known:
                raise _failed("channel_not_found")
            if not member:
                raise _failed("not_in_channel")
            if write and archived:
                raise _failed("is_archived")
            return ch

        def _content(self, args: dict[str, Any], require: bool) -> None:
            text, blocks, meta = args.get("text"), args.get("blocks"), args.get("metadata")
            if require and not text and not blocks:
                raise _failed("no_text")
            if isinstance(text, str) and len(text) > MAX_TEXT:
                raise _failed("msg_too_long")
            if blocks is not None:
                errors = _block_errors(blocks)
                if errors:
                    raise _failed("invalid_blocks", errors=errors, response_metadata={"messages": errors})
            if meta not in (None, {}) and (
                    not isinstance(meta, dict) or not isinstance(meta.get("event_type"), str)
                    or not _EVENT_TYPE.match(meta["event_type"]) or not isinstance(meta.get("event_payload"), dict)):
                raise _failed("invalid_metadata_format")

        def _post(self, args: dict[str, Any]) -> None:
            ch = self._channel(args, write=True)
            self._content(args, require=True)
            ts = ws.next_ts()
            m = Message(ts, str(args.get("text") or ""), list(args.get("blocks") or []), args.get("metadata") or None)
            with ws.lock:
                ws.channels[ch].append(m)
                out = message_obj(m, with_metadata=True)
            self.reply(200, {"ok": True, "channel": ch, "ts": ts, "message": out})

        def _update(self, args: dict[str, Any]) -> None:
            ch = self._channel(args, write=True)
            self._content(args, require=False)
            ts = str(args.get("ts") or "")
            edited = ws.next_ts()
            with ws.lock:
                m = next((m for m in ws.channels[ch] if m.ts == ts), None)
                if m is not None:
                    if "text" in args:
                        m.text = str(args["text"] or "")
                    if args.get("blocks") is not None:
                        m.blocks = list(args["blocks"])
                    if "metadata" in args:
                        m.metadata = args["metadata"] or None  # an empty object removes it
                    m.edited_ts = edited
                    out = message_obj(m, with_metadata=True)
            if m is None:
                raise _failed("message_not_found")
            self.reply(200, {"ok": True, "channel": ch, "ts": ts, "text": out["text"], "message": out})

        def _history(self, args: dict[str, Any]) -> None:
            ch = self._channel(args, write=False)
            try:
                latest = Decimal(str(args["latest"])) if args.get("latest") else None
                oldest = Decimal(str(args.get("oldest") or 0))
                limit = max(1, min(999, int(args.get("limit") or 100)))
            except (InvalidOperation, ValueError):
                raise _failed("invalid_arguments") from None
            inclusive = str(args.get("inclusive")).lower() in ("true", "1")
            with_meta = str(args.get("include_all_metadata")).lower() in ("true", "1")
            if args.get("cursor"):
                after = _uncursor(str(args["cursor"]))
                if after is None:
                    raise _failed("invalid_cursor")
                latest, inclusive_latest = after, False
            else:
                inclusive_latest = inclusive

            def wanted(ts: Decimal) -> bool:
                lo = ts >= oldest if inclusive else ts > oldest
                hi = latest is None or (ts <= latest if inclusive_latest else ts < latest)
                return lo and hi

            with ws.lock:
                found = [m for m in reversed(ws.channels[ch]) if wanted(Decimal(m.ts))]
                page = [message_obj(m, with_meta) for m in found[:limit]]
            more = len(found) > limit
            body: dict[str, Any] = {"ok": True, "messages": page, "has_more": more, "pin_count": 0,
                                    "channel_actions_ts": None, "channel_actions_count": 0}
            if more:
                body["response_metadata"] = {"next_cursor": _cursor(page[-1]["ts"])}
            self.reply(200, body)

    return Handler


class FakeSlack(LocalServer):
    """Run the fake Slack Web API in a background thread on 127.0.0.1; `url` is like https://slack.com/api."""

    base_path = "/api"

    def __init__(self, token: str, channels: tuple[str, ...] = ("C0AIVA0001",), port: int = 0) -> None:
        self.workspace = Workspace(token=token, channels={c: [] for c in channels})
        super().__init__(_handler(self.workspace), port)


def main() -> None:
    """Serve in the foreground until interrupted."""
    serve_main(__doc__ or "", 8767, lambda a: FakeSlack(a.token, (a.channel,), a.port),
               "AIVA fake Slack API on {url} (channel {channel})", channel="C0AIVA0001", token="xoxb-dev")  # noqa: S106


if __name__ == "__main__":
    main()

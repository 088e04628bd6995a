"""The Slack connector against the local fake Slack Web API (real HTTP on 127.0.0.1)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from pydantic import SecretStr, ValidationError

from aiva.connectors.slack import EVENT_TYPE, SlackConfig, SlackConnector
from aiva.connectors.slack_fake import FakeSlack
from aiva.errors import IntegrationRejected, IntegrationUnavailable
from tests.unit.connector_helpers import assert_connection_refused, assert_times_out, mock_client, serving

TOKEN = "xoxb-test-token"
CHANNEL = "C0AIVA0001"
KEY = "run-1:fp-abc:slack"


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    fake = FakeSlack(TOKEN, (CHANNEL, "C0NOTMEMB"))
    fake.workspace.not_member.add("C0NOTMEMB")
    yield from serving(fake)


def _config(slack: FakeSlack, **kw: Any) -> SlackConfig:
    return SlackConfig(**{"api_url": slack.url, "token": SecretStr(TOKEN), "channel": CHANNEL, **kw})


def _finding(**kw: Any) -> dict[str, Any]:
    f: dict[str, Any] = {
        "fingerprint": "fp-abc", "title": "SQL injection in login", "severity": "critical", "risk_score": 9.5,
        "tool": "semgrep", "asset": "shop-api", "change": "new", "rule_id": "python.sqli",
        "vulnerability_ids": ["CVE-2024-0001"], "cwes": ["CWE-89"], "component": None,
        "location": {"file_path": "app/login.py", "start_line": 42}, "endpoint": None,
        "remediation": "Use bound parameters.",
    }
    f.update(kw)
    return f


def _all_text(blocks: list[dict[str, Any]]) -> list[str]:
    out: list[str] = []
    for b in blocks:
        for obj in [b.get("text"), *(b.get("fields") or []), *(b.get("elements") or [])]:
            if isinstance(obj, dict):
                out.append(obj["text"])
    return out


async def test_open_posts_one_message_with_text_blocks_and_metadata(slack: FakeSlack) -> None:
    async with httpx.AsyncClient(timeout=5) as c:
        ticket = await SlackConnector(c, _config(slack)).open_ticket(KEY, "run-1", "shop", _finding())
    (msg,) = slack.workspace.messages(CHANNEL)
    assert ticket == f"{CHANNEL}:{msg.ts}"
    assert msg.text == "AIVA critical finding: SQL injection in login"
    assert msg.metadata == {"event_type": EVENT_TYPE, "event_payload": {
        "key": KEY, "run_id": "run-1", "fingerprint": "fp-abc", "state": "open"}}
    assert msg.blocks[0]["type"] == "header" and ":red_circle:" in msg.blocks[0]["text"]["text"]
    text = "\n".join(_all_text(msg.blocks))
    for fact in ("*SQL injection in login*", "CVE-2024-0001, CWE-89", "app/login.py:42", "9.5", "semgrep",
                 "Use bound parameters.", "run-1", "shop", "fp-abc"):
        assert fact in text


async def test_requests_use_bearer_auth_and_json_writes() -> None:
    seen: list[httpx.Request] = []

    def handler(req: httpx.Request) -> httpx.Response:
        seen.append(req)
        if req.url.path.endswith("conversations.history"):
            return httpx.Response(200, json={"ok": True, "messages": [], "has_more": False})
        return httpx.Response(200, json={"ok": True, "channel": CHANNEL, "ts": "1700000000.000100"})

    cfg = SlackConfig(token=SecretStr("xoxb-1"), channel=CHANNEL)
    async with mock_client(handler) as c:
        assert await SlackConnector(c, cfg).open_ticket(KEY, "r", "p", _finding()) == f"{CHANNEL}:1700000000.000100"
    history, post = seen
    assert str(history.url).startswith("https://slack.com/api/conversations.history?")
    assert history.url.params["include_all_metadata"] == "true" and history.url.params["channel"] == CHANNEL
    assert float(history.url.params["oldest"]) > 0
    assert post.method == "POST" and str(post.url) == "https://slack.com/api/chat.postMessage"
    assert post.headers["Content-Type"] == "application/json; charset=utf-8"
    body = json.loads(post.content)
    assert body["unfurl_links"] is False and body["metadata"]["event_type"] == EVENT_TYPE
    assert all(r.headers["Authorization"] == "Bearer xoxb-1" for r in seen)


async def test_opening_again_with_the_same_key_returns_the_same_message(slack: FakeSlack) -> None:
    async with httpx.AsyncClient(timeout=5) as c:
        first = await SlackConnector(c, _config(slack)).open_ticket(KEY, "run-1", "shop", _finding())
        slack.workspace.add_message(CHANNEL, "someone chatting")
        again = await SlackConnector(c, _config(slack)).open_ticket(KEY, "run-1", "shop", _finding())
        other = await SlackConnector(c, _config(slack)).open_ticket("run-1:fp-2:slack", "run-1", "shop", _finding())
    assert first == again != other
    assert slack.workspace.calls("chat.postMessage") == 2 and len(slack.workspace.messages(CHANNEL)) == 3


async def test_the_lookup_follows_cursors_but_only_for_a_bounded_number_of_pages(slack: FakeSlack) -> None:
    async with httpx.AsyncClient(timeout=5) as c:
        first = await SlackConnector(c, _config(slack)).open_ticket(KEY, "run-1", "shop", _finding())
        for i in range(25):  # push AIVA's message onto the third page of ten
            slack.workspace.add_message(CHANNEL, f"noise {i}", {"event_type": "other", "event_payload": {"key": KEY}})
        deep = _config(slack, history_page_size=10, history_pages=3)
        before = slack.workspace.calls("conversations.history")
        assert await SlackConnector(c, deep).open_ticket(KEY, "run-1", "shop", _finding()) == first
        assert slack.workspace.calls("conversations.history") - before == 3
        shallow = _config(slack, history_page_size=10, history_pages=2)
        before = slack.workspace.calls("conversations.history")
        # Out of reach: the documented limit of the scheme is a second message, never an endless scan.
        assert await SlackConnector(c, shallow).open_ticket(KEY, "run-1", "shop", _finding()) != first
        assert slack.workspace.calls("conversations.history") - before == 2


async def test_close_marks_the_message_rolled_back_and_twice_is_a_no_op(slack: FakeSlack) -> None:
    async with httpx.AsyncClient(timeout=5) as c:
        conn = SlackConnector(c, _config(slack))
        ticket = await conn.open_ticket(KEY, "run-1", "shop", _finding())
        original = slack.workspace.messages(CHANNEL)[0].blocks
        await conn.close_ticket(KEY, ticket, "run-1", "AIVA run rolled back")
        await conn.close_ticket(KEY, ticket, "run-1", "AIVA run rolled back")
        await conn.close_ticket(KEY, None, "run-1", "AIVA run rolled back")
    (msg,) = slack.workspace.messages(CHANNEL)
    assert slack.workspace.calls("chat.update") == 1 and msg.edited_ts
    assert msg.text.startswith("[rolled back] AIVA critical finding")
    assert "Rolled back by AIVA" in msg.blocks[0]["text"]["text"]
    assert "AIVA run rolled back" in msg.blocks[0]["text"]["text"]
    assert msg.blocks[1:] == original  # the finding stays readable under the notice
    assert msg.metadata is not None and msg.metadata["event_payload"]["state"] == "closed"
    assert msg.metadata["event_payload"]["key"] == KEY


async def test_close_without_a_ticket_id_finds_the_message_by_key(slack: FakeSlack) -> None:
    async with httpx.AsyncClient(timeout=5) as c:
        conn = SlackConnector(c, _config(slack))
        await conn.open_ticket(KEY, "run-1", "shop", _finding())
        await conn.close_ticket(KEY, None, "run-1", "crashed before bookkeeping")
    assert slack.workspace.messages(CHANNEL)[0].text.startswith("[rolled back]")


async def test_closing_unknown_foreign_or_deleted_messages_is_a_no_op(slack: FakeSlack) -> None:
    async with httpx.AsyncClient(timeout=5) as c:
        conn = SlackConnector(c, _config(slack))
        ticket = await conn.open_ticket(KEY, "run-1", "shop", _finding())
        human = slack.workspace.add_message(CHANNEL, "a human's message")
        await conn.close_ticket("run-9:nope:slack", None, "run-9", "rolled back")
        await conn.close_ticket("run-9:nope:slack", f"{CHANNEL}:{human}", "run-9", "rolled back")
        await conn.close_ticket("run-9:nope:slack", "garbage", "run-9", "rolled back")
        assert slack.workspace.calls("chat.update") == 0
        with slack.workspace.lock:
            slack.workspace.channels[CHANNEL].clear()  # deleted by someone
        await conn.close_ticket(KEY, ticket, "run-1", "rolled back")
    assert slack.workspace.calls("chat.update") == 0


async def test_a_message_deleted_between_lookup_and_update_is_a_no_op() -> None:
    msg = {"ts": "1.000001", "text": "x", "metadata": {"event_type": EVENT_TYPE, "event_payload": {"key": KEY}}}
    seen: list[str] = []

    def handler(req: httpx.Request) -> httpx.Response:
        seen.append(req.url.path.rsplit("/", 1)[-1])
        if req.url.path.endswith("conversations.history"):
            return httpx.Response(200, json={"ok": True, "messages": [msg]})
        return httpx.Response(200, json={"ok": False, "error": "message_not_found"})

    async with mock_client(handler) as c:
        await SlackConnector(c, SlackConfig(token=SecretStr("t"), channel=CHANNEL)).close_ticket(
            KEY, f"{CHANNEL}:1.000001", "r", "why")  # no exception: message_not_found is tolerated here
    assert seen == ["conversations.history", "chat.update"]


@pytest.mark.parametrize("setup, error", [
    ("bad_token", "invalid_auth"), ("unknown_channel", "channel_not_found"), ("not_member", "not_in_channel")])
async def test_auth_and_channel_errors_are_rejected_naming_slack_and_the_url(
        slack: FakeSlack, setup: str, error: str) -> None:
    kw: dict[str, Any] = {"bad_token": {"token": SecretStr("xoxb-wrong")}, "unknown_channel": {"channel": "C0GONE"},
                          "not_member": {"channel": "C0NOTMEMB"}}[setup]
    async with httpx.AsyncClient(timeout=5) as c:
        with pytest.raises(IntegrationRejected) as ei:
            await SlackConnector(c, _config(slack, **kw)).open_ticket(KEY, "r", "p", _finding())
    assert ei.value.integration == "slack" and error in str(ei.value)
    assert f"{slack.url}/conversations.history" in str(ei.value)
    assert slack.workspace.calls("chat.postMessage") == 0


async def test_an_archived_channel_rejects_the_post(slack: FakeSlack) -> None:
    slack.workspace.archived.add(CHANNEL)
    async with httpx.AsyncClient(timeout=5) as c:
        with pytest.raises(IntegrationRejected, match="is_archived") as ei:
            await SlackConnector(c, _config(slack)).open_ticket(KEY, "r", "p", _finding())
    assert ei.value.url.endswith("/chat.postMessage")


async def test_invalid_blocks_are_rejected_with_slacks_detail() -> None:
    def handler(req: httpx.Request) -> httpx.Response:
        if req.url.path.endswith("conversations.history"):
            return httpx.Response(200, json={"ok": True, "messages": []})
        return httpx.Response(200, json={"ok": False, "error": "invalid_blocks", "response_metadata": {
            "messages": ["[ERROR] must be less than 3001 characters [json-pointer:/blocks/3/text/text]"]}})

    async with mock_client(handler) as c:
        with pytest.raises(IntegrationRejected) as ei:
            await SlackConnector(c, SlackConfig(token=SecretStr("t"), channel=CHANNEL)).open_ticket(
                KEY, "r", "p", _finding())
    assert "invalid_blocks" in str(ei.value) and "json-pointer:/blocks/3" in str(ei.value)
    assert "slack.com/api/chat.postMessage" in str(ei.value)


@pytest.mark.parametrize("error, status", [
    ("ratelimited", 429), ("503", 503), ("internal_error", 200), ("fatal_error", 200), ("service_unavailable", 200)])
async def test_rate_limits_and_outages_are_retryable(slack: FakeSlack, error: str, status: int) -> None:
    slack.workspace.fail_next(1, error)
    async with httpx.AsyncClient(timeout=5) as c:
        conn = SlackConnector(c, _config(slack))
        with pytest.raises(IntegrationUnavailable) as ei:
            await conn.open_ticket(KEY, "r", "p", _finding())
        assert ei.value.status_code == status and ei.value.integration == "slack"
        first = await conn.open_ticket(KEY, "r", "p", _finding())  # the retry
        assert await conn.open_ticket(KEY, "r", "p", _finding()) == first
    assert len(slack.workspace.messages(CHANNEL)) == 1


@pytest.mark.parametrize("error", ["missing_scope", "token_revoked", "invalid_metadata_format", "msg_too_long"])
async def test_other_slack_errors_are_not_retryable(slack: FakeSlack, error: str) -> None:
    slack.workspace.fail_next(1, error)
    async with httpx.AsyncClient(timeout=5) as c:
        with pytest.raises(IntegrationRejected, match=error):
            await SlackConnector(c, _config(slack)).open_ticket(KEY, "r", "p", _finding())


async def test_connection_refused_and_timeouts_are_retryable(slack: FakeSlack) -> None:
    async with httpx.AsyncClient(timeout=5) as c:
        await assert_connection_refused(lambda root: SlackConnector(
            c, _config(slack, api_url=f"{root}/api")).open_ticket(KEY, "r", "p", _finding()))
    await assert_times_out(slack.workspace, lambda c: SlackConnector(c, _config(slack)).close_ticket(
        KEY, f"{CHANNEL}:1.0", "r", "why"), timeout=0.1)


HOSTILE = ("<!channel> <!here> @here @channel <@U0ADMIN> <https://evil.example|click me> <script>alert(1)</script>"
           " & fixes #1 ```\n``` *not code*")


async def test_hostile_scanner_text_arrives_escaped_and_bounded(slack: FakeSlack) -> None:
    finding = _finding(title=HOSTILE, description=HOSTILE + "A" * 200_000, remediation=HOSTILE * 3,
                       tool=HOSTILE * 100, asset="<@U0ADMIN>", severity="<!channel>")
    async with httpx.AsyncClient(timeout=5) as c:
        await SlackConnector(c, _config(slack)).open_ticket(KEY, "run-1", "shop", finding)
    (msg,) = slack.workspace.messages(CHANNEL)  # accepted: the fake enforces Slack's block limits
    texts = [msg.text, *_all_text(msg.blocks)]
    for t in texts:
        assert "<" not in t and ">" not in t  # no mention, special mention or link can be formed
        for bad in ("@here", "@channel"):
            assert bad not in t
    joined = "\n".join(texts)
    assert "&lt;!channel&gt;" in joined and "&lt;script&gt;" in joined and "&amp; fixes #1" in joined
    assert "@\u200bhere" in joined
    # Backticks cannot open code outside AIVA's own blocks, nor close those blocks early.
    assert all("`" not in t for t in texts if not t.startswith(("*Description*", "*Remediation*")))
    description = next(t for t in texts if t.startswith("*Description*"))
    assert len(description) <= 3000 and description.endswith("…```")
    assert description.count("```") == 2  # the scanner's own fences cannot close the block
    assert all(len(f["text"]) <= 2000 for b in msg.blocks for f in b.get("fields") or [])
    assert all(o.get("verbatim") is True for b in msg.blocks[1:] for o in [b.get("text"), *(b.get("fields") or [])]
               if isinstance(o, dict))
    assert msg.blocks[0]["text"]["text"].endswith("AIVA: unknown security finding")


async def test_invisible_and_unencodable_characters_are_dropped(slack: FakeSlack) -> None:
    sneaky = "SQL\u200b injection\ufeff\u202e in\ud800 login\x07"  # a lone surrogate cannot even be sent as JSON
    async with httpx.AsyncClient(timeout=5) as c:
        await SlackConnector(c, _config(slack)).open_ticket(KEY, "run-1", "shop",
                                                            _finding(title=sneaky, description=sneaky))
    (msg,) = slack.workspace.messages(CHANNEL)
    assert msg.text == "AIVA critical finding: SQL injection in login"
    texts = [msg.text, *_all_text(msg.blocks)]
    assert "*SQL injection in login*" in texts
    for bad in ("\u200b", "\ufeff", "\u202e", "\ud800", "\x07"):
        assert all(bad not in t for t in texts)


async def test_the_fake_speaks_form_bodies_and_hides_metadata_unless_asked(slack: FakeSlack) -> None:
    meta = {"event_type": EVENT_TYPE, "event_payload": {"key": "k"}}
    async with httpx.AsyncClient(timeout=5) as c:
        posted = (await c.post(f"{slack.url}/chat.postMessage", data={
            "token": TOKEN, "channel": CHANNEL, "text": "hi", "metadata": json.dumps(meta),
            "blocks": json.dumps([{"type": "section", "text": {"type": "mrkdwn", "text": "hi"}}])})).json()
        plain = (await c.get(f"{slack.url}/conversations.history", params={"channel": CHANNEL},
                             headers={"Authorization": f"Bearer {TOKEN}"})).json()
        rich = (await c.get(f"{slack.url}/conversations.history",
                            params={"channel": CHANNEL, "include_all_metadata": "true", "token": TOKEN})).json()
        unauthed = (await c.post(f"{slack.url}/chat.postMessage", json={"channel": CHANNEL, "text": "x"})).json()
        too_long = (await c.post(f"{slack.url}/chat.postMessage", headers={"Authorization": f"Bearer {TOKEN}"},
                                 json={"channel": CHANNEL, "blocks": [
                                     {"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}]})).json()
    assert posted["ok"] is True and posted["channel"] == CHANNEL and posted["message"]["ts"] == posted["ts"]
    assert "metadata" not in plain["messages"][0] and rich["messages"][0]["metadata"] == meta
    assert unauthed == {"ok": False, "error": "not_authed"}
    assert too_long["error"] == "invalid_blocks" and "3001" in too_long["response_metadata"]["messages"][0]


def test_config_requires_a_channel_id_and_bounds_the_lookup() -> None:
    cfg = SlackConfig(token=SecretStr("t"), channel=" C0AIVA0001 ", api_url="https://slack.example/api/")
    assert cfg.channel == CHANNEL and cfg.api_url == "https://slack.example/api"
    for bad in ({"channel": "#security"}, {"channel": "security"}, {"history_pages": 0},
                {"history_page_size": 1000}, {"api_url": "slack.com/api"}):
        with pytest.raises(ValidationError):
            SlackConfig(**{"token": SecretStr("t"), "channel": CHANNEL, **bad})

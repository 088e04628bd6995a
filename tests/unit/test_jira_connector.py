"""The JIRA connector against the local fake JIRA over real HTTP (and httpx's fake transport for odd answers)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from pydantic import SecretStr, ValidationError

from aiva.connectors.jira import (
    MAX_SUMMARY,
    PRIORITY_BY_SEVERITY,
    JiraConfig,
    JiraConnector,
    issue_label,
)
from aiva.connectors.jira_fake import FakeJira, Transition, adf_node_types, adf_text
from aiva.errors import IntegrationRejected, IntegrationUnavailable
from tests.unit.connector_helpers import assert_connection_refused, assert_times_out, mock_client, serving

KEY = "aiva-shop-20250101T000000-abc123:" + "f" * 64 + ":jira"
RUN = "aiva-shop-20250101T000000-abc123"


def _finding(**over: Any) -> dict[str, Any]:
    f: dict[str, Any] = {
        "fingerprint": "f" * 64, "title": "SQL injection in /login", "severity": "high", "risk_score": 8.25,
        "tool": "semgrep", "asset": "repo:shop", "change": "new", "rule_id": "python.sqli",
        "vulnerability_ids": ["CVE-2024-1234"], "cwes": ["CWE-89"],
        "component": {"name": "flask", "version": "2.0.1", "fixed_version": "2.3.2"},
        "location": {"file_path": "app/login.py", "start_line": 10, "end_line": 12, "snippet": "cur.execute(q % u)"},
        "endpoint": None, "remediation": "Use bound parameters.",
    }
    f.update(over)
    return f


@pytest.fixture
def jira() -> Iterator[FakeJira]:
    yield from serving(FakeJira())


def _config(fake: FakeJira | None = None, **over: Any) -> JiraConfig:
    return JiraConfig(**{
        "base_url": fake.url if fake else "https://jira.test", "email": "aiva@example.com",
        "api_token": SecretStr(fake.state.token if fake else "t"), "project_key": "SEC", **over,
    })


def _connector(http: httpx.AsyncClient, fake: FakeJira, **over: Any) -> JiraConnector:
    return JiraConnector(http, _config(fake, **over))


# --- open -------------------------------------------------------------------------------------------


async def test_open_creates_one_issue_with_fields_priority_and_label(jira: FakeJira, http: httpx.AsyncClient) -> None:
    key = await _connector(http, jira).open_ticket(KEY, RUN, "shop", _finding())
    assert key == "SEC-1"
    issue = jira.state.issues["SEC-1"]
    assert issue.project == "SEC" and issue.issue_type == "Bug" and issue.priority == "High"
    assert issue.summary == "[AIVA] HIGH: SQL injection in /login"
    assert issue.labels == [issue_label(KEY)]
    assert issue.labels[0].startswith("aiva-") and " " not in issue.labels[0] and len(issue.labels[0]) == 25
    text = adf_text(issue.description)
    for expected in ("Severity: high", "Risk score: 8.2", "Rule: python.sqli", "CVE-2024-1234", "CWE-89",
                     "flask 2.0.1 (fixed in 2.3.2)", "app/login.py:10-12", "Use bound parameters.",
                     "cur.execute(q % u)", f"AIVA run: {RUN}", issue.labels[0]):
        assert expected in text
    assert "codeBlock" in adf_node_types(issue.description)


@pytest.mark.parametrize("severity, priority", sorted(PRIORITY_BY_SEVERITY.items()))
async def test_severity_maps_to_priority(jira: FakeJira, http: httpx.AsyncClient, severity: str,
                                         priority: str) -> None:
    key = await _connector(http, jira).open_ticket(f"k-{severity}", RUN, "shop", _finding(severity=severity))
    assert jira.state.issues[key].priority == priority


async def test_priority_can_be_left_to_the_project(jira: FakeJira, http: httpx.AsyncClient) -> None:
    jira.state.priorities = set()  # a scheme where none of the default names exist
    key = await _connector(http, jira, set_priority=False).open_ticket(KEY, RUN, "shop", _finding())
    assert jira.state.issues[key].priority == "Medium"  # the fake's default, nothing was sent


async def test_opening_again_with_the_same_key_returns_the_same_issue(jira: FakeJira,
                                                                     http: httpx.AsyncClient) -> None:
    c = _connector(http, jira)
    first = await c.open_ticket(KEY, RUN, "shop", _finding())
    again = await c.open_ticket(KEY, RUN, "shop", _finding(title="changed on retry"))
    assert again == first
    assert len(jira.state.issues) == 1
    assert jira.state.calls_to("POST", "/rest/api/3/issue") == 1
    assert jira.state.calls_to("POST", "/search/jql") == 2


async def test_different_keys_open_different_issues(jira: FakeJira, http: httpx.AsyncClient) -> None:
    c = _connector(http, jira)
    a = await c.open_ticket("k1", RUN, "shop", _finding())
    b = await c.open_ticket("k2", RUN, "shop", _finding())
    assert a != b and {a, b} == set(jira.state.issues)
    assert jira.state.issues[a].labels != jira.state.issues[b].labels


async def test_a_failed_attempt_then_a_retry_creates_exactly_one_issue(jira: FakeJira,
                                                                      http: httpx.AsyncClient) -> None:
    c = _connector(http, jira)
    jira.state.fail_next = 1
    with pytest.raises(IntegrationUnavailable):
        await c.open_ticket(KEY, RUN, "shop", _finding())
    assert jira.state.issues == {}
    assert await c.open_ticket(KEY, RUN, "shop", _finding()) == "SEC-1"
    assert len(jira.state.issues) == 1


# --- close ------------------------------------------------------------------------------------------


async def test_close_comments_the_reason_and_transitions_to_done(jira: FakeJira, http: httpx.AsyncClient) -> None:
    c = _connector(http, jira)
    key = await c.open_ticket(KEY, RUN, "shop", _finding())
    await c.close_ticket(KEY, key, RUN, "AIVA run rolled back")
    issue = jira.state.issues[key]
    assert issue.status == "Done"
    assert len(issue.comments) == 1
    assert "AIVA run rolled back" in adf_text(issue.comments[0]["body"]) and RUN in adf_text(issue.comments[0]["body"])


async def test_closing_twice_is_a_no_op(jira: FakeJira, http: httpx.AsyncClient) -> None:
    c = _connector(http, jira)
    key = await c.open_ticket(KEY, RUN, "shop", _finding())
    await c.close_ticket(KEY, key, RUN, "first")
    before = list(jira.state.calls)
    await c.close_ticket(KEY, key, RUN, "second")
    new_calls = jira.state.calls[len(before):]
    assert new_calls == [("POST", "/rest/api/3/search/jql")]
    assert len(jira.state.issues[key].comments) == 1


async def test_closing_an_issue_a_human_already_closed_is_a_no_op(jira: FakeJira, http: httpx.AsyncClient) -> None:
    c = _connector(http, jira)
    key = await c.open_ticket(KEY, RUN, "shop", _finding())
    jira.state.issues[key].status = "Done"
    await c.close_ticket(KEY, key, RUN, "why")
    assert jira.state.issues[key].comments == []
    assert jira.state.calls_to("GET", "/transitions") == 0


async def test_closing_an_unknown_key_is_a_no_op(jira: FakeJira, http: httpx.AsyncClient) -> None:
    c = _connector(http, jira)
    other = await c.open_ticket("another-key", RUN, "shop", _finding())
    await c.close_ticket("never-opened", None, RUN, "why")
    assert jira.state.issues[other].status == "To Do"
    assert jira.state.calls_to("POST", "/transitions") == 0 and jira.state.calls_to("POST", "/comment") == 0


async def test_close_finds_the_recorded_issue_when_the_search_lags(jira: FakeJira, http: httpx.AsyncClient) -> None:
    c = _connector(http, jira)
    key = await c.open_ticket(KEY, RUN, "shop", _finding())
    jira.state.search_lag = True  # the enhanced search is eventually consistent
    await c.close_ticket(KEY, key, RUN, "why")
    assert jira.state.issues[key].status == "Done"


async def test_close_never_touches_a_recorded_issue_without_our_label(jira: FakeJira,
                                                                     http: httpx.AsyncClient) -> None:
    c = _connector(http, jira)
    foreign = await c.open_ticket("someone-else", RUN, "shop", _finding())
    await c.close_ticket(KEY, foreign, RUN, "why")  # a stale or wrong ticket id
    assert jira.state.issues[foreign].status == "To Do" and jira.state.issues[foreign].comments == []


async def test_close_of_a_deleted_recorded_issue_is_a_no_op(jira: FakeJira, http: httpx.AsyncClient) -> None:
    await _connector(http, jira).close_ticket(KEY, "SEC-404", RUN, "why")
    assert ("GET", "/rest/api/3/issue/SEC-404") in jira.state.calls


async def test_close_falls_back_to_a_transition_into_a_done_status(jira: FakeJira, http: httpx.AsyncClient) -> None:
    jira.state.statuses["Resolved"] = "done"
    jira.state.transitions = [Transition("5", "Start Progress", "In Progress"), Transition("7", "Resolve", "Resolved")]
    c = _connector(http, jira)
    key = await c.open_ticket(KEY, RUN, "shop", _finding())
    await c.close_ticket(KEY, key, RUN, "why")
    assert jira.state.issues[key].status == "Resolved"


async def test_the_configured_transition_name_wins_case_insensitively(jira: FakeJira,
                                                                     http: httpx.AsyncClient) -> None:
    jira.state.statuses.update({"Won't Do": "done", "Closed": "done"})
    jira.state.transitions = [Transition("8", "Won't Do", "Won't Do"), Transition("9", "Close Issue", "Closed")]
    c = _connector(http, jira, done_transition="close issue")
    key = await c.open_ticket(KEY, RUN, "shop", _finding())
    await c.close_ticket(KEY, key, RUN, "why")
    assert jira.state.issues[key].status == "Closed"


async def test_no_usable_transition_is_rejected_naming_issue_and_transitions(jira: FakeJira,
                                                                            http: httpx.AsyncClient) -> None:
    jira.state.transitions = [Transition("21", "Start Progress", "In Progress"), Transition("11", "Back", "To Do")]
    c = _connector(http, jira)
    key = await c.open_ticket(KEY, RUN, "shop", _finding())
    with pytest.raises(IntegrationRejected) as ei:
        await c.close_ticket(KEY, key, RUN, "why")
    msg = str(ei.value)
    assert ei.value.integration == "jira" and key in msg and "Start Progress (to In Progress)" in msg
    assert "'Done'" in msg
    assert jira.state.issues[key].status == "To Do" and jira.state.issues[key].comments == []


# --- errors -----------------------------------------------------------------------------------------


async def test_wrong_token_is_rejected_naming_jira_and_the_url(jira: FakeJira, http: httpx.AsyncClient) -> None:
    c = JiraConnector(http, _config(jira, api_token=SecretStr("wrong")))
    with pytest.raises(IntegrationRejected) as ei:
        await c.open_ticket(KEY, RUN, "shop", _finding())
    assert ei.value.status_code == 401 and ei.value.integration == "jira"
    assert ei.value.url.startswith(jira.url) and jira.url in str(ei.value)
    assert jira.state.issues == {}


async def test_a_field_jira_refuses_is_rejected_with_jiras_message(jira: FakeJira, http: httpx.AsyncClient) -> None:
    c = _connector(http, jira, issue_type="Epic Saga")
    with pytest.raises(IntegrationRejected) as ei:
        await c.open_ticket(KEY, RUN, "shop", _finding())
    assert ei.value.status_code == 400 and "issue type selected is invalid" in str(ei.value)
    assert ei.value.url == f"{jira.url}/rest/api/3/issue"


async def test_an_unknown_project_is_rejected(jira: FakeJira, http: httpx.AsyncClient) -> None:
    with pytest.raises(IntegrationRejected) as ei:
        await _connector(http, jira, project_key="NOPE").open_ticket(KEY, RUN, "shop", _finding())
    assert ei.value.status_code == 400 and "search/jql" in ei.value.url


@pytest.mark.parametrize("status", [503, 429])
async def test_unavailable_and_rate_limited_are_retryable(jira: FakeJira, http: httpx.AsyncClient,
                                                          status: int) -> None:
    jira.state.fail_next, jira.state.fail_status = 1, status
    with pytest.raises(IntegrationUnavailable) as ei:
        await _connector(http, jira).open_ticket(KEY, RUN, "shop", _finding())
    assert ei.value.status_code == status and ei.value.integration == "jira" and jira.url in ei.value.url


async def test_rate_limit_answer_carries_retry_after(jira: FakeJira, http: httpx.AsyncClient) -> None:
    jira.state.fail_next, jira.state.fail_status, jira.state.retry_after = 1, 429, 7
    resp = await http.post(f"{jira.url}/rest/api/3/search/jql", json={"jql": 'labels = "x"'})
    assert resp.status_code == 429 and resp.headers["Retry-After"] == "7"


async def test_close_failing_mid_way_is_retryable(jira: FakeJira, http: httpx.AsyncClient) -> None:
    c = _connector(http, jira)
    key = await c.open_ticket(KEY, RUN, "shop", _finding())
    jira.state.fail_next = 1
    with pytest.raises(IntegrationUnavailable):
        await c.close_ticket(KEY, key, RUN, "why")
    await c.close_ticket(KEY, key, RUN, "why")
    assert jira.state.issues[key].status == "Done"


async def test_connection_refused_is_retryable(http: httpx.AsyncClient) -> None:
    await assert_connection_refused(
        lambda root: JiraConnector(http, _config(base_url=root)).open_ticket(KEY, RUN, "shop", _finding()))


async def test_timeout_is_retryable(jira: FakeJira) -> None:
    await assert_times_out(jira.state, lambda http: _connector(http, jira).open_ticket(KEY, RUN, "shop", _finding()),
                           timeout=0.2)


async def test_a_create_answer_without_a_key_is_rejected() -> None:
    def handler(req: httpx.Request) -> httpx.Response:
        if req.url.path.endswith("/search/jql"):
            return httpx.Response(200, json={"issues": [], "isLast": True})
        return httpx.Response(201, json={"id": "10001"})

    async with mock_client(handler) as http:
        with pytest.raises(IntegrationRejected, match="without an issue key"):
            await JiraConnector(http, _config()).open_ticket(KEY, RUN, "shop", _finding())


async def test_a_search_answer_that_is_not_json_is_rejected() -> None:
    async with mock_client(lambda req: httpx.Response(200, text="<html>login</html>")) as http:
        with pytest.raises(IntegrationRejected, match="expected JSON"):
            await JiraConnector(http, _config()).open_ticket(KEY, RUN, "shop", _finding())


async def test_requests_carry_basic_auth_and_a_jql_on_label_and_project() -> None:
    seen: list[httpx.Request] = []

    def handler(req: httpx.Request) -> httpx.Response:
        seen.append(req)
        return httpx.Response(200, json={"issues": [{"id": "1", "key": "SEC-9", "fields": {}}], "isLast": True})

    async with mock_client(handler) as http:
        assert await JiraConnector(http, _config()).open_ticket(KEY, RUN, "shop", _finding()) == "SEC-9"
    assert len(seen) == 1 and seen[0].headers["Authorization"] == httpx.BasicAuth("aiva@example.com", "t")._auth_header
    assert json.loads(seen[0].content)["jql"] == f'labels = "{issue_label(KEY)}" AND project = "SEC"'


async def test_a_malformed_issue_key_from_the_server_never_reaches_a_url() -> None:
    def handler(req: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"issues": [{"id": "1", "key": "../../admin", "fields": {}}]})

    async with mock_client(handler) as http:
        with pytest.raises(IntegrationRejected, match="unexpected issue key"):
            await JiraConnector(http, _config()).close_ticket(KEY, None, RUN, "why")


# --- hostile text -----------------------------------------------------------------------------------

HOSTILE_TITLE = ('<script>alert(1)</script> "}]},{"type":"mention","attrs":{"id":"admin"}} \n second line\x00'
                 "\u202eevil\ud800 ")


async def test_hostile_text_is_stored_as_plain_bounded_text(jira: FakeJira, http: httpx.AsyncClient) -> None:
    big = "<img src=x onerror=alert(1)>\n" * 4_000  # ~116 kB
    finding = _finding(title=HOSTILE_TITLE * 20, description=big, remediation='{"type":"doc"}' * 10_000,
                       location={"file_path": "a.py", "snippet": "x" * 100_000})
    key = await _connector(http, jira).open_ticket(KEY, RUN, "shop", finding)
    issue = jira.state.issues[key]
    assert len(issue.summary) <= MAX_SUMMARY and "\n" not in issue.summary
    assert "<script>alert(1)</script>" in issue.summary  # literal text, not markup, not HTML-escaped
    for bad in ("\x00", "\u202e", "\ud800"):
        assert bad not in issue.summary
    assert adf_node_types(issue.description) <= {"doc", "paragraph", "text", "hardBreak", "codeBlock"}
    assert '"}]},{"type":"mention","attrs":{"id":"admin"}}' in issue.summary  # JSON in text stays text
    text = adf_text(issue.description)
    assert '{"type":"doc"}{"type":"doc"}' in text
    assert "<img src=x onerror=alert(1)>" in text
    assert len(text) < 15_000  # bounded, far below JIRA's 32,767
    assert len(json.dumps(issue.description)) < 60_000


async def test_hostile_reason_in_the_close_comment_stays_text(jira: FakeJira, http: httpx.AsyncClient) -> None:
    c = _connector(http, jira)
    key = await c.open_ticket(KEY, RUN, "shop", _finding())
    await c.close_ticket(KEY, key, RUN, '</p><script>x</script>{"type":"mention"}\x07' + "r" * 50_000)
    body = jira.state.issues[key].comments[0]["body"]
    assert adf_node_types(body) <= {"doc", "paragraph", "text", "hardBreak"}
    assert "<script>x</script>" in adf_text(body) and "\x07" not in adf_text(body)
    assert len(adf_text(body)) <= 2_000


async def test_an_empty_title_still_gives_a_summary(jira: FakeJira, http: httpx.AsyncClient) -> None:
    key = await _connector(http, jira).open_ticket(KEY, RUN, "shop", _finding(title=" \x00\n "))
    assert jira.state.issues[key].summary == "[AIVA] HIGH: finding ffffffffffffffff"


# --- config -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("over", [{"project_key": "sec"}, {"project_key": "SEC KEY"}, {"label_prefix": "aiva "},
                                  {"base_url": "ftp://jira.test"}, {"base_url": "jira.test"}, {"email": ""}])
def test_config_refuses_what_jira_would_refuse(over: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        _config(**over)


def test_config_is_frozen_and_keeps_the_token_secret() -> None:
    cfg = _config(base_url="https://yourco.atlassian.net/", api_token=SecretStr("s3cr3t-jira-token"))
    assert cfg.base_url == "https://yourco.atlassian.net"
    assert "s3cr3t-jira-token" not in repr(cfg) and cfg.api_token.get_secret_value() == "s3cr3t-jira-token"
    with pytest.raises(ValidationError):
        cfg.project_key = "OTHER"  # type: ignore[misc]

"""The GitHub Issues connector against the local fake GitHub API (real HTTP on 127.0.0.1)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from pydantic import SecretStr, ValidationError

from aiva.connectors.github_fake import FakeGitHub
from aiva.connectors.github_issues import (
    MAX_BODY,
    GitHubIssuesConfig,
    GitHubIssuesConnector,
    issue_body,
    key_label,
    key_marker,
)
from aiva.errors import IntegrationRejected, IntegrationUnavailable
from tests.unit.connector_helpers import assert_connection_refused, assert_times_out, mock_client, serving

TOKEN = "ghp-test-token"
KEY = "run-1:fp-abc:github"


@pytest.fixture
def gh() -> Iterator[FakeGitHub]:
    yield from serving(FakeGitHub(TOKEN, "acme/app"))


def _config(gh: FakeGitHub, **kw: Any) -> GitHubIssuesConfig:
    return GitHubIssuesConfig(**{"api_url": gh.url, "repo": "acme/app", "token": SecretStr(TOKEN),
                                 "labels": ("security",), **kw})


def _finding(**kw: Any) -> dict[str, Any]:
    f: dict[str, Any] = {
        "fingerprint": "fp-abc", "title": "SQL injection in login", "severity": "high", "risk_score": 8.25,
        "tool": "semgrep", "asset": "shop-api", "change": "new", "rule_id": "python.sqli",
        "vulnerability_ids": ["CVE-2024-0001"], "cwes": ["CWE-89"],
        "component": {"name": "flask", "version": "2.0.0", "fixed_version": "2.3.2"},
        "location": {"file_path": "app/login.py", "start_line": 42, "end_line": 44},
        "endpoint": None, "remediation": "Use bound parameters.",
    }
    f.update(kw)
    return f


async def test_open_creates_one_issue_with_title_labels_and_body(gh: FakeGitHub) -> None:
    async with httpx.AsyncClient(timeout=5) as c:
        number = await GitHubIssuesConnector(c, _config(gh)).open_ticket(KEY, "run-1", "shop", _finding())
    issues = gh.book.snapshot()
    assert number == "1" and len(issues) == 1
    issue = issues[0]
    assert issue.title == "[AIVA] high: SQL injection in login"
    assert issue.labels == ["aiva", key_label(KEY), "severity:high", "security"]
    assert len(key_label(KEY)) <= 50 and key_label(KEY).startswith("aiva:")
    assert issue.body.startswith(key_marker(KEY))
    for fact in ("`CVE-2024-0001`", "`CWE-89`", "`app/login.py:42-44`", "`flask@2.0.0`", "`2.3.2`", "`8.2`",
                 "`run-1`", "`shop`", "Use bound parameters."):
        assert fact in issue.body


async def test_requests_carry_github_headers_and_the_enterprise_base_path() -> None:
    seen: list[httpx.Request] = []

    def handler(req: httpx.Request) -> httpx.Response:
        seen.append(req)
        if req.method == "GET":
            return httpx.Response(200, json=[])
        return httpx.Response(201, json={"number": 7, "labels": [{"name": key_label(KEY)}]})

    cfg = GitHubIssuesConfig(api_url="https://ghe.example/api/v3/", repo="acme/app", token=SecretStr("t0k"))
    async with mock_client(handler) as c:
        assert await GitHubIssuesConnector(c, cfg).open_ticket(KEY, "r", "p", _finding()) == "7"
    assert [r.method for r in seen] == ["GET", "POST"]
    assert seen[0].url.path == "/api/v3/repos/acme/app/issues"
    assert seen[0].url.params["labels"] == key_label(KEY) and seen[0].url.params["state"] == "all"
    for r in seen:
        assert r.headers["Authorization"] == "Bearer t0k"
        assert r.headers["Accept"] == "application/vnd.github+json"
        assert r.headers["X-GitHub-Api-Version"] == "2022-11-28"


async def test_opening_again_with_the_same_key_returns_the_same_issue(gh: FakeGitHub) -> None:
    async with httpx.AsyncClient(timeout=5) as c:
        first = await GitHubIssuesConnector(c, _config(gh)).open_ticket(KEY, "run-1", "shop", _finding())
        # A fresh connector, as after a worker crash: only GitHub's state remembers the issue.
        again = await GitHubIssuesConnector(c, _config(gh)).open_ticket(KEY, "run-1", "shop", _finding())
        other = await GitHubIssuesConnector(c, _config(gh)).open_ticket("run-1:fp-other:github", "run-1", "shop",
                                                                          _finding(fingerprint="fp-other"))
    assert first == again == "1" and other == "2"
    assert gh.book.count("POST", "/issues") == 2 and len(gh.book.snapshot()) == 2


async def test_a_create_whose_answer_was_lost_is_found_on_the_retry(gh: FakeGitHub) -> None:
    gh.book.delay_s = 0.5  # GitHub creates the issue, but the answer comes too late
    async with httpx.AsyncClient(timeout=0.2) as c:
        conn = GitHubIssuesConnector(c, _config(gh))
        with pytest.raises(IntegrationUnavailable):
            await conn.open_ticket(KEY, "run-1", "shop", _finding())
        gh.book.delay_s = 0.0
        for _ in range(50):
            if gh.book.snapshot():
                break
            await asyncio.sleep(0.05)
        number = await conn.open_ticket(KEY, "run-1", "shop", _finding())
    assert number == "1" and len(gh.book.snapshot()) == 1 and gh.book.count("POST", "/issues") == 1


async def test_a_retry_after_503_creates_exactly_one_issue(gh: FakeGitHub) -> None:
    async with httpx.AsyncClient(timeout=5) as c:
        conn = GitHubIssuesConnector(c, _config(gh))
        gh.book.fail_next(1)
        with pytest.raises(IntegrationUnavailable) as ei:
            await conn.open_ticket(KEY, "run-1", "shop", _finding())
        assert ei.value.status_code == 503
        assert await conn.open_ticket(KEY, "run-1", "shop", _finding()) == "1"
    assert len(gh.book.snapshot()) == 1


async def test_close_comments_then_closes_and_twice_is_a_no_op(gh: FakeGitHub) -> None:
    async with httpx.AsyncClient(timeout=5) as c:
        conn = GitHubIssuesConnector(c, _config(gh))
        number = await conn.open_ticket(KEY, "run-1", "shop", _finding())
        await conn.close_ticket(KEY, number, "run-1", "AIVA run rolled back")
        await conn.close_ticket(KEY, number, "run-1", "AIVA run rolled back")
        await conn.close_ticket(KEY, None, "run-1", "AIVA run rolled back")
    (issue,) = gh.book.snapshot()
    assert issue.state == "closed" and issue.state_reason == "not_planned" and issue.closed_at
    assert len(issue.comments) == 1 and "`AIVA run rolled back`" in issue.comments[0]
    assert gh.book.count("PATCH") == 1 and gh.book.count("POST", "/comments") == 1


async def test_close_reason_is_configurable(gh: FakeGitHub) -> None:
    async with httpx.AsyncClient(timeout=5) as c:
        conn = GitHubIssuesConnector(c, _config(gh, close_state_reason="completed"))
        number = await conn.open_ticket(KEY, "run-1", "shop", _finding())
        await conn.close_ticket(KEY, number, "run-1", "fixed")
    assert gh.book.snapshot()[0].state_reason == "completed"


async def test_closing_an_unknown_key_touches_nothing(gh: FakeGitHub) -> None:
    async with httpx.AsyncClient(timeout=5) as c:
        conn = GitHubIssuesConnector(c, _config(gh))
        await conn.open_ticket(KEY, "run-1", "shop", _finding())
        await conn.close_ticket("run-9:nope:github", None, "run-9", "rolled back")
        await conn.close_ticket("run-9:nope:github", "999", "run-9", "rolled back")
    assert gh.book.snapshot()[0].state == "open"
    assert gh.book.count("PATCH") == 0 and gh.book.count("POST", "/comments") == 0


async def test_close_falls_back_to_the_stored_number_only_for_an_issue_naming_the_key(gh: FakeGitHub) -> None:
    async with httpx.AsyncClient(timeout=5) as c:
        conn = GitHubIssuesConnector(c, _config(gh))
        number = await conn.open_ticket(KEY, "run-1", "shop", _finding())
        other = await conn.open_ticket("run-2:fp-x:github", "run-2", "shop", _finding())
        with gh.book.lock:  # someone removed the labels by hand
            for issue in gh.book.issues.values():
                issue.labels = []
        await conn.close_ticket(KEY, other, "run-1", "rolled back")  # a number that is not KEY's issue
        assert [i.state for i in gh.book.snapshot()] == ["open", "open"]
        await conn.close_ticket(KEY, number, "run-1", "rolled back")
    assert [i.state for i in gh.book.snapshot()] == ["closed", "open"]


async def test_bad_credentials_are_rejected_naming_github_and_the_url(gh: FakeGitHub) -> None:
    async with httpx.AsyncClient(timeout=5) as c:
        conn = GitHubIssuesConnector(c, _config(gh, token=SecretStr("wrong")))
        with pytest.raises(IntegrationRejected) as ei:
            await conn.open_ticket(KEY, "run-1", "shop", _finding())
    assert ei.value.status_code == 401 and ei.value.integration == "github"
    assert gh.url in str(ei.value) and "Bad credentials" in str(ei.value)
    assert not gh.book.snapshot()


@pytest.mark.parametrize("setup, status", [("unknown_repo", 404), ("issues_disabled", 410)])
async def test_missing_repo_or_disabled_issues_are_rejected(gh: FakeGitHub, setup: str, status: int) -> None:
    repo = "acme/other" if setup == "unknown_repo" else "acme/app"
    gh.book.issues_enabled = setup != "issues_disabled"
    async with httpx.AsyncClient(timeout=5) as c:
        with pytest.raises(IntegrationRejected) as ei:
            await GitHubIssuesConnector(c, _config(gh, repo=repo)).open_ticket(KEY, "r", "p", _finding())
    assert ei.value.status_code == status and f"/repos/{repo}/issues" in ei.value.url


async def test_the_fake_answers_a_missing_title_with_githubs_validation_shape(gh: FakeGitHub) -> None:
    async with httpx.AsyncClient(timeout=5, headers={"Authorization": f"Bearer {TOKEN}"}) as c:
        resp = await c.post(f"{gh.url}/repos/acme/app/issues", json={"body": "no title"})
    assert resp.status_code == 422
    assert resp.json()["message"] == "Validation Failed"
    assert resp.json()["errors"] == [{"resource": "Issue", "code": "missing_field", "field": "title"}]


async def test_a_validation_failure_is_rejected() -> None:
    def handler(req: httpx.Request) -> httpx.Response:
        if req.method == "GET":
            return httpx.Response(200, json=[])
        return httpx.Response(422, json={"message": "Validation Failed", "errors": [
            {"resource": "Issue", "code": "custom", "field": "body", "message": "body is too long"}]})

    cfg = GitHubIssuesConfig(repo="acme/app", token=SecretStr("t"))
    async with mock_client(handler) as c:
        with pytest.raises(IntegrationRejected) as ei:
            await GitHubIssuesConnector(c, cfg).open_ticket(KEY, "r", "p", _finding())
    assert ei.value.status_code == 422 and "api.github.com/repos/acme/app/issues" in str(ei.value)
    assert "Validation Failed" in str(ei.value)


async def test_labels_dropped_for_lack_of_push_access_are_a_rejection_not_a_silent_duplicate(
        gh: FakeGitHub) -> None:
    gh.book.push_access = False
    async with httpx.AsyncClient(timeout=5) as c:
        with pytest.raises(IntegrationRejected) as ei:
            await GitHubIssuesConnector(c, _config(gh)).open_ticket(KEY, "r", "p", _finding())
    assert "#1" in str(ei.value) and "push" in str(ei.value)
    assert len(gh.book.snapshot()) == 1


@pytest.mark.parametrize("mode, status", [("503", 503), ("ratelimit", 403), ("secondary", 403)])
async def test_outages_and_rate_limits_are_retryable(gh: FakeGitHub, mode: Any, status: int) -> None:
    gh.book.fail_next(1, mode)
    async with httpx.AsyncClient(timeout=5) as c:
        with pytest.raises(IntegrationUnavailable) as ei:
            await GitHubIssuesConnector(c, _config(gh)).open_ticket(KEY, "r", "p", _finding())
    assert ei.value.status_code == status and ei.value.integration == "github"
    assert not gh.book.snapshot()


@pytest.mark.parametrize("status, headers, message, exc", [
    (403, {}, "Resource not accessible by personal access token", IntegrationRejected),
    (403, {"x-ratelimit-remaining": "0"}, "API rate limit exceeded", IntegrationUnavailable),
    (403, {"retry-after": "30"}, "slow down", IntegrationUnavailable),
    (429, {"retry-after": "30"}, "Too Many Requests", IntegrationUnavailable),
])
async def test_403_is_retryable_only_when_it_is_a_rate_limit(
        status: int, headers: dict[str, str], message: str, exc: type[Exception]) -> None:
    def handler(req: httpx.Request) -> httpx.Response:
        return httpx.Response(status, headers=headers, json={"message": message})

    cfg = GitHubIssuesConfig(repo="acme/app", token=SecretStr("t"))
    async with mock_client(handler) as c:
        with pytest.raises(exc) as ei:
            await GitHubIssuesConnector(c, cfg).close_ticket(KEY, "5", "r", "why")
    assert isinstance(ei.value, IntegrationRejected | IntegrationUnavailable)
    assert ei.value.status_code == status


async def test_connection_refused_and_timeouts_are_retryable(gh: FakeGitHub) -> None:
    async with httpx.AsyncClient(timeout=5) as c:
        await assert_connection_refused(lambda root: GitHubIssuesConnector(
            c, _config(gh, api_url=f"{root}/api/v3")).open_ticket(KEY, "r", "p", _finding()))
    await assert_times_out(gh.book, lambda c: GitHubIssuesConnector(c, _config(gh)).open_ticket(
        KEY, "r", "p", _finding()), timeout=0.1)


HOSTILE = ("@octocat please look. fixes #1, closes acme/app#2 <script>alert(1)</script>"
           " <img src=x onerror=alert(2)> <!-- x --> ``` \n```\n@mallory outside the fence? #3\n")


def _outside_code(body: str) -> tuple[list[str], list[str]]:
    """(text outside any code, raw HTML) as a CommonMark parser sees the body."""
    markdown_it = pytest.importorskip("markdown_it")
    text: list[str] = []
    html: list[str] = []
    for tok in markdown_it.MarkdownIt("commonmark").parse(body):
        if tok.type in ("html_block", "html_inline"):
            html.append(tok.content)
        for child in tok.children or []:
            if child.type in ("html_inline", "html_block"):
                html.append(child.content)
            elif child.type == "text":
                text.append(child.content)
    return text, html


async def test_hostile_scanner_text_arrives_neutralised_and_bounded(gh: FakeGitHub) -> None:
    finding = _finding(title="@octocat fixes #1 <script>x</script> ```", description=HOSTILE * 4 + "A" * 200_000,
                       remediation=HOSTILE, rule_id=HOSTILE, asset="``` @here",
                       location={"file_path": "a.py`` @octo", "start_line": 1, "snippet": "````\n" + HOSTILE})
    async with httpx.AsyncClient(timeout=5) as c:
        await GitHubIssuesConnector(c, _config(gh)).open_ticket(KEY, "run-1", "shop", finding)
    (issue,) = gh.book.snapshot()  # the fake enforces GitHub's 65,536 and 256 character limits
    assert len(issue.body) <= MAX_BODY and len(issue.title) <= 256
    assert "truncated by AIVA" in issue.body
    text, html = _outside_code(issue.body)
    assert html == [key_marker(KEY) + "\n"]  # the only raw HTML is AIVA's own marker
    outside = "\n".join(text)
    for bad in ("@octocat", "@mallory", "@here", "@octo", "#1", "#2", "#3", "<script", "<img", "outside the fence"):
        assert bad not in outside
    assert HOSTILE.strip("\n") in issue.body  # shown verbatim, inside code
    assert "@\u200boctocat" in issue.title and "#\u200b1" in issue.title


async def test_invisible_and_unencodable_characters_are_dropped(gh: FakeGitHub) -> None:
    sneaky = "SQL\u200b injection\ufeff\u202e in\ud800 login\x07"  # a lone surrogate cannot even be sent as JSON
    async with httpx.AsyncClient(timeout=5) as c:
        await GitHubIssuesConnector(c, _config(gh)).open_ticket(KEY, "run-1", "shop",
                                                                _finding(title=sneaky, description=sneaky))
    (issue,) = gh.book.snapshot()
    assert issue.title == "[AIVA] high: SQL injection in login"
    assert "SQL injection in login" in issue.body
    for bad in ("\u200b", "\ufeff", "\u202e", "\ud800", "\x07"):
        assert bad not in issue.title and bad not in issue.body


def test_body_is_bounded_whatever_the_input() -> None:
    huge = "`" * 70_000 + "x" * 70_000
    body = issue_body(KEY, "r" * 10_000, "p" * 10_000, _finding(description=huge, remediation=huge, title=huge))
    assert len(body) <= MAX_BODY and body.startswith(key_marker(KEY))


def test_config_validates_repo_url_and_labels() -> None:
    cfg = GitHubIssuesConfig(api_url="https://ghe.example/api/v3/", repo=" acme/app ", token=SecretStr("t"))
    assert cfg.api_url == "https://ghe.example/api/v3" and cfg.repo == "acme/app"
    assert cfg.close_state_reason == "not_planned"
    for bad in ({"repo": "acme"}, {"repo": "acme/app/x"}, {"repo": "-acme/app"}, {"api_url": "ftp://x"},
                {"labels": ("x" * 51,)}, {"close_state_reason": "wontfix"}):
        with pytest.raises(ValidationError):
            GitHubIssuesConfig(**{"repo": "acme/app", "token": SecretStr("t"), **bad})
    with pytest.raises(ValidationError):
        cfg.repo = "other/repo"  # type: ignore[misc]

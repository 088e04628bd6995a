"""A local fake of the GitHub REST API: just the issue endpoints AIVA's connector uses.

Shipped with the code as the fake at the edge (like webhook_receiver): tests and
`aiva dev` point `api_url` at it. It answers in GitHub's shapes:

    GET   {base}/repos/{owner}/{repo}/issues          labels, state, sort, direction, per_page, page
    POST  {base}/repos/{owner}/{repo}/issues          201 issue; 422 Validation Failed (no title, too long)
    GET   {base}/repos/{owner}/{repo}/issues/{n}      200 issue; 404
    PATCH {base}/repos/{owner}/{repo}/issues/{n}      200 issue; state, state_reason, title, body, labels
    POST  {base}/repos/{owner}/{repo}/issues/{n}/comments   201 comment; 422 without a body

`base` is `/api/v3`, as on GitHub Enterprise Server, so the connector's base-URL handling
is exercised. Requests without `Authorization: Bearer TOKEN` (or `token TOKEN`) get
401 {"message": "Bad credentials"}; an unknown repository 404; a repository with issues
disabled 410. Without push access, labels on a new issue are silently dropped, as GitHub
does. `fail_next(n, mode)` makes the next n requests fail with 503, a primary rate limit
(403, x-ratelimit-remaining: 0) or a secondary one (403, retry-after).

    python -m aiva.connectors.github_fake --port 8766 --repo acme/app --token dev-token
"""

from __future__ import annotations

import threading
import time
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import urlsplit

from aiva.connectors.fake_server import JsonHandler, LocalServer, Refused, serve_main

MAX_REQUEST = 2 * 1024 * 1024
MAX_BODY = 65_536
MAX_TITLE = 256
MAX_LABEL = 50
BASE_PATH = "/api/v3"
DOCS = "https://docs.github.com/rest"
FailMode = Literal["503", "ratelimit", "secondary"]


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Issue:
    """One issue as the fake keeps it."""

    number: int
    title: str
    body: str
    labels: list[str]
    state: str = "open"
    state_reason: str | None = None
    comments: list[str] = field(default_factory=list)
    created_at: str = field(default_factory=_now)
    updated_at: str = field(default_factory=_now)
    closed_at: str | None = None


@dataclass
class RepoBook:
    """Thread-safe state of the fake: issues, labels, failures to stage, a request log."""

    repo: str
    token: str
    base_url: str = ""
    issues: dict[int, Issue] = field(default_factory=dict)
    labels: set[str] = field(default_factory=set)
    issues_enabled: bool = True
    push_access: bool = True
    requests: int = 0
    log: list[tuple[str, str]] = field(default_factory=list)
    fail_count: int = 0
    fail_mode: FailMode = "503"
    delay_s: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def fail_next(self, n: int, mode: FailMode = "503") -> None:
        """Make the next `n` requests fail: 503, a primary rate limit or a secondary one."""
        with self.lock:
            self.fail_count = n
            self.fail_mode = mode

    def count(self, method: str, suffix: str = "") -> int:
        """How many requests with this method (and path ending) were received."""
        with self.lock:
            return sum(1 for m, p in self.log if m == method and p.endswith(suffix))

    def snapshot(self) -> list[Issue]:
        """Copies of every issue, by number."""
        with self.lock:
            return [Issue(**{**vars(i), "labels": list(i.labels), "comments": list(i.comments)})
                    for _, i in sorted(self.issues.items())]


def _message(code: int, message: str) -> dict[str, Any]:
    """GitHub's error body."""
    return {"message": message, "documentation_url": DOCS, "status": str(code)}


def _refused(code: int, message: str, headers: dict[str, str] | None = None) -> Refused:
    return Refused(code, _message(code, message), headers)


def _handler(book: RepoBook) -> type[JsonHandler]:
    repo_root = f"{BASE_PATH}/repos/{book.repo}/issues"

    def label_obj(name: str) -> dict[str, Any]:
        lid = zlib.crc32(name.encode())
        return {"id": lid, "node_id": f"LA_{lid}", "url": f"{book.base_url}/repos/{book.repo}/labels/{name}",
                "name": name, "color": "ededed", "default": False, "description": None}

    def issue_obj(i: Issue) -> dict[str, Any]:
        api = f"{book.base_url}/repos/{book.repo}/issues/{i.number}"
        return {
            "id": 1000 + i.number, "node_id": f"I_{i.number}", "url": api,
            "repository_url": f"{book.base_url}/repos/{book.repo}", "labels_url": f"{api}/labels{{/name}}",
            "comments_url": f"{api}/comments", "events_url": f"{api}/events",
            "html_url": f"https://github.example/{book.repo}/issues/{i.number}",
            "number": i.number, "state": i.state, "state_reason": i.state_reason, "title": i.title,
            "body": i.body, "user": {"login": "aiva-bot", "id": 1, "type": "Bot"},
            "labels": [label_obj(n) for n in i.labels], "assignee": None, "assignees": [], "milestone": None,
            "locked": False, "comments": len(i.comments), "created_at": i.created_at,
            "updated_at": i.updated_at, "closed_at": i.closed_at, "author_association": "NONE",
        }

    def validation(resource: str, field_: str, code: str, message: str | None = None) -> dict[str, Any]:
        err: dict[str, Any] = {"resource": resource, "code": code, "field": field_}
        if message:
            err["message"] = message
        return {"message": "Validation Failed", "errors": [err],
                "documentation_url": f"{DOCS}/issues/issues#create-an-issue", "status": "422"}

    class Handler(JsonHandler):
        content_type = "application/json; charset=utf-8"
        default_headers = {"X-GitHub-Api-Version-Selected": "2022-11-28"}
        max_body = MAX_REQUEST
        body_errors = {
            "too_large": (413, _message(413, "Payload too large")),
            "not_json": (400, _message(400, "Problems parsing JSON")),
            "not_object": (400, _message(400, "Body should be a JSON object")),
        }

        def _gate(self, method: str) -> tuple[str, int | None]:
            """Count, delay, fail as staged, authenticate, route: (kind, issue number) under the repo."""
            path = urlsplit(self.path).path
            with book.lock:
                book.requests += 1
                book.log.append((method, path))
                fail = book.fail_count > 0
                if fail:
                    book.fail_count -= 1
                mode = book.fail_mode
            if book.delay_s:
                time.sleep(book.delay_s)
            if fail:
                reset = str(int(time.time()) + 60)
                if mode == "ratelimit":
                    raise _refused(403, "API rate limit exceeded for user ID 1.", {
                        "x-ratelimit-limit": "5000", "x-ratelimit-remaining": "0", "x-ratelimit-used": "5000",
                        "x-ratelimit-reset": reset, "x-ratelimit-resource": "core"})
                if mode == "secondary":
                    raise _refused(403, "You have exceeded a secondary rate limit. Please wait a few minutes"
                                        " before you try again.", {"retry-after": "60"})
                raise _refused(503, "Service Unavailable")
            if self.auth_token(("bearer", "token")) != book.token:
                raise _refused(401, "Bad credentials")
            route = self._route()
            if route is None:
                raise _refused(404, "Not Found")
            if not book.issues_enabled:
                raise _refused(410, "Issues are disabled for this repo")
            return route

        def _route(self) -> tuple[str, int | None] | None:
            """('issues'|'issue'|'comments', number) for a path under the repo, else None."""
            path = urlsplit(self.path).path.rstrip("/")
            if path == repo_root:
                return "issues", None
            if path.startswith(repo_root + "/"):
                parts = path[len(repo_root) + 1:].split("/")
                if parts[0].isdigit() and len(parts) == 1:
                    return "issue", int(parts[0])
                if parts[0].isdigit() and parts[1:] == ["comments"]:
                    return "comments", int(parts[0])
            return None

        def do_GET(self) -> None:
            self.answer(self._get)

        def do_POST(self) -> None:
            self.answer(self._post)

        def do_PATCH(self) -> None:
            self.answer(self._patch)

        def _get(self) -> None:
            kind, number = self._gate("GET")
            if kind == "issue" and number is not None:
                with book.lock:
                    issue = book.issues.get(number)
                    body = issue_obj(issue) if issue else None
                if body is None:
                    raise _refused(404, "Not Found")
                self.reply(200, body)
                return
            if kind != "issues":
                raise _refused(404, "Not Found")
            q = self.query()
            state = q.get("state", "open")
            wanted = [lb for lb in q.get("labels", "").split(",") if lb]
            per_page = max(1, min(100, int(q.get("per_page", "30") or 30)))
            page = max(1, int(q.get("page", "1") or 1))
            with book.lock:
                found = [i for i in book.issues.values()
                         if (state == "all" or i.state == state) and all(w in i.labels for w in wanted)]
                found.sort(key=lambda i: i.number, reverse=q.get("direction", "desc") != "asc")
                chunk = [issue_obj(i) for i in found[(page - 1) * per_page: page * per_page]]
            headers = {}
            if page * per_page < len(found):
                headers["Link"] = f'<{book.base_url}/repos/{book.repo}/issues?page={page + 1}>; rel="next"'
            self.reply(200, chunk, headers)

        def _post(self) -> None:
            kind, number = self._gate("POST")
            body = self.read_json()
            if kind == "issues":
                self._create(body)
            elif kind == "comments" and number is not None:
                self._comment(number, body)
            else:
                raise _refused(404, "Not Found")

        def _create(self, body: dict[str, Any]) -> None:
            title = body.get("title")
            if not isinstance(title, str | int) or str(title) == "":
                raise Refused(422, validation("Issue", "title", "missing_field"))
            if len(str(title)) > MAX_TITLE:
                raise Refused(422, validation("Issue", "title", "custom",
                                              f"title is too long (maximum is {MAX_TITLE} characters)"))
            text = body.get("body")
            if text is not None and len(str(text)) > MAX_BODY:
                raise Refused(422, validation("Issue", "body", "custom",
                                              f"body is too long (maximum is {MAX_BODY} characters)"))
            names = [str(lb.get("name") if isinstance(lb, dict) else lb) for lb in body.get("labels") or []]
            if any(len(n) > MAX_LABEL or not n for n in names):
                raise Refused(422, validation("Label", "name", "invalid"))
            with book.lock:
                if not book.push_access:
                    names = []  # GitHub drops labels silently without push access
                book.labels.update(names)
                number = max(book.issues, default=0) + 1
                issue = Issue(number, str(title), str(text or ""), list(dict.fromkeys(names)))
                book.issues[number] = issue
                out = issue_obj(issue)
            self.reply(201, out, {"Location": out["url"]})

        def _comment(self, number: int, body: dict[str, Any]) -> None:
            text = body.get("body")
            cid = 0
            if not isinstance(text, str) or not text:
                raise Refused(422, validation("IssueComment", "body", "missing_field"))
            if len(text) > MAX_BODY:
                raise Refused(422, validation("IssueComment", "body", "custom",
                                              f"body is too long (maximum is {MAX_BODY} characters)"))
            with book.lock:
                issue = book.issues.get(number)
                if issue is not None:
                    issue.comments.append(text)
                    issue.updated_at = _now()
                    cid = 5000 + sum(len(i.comments) for i in book.issues.values())
            if issue is None:
                raise _refused(404, "Not Found")
            api = f"{book.base_url}/repos/{book.repo}/issues"
            self.reply(201, {"id": cid, "node_id": f"IC_{cid}", "url": f"{api}/comments/{cid}",
                             "html_url": f"https://github.example/{book.repo}/issues/{number}#issuecomment-{cid}",
                             "issue_url": f"{api}/{number}", "body": text, "author_association": "NONE",
                             "user": {"login": "aiva-bot", "id": 1, "type": "Bot"},
                             "created_at": _now(), "updated_at": _now()})

        def _patch(self) -> None:
            kind, number = self._gate("PATCH")
            body = self.read_json()
            if kind != "issue" or number is None:
                raise _refused(404, "Not Found")
            state, reason = body.get("state"), body.get("state_reason")
            if state not in (None, "open", "closed"):
                raise Refused(422, validation("Issue", "state", "invalid"))
            if reason not in (None, "completed", "not_planned", "reopened"):
                raise Refused(422, validation("Issue", "state_reason", "invalid"))
            out: dict[str, Any] = {}
            with book.lock:
                issue = book.issues.get(number)
                if issue is not None:
                    # As on GitHub, state_reason only takes effect alongside a state change.
                    if state == "closed" and issue.state != "closed":
                        issue.state, issue.closed_at = "closed", _now()
                        issue.state_reason = reason or "completed"
                    elif state == "open" and issue.state != "open":
                        issue.state, issue.closed_at, issue.state_reason = "open", None, "reopened"
                    if isinstance(body.get("title"), str):
                        issue.title = body["title"]
                    if isinstance(body.get("body"), str):
                        issue.body = body["body"]
                    issue.updated_at = _now()
                    out = issue_obj(issue)
            if issue is None:
                raise _refused(404, "Not Found")
            self.reply(200, out)

    return Handler


class FakeGitHub(LocalServer):
    """Run the fake GitHub API in a background thread on 127.0.0.1.

    `url` is the API base URL to configure (like https://HOST/api/v3 on GitHub Enterprise Server).
    """

    base_path = BASE_PATH

    def __init__(self, token: str, repo: str = "acme/app", port: int = 0) -> None:
        self.book = RepoBook(repo=repo, token=token)
        super().__init__(_handler(self.book), port)
        self.book.base_url = self.url


def main() -> None:
    """Serve in the foreground until interrupted."""
    serve_main(__doc__ or "", 8766, lambda a: FakeGitHub(a.token, a.repo, a.port),
               "AIVA fake GitHub API on {url} (repo {repo})", repo="acme/app", token="dev-token")  # noqa: S106


if __name__ == "__main__":
    main()

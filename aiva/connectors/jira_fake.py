"""A local fake of JIRA Cloud's REST API v3: the calls `JiraConnector` makes, with JIRA's shapes.

Shipped with the code as the fake at the edge (tests, `aiva dev`), like the webhook
receiver. It keeps issues, statuses, a small workflow and comments; checks basic auth
(`email:api_token`); validates what JIRA validates on create (project, issue type,
summary, priority, labels without spaces, an ADF description) and answers errors the
way JIRA does: `{"errorMessages": [...], "errors": {field: message}}`.

    POST /rest/api/3/search/jql                   JQL subset: labels = "x" [AND project = KEY]
    POST /rest/api/3/issue                        201 {"id", "key", "self"}
    GET  /rest/api/3/issue/{key}                  {"id", "key", "self", "fields": {...}}
    GET  /rest/api/3/issue/{key}/transitions      {"transitions": [{"id", "name", "to": {...}}]}
    POST /rest/api/3/issue/{key}/transitions      204
    POST /rest/api/3/issue/{key}/comment          201 {"id", "self", "body"}

Test controls: `state.fail_next` (answer the next N requests with `fail_status`, 503 or
429 with `Retry-After`), `state.delay_s`, `state.search_lag` (the search index does not
see issues yet, as JIRA's eventually consistent search may not), `state.requests` and
`state.calls` (method, path) to count what was asked.

    python -m aiva.connectors.jira_fake --port 8766
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from aiva.connectors.fake_server import Controls, JsonHandler, LocalServer, Refused, serve_main

MAX_SUMMARY = 255
MAX_TEXT_FIELD = 32_767  # JIRA's limit on a rich-text field
ADF_NODES = {"doc", "paragraph", "text", "hardBreak", "codeBlock", "heading", "bulletList", "orderedList",
             "listItem", "blockquote", "rule"}
ADF_MARKS = {"strong", "em", "code", "strike", "underline", "link"}

_ISSUE = re.compile(r"^/rest/api/3/issue/([A-Z][A-Z0-9_]*-\d+)(/transitions|/comment)?$")
_AND = re.compile(r"\s+AND\s+", re.IGNORECASE)
_CLAUSE = re.compile(r'^\s*(labels|project)\s*=\s*(?:"([^"\\]*)"|([A-Za-z0-9_.:-]+))\s*$', re.IGNORECASE)


@dataclass(frozen=True)
class Transition:
    """One workflow transition: its id, its name, the status it leads to."""

    id: str
    name: str
    to: str


@dataclass
class Issue:
    """One issue as the fake stores it."""

    id: str
    key: str
    project: str
    summary: str
    issue_type: str
    labels: list[str]
    description: dict[str, Any] | None
    priority: str = "Medium"
    status: str = "To Do"
    comments: list[dict[str, Any]] = field(default_factory=list)


DEFAULT_STATUSES = {"To Do": "new", "In Progress": "indeterminate", "Done": "done"}
DEFAULT_TRANSITIONS = (Transition("11", "To Do", "To Do"), Transition("21", "Start Progress", "In Progress"),
                       Transition("31", "Done", "Done"))


@dataclass
class JiraState(Controls):
    """Thread-safe state of the fake site; tests read and steer it."""

    email: str
    token: str
    projects: set[str]
    issue_types: set[str] = field(default_factory=lambda: {"Bug", "Task", "Story"})
    priorities: set[str] = field(default_factory=lambda: {"Highest", "High", "Medium", "Low", "Lowest"})
    statuses: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_STATUSES))
    transitions: list[Transition] = field(default_factory=lambda: list(DEFAULT_TRANSITIONS))
    issues: dict[str, Issue] = field(default_factory=dict)
    search_lag: bool = False

    def with_label(self, label: str) -> list[Issue]:
        """Issues carrying `label`."""
        with self.lock:
            return [i for i in self.issues.values() if label in i.labels]

    def available(self, issue: Issue) -> list[Transition]:
        """Transitions offered from the issue's current status."""
        return [t for t in self.transitions if t.to != issue.status]


def adf_text(node: Any) -> str:
    """The plain text of an ADF node (hard breaks as newlines): what a reader of the issue sees."""
    if not isinstance(node, dict):
        return ""
    if node.get("type") == "text":
        return str(node.get("text", ""))
    if node.get("type") == "hardBreak":
        return "\n"
    parts = [adf_text(c) for c in node.get("content") or []]
    sep = "\n" if node.get("type") in ("doc", "bulletList", "orderedList") else ""
    return sep.join(parts)


def adf_node_types(node: Any) -> set[str]:
    """Every node type used in an ADF tree."""
    if not isinstance(node, dict):
        return set()
    out = {str(node.get("type"))}
    for c in node.get("content") or []:
        out |= adf_node_types(c)
    return out


def _adf_error(node: Any, depth: int = 0) -> str | None:
    """Why `node` is not a valid ADF node (the subset JIRA renders), or None."""
    if depth > 20 or not isinstance(node, dict):
        return "malformed ADF node"
    kind = node.get("type")
    if kind not in ADF_NODES or (depth == 0) != (kind == "doc"):
        return f"unsupported ADF node {str(kind)[:40]!r}"
    if kind == "doc" and node.get("version") != 1:
        return "ADF document version must be 1"
    if kind == "text":
        if not isinstance(node.get("text"), str) or not node["text"]:
            return "ADF text nodes must have non-empty text"
        marks = node.get("marks") or []
        if not isinstance(marks, list) or any(not isinstance(m, dict) or m.get("type") not in ADF_MARKS
                                              for m in marks):
            return "unsupported ADF mark"
        return None
    content = node.get("content", [])
    if not isinstance(content, list):
        return "ADF content must be a list"
    if kind == "codeBlock" and any(isinstance(c, dict) and c.get("marks") for c in content):
        return "ADF code block text takes no marks"
    for child in content:
        err = _adf_error(child, depth + 1)
        if err:
            return err
    return None


def _adf_field_error(value: Any) -> str | None:
    if not isinstance(value, dict) or value.get("type") != "doc":
        return "Operation value must be an Atlassian Document (see the Atlassian Document Format)"
    err = _adf_error(value)
    if err:
        return err
    if len(adf_text(value)) > MAX_TEXT_FIELD:
        return f"The entered text is too long. It exceeds the allowed limit of {MAX_TEXT_FIELD:,} characters."
    return None


def _errors(messages: list[str] | None = None, errors: dict[str, str] | None = None) -> dict[str, Any]:
    return {"errorMessages": messages or [], "errors": errors or {}}


def _handler(state: JiraState, base_url: Callable[[], str]) -> type[JsonHandler]:
    def issue_json(issue: Issue, wanted: list[str] | None) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "summary": issue.summary,
            "labels": list(issue.labels),
            "issuetype": {"name": issue.issue_type},
            "project": {"key": issue.project},
            "priority": {"name": issue.priority},
            "description": issue.description,
            "status": {"name": issue.status, "statusCategory": {"key": state.statuses.get(issue.status, "new")}},
        }
        out: dict[str, Any] = {"id": issue.id, "key": issue.key, "self": f"{base_url()}/rest/api/3/issue/{issue.id}"}
        if wanted is None or "*all" in wanted:
            out["fields"] = fields
        elif wanted:
            out["fields"] = {k: v for k, v in fields.items() if k in wanted}
        return out

    def search(body: dict[str, Any]) -> dict[str, Any]:
        jql = body.get("jql")
        if not isinstance(jql, str) or not jql.strip():
            raise Refused(400, _errors(["The JQL query is required (fake JIRA does not search unbounded)."]))
        wanted_labels: list[str] = []
        project: str | None = None
        for clause in _AND.split(jql.strip()):
            m = _CLAUSE.match(clause)
            if not m:
                raise Refused(400, _errors([f"Error in the JQL Query: fake JIRA does not understand {clause[:80]!r}"
                                            ' (only labels = "x" [AND project = KEY]).']))
            value = m.group(2) if m.group(2) is not None else m.group(3)
            if m.group(1).lower() == "labels":
                wanted_labels.append(value)
            else:
                if value not in state.projects:
                    raise Refused(400, _errors([f"The value '{value}' does not exist for the field 'project'."]))
                project = value
        fields = body.get("fields", [])
        if not isinstance(fields, list) or not all(isinstance(f, str) for f in fields):
            raise Refused(400, _errors(["fields must be a list of field names"]))
        limit = body.get("maxResults", 50)
        if not isinstance(limit, int) or limit < 0:
            raise Refused(400, _errors(["maxResults must be a non-negative integer"]))
        found = [] if state.search_lag else [
            i for i in state.issues.values()
            if all(lb in i.labels for lb in wanted_labels) and (project is None or i.project == project)
        ]
        found.sort(key=lambda i: int(i.id), reverse=True)  # JIRA's default order is newest first
        # the enhanced search answers only ids unless fields are asked for
        return {"issues": [issue_json(i, fields) for i in found[:limit]], "isLast": len(found) <= limit}

    def create(body: dict[str, Any]) -> dict[str, Any]:
        f = body.get("fields")
        if not isinstance(f, dict):
            raise Refused(400, _errors(["Request body must have a fields object."]))
        errs: dict[str, str] = {}
        known = {"project", "issuetype", "summary", "labels", "priority", "description"}
        for name in f:
            if name not in known:
                errs[name] = f"Field '{name}' cannot be set. It is not on the appropriate screen, or unknown."
        project = (f.get("project") or {}).get("key") if isinstance(f.get("project"), dict) else None
        if project not in state.projects:
            errs["project"] = "valid project is required"
        itype = (f.get("issuetype") or {}).get("name") if isinstance(f.get("issuetype"), dict) else None
        if not itype:
            errs["issuetype"] = "Specify an issue type"
        elif itype not in state.issue_types:
            errs["issuetype"] = "The issue type selected is invalid."
        summary = f.get("summary")
        if not isinstance(summary, str) or not summary.strip():
            errs["summary"] = "You must specify a summary of the issue."
        elif len(summary) > MAX_SUMMARY:
            errs["summary"] = "Summary must be less than 255 characters."
        elif "\n" in summary or "\r" in summary:
            errs["summary"] = "The summary is invalid because it contains newline characters."
        labels = f.get("labels", [])
        if not isinstance(labels, list) or not all(isinstance(lb, str) and lb for lb in labels):
            errs["labels"] = "labels must be a list of non-empty strings"
        else:
            for lb in labels:
                if " " in lb or len(lb) > 255:
                    errs["labels"] = f"The label '{lb[:60]}' contains spaces which is invalid."
        priority = "Medium"
        if "priority" in f:
            p = f["priority"].get("name") if isinstance(f["priority"], dict) else None
            if p not in state.priorities:
                errs["priority"] = "The priority selected is invalid."
            else:
                priority = str(p)
        if "description" in f:
            err = _adf_field_error(f["description"])
            if err:
                errs["description"] = err
        if errs:
            raise Refused(400, _errors(errors=errs))
        number = 1 + sum(1 for i in state.issues.values() if i.project == project)
        issue_id = str(10000 + len(state.issues) + 1)
        issue = Issue(id=issue_id, key=f"{project}-{number}", project=str(project), summary=str(summary),
                      issue_type=str(itype), labels=list(labels), description=f.get("description"),
                      priority=priority)
        state.issues[issue.key] = issue
        return {"id": issue.id, "key": issue.key, "self": f"{base_url()}/rest/api/3/issue/{issue.id}"}

    def find(key: str) -> Issue:
        issue = state.issues.get(key)
        if issue is None:
            raise Refused(404, _errors(["Issue does not exist or you do not have permission to see it."]))
        return issue

    def transitions_json(issue: Issue) -> dict[str, Any]:
        return {"transitions": [
            {"id": t.id, "name": t.name, "hasScreen": False,
             "to": {"name": t.to, "statusCategory": {"key": state.statuses.get(t.to, "new")}}}
            for t in state.available(issue)]}

    def transition(issue: Issue, body: dict[str, Any]) -> None:
        tid = (body.get("transition") or {}).get("id") if isinstance(body.get("transition"), dict) else None
        chosen = next((t for t in state.available(issue) if t.id == str(tid)), None)
        if chosen is None:
            raise Refused(400, _errors([f"Transition id '{str(tid)[:20]}' is not valid for this issue."]))
        issue.status = chosen.to

    def comment(issue: Issue, body: dict[str, Any]) -> dict[str, Any]:
        err = _adf_field_error(body.get("body"))
        if err:
            raise Refused(400, _errors(errors={"comment": err}))
        c = {"id": str(20000 + sum(len(i.comments) for i in state.issues.values()) + 1), "body": body["body"]}
        issue.comments.append(c)
        return {**c, "self": f"{base_url()}/rest/api/3/issue/{issue.id}/comment/{c['id']}"}

    class Handler(JsonHandler):
        content_type = "application/json;charset=UTF-8"
        body_errors = {
            "too_large": (413, _errors(["Request entity too large."])),
            "not_json": (400, _errors(["Unexpected character in the request body: not JSON."])),
            "not_object": (400, _errors(["The request body must be a JSON object."])),
        }

        def _serve(self) -> None:
            method, url = self.command, urlsplit(self.path)
            if state.admit(method, url.path):
                limited = state.fail_status == 429
                message = "Rate limit exceeded." if limited else "Service unavailable, try again later."
                raise Refused(state.fail_status, _errors([message]), state.failure_headers())
            if self.basic_auth() != (state.email, state.token):
                raise Refused(401, _errors(["Client must be authenticated to access this resource."]))
            body = self.read_json()
            with state.lock:
                code, answer = self._route(method, url.path, parse_qs(url.query), body)
            self.reply(code, answer)

        def _route(self, method: str, path: str, query: dict[str, list[str]],
                   body: dict[str, Any]) -> tuple[int, dict[str, Any] | None]:
            if path == "/rest/api/3/search/jql" and method == "POST":
                return 200, search(body)
            if path == "/rest/api/3/issue" and method == "POST":
                return 201, create(body)
            m = _ISSUE.match(path)
            if m:
                issue = find(m.group(1))
                sub = m.group(2)
                if sub is None and method == "GET":
                    wanted = ",".join(query.get("fields", [])).split(",") if "fields" in query else None
                    return 200, issue_json(issue, wanted)
                if sub == "/transitions" and method == "GET":
                    return 200, transitions_json(issue)
                if sub == "/transitions" and method == "POST":
                    transition(issue, body)
                    return 204, None
                if sub == "/comment" and method == "POST":
                    return 201, comment(issue, body)
            raise Refused(404, _errors([f"fake JIRA has no {method} {path[:80]}"]))

        def do_GET(self) -> None:
            self.answer(self._serve)

        do_POST = do_PUT = do_DELETE = do_GET

    return Handler


class FakeJira(LocalServer):
    """Run the fake JIRA site in a background thread on 127.0.0.1; `url` is JiraConfig.base_url."""

    def __init__(self, email: str = "aiva@example.com", token: str = "jira-api-token",  # noqa: S107 (a fake's)
                 projects: tuple[str, ...] = ("SEC",), port: int = 0) -> None:
        self.state = JiraState(email=email, token=token, projects=set(projects))
        # the handler reads the URL for "self" links once serving, when the port is known
        super().__init__(_handler(self.state, lambda: self.url), port)


def main() -> None:
    """Serve in the foreground until interrupted."""
    serve_main(__doc__ or "", 8766, lambda a: FakeJira(a.email, a.token, (a.project,), a.port),
               "fake JIRA on {url} (project {project}, user {email})",
               email="aiva@example.com", token="jira-api-token", project="SEC")  # noqa: S106 (a fake's)


if __name__ == "__main__":
    main()

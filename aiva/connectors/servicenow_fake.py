"""A local fake of ServiceNow's Table API: the calls `ServiceNowConnector` makes, with its shapes.

Shipped with the code as the fake at the edge (tests, `aiva dev`). It keeps records per
table, checks basic auth, wraps answers as {"result": ...} and errors as
{"error": {"message", "detail"}, "status": "failure"}, computes the priority from impact
and urgency, and enforces what an instance does on resolve (close_code and close_notes
are mandatory: 403 "Data Policy Exception").

    GET   /api/now/table/{table}?sysparm_query=a=b^c=d&sysparm_fields=x,y&sysparm_limit=N
    POST  /api/now/table/{table}              201 {"result": {record}}
    PATCH /api/now/table/{table}/{sys_id}     200 {"result": {record}}

Like an instance it truncates values to the field's length (short_description 160,
correlation_id 100, ...) without a word, and ignores fields it does not know. Unlike an
instance it refuses (400) an encoded query it does not understand (only field=value
terms joined by ^ on known fields) where a real one would ignore an unknown field and
return every record, and it refuses choice values out of range.

Test controls: `state.fail_next` (answer the next N requests with `fail_status`, 503 or
429 with `Retry-After`), `state.delay_s`, `state.requests`, `state.calls` (method, path)
and `state.writes` (every POST/PATCH body as received).

    python -m aiva.connectors.servicenow_fake --port 8767
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

from aiva.connectors.fake_server import Controls, JsonHandler, LocalServer, Refused, serve_main

# the incident table's field lengths; values beyond are truncated silently, as an instance does
FIELD_LENGTHS = {
    "short_description": 160, "description": 4000, "correlation_id": 100, "correlation_display": 100,
    "close_code": 40, "close_notes": 4000, "assignment_group": 255, "caller_id": 255, "impact": 40,
    "urgency": 40, "state": 40, "category": 40, "work_notes": 4000, "comments": 4000,
}
WRITABLE = set(FIELD_LENGTHS)
READ_ONLY = {"sys_id", "number", "priority", "sys_created_on", "sys_updated_on", "active"}
CHOICES = {"impact": {"1", "2", "3"}, "urgency": {"1", "2", "3"}, "state": {"1", "2", "3", "6", "7", "8"}}
PRIORITY = {("1", "1"): "1", ("1", "2"): "2", ("2", "1"): "2", ("1", "3"): "3", ("2", "2"): "3",
            ("3", "1"): "3", ("2", "3"): "4", ("3", "2"): "4", ("3", "3"): "5"}
RESOLVED_STATES = {"6", "7"}
_RECORD = re.compile(r"^/api/now/table/([a-z][a-z0-9_]*)(?:/([0-9a-f]{32}))?$")
_TERM = re.compile(r"^([a-z][a-z0-9_]*)=([^=]*)$")


@dataclass
class ServiceNowState(Controls):
    """Thread-safe state of the fake instance; tests read and steer it."""

    username: str
    password: str
    tables: dict[str, dict[str, dict[str, str]]] = field(default_factory=lambda: {"incident": {}})
    writes: list[dict[str, Any]] = field(default_factory=list)

    def records(self, table: str = "incident") -> list[dict[str, str]]:
        """Copies of a table's records, oldest first."""
        with self.lock:
            return [dict(r) for r in self.tables.get(table, {}).values()]


def _error(message: str, detail: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "detail": detail}, "status": "failure"}


def _handler(state: ServiceNowState) -> type[JsonHandler]:
    def table_of(name: str) -> dict[str, dict[str, str]]:
        table = state.tables.get(name)
        if table is None:
            raise Refused(400, _error(f"Invalid table {name}"))
        return table

    def one(query: dict[str, list[str]], name: str, default: str | None = None) -> str | None:
        values = query.get(name)
        return values[-1] if values else default

    def shape(record: dict[str, str], query: dict[str, list[str]]) -> dict[str, str]:
        wanted = one(query, "sysparm_fields")
        if not wanted:
            return dict(record)
        names = [f.strip() for f in wanted.split(",") if f.strip()]
        return {f: record.get(f, "") for f in names}

    def matches(record: dict[str, str], terms: list[tuple[str, str]]) -> bool:
        return all(record.get(f, "") == v for f, v in terms)

    def parse_query(q: str) -> list[tuple[str, str]]:
        terms = []
        for part in q.split("^") if q else []:
            m = _TERM.match(part)
            if not m or m.group(1) not in WRITABLE | READ_ONLY:
                raise Refused(400, _error("Invalid query", f"fake ServiceNow understands only field=value terms"
                                                           f" joined by ^ on known fields, not {part[:80]!r}"))
            terms.append((m.group(1), m.group(2)))
        return terms

    def apply(record: dict[str, str], body: dict[str, Any]) -> None:
        for name, value in body.items():
            if name not in WRITABLE:
                continue  # an instance ignores fields it does not know (and read-only ones)
            text = "" if value is None else str(value)
            if name in CHOICES and text not in CHOICES[name]:
                raise Refused(400, _error("Invalid choice", f"{text[:20]!r} is not a valid value for {name}"))
            if name in ("work_notes", "comments"):
                record[name] = (record.get(name, "") + "\n" + text[: FIELD_LENGTHS[name]]).strip()
            else:
                record[name] = text[: FIELD_LENGTHS[name]]
        if record.get("state") in RESOLVED_STATES and not (record.get("close_code") and record.get("close_notes")):
            raise Refused(403, _error("Operation Failed", "Data Policy Exception: \n The following fields are"
                                                          " mandatory: Resolution code, Resolution notes"))
        record["priority"] = PRIORITY.get((record.get("impact", "3"), record.get("urgency", "3")), "5")
        record["active"] = "false" if record.get("state") in RESOLVED_STATES | {"8"} else "true"
        record["sys_updated_on"] = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")

    def list_records(name: str, query: dict[str, list[str]]) -> tuple[int, dict[str, Any]]:
        table = table_of(name)
        terms = parse_query(one(query, "sysparm_query", "") or "")
        raw_limit = one(query, "sysparm_limit", "10000") or "10000"
        if not raw_limit.isdigit() or int(raw_limit) < 1:
            raise Refused(400, _error(f"sysparm_limit is {raw_limit[:20]}", "sysparm_limit must be a positive"
                                                                           " integer"))
        found = [r for r in table.values() if matches(r, terms)]
        return 200, {"result": [shape(r, query) for r in found[: int(raw_limit)]]}

    def create(name: str, query: dict[str, list[str]], body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        table = table_of(name)
        now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")
        record = {"sys_id": uuid.uuid4().hex, "number": f"INC{10001 + len(table):07d}", "state": "1",
                  "impact": "3", "urgency": "3", "sys_created_on": now}
        apply(record, body)
        table[record["sys_id"]] = record
        return 201, {"result": shape(record, query)}

    def update(name: str, sys_id: str, query: dict[str, list[str]], body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        record = table_of(name).get(sys_id)
        if record is None:
            raise Refused(404, _error("No Record found", "Record doesn't exist or ACL restricts the record retrieval"))
        updated = dict(record)
        apply(updated, body)  # all or nothing, as a rejected update leaves the record as it was
        record.update(updated)
        return 200, {"result": shape(record, query)}

    class Handler(JsonHandler):
        content_type = "application/json;charset=UTF-8"
        body_errors = {
            "too_large": (413, _error("Request entity too large")),
            "not_json": (400, _error("Exception while reading request", "The payload is not valid JSON.")),
            "not_object": (400, _error("Exception while reading request", "The payload must be a JSON object.")),
        }

        def _serve(self) -> None:
            method, url = self.command, urlsplit(self.path)
            if state.admit(method, url.path):
                message = "Too Many Requests" if state.fail_status == 429 else "Service Unavailable"
                raise Refused(state.fail_status, _error(message, "try again later"), state.failure_headers())
            if self.basic_auth() != (state.username, state.password):
                raise Refused(401, _error("User Not Authenticated", "Required to provide Auth information"))
            body = self.read_json()
            query = parse_qs(url.query, keep_blank_values=True)
            with state.lock:
                if method in ("POST", "PATCH"):
                    state.writes.append(body)
                code, answer = self._route(method, url.path, query, body)
            self.reply(code, answer)

        def _route(self, method: str, path: str, query: dict[str, list[str]],
                   body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
            m = _RECORD.match(path)
            if m and m.group(2) is None and method == "GET":
                return list_records(m.group(1), query)
            if m and m.group(2) is None and method == "POST":
                return create(m.group(1), query, body)
            if m and m.group(2) is not None and method in ("PATCH", "PUT"):
                return update(m.group(1), m.group(2), query, body)
            raise Refused(400 if m else 404, _error("Requested URI does not represent any resource",
                                                    f"fake ServiceNow has no {method} {path[:80]}"))

        def do_GET(self) -> None:
            self.answer(self._serve)

        do_POST = do_PATCH = do_PUT = do_DELETE = do_GET

    return Handler


class FakeServiceNow(LocalServer):
    """Run the fake ServiceNow instance in a background thread on 127.0.0.1; `url` is the instance URL."""

    def __init__(self, username: str = "aiva.integration", password: str = "snow-password",  # noqa: S107 (a fake's)
                 port: int = 0) -> None:
        self.state = ServiceNowState(username=username, password=password)
        super().__init__(_handler(self.state), port)


def main() -> None:
    """Serve in the foreground until interrupted."""
    serve_main(__doc__ or "", 8767, lambda a: FakeServiceNow(a.username, a.password, a.port),
               "fake ServiceNow on {url} (user {username})",
               username="aiva.integration", password="snow-password")  # noqa: S106 (a fake's)


if __name__ == "__main__":
    main()

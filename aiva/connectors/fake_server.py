"""What every local fake server shares: the thread it serves in, its URL, its `python -m` entry.

The fakes (jira_fake, servicenow_fake, github_fake, slack_fake, webhook_receiver) each
speak one real API's shapes; what they do alike lives here:

- `LocalServer`: a ThreadingHTTPServer on 127.0.0.1 (port 0 picks a free one) serving
  in a daemon thread; `url` is the root plus the fake's `base_path`; `start()` returns
  the server itself, so `Fake(...).start()` and `with Fake(...) as fake:` both work.
- `JsonHandler`: a request handler that answers JSON (`reply`), reads a body bounded
  by `max_body` as JSON or form fields (413 past the bound), parses basic and bearer
  credentials, and keeps quiet (no request log on stderr). A fake states its own
  answers to a body it cannot take in `body_errors`, in the real API's error shape.
- `Refused`: raised anywhere while serving a request to answer it early.
- `Controls`: the counters and staged failures a test steers and reads (fail_next,
  fail_status, retry_after, delay_s, requests, calls), for a fake's state to inherit.
- `serve_main`: the argparse entry point that serves in the foreground.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import contextlib
import json
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar, Literal, Self
from urllib.parse import parse_qs, urlsplit

MAX_BODY = 1024 * 1024
POLL_INTERVAL = 0.05  # how often serve_forever looks for shutdown: stop() returns within this

BodyProblem = Literal["too_large", "not_json", "not_object"]


class Refused(Exception):
    """An answer that ends a request early: a status, a JSON body (None for none) and headers."""

    def __init__(self, code: int, body: Any, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(code)
        self.code = code
        self.body = body
        self.headers = dict(headers or {})


@dataclass(kw_only=True)
class Controls:
    """What tests steer and read on a fake: staged failures, a delay, what was asked. Guarded by `lock`."""

    requests: int = 0
    calls: list[tuple[str, str]] = field(default_factory=list)
    fail_next: int = 0
    fail_status: int = 503
    retry_after: int = 1
    delay_s: float = 0.0
    lock: threading.RLock = field(default_factory=threading.RLock)

    def admit(self, method: str, path: str) -> bool:
        """Count and log a request, then wait the staged delay; True when it is to fail as staged."""
        with self.lock:
            self.requests += 1
            self.calls.append((method, path))
            fail = self.fail_next > 0
            if fail:
                self.fail_next -= 1
            delay = self.delay_s
        if delay:
            time.sleep(delay)
        return fail

    def failure_headers(self) -> dict[str, str]:
        """The headers of a staged failure: Retry-After on a 429."""
        return {"Retry-After": str(self.retry_after)} if self.fail_status == 429 else {}

    def calls_to(self, method: str, suffix: str = "") -> int:
        """How many requests had this method and a path ending with `suffix`."""
        with self.lock:
            return sum(1 for m, p in self.calls if m == method and p.endswith(suffix))


class JsonHandler(BaseHTTPRequestHandler):
    """A quiet handler that answers JSON and reads bounded JSON or form bodies."""

    content_type: ClassVar[str] = "application/json"
    default_headers: ClassVar[Mapping[str, str]] = {}
    max_body: ClassVar[int] = MAX_BODY
    body_errors: ClassVar[Mapping[BodyProblem, tuple[int, Any]]] = {
        "too_large": (413, {"error": "body too large"}),
        "not_json": (400, {"error": "invalid JSON"}),
        "not_object": (400, {"error": "the body must be a JSON object"}),
    }

    def log_message(self, format: str, *args: Any) -> None:
        """Log nothing: tests and `aiva dev` would drown in request lines."""
        return

    def reply(self, code: int, body: Any, headers: Mapping[str, str] | None = None) -> None:
        """Answer `code` with `body` as JSON (None: an empty body without a content type)."""
        data = json.dumps(body).encode() if body is not None else b""
        self.send_response(code)
        for k, v in {**self.default_headers, **(headers or {})}.items():
            self.send_header(k, v)
        if body is not None:
            self.send_header("Content-Type", self.content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the client gave up (a timeout test)
            self.wfile.write(data)

    def answer(self, serve: Callable[[], None]) -> None:
        """Run `serve`, answering a `Refused` raised on the way."""
        try:
            serve()
        except Refused as r:
            self.reply(r.code, r.body, r.headers)

    def refuse(self, problem: BodyProblem) -> Refused:
        """The fake's own answer to a body it cannot take."""
        code, body = self.body_errors[problem]
        return Refused(code, body)

    def read_body(self) -> bytes:
        """The request body, refused (413) past `max_body` before a byte of it is read."""
        length = int(self.headers.get("Content-Length") or 0)
        if length > self.max_body:
            raise self.refuse("too_large")
        return self.rfile.read(length) if length else b""

    def read_json(self, raw: bytes | None = None) -> dict[str, Any]:
        """The body (or `raw`) as a JSON object; empty is {}."""
        raw = self.read_body() if raw is None else raw
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            raise self.refuse("not_json") from None
        if not isinstance(body, dict):
            raise self.refuse("not_object")
        return body

    @staticmethod
    def read_form(raw: bytes) -> dict[str, str]:
        """Form fields (application/x-www-form-urlencoded), the last value of each."""
        return {k: v[-1] for k, v in parse_qs(raw.decode()).items()}

    def query(self) -> dict[str, str]:
        """The query parameters, the last value of each."""
        return {k: v[-1] for k, v in parse_qs(urlsplit(self.path).query).items()}

    def basic_auth(self) -> tuple[str, str] | None:
        """(user, password) from `Authorization: Basic`, or None when absent or malformed."""
        header = self.headers.get("Authorization") or ""
        if not header.startswith("Basic "):
            return None
        try:
            user, _, password = base64.b64decode(header[6:], validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return user, password

    def auth_token(self, schemes: Sequence[str] = ("bearer",)) -> str | None:
        """The token of `Authorization: SCHEME TOKEN` for one of `schemes` (lower case), else None."""
        scheme, _, token = (self.headers.get("Authorization") or "").partition(" ")
        return token if scheme.lower() in schemes else None


class LocalServer:
    """A ThreadingHTTPServer on 127.0.0.1 serving `handler` in a daemon thread."""

    base_path: ClassVar[str] = ""

    def __init__(self, handler: type[BaseHTTPRequestHandler], port: int = 0) -> None:
        self._server = ThreadingHTTPServer(("127.0.0.1", port), handler)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": POLL_INTERVAL},
                                        daemon=True)

    @property
    def url(self) -> str:
        """The URL to configure: http://127.0.0.1:PORT and the fake's base path."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}{self.base_path}"

    def start(self) -> Self:
        """Serve in the background."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release the port."""
        self._server.shutdown()
        self._server.server_close()

    def serve_in_foreground(self) -> None:
        """Serve in this thread until interrupted."""
        try:
            with contextlib.suppress(KeyboardInterrupt):
                self._server.serve_forever(POLL_INTERVAL)
        finally:
            self._server.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve_main(description: str, port: int, make: Callable[[argparse.Namespace], LocalServer], banner: str,
               argv: Sequence[str] | None = None, **options: str) -> None:
    """A fake's `python -m` entry: --port and a --NAME per option, then serve until interrupted.

    `make` builds the server from the parsed arguments; `banner` is printed once it
    listens, formatted with `url` and the arguments.
    """
    ap = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--port", type=int, default=port)
    for name, default in options.items():
        ap.add_argument(f"--{name}", default=default)
    args = ap.parse_args(argv)
    server = make(args)
    print(banner.format(url=server.url, **vars(args)), flush=True)
    server.serve_in_foreground()

"""A local webhook receiver that speaks AIVA's webhook contract (a ticket sink).

Shipped with the code as the fake at the edge: tests and `aiva dev` use it
where no real ticketing system runs. It dedupes on the idempotency key like a
real receiver should, and keeps every ticket's open/closed state.

    python -m aiva.connectors.webhook_receiver --port 8765
"""

from __future__ import annotations

import argparse
import contextlib
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MAX_BODY = 1024 * 1024


@dataclass
class Ticket:
    """One ticket as the receiver sees it."""

    id: str
    key: str
    run_id: str
    title: str
    status: str = "open"
    close_reason: str | None = None


@dataclass
class TicketBook:
    """Thread-safe ticket state."""

    tickets: dict[str, Ticket] = field(default_factory=dict)
    requests: int = 0
    fail_next: int = 0
    delay_s: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def open(self, key: str, run_id: str, title: str) -> Ticket:
        with self.lock:
            t = self.tickets.get(key)
            if t is None:
                t = Ticket(id=f"T-{len(self.tickets) + 1}", key=key, run_id=run_id, title=title)
                self.tickets[key] = t
            return t

    def close(self, key: str, reason: str) -> Ticket | None:
        with self.lock:
            t = self.tickets.get(key)
            if t is not None:
                t.status = "closed"
                t.close_reason = reason
            return t

    def open_for_run(self, run_id: str) -> list[Ticket]:
        """Tickets of a run still open."""
        with self.lock:
            return [t for t in self.tickets.values() if t.run_id == run_id and t.status == "open"]

    def for_run(self, run_id: str) -> list[Ticket]:
        """Every ticket of a run."""
        with self.lock:
            return [t for t in self.tickets.values() if t.run_id == run_id]


def _handler(book: TicketBook) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            return

        def _reply(self, code: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            with book.lock:
                body = {k: vars(t) for k, t in book.tickets.items()}
            self._reply(200, {"tickets": body})

        def do_POST(self) -> None:
            import time

            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY:
                self._reply(413, {"error": "body too large"})
                return
            try:
                body = json.loads(self.rfile.read(length) or b"{}")
            except ValueError:
                self._reply(400, {"error": "invalid JSON"})
                return
            with book.lock:
                book.requests += 1
                fail = book.fail_next > 0
                if fail:
                    book.fail_next -= 1
            if book.delay_s:
                time.sleep(book.delay_s)
            if fail:
                self._reply(503, {"error": "temporarily unavailable"})
                return
            key = self.headers.get("Idempotency-Key") or body.get("idempotency_key")
            event = body.get("event")
            if not key or event not in ("ticket.open", "ticket.close"):
                self._reply(400, {"error": "need an Idempotency-Key and event ticket.open or ticket.close"})
                return
            if event == "ticket.open":
                title = str((body.get("finding") or {}).get("title") or "")
                t = book.open(key, str(body.get("run_id") or ""), title)
                self._reply(200, {"id": t.id, "status": t.status})
            else:
                closed = book.close(str(body.get("idempotency_key") or key), str(body.get("reason") or ""))
                self._reply(200, {"id": closed.id if closed else None, "status": "closed" if closed else "unknown"})

    return Handler


class WebhookReceiver:
    """Run the receiver in a background thread on 127.0.0.1."""

    def __init__(self, port: int = 0) -> None:
        self.book = TicketBook()
        self._server = ThreadingHTTPServer(("127.0.0.1", port), _handler(self.book))
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """Where to POST."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/hooks/aiva"

    def start(self) -> WebhookReceiver:
        """Serve in the background."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        self._server.shutdown()
        self._server.server_close()


def main() -> None:
    """Serve in the foreground until interrupted."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--port", type=int, default=8765)
    args = ap.parse_args()
    r = WebhookReceiver(args.port)
    print(f"AIVA webhook receiver on {r.url}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        r._server.serve_forever()


if __name__ == "__main__":
    main()

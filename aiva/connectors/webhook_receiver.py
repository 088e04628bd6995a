"""A local webhook receiver that speaks AIVA's webhook contract (a ticket sink).

Shipped with the code as the fake at the edge: tests and `aiva dev` use it
where no real ticketing system runs. It dedupes on the idempotency key like a
real receiver should, and keeps every ticket's open/closed state.

    python -m aiva.connectors.webhook_receiver --port 8765
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit

from aiva.connectors.fake_server import Controls, JsonHandler, LocalServer, Refused, serve_main


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
class TicketBook(Controls):
    """Thread-safe ticket state, and the test controls (`fail_next`, `delay_s`, `requests`)."""

    tickets: dict[str, Ticket] = field(default_factory=dict)

    def open(self, key: str, run_id: str, title: str) -> Ticket:
        """The ticket under `key`, opened now unless it was before."""
        with self.lock:
            t = self.tickets.get(key)
            if t is None:
                t = Ticket(id=f"T-{len(self.tickets) + 1}", key=key, run_id=run_id, title=title)
                self.tickets[key] = t
            return t

    def close(self, key: str, reason: str) -> Ticket | None:
        """Close the ticket under `key`; None when there is none."""
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


def _handler(book: TicketBook) -> type[JsonHandler]:
    class Handler(JsonHandler):
        def do_GET(self) -> None:
            with book.lock:
                body = {k: vars(t) for k, t in book.tickets.items()}
            self.reply(200, {"tickets": body})

        def do_POST(self) -> None:
            self.answer(self._post)

        def _post(self) -> None:
            body = self.read_json()
            if book.admit("POST", urlsplit(self.path).path):
                raise Refused(book.fail_status, {"error": "temporarily unavailable"}, book.failure_headers())
            key = self.headers.get("Idempotency-Key") or body.get("idempotency_key")
            event = body.get("event")
            if not key or event not in ("ticket.open", "ticket.close"):
                raise Refused(400, {"error": "need an Idempotency-Key and event ticket.open or ticket.close"})
            if event == "ticket.open":
                title = str((body.get("finding") or {}).get("title") or "")
                t = book.open(key, str(body.get("run_id") or ""), title)
                self.reply(200, {"id": t.id, "status": t.status})
            else:
                closed = book.close(str(body.get("idempotency_key") or key), str(body.get("reason") or ""))
                self.reply(200, {"id": closed.id if closed else None, "status": "closed" if closed else "unknown"})

    return Handler


class WebhookReceiver(LocalServer):
    """Run the receiver in a background thread on 127.0.0.1; `url` is where to POST."""

    base_path = "/hooks/aiva"

    def __init__(self, port: int = 0) -> None:
        self.book = TicketBook()
        super().__init__(_handler(self.book), port)


def main() -> None:
    """Serve in the foreground until interrupted."""
    serve_main(__doc__ or "", 8765, lambda a: WebhookReceiver(a.port), "AIVA webhook receiver on {url}")


if __name__ == "__main__":
    main()

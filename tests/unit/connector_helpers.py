"""What the connector tests share: a fake served for one test, a dead port, fake transports, staged failures."""

from __future__ import annotations

import socket
from collections.abc import Awaitable, Callable, Iterator
from typing import Protocol, TypeVar

import httpx
import pytest

from aiva.connectors.fake_server import LocalServer
from aiva.errors import IntegrationUnavailable

F = TypeVar("F", bound=LocalServer)


class Delayable(Protocol):
    """A fake's state that can hold back its answers (every fake's has `delay_s`)."""

    delay_s: float


def serving(fake: F) -> Iterator[F]:
    """`fake` running for the duration of a fixture (`yield from serving(Fake(...))`)."""
    with fake:
        yield fake


def closed_port() -> int:
    """A free port on 127.0.0.1 that nothing listens on once this returns."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def mock_client(handler: Callable[[httpx.Request], httpx.Response]) -> httpx.AsyncClient:
    """A client whose every request `handler` answers (httpx's fake transport), for answers no fake gives."""
    return httpx.AsyncClient(transport=httpx.MockTransport(handler))


async def assert_connection_refused(call_at: Callable[[str], Awaitable[object]]) -> None:
    """`call_at(root)` against a closed port's root URL fails as retryable, naming the URL."""
    port = closed_port()
    with pytest.raises(IntegrationUnavailable, match="connection failed") as ei:
        await call_at(f"http://127.0.0.1:{port}")
    assert str(port) in ei.value.url


async def assert_times_out(state: Delayable, call: Callable[[httpx.AsyncClient], Awaitable[object]],
                           timeout: float) -> None:
    """With the fake answering after a second, `call` on a client with `timeout` fails as retryable."""
    state.delay_s = 1.0
    async with httpx.AsyncClient(timeout=timeout) as http:
        with pytest.raises(IntegrationUnavailable, match="timed out"):
            await call(http)

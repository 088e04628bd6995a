"""Helpers shared by the API tests."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx

from aiva.apikeys import ApiKeyRecord

ApiFactory = Callable[..., httpx.AsyncClient]
KeyFactory = Callable[..., Awaitable[tuple[ApiKeyRecord, str]]]


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self, start: float = 10_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def bearer(token: str) -> dict[str, str]:
    """The Authorization header for a token."""
    return {"Authorization": f"Bearer {token}"}

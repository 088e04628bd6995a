"""Fixtures of the unit tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    """A client of this test's own (the session-wide one in tests/conftest.py is the worker's)."""
    async with httpx.AsyncClient(timeout=5.0) as client:
        yield client

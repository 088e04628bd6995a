"""The shared HTTP step of every connector: error classes, Retry-After, and what Temporal is told."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from activities.failures import to_application_error
from aiva.connectors.base import json_object, retry_after, send
from aiva.errors import IntegrationRejected, IntegrationUnavailable


def _resp(status: int, **headers: str) -> httpx.Response:
    return httpx.Response(status, headers=headers, request=httpx.Request("GET", "http://t.test/x"))


def test_retry_after_seconds_date_and_garbage() -> None:
    assert retry_after(_resp(429, **{"Retry-After": "17"})) == 17.0
    soon = format_datetime(datetime.now(UTC) + timedelta(seconds=120), usegmt=True)
    got = retry_after(_resp(503, **{"Retry-After": soon}))
    assert got is not None and 100 <= got <= 121
    assert retry_after(_resp(429, **{"Retry-After": "soon-ish"})) is None
    assert retry_after(_resp(429, **{"Retry-After": "999999"})) == 3600.0  # bounded
    assert retry_after(_resp(429, **{"Retry-After": "-5"})) == 0.0
    assert retry_after(_resp(429)) is None


async def test_send_classifies_and_carries_retry_after() -> None:
    def handler(req: httpx.Request) -> httpx.Response:
        code = int(req.url.path.strip("/"))
        return httpx.Response(code, headers={"Retry-After": "30"}, text=f"status {code}")

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as c:
        with pytest.raises(IntegrationUnavailable) as e429:
            await send(c, "jira", "GET", "http://t.test/429")
        assert e429.value.retry_after == 30.0 and e429.value.status_code == 429
        with pytest.raises(IntegrationUnavailable):
            await send(c, "jira", "GET", "http://t.test/408")
        with pytest.raises(IntegrationRejected) as e404:
            await send(c, "jira", "GET", "http://t.test/404")
        assert "jira http://t.test/404 (HTTP 404)" in str(e404.value)
        assert (await send(c, "jira", "GET", "http://t.test/204")).status_code == 204


def test_json_object_refuses_what_is_not_an_object() -> None:
    req = httpx.Request("GET", "http://t.test/x")
    assert json_object(httpx.Response(200, json={"a": 1}, request=req), "x") == {"a": 1}
    assert json_object(httpx.Response(204, request=req), "x") == {}
    for bad in (httpx.Response(200, text="<html>", request=req), httpx.Response(200, json=[1], request=req)):
        with pytest.raises(IntegrationRejected):
            json_object(bad, "x")


def test_temporal_gets_the_delay_and_the_retryability() -> None:
    later = to_application_error(IntegrationUnavailable("slack", "http://s", "ratelimited", 429, retry_after=12))
    assert later.next_retry_delay == timedelta(seconds=12) and not later.non_retryable
    assert later.type == "IntegrationUnavailable"
    plain = to_application_error(IntegrationUnavailable("slack", "http://s", "down", 503))
    assert plain.next_retry_delay is None
    final = to_application_error(IntegrationRejected("jira", "http://j", "bad field", 400))
    assert final.non_retryable and final.type == "IntegrationRejected"

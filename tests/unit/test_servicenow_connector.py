"""The ServiceNow connector against the local fake Table API over real HTTP (and httpx's fake transport)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from pydantic import SecretStr, ValidationError

from aiva.connectors.servicenow import (
    HASHED_PREFIX,
    IMPACT_URGENCY_BY_SEVERITY,
    MAX_DESCRIPTION,
    MAX_SHORT_DESCRIPTION,
    ServiceNowConfig,
    ServiceNowConnector,
    correlation_id,
)
from aiva.connectors.servicenow_fake import FakeServiceNow
from aiva.errors import IntegrationRejected, IntegrationUnavailable
from tests.unit.connector_helpers import assert_connection_refused, assert_times_out, mock_client, serving

RUN = "aiva-shop-20250101T000000-abc123"
KEY = f"{RUN}:{'f' * 40}:servicenow"  # 85 characters: stored as is
LONG_KEY = f"{RUN}:{'f' * 64}:servicenow"  # 109 characters: stored hashed
GROUP = "a" * 32
CALLER = "b" * 32


def _finding(**over: Any) -> dict[str, Any]:
    f: dict[str, Any] = {
        "fingerprint": "f" * 64, "title": "Outdated OpenSSL on edge-1", "severity": "critical", "risk_score": 9.5,
        "tool": "trivy", "asset": "host:edge-1", "change": "reopened", "rule_id": "CVE-2024-0001",
        "vulnerability_ids": ["CVE-2024-0001"], "cwes": [], "component": {"name": "openssl", "version": "3.0.1"},
        "location": None, "endpoint": {"host": "edge-1", "port": 443, "protocol": "https"},
        "remediation": "Upgrade openssl to 3.0.13.",
    }
    f.update(over)
    return f


@pytest.fixture
def snow() -> Iterator[FakeServiceNow]:
    yield from serving(FakeServiceNow())


def _config(fake: FakeServiceNow | None = None, **over: Any) -> ServiceNowConfig:
    return ServiceNowConfig(**{
        "instance_url": fake.url if fake else "https://snow.test", "username": "aiva.integration",
        "password": SecretStr(fake.state.password if fake else "p"), **over,
    })


def _connector(http: httpx.AsyncClient, fake: FakeServiceNow, **over: Any) -> ServiceNowConnector:
    return ServiceNowConnector(http, _config(fake, **over))


# --- open -------------------------------------------------------------------------------------------


async def test_open_creates_one_incident_with_fields(snow: FakeServiceNow, http: httpx.AsyncClient) -> None:
    c = _connector(http, snow, assignment_group=GROUP, caller=CALLER)
    number = await c.open_ticket(KEY, RUN, "shop", _finding())
    [rec] = snow.state.records()
    assert number == rec["number"] == "INC0010001"
    assert rec["short_description"] == "[AIVA] CRITICAL: Outdated OpenSSL on edge-1"
    assert (rec["impact"], rec["urgency"], rec["priority"]) == ("1", "1", "1")
    assert rec["correlation_id"] == KEY and rec["correlation_display"] == "AIVA"
    assert rec["assignment_group"] == GROUP and rec["caller_id"] == CALLER and rec["state"] == "1"
    for expected in ("Severity: critical", "Risk score: 9.5", "openssl 3.0.1", "https://edge-1:443",
                     "Remediation:\nUpgrade openssl to 3.0.13.", f"AIVA run: {RUN}", f"under key {KEY}"):
        assert expected in rec["description"]


async def test_unset_group_and_caller_are_not_sent(snow: FakeServiceNow, http: httpx.AsyncClient) -> None:
    await _connector(http, snow).open_ticket(KEY, RUN, "shop", _finding())
    assert "assignment_group" not in snow.state.writes[0] and "caller_id" not in snow.state.writes[0]


@pytest.mark.parametrize("severity, pair", sorted(IMPACT_URGENCY_BY_SEVERITY.items()))
async def test_severity_maps_to_impact_and_urgency(snow: FakeServiceNow, http: httpx.AsyncClient, severity: str,
                                                   pair: tuple[int, int]) -> None:
    await _connector(http, snow).open_ticket(f"k-{severity}", RUN, "shop", _finding(severity=severity))
    [rec] = snow.state.records()
    assert (int(rec["impact"]), int(rec["urgency"])) == pair


def test_the_table_gives_one_priority_per_severity() -> None:
    # ServiceNow's default matrix: the sum of impact and urgency orders the priority
    sums = [sum(IMPACT_URGENCY_BY_SEVERITY[s]) for s in ("critical", "high", "medium", "low", "info")]
    assert sums == sorted(sums) and len(set(sums)) == 5


async def test_opening_again_with_the_same_key_returns_the_same_incident(snow: FakeServiceNow,
                                                                        http: httpx.AsyncClient) -> None:
    c = _connector(http, snow)
    first = await c.open_ticket(KEY, RUN, "shop", _finding())
    again = await c.open_ticket(KEY, RUN, "shop", _finding(title="changed on retry"))
    assert again == first
    assert len(snow.state.records()) == 1 and snow.state.calls_to("POST") == 1


async def test_a_long_key_is_stored_hashed_and_still_dedupes(snow: FakeServiceNow, http: httpx.AsyncClient) -> None:
    c = _connector(http, snow)
    first = await c.open_ticket(LONG_KEY, RUN, "shop", _finding())
    assert await c.open_ticket(LONG_KEY, RUN, "shop", _finding()) == first
    [rec] = snow.state.records()
    assert rec["correlation_id"] == correlation_id(LONG_KEY)
    assert rec["correlation_id"].startswith(HASHED_PREFIX) and len(rec["correlation_id"]) <= 100


def test_correlation_id_is_the_key_when_safe_and_a_stable_hash_otherwise() -> None:
    assert correlation_id(KEY) == KEY
    assert correlation_id(LONG_KEY) == correlation_id(LONG_KEY) != correlation_id(LONG_KEY + "x")
    for unsafe in ("a^b", "a=b", "a b", "ä", "x" * 101, HASHED_PREFIX + "abc"):
        cid = correlation_id(unsafe)
        assert cid.startswith(HASHED_PREFIX) and len(cid) == 76


async def test_a_key_with_a_query_separator_cannot_match_another_incident(snow: FakeServiceNow,
                                                                         http: httpx.AsyncClient) -> None:
    c = _connector(http, snow)
    await c.open_ticket("victim", RUN, "shop", _finding())
    # sent raw, "^NQ" would start a second query (an OR) matching the other incident; the fake refuses it
    await c.open_ticket("x^NQcorrelation_id=victim", RUN, "shop", _finding())
    assert len(snow.state.records()) == 2


# --- close ------------------------------------------------------------------------------------------


async def test_close_resolves_with_close_code_and_reason(snow: FakeServiceNow, http: httpx.AsyncClient) -> None:
    c = _connector(http, snow)
    number = await c.open_ticket(KEY, RUN, "shop", _finding())
    await c.close_ticket(KEY, number, RUN, "AIVA run rolled back")
    [rec] = snow.state.records()
    assert rec["state"] == "6" and rec["close_code"] == "Solution provided" and rec["active"] == "false"
    assert "AIVA run rolled back" in rec["close_notes"] and RUN in rec["close_notes"]


async def test_close_uses_the_configured_state_and_code(snow: FakeServiceNow, http: httpx.AsyncClient) -> None:
    c = _connector(http, snow, closed_state=7, close_code="Solved (Permanently)")
    await c.open_ticket(KEY, RUN, "shop", _finding())
    await c.close_ticket(KEY, None, RUN, "why")
    [rec] = snow.state.records()
    assert (rec["state"], rec["close_code"]) == ("7", "Solved (Permanently)")


async def test_closing_twice_is_a_no_op(snow: FakeServiceNow, http: httpx.AsyncClient) -> None:
    c = _connector(http, snow)
    number = await c.open_ticket(KEY, RUN, "shop", _finding())
    await c.close_ticket(KEY, number, RUN, "first")
    await c.close_ticket(KEY, number, RUN, "second")
    assert snow.state.calls_to("PATCH") == 1
    assert "first" in snow.state.records()[0]["close_notes"]


@pytest.mark.parametrize("state", ["6", "7", "8"])
async def test_closing_an_incident_already_resolved_closed_or_canceled_is_a_no_op(
        snow: FakeServiceNow, http: httpx.AsyncClient, state: str) -> None:
    c = _connector(http, snow)
    await c.open_ticket(KEY, RUN, "shop", _finding())
    next(iter(snow.state.tables["incident"].values()))["state"] = state  # a human got there first
    await c.close_ticket(KEY, None, RUN, "why")
    assert snow.state.calls_to("PATCH") == 0


async def test_closing_an_unknown_key_is_a_no_op(snow: FakeServiceNow, http: httpx.AsyncClient) -> None:
    c = _connector(http, snow)
    await c.open_ticket("another", RUN, "shop", _finding())
    await c.close_ticket("never-opened", "INC0099999", RUN, "why")
    assert snow.state.calls_to("PATCH") == 0 and snow.state.records()[0]["state"] == "1"


async def test_a_failed_close_then_a_retry_resolves_once(snow: FakeServiceNow, http: httpx.AsyncClient) -> None:
    c = _connector(http, snow)
    await c.open_ticket(KEY, RUN, "shop", _finding())
    snow.state.fail_next = 1
    with pytest.raises(IntegrationUnavailable):
        await c.close_ticket(KEY, None, RUN, "why")
    await c.close_ticket(KEY, None, RUN, "why")
    assert snow.state.records()[0]["state"] == "6" and snow.state.calls_to("PATCH") == 1


# --- errors -----------------------------------------------------------------------------------------


async def test_wrong_password_is_rejected_naming_servicenow_and_the_url(snow: FakeServiceNow,
                                                                       http: httpx.AsyncClient) -> None:
    c = _connector(http, snow, password=SecretStr("wrong"))
    with pytest.raises(IntegrationRejected) as ei:
        await c.open_ticket(KEY, RUN, "shop", _finding())
    assert ei.value.status_code == 401 and ei.value.integration == "servicenow"
    assert ei.value.url.startswith(f"{snow.url}/api/now/table/incident") and "User Not Authenticated" in str(ei.value)
    assert snow.state.records() == []


async def test_an_unknown_table_is_rejected(snow: FakeServiceNow, http: httpx.AsyncClient) -> None:
    with pytest.raises(IntegrationRejected) as ei:
        await _connector(http, snow, table="no_such_table").open_ticket(KEY, RUN, "shop", _finding())
    assert ei.value.status_code == 400 and "Invalid table no_such_table" in str(ei.value)


async def test_a_data_policy_refusal_is_rejected() -> None:
    def handler(req: httpx.Request) -> httpx.Response:
        if req.method == "GET":
            return httpx.Response(200, json={"result": [{"sys_id": "c" * 32, "number": "INC1", "state": "2"}]})
        return httpx.Response(403, json={"error": {"message": "Operation Failed", "detail": "Data Policy Exception"},
                                         "status": "failure"})

    async with mock_client(handler) as http:
        with pytest.raises(IntegrationRejected) as ei:
            await ServiceNowConnector(http, _config()).close_ticket(KEY, None, RUN, "why")
    assert ei.value.status_code == 403 and ei.value.url.endswith("/api/now/table/incident/" + "c" * 32)


@pytest.mark.parametrize("status", [503, 429])
async def test_unavailable_and_rate_limited_are_retryable(snow: FakeServiceNow, http: httpx.AsyncClient,
                                                          status: int) -> None:
    snow.state.fail_next, snow.state.fail_status = 1, status
    with pytest.raises(IntegrationUnavailable) as ei:
        await _connector(http, snow).open_ticket(KEY, RUN, "shop", _finding())
    assert ei.value.status_code == status and ei.value.integration == "servicenow" and snow.url in ei.value.url
    assert snow.state.records() == []


async def test_connection_refused_is_retryable(http: httpx.AsyncClient) -> None:
    await assert_connection_refused(
        lambda root: ServiceNowConnector(http, _config(instance_url=root)).close_ticket(KEY, None, RUN, "why"))


async def test_timeout_is_retryable(snow: FakeServiceNow) -> None:
    await assert_times_out(snow.state, lambda http: _connector(http, snow).open_ticket(KEY, RUN, "shop", _finding()),
                           timeout=0.2)


async def test_the_query_is_exact_and_requests_carry_basic_auth() -> None:
    seen: list[httpx.Request] = []

    def handler(req: httpx.Request) -> httpx.Response:
        seen.append(req)
        return httpx.Response(200, json={"result": [{"sys_id": "d" * 32, "number": "INC0000042", "state": "1"}]})

    async with mock_client(handler) as http:
        assert await ServiceNowConnector(http, _config()).open_ticket(KEY, RUN, "shop", _finding()) == "INC0000042"
    [req] = seen
    assert req.url.params["sysparm_query"] == f"correlation_id={KEY}"
    assert req.url.params["sysparm_limit"] == "1" and req.url.params["sysparm_fields"] == "sys_id,number,state"
    assert req.headers["Authorization"] == httpx.BasicAuth("aiva.integration", "p")._auth_header


@pytest.mark.parametrize("answer", [{"result": {"not": "a list"}}, {"unexpected": []}])
async def test_a_query_answer_of_the_wrong_shape_is_rejected(answer: dict[str, Any]) -> None:
    async with mock_client(lambda r: httpx.Response(200, json=answer)) as http:
        with pytest.raises(IntegrationRejected, match="result list"):
            await ServiceNowConnector(http, _config()).open_ticket(KEY, RUN, "shop", _finding())


async def test_a_record_without_a_sys_id_never_reaches_a_url() -> None:
    answer = {"result": [{"sys_id": "../sys_user", "number": "INC1", "state": "1"}]}
    async with mock_client(lambda r: httpx.Response(200, json=answer)) as http:
        with pytest.raises(IntegrationRejected, match="valid sys_id"):
            await ServiceNowConnector(http, _config()).close_ticket(KEY, None, RUN, "why")


async def test_the_fake_refuses_queries_it_does_not_understand(snow: FakeServiceNow, http: httpx.AsyncClient) -> None:
    resp = await http.get(f"{snow.url}/api/now/table/incident", params={"sysparm_query": "short_descriptionLIKEx"},
                          auth=("aiva.integration", snow.state.password))
    assert resp.status_code == 400 and resp.json()["status"] == "failure" and resp.json()["error"]["message"]


# --- hostile text -----------------------------------------------------------------------------------


async def test_hostile_text_is_stored_as_plain_bounded_text(snow: FakeServiceNow, http: httpx.AsyncClient) -> None:
    title = '<script>alert(1)</script>\n"},"state":"7","x":{"' + "\x00\x1b[31m\u202eevil\ud800" + "T" * 500
    finding = _finding(title=title, description="<iframe src=//evil>\n" * 5_000,  # ~100 kB
                       remediation="r" * 100_000, location={"file_path": "a.py", "snippet": "\x07" * 10 + "s" * 9000})
    await _connector(http, snow).open_ticket(KEY, RUN, "shop", finding)
    sent = snow.state.writes[0]
    short, desc = sent["short_description"], sent["description"]
    assert len(short) <= MAX_SHORT_DESCRIPTION and "\n" not in short
    assert short.startswith('[AIVA] CRITICAL: <script>alert(1)</script> "},"state":"7","x":{"')
    assert len(desc) <= MAX_DESCRIPTION and f"under key {KEY}" in desc  # clipped, the key kept
    assert "<iframe src=//evil>" in desc
    for bad in ("\x00", "\x1b", "\x07", "\u202e", "\ud800"):
        assert bad not in short and bad not in desc
    [rec] = snow.state.records()
    assert rec["state"] == "1"  # the JSON in the title stayed text


async def test_a_hostile_reason_is_bounded_in_close_notes(snow: FakeServiceNow, http: httpx.AsyncClient) -> None:
    c = _connector(http, snow)
    await c.open_ticket(KEY, RUN, "shop", _finding())
    await c.close_ticket(KEY, None, RUN, "<b>x</b>\x00" + "z" * 50_000)
    notes = snow.state.writes[-1]["close_notes"]
    assert notes.startswith("<b>x</b>z") and len(notes) <= 2_000 and json.dumps(notes).count("\\u0000") == 0


# --- config -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("over", [{"table": "incident;drop"}, {"table": "../sys_user"}, {"instance_url": "snow.test"},
                                  {"closed_state": 0}, {"close_code": ""}, {"username": ""}])
def test_config_refuses_nonsense(over: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        _config(**over)


def test_config_keeps_the_password_secret() -> None:
    cfg = _config(instance_url="https://yourco.service-now.com/", password=SecretStr("s3cr3t-snow-password"))
    assert cfg.instance_url == "https://yourco.service-now.com"
    assert "s3cr3t-snow-password" not in repr(cfg) and cfg.password.get_secret_value() == "s3cr3t-snow-password"

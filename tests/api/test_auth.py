"""Keys, scopes and limits at the HTTP boundary: one 401 for every bad key, 403 naming the scope, 429 + Retry-After."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg
import httpx

from aiva.apikeys import parse_token
from aiva.ratelimit import InProcessRateLimiter
from aiva.settings import Settings
from aiva.store import apikeys as store
from tests.api.support import ApiFactory, FakeClock, KeyFactory, bearer

UNAUTHORIZED = {"error": {"type": "Unauthorized", "message": "missing or invalid API key"}}
# An authenticated call that needs only PostgreSQL: an unknown product answers 404 once the key is accepted.
PROBE = "/api/v1/products/no-such-product/findings"


async def test_a_created_key_authenticates_and_records_its_use(
        api: httpx.AsyncClient, new_key: KeyFactory, pool: asyncpg.Pool) -> None:
    rec, token = await new_key("findings:read")
    assert rec.last_used_at is None
    r = await api.get(PROBE, headers=bearer(token))
    assert r.status_code == 404, r.text
    assert r.json()["error"]["type"] == "NotFound" and "no-such-product" in r.json()["error"]["message"]
    found = await store.lookup(pool, rec.key_id)
    assert found is not None and found[0].last_used_at is not None
    # The X-API-Key header works as well as the bearer token.
    assert (await api.get(PROBE, headers={"X-API-Key": token})).status_code == 404


async def test_revoked_expired_wrong_malformed_and_missing_keys_get_one_401(
        api: httpx.AsyncClient, new_key: KeyFactory, pool: asyncpg.Pool) -> None:
    _, good = await new_key("findings:read")
    revoked_rec, revoked = await new_key("findings:read")
    assert (await api.get(PROBE, headers=bearer(revoked))).status_code == 404  # it worked before revocation
    await store.revoke_key(pool, revoked_rec.key_id)
    _, expired = await new_key("findings:read", expires_at=datetime.now(UTC) - timedelta(seconds=1))
    key_id, secret = parse_token(good)
    wrong_secret = f"aiva_{key_id}_{'A' * len(secret)}"
    unknown_id = f"aiva_ffffffffffff_{secret}"

    cases = {
        "revoked": bearer(revoked), "expired": bearer(expired), "wrong secret": bearer(wrong_secret),
        "unknown id": bearer(unknown_id), "malformed": bearer("not-a-key"), "missing": {},
        "other scheme": {"Authorization": f"Basic {good}"}, "empty header": {"X-API-Key": ""},
    }
    for case, headers in cases.items():
        r = await api.get(PROBE, headers=headers)
        assert r.status_code == 401, (case, r.text)
        assert r.json() == UNAUTHORIZED, case
        assert r.headers["WWW-Authenticate"] == "Bearer"
        assert secret not in r.text


async def test_a_missing_scope_is_403_and_names_it(api: httpx.AsyncClient, new_key: KeyFactory) -> None:
    _, token = await new_key("runs:read,triage:write")
    r = await api.get(PROBE, headers=bearer(token))
    assert r.status_code == 403
    err = r.json()["error"]
    assert err["type"] == "Forbidden" and err["scope"] == "findings:read" and "findings:read" in err["message"]
    r = await api.post("/api/v1/runs/some-run/cancel", headers=bearer(token), json={"reason": "x"})
    assert r.status_code == 403 and r.json()["error"]["scope"] == "runs:write"
    _, admin = await new_key("admin")
    assert (await api.get(PROBE, headers=bearer(admin))).status_code == 404


async def test_each_key_has_its_bucket_and_429_carries_retry_after(
        make_api: ApiFactory, api_settings: Settings, new_key: KeyFactory, clock: FakeClock) -> None:
    s = api_settings.model_copy(update={"api_rate_per_minute": 30, "api_rate_burst": 2})  # a token every 2 s
    api = make_api(settings=s)
    _, a = await new_key("findings:read")
    _, b = await new_key("findings:read")
    assert [(await api.get(PROBE, headers=bearer(a))).status_code for _ in range(2)] == [404, 404]
    r = await api.get(PROBE, headers=bearer(a))
    assert r.status_code == 429
    assert r.headers["Retry-After"] == "2"
    assert r.json()["error"]["type"] == "RateLimited" and r.json()["error"]["retry_after"] == 2
    assert (await api.get(PROBE, headers=bearer(b))).status_code == 404  # another key is unaffected
    clock.advance(2)
    assert (await api.get(PROBE, headers=bearer(a))).status_code == 404


async def test_failed_attempts_are_limited_per_address_before_any_key_is_checked(
        make_api: ApiFactory, api_settings: Settings, new_key: KeyFactory, clock: FakeClock) -> None:
    s = api_settings.model_copy(update={"api_auth_failures_per_minute": 3})
    limiter = InProcessRateLimiter(clock)
    guesser = make_api(settings=s, limiter=limiter, address="198.51.100.9")
    other = make_api(settings=s, limiter=limiter, address="192.0.2.44")  # a second process, same shared limiter
    _, good = await new_key("findings:read")
    key_id, _ = parse_token(good)
    for i in range(3):
        r = await guesser.get(PROBE, headers=bearer(f"aiva_{key_id}_{str(i) * 43}"))
        assert r.status_code == 401
    r = await guesser.get(PROBE, headers=bearer(f"aiva_{key_id}_{'9' * 43}"))
    assert r.status_code == 429 and r.headers["Retry-After"] == "20"
    # While blocked, even the right key is not checked, so guessing cannot continue by telling 429 from 200.
    r = await guesser.get(PROBE, headers=bearer(good))
    assert r.status_code == 429
    assert (await other.get(PROBE, headers=bearer(good))).status_code == 404
    clock.advance(20)
    assert (await guesser.get(PROBE, headers=bearer(good))).status_code == 404
    # Successful calls do not spend the failure budget.
    assert (await guesser.get(PROBE, headers=bearer(good))).status_code == 404


async def test_errors_are_json_with_the_field_that_was_wrong(api: httpx.AsyncClient, new_key: KeyFactory) -> None:
    _, token = await new_key("admin")
    r = await api.get(PROBE, params={"limit": 100_000}, headers=bearer(token))
    assert r.status_code == 422
    err = r.json()["error"]
    assert err["type"] == "ValidationError" and err["field"] == "limit" and "500" in err["message"]
    r = await api.get(PROBE, params={"severity": "apocalyptic"}, headers=bearer(token))
    assert r.status_code == 422 and r.json()["error"]["field"].startswith("severity")
    r = await api.get("/api/v1/nothing-here", headers=bearer(token))
    assert r.status_code == 404 and r.json()["error"]["type"] == "NotFound"
    r = await api.post("/api/v1/triage", json={"fingerprint": "zz"}, headers=bearer(token))
    assert r.status_code == 422 and r.json()["error"]["type"] == "ValidationError"
    assert {e["field"] for e in r.json()["error"]["errors"]} >= {"fingerprint", "product", "status", "reason"}


async def test_healthz_needs_no_key_and_checks_both_backends(api: httpx.AsyncClient) -> None:
    r = await api.get("/healthz")
    assert r.status_code == 200, r.text
    assert r.json() == {"ok": True, "postgres": "ok", "temporal": "ok"}


async def test_the_openapi_document_describes_the_upload(api: httpx.AsyncClient) -> None:
    doc = (await api.get("/openapi.json")).json()
    body = doc["paths"]["/api/v1/runs"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert body["properties"]["files"]["type"] == "array" and "product" in body["required"]
    assert {"HTTPBearer", "APIKeyHeader"} <= set(doc["components"]["securitySchemes"])

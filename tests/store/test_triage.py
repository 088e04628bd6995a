"""Triage rules on real PostgreSQL: scopes, precedence, expiry, and surviving re-scans."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest
from temporalio.exceptions import ApplicationError

from activities.triage import record_and_apply
from aiva.enums import VulnerabilityStatus
from aiva.settings import Settings
from aiva.triage import TriageDecision
from tests.helpers import trivy_report
from tests.store.test_lifecycle_store import _run


async def _status(pool: asyncpg.Pool, product: str, rule_id: str) -> str:
    return await pool.fetchval(
        "SELECT f.status FROM findings f JOIN products p ON p.id=f.product_id WHERE p.name=$1 AND f.rule_id=$2",
        product, rule_id)


async def _fp(pool: asyncpg.Pool, product: str, rule_id: str) -> str:
    return await pool.fetchval(
        "SELECT f.fingerprint FROM findings f JOIN products p ON p.id=f.product_id WHERE p.name=$1"
        " AND f.rule_id=$2", product, rule_id)


def _decision(fp: str, product: str, **kw) -> TriageDecision:
    base = {"status": "false_positive", "reason": "test data, not shipped", "actor": "alice"}
    return TriageDecision(fingerprint=fp, product=product, **{**base, **kw})


async def test_false_positive_survives_rescans_and_reimport(pool: asyncpg.Pool, settings: Settings,
                                                            tmp_path: Path) -> None:
    product = f"t-{uuid.uuid4().hex[:6]}"
    report = trivy_report(tmp_path / "a.json", 5)
    await _run(pool, settings, product, report)
    fp = await _fp(pool, product, "CVE-2020-10001")
    async with pool.acquire() as conn:
        res = await record_and_apply(conn, _decision(fp, product))
    assert res.triaged == 1
    _, again = await _run(pool, settings, product, report)
    assert again.new == 0 and again.mitigated == 0
    assert await _status(pool, product, "CVE-2020-10001") == "false_positive"
    # absent, then present again: still a false positive (never mitigated, never reopened)
    await _run(pool, settings, product, trivy_report(tmp_path / "b.json", 5, drop={1}))
    await _run(pool, settings, product, report)
    assert await _status(pool, product, "CVE-2020-10001") == "false_positive"
    who = await pool.fetchval(
        "SELECT e.actor FROM finding_events e JOIN findings f ON f.id=e.finding_id JOIN products p"
        " ON p.id=f.product_id WHERE p.name=$1 AND f.fingerprint=$2 AND e.to_status='false_positive'", product, fp)
    assert who == "alice"


async def test_all_products_scope_applies_to_new_findings_elsewhere(pool: asyncpg.Pool, settings: Settings,
                                                                    tmp_path: Path) -> None:
    a, b = f"t-{uuid.uuid4().hex[:6]}", f"t-{uuid.uuid4().hex[:6]}"
    report = trivy_report(tmp_path / "a.json", 3)
    await _run(pool, settings, a, report)
    fp = await _fp(pool, a, "CVE-2020-10002")
    async with pool.acquire() as conn:
        await record_and_apply(conn, _decision(fp, a, scope="all", status="out_of_scope"))
    _, r = await _run(pool, settings, b, report)  # first sight in product b
    assert r.triaged == 1
    assert await _status(pool, b, "CVE-2020-10002") == "out_of_scope"


async def test_target_scope_only_touches_that_asset(pool: asyncpg.Pool, settings: Settings, tmp_path: Path) -> None:
    product = f"t-{uuid.uuid4().hex[:6]}"
    await _run(pool, settings, product, trivy_report(tmp_path / "a.json", 2, artifact="img/a:1"))
    fp = await _fp(pool, product, "CVE-2020-10000")
    async with pool.acquire() as conn:
        with pytest.raises(ApplicationError, match="has no target"):
            await record_and_apply(conn, _decision(fp, product, scope="target", target="img/unknown"))
        res = await record_and_apply(conn, _decision(fp, product, scope="target", target="img/a:1"))
    assert res.triaged == 1


async def test_expired_risk_acceptance_reactivates(pool: asyncpg.Pool, settings: Settings, tmp_path: Path) -> None:
    product = f"t-{uuid.uuid4().hex[:6]}"
    report = trivy_report(tmp_path / "a.json", 2)
    await _run(pool, settings, product, report)
    fp = await _fp(pool, product, "CVE-2020-10000")
    async with pool.acquire() as conn:
        res = await record_and_apply(conn, _decision(
            fp, product, status="risk_accepted", expires_at=datetime.now(UTC) + timedelta(days=30)))
    assert await _status(pool, product, "CVE-2020-10000") == "risk_accepted"
    await pool.execute("UPDATE triage_rules SET expires_at = now() - interval '1 day' WHERE id=$1", res.rule_id)
    _, r = await _run(pool, settings, product, report)
    assert r.reactivated == 1
    assert await _status(pool, product, "CVE-2020-10000") == "active"


@pytest.mark.parametrize("kw, message", [
    ({"status": "mitigated"}, "triage decision is one of"),
    ({"scope": "galaxy"}, "scope is one of"),
])
def test_invalid_decisions_are_refused(kw: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _decision("ab" * 20, "p", **kw)


def test_cross_field_checks() -> None:
    now = datetime.now(UTC)
    with pytest.raises(ValueError, match="only a risk acceptance can expire"):
        _decision("ab" * 20, "p", expires_at=now + timedelta(days=1)).check(now)
    with pytest.raises(ValueError, match="not in the future"):
        _decision("ab" * 20, "p", status="risk_accepted", expires_at=now - timedelta(days=1)).check(now)
    with pytest.raises(ValueError, match="needs the target"):
        _decision("ab" * 20, "p", scope="target").check(now)
    assert _decision("ab" * 20, "p").status is VulnerabilityStatus.FALSE_POSITIVE

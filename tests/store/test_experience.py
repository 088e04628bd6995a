"""The experience model learns from triage history on real PostgreSQL, and closes nothing unless told to."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import asyncpg
import pytest

from activities.triage import record_and_apply
from aiva import experience
from aiva.settings import Settings
from aiva.store import experience as store
from aiva.triage import TriageDecision
from tests.store.test_lifecycle_store import _run


def _sarif(path: Path, noisy: range, real: range) -> Path:
    results = [
        {"ruleId": "js.noisy-eval", "level": "warning", "message": {"text": "eval-like call"},
         "locations": [{"physicalLocation": {"artifactLocation": {"uri": f"tests/fixtures/case_{i}.js"},
                                             "region": {"startLine": i}}}]}
        for i in noisy
    ] + [
        {"ruleId": "py.sql-injection", "level": "error", "message": {"text": "query built from input"},
         "locations": [{"physicalLocation": {"artifactLocation": {"uri": f"src/app/mod_{i}.py"},
                                             "region": {"startLine": i}}}]}
        for i in real
    ]
    path.write_text(json.dumps({"version": "2.1.0", "$schema": "sarif-2.1.0", "runs": [
        {"tool": {"driver": {"name": "LintX", "rules": [
            {"id": "js.noisy-eval", "properties": {"tags": ["CWE-95"]}},
            {"id": "py.sql-injection", "properties": {"tags": ["CWE-89"]}}]}},
         "results": results}]}))
    return path


def test_training_refuses_thin_history() -> None:
    with pytest.raises(ValueError, match="not enough triage history"):
        experience.train([({"tool": {"name": "x"}}, True)] * 3)


async def test_learns_from_triage_and_only_closes_above_threshold(pool: asyncpg.Pool, settings: Settings,
                                                                  tmp_path: Path) -> None:
    product = f"exp-{uuid.uuid4().hex[:6]}"
    await _run(pool, settings, product, _sarif(tmp_path / "a.sarif", range(1, 31), range(1, 31)))
    rows = await pool.fetch(
        "SELECT f.fingerprint FROM findings f JOIN products p ON p.id=f.product_id WHERE p.name=$1"
        " AND f.rule_id='js.noisy-eval'", product)
    async with pool.acquire() as conn:
        for r in rows:  # people mark the noisy rule's hits in test code as false positives
            await record_and_apply(conn, TriageDecision(fingerprint=r["fingerprint"], product=product,
                                                        status="false_positive", reason="test fixture", actor="qa"))
    # the real ones get fixed: absent from the re-scan -> mitigated
    await _run(pool, settings, product, _sarif(tmp_path / "b.sarif", range(1, 31), range(0)))

    async with pool.acquire() as conn:
        model = await store.train_and_store(conn)
    assert model.samples >= 60 and model.positives >= 30
    assert model.accuracy >= 0.9 and model.accuracy > model.baseline

    # new findings of both kinds: scored, and nothing closed without a threshold
    run_id, _ = await _run(pool, settings, product, _sarif(tmp_path / "c.sarif", range(100, 105), range(100, 105)))
    async with pool.acquire() as conn:
        res = await store.score_run(conn, run_id, auto_close_threshold=None)
    assert res == {"scored": 10, "auto_closed": 0}
    likelihood = {r["rule_id"]: r["p"] for r in await pool.fetch(
        "SELECT rule_id, avg(fp_likelihood) p FROM findings WHERE first_seen_run=$1 GROUP BY 1", run_id)}
    assert likelihood["js.noisy-eval"] > 0.8 > 0.2 > likelihood["py.sql-injection"]

    # with a threshold, only the likely false positives are closed, each with an event naming the model
    run_id, _ = await _run(pool, settings, product, _sarif(tmp_path / "d.sarif", range(200, 203), range(200, 203)))
    async with pool.acquire() as conn:
        res = await store.score_run(conn, run_id, auto_close_threshold=0.8)
    assert res == {"scored": 6, "auto_closed": 3}
    closed = await pool.fetch(
        "SELECT f.rule_id, e.actor FROM finding_events e JOIN findings f ON f.id=e.finding_id"
        " WHERE e.run_id=$1 AND e.to_status='false_positive'", run_id)
    assert {r["rule_id"] for r in closed} == {"js.noisy-eval"}
    assert {r["actor"] for r in closed} == {store.EXPERIENCE_ACTOR}

"""Runs through the API on the real Temporal dev server + worker and PostgreSQL: start, watch, list, cancel,
page the findings, triage."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from temporalio.client import WorkflowFailureError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from aiva.connectors.webhook_receiver import WebhookReceiver
from aiva.parsers import open_report
from aiva.settings import Settings
from tests.api.support import KeyFactory, bearer
from tests.helpers import trivy_report

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
SARIF = FIXTURES / "sarif" / "small.sarif"


async def _wait_for(cond: Callable[[], Awaitable[bool]], timeout: float = 60.0) -> None:
    """Poll until cond() holds (a deadline against hanging, not a timing assertion)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not await cond():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.1)


async def _start(api: httpx.AsyncClient, token: str, product: str, files: list[tuple[str, bytes]],
                 **fields: str) -> dict[str, Any]:
    r = await api.post("/api/v1/runs", headers=bearer(token), data={"product": product, **fields},
                       files=[("files", f) for f in files])
    assert r.status_code == 202, r.text
    body: dict[str, Any] = r.json()
    return body


async def test_a_run_started_through_the_api_completes_and_its_progress_is_readable(
        api: httpx.AsyncClient, new_key: KeyFactory, worker: Worker, temporal_env: WorkflowEnvironment,
        api_settings: Settings, pool: asyncpg.Pool) -> None:
    _, token = await new_key("runs:write,runs:read")
    product = f"api-{uuid.uuid4().hex[:6]}"
    started = await _start(api, token, product, [("small.sarif", SARIF.read_bytes())], formats="json")
    run_id = started["run_id"]
    assert started["status_url"] == f"http://aiva.test/api/v1/runs/{run_id}"
    assert started["temporal_ui_url"] == f"{api_settings.ui_url}/{run_id}"
    assert Path(started["reports"][0]).parent == (api_settings.resolved_inbox_dir / run_id).resolve()

    await temporal_env.client.get_workflow_handle(run_id).result()
    r = await api.get(f"/api/v1/runs/{run_id}", headers=bearer(token))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["execution_status"] == "COMPLETED"
    progress = body["progress"]
    assert progress["stage"] == "done" and progress["status"] == "completed"
    assert progress["stages_done"] == ["scan", "analysis", "risk", "remediation", "report"]
    stored = await pool.fetchval(
        "SELECT count(*) FROM findings f JOIN products p ON p.id = f.product_id WHERE p.name = $1", product)
    parsed = sum(1 for _ in open_report(str(SARIF))[1])  # what the parser alone extracts from the fixture
    assert progress["counts"]["ingested_findings"] == parsed > 0 and progress["counts"]["new"] == stored == parsed
    # The memo says who asked: the API key, not the CLI.
    memo = await (await temporal_env.client.get_workflow_handle(run_id).describe()).memo()
    assert memo["requested_by"] == "api:test-key"

    async def listed() -> bool:
        r = await api.get("/api/v1/runs", params={"product": product, "status": "Completed"},
                          headers=bearer(token))
        runs = r.json()["runs"]
        return [x["run_id"] for x in runs] == [run_id] and runs[0]["stage"] == "done"
    await _wait_for(listed)  # visibility is eventually consistent
    r = await api.get("/api/v1/runs", params={"product": product, "status": "Running"}, headers=bearer(token))
    assert r.json()["runs"] == []
    r = await api.get("/api/v1/runs", params={"product": 'x" OR AivaProduct!="'}, headers=bearer(token))
    assert r.status_code == 422 and r.json()["error"]["field"] == "product"


async def test_an_unknown_run_is_404(api: httpx.AsyncClient, new_key: KeyFactory) -> None:
    _, token = await new_key("runs:read,runs:write")
    r = await api.get("/api/v1/runs/aiva-nothing-20200101T000000-000000", headers=bearer(token))
    assert r.status_code == 404 and r.json()["error"]["type"] == "NotFound"
    assert r.json()["error"]["run_id"] == "aiva-nothing-20200101T000000-000000"
    r = await api.post("/api/v1/runs/aiva-nothing-20200101T000000-000000/cancel", headers=bearer(token))
    assert r.status_code == 404


async def test_cancel_through_the_api_reaches_the_workflow(
        api: httpx.AsyncClient, new_key: KeyFactory, worker: Worker, temporal_env: WorkflowEnvironment,
        receiver: WebhookReceiver, tmp_path: Path, pool: asyncpg.Pool) -> None:
    _, token = await new_key("runs:write,runs:read", name="operator")
    product = f"api-cancel-{uuid.uuid4().hex[:6]}"
    report = trivy_report(tmp_path / "many.json", 120, seed=7)
    receiver.book.delay_s = 0.15  # slow ticketing, so the run is still in remediation when the cancel lands
    try:
        run_id = (await _start(api, token, product, [("many.json", report.read_bytes())],
                               formats="json", min_ticket_severity="low"))["run_id"]

        async def in_remediation() -> bool:
            r = await api.get(f"/api/v1/runs/{run_id}", headers=bearer(token))
            return r.status_code == 200 and r.json()["progress"]["stage"] == "remediation"
        await _wait_for(in_remediation)
        r = await api.post(f"/api/v1/runs/{run_id}/cancel", headers=bearer(token),
                           json={"reason": "stop from the API"})
        assert r.status_code == 202 and r.json() == {"run_id": run_id, "cancel_requested": True}
        with pytest.raises(WorkflowFailureError):
            await temporal_env.client.get_workflow_handle(run_id).result()
    finally:
        receiver.book.delay_s = 0.0
    progress = (await api.get(f"/api/v1/runs/{run_id}", headers=bearer(token))).json()["progress"]
    assert progress["status"] == "cancelled"
    assert progress["cancel_reason"] == "stop from the API (API key 'operator')"
    assert progress["stages_done"][-3:] == ["undo:remediation", "undo:analysis", "undo:scan"]
    assert all(t.status == "closed" for t in receiver.book.for_run(run_id))
    # A closed run cannot be cancelled again.
    r = await api.post(f"/api/v1/runs/{run_id}/cancel", headers=bearer(token), json={"reason": "again"})
    assert r.status_code == 409 and r.json()["error"]["type"] == "Conflict"


async def test_findings_paging_returns_every_finding_exactly_once_and_triage_applies(
        api: httpx.AsyncClient, new_key: KeyFactory, worker: Worker, temporal_env: WorkflowEnvironment,
        tmp_path: Path, pool: asyncpg.Pool) -> None:
    _, writer = await new_key("runs:write")
    _, reader = await new_key("findings:read")
    _, triager = await new_key("triage:write", name="triager")
    product = f"api-page-{uuid.uuid4().hex[:6]}"
    report = trivy_report(tmp_path / "t.json", 47, seed=3)
    run_id = (await _start(api, writer, product, [("t.json", report.read_bytes())],
                           formats="json", remediation="false"))["run_id"]
    await temporal_env.client.get_workflow_handle(run_id).result()
    expected = {r["id"]: r["severity"] for r in await pool.fetch(
        "SELECT f.id, f.severity FROM findings f JOIN products p ON p.id = f.product_id WHERE p.name = $1", product)}
    assert len(expected) == 47

    async def all_pages(**params: Any) -> tuple[list[dict[str, Any]], int]:
        seen: list[dict[str, Any]] = []
        cursor: str | None = None
        pages = 0
        while True:
            q = {"limit": 10, **params} | ({"cursor": cursor} if cursor else {})
            r = await api.get(f"/api/v1/products/{product}/findings", params=q, headers=bearer(reader))
            assert r.status_code == 200, r.text
            body = r.json()
            seen += body["findings"]
            pages += 1
            cursor = body["next_cursor"]
            if cursor is None:
                return seen, pages
            assert len(body["findings"]) == 10

    seen, pages = await all_pages()
    ids = [f["id"] for f in seen]
    assert len(ids) == len(set(ids)) == 47 and set(ids) == set(expected)
    assert pages == 5 and ids == sorted(ids)
    highs, _ = await all_pages(severity=["high", "critical"])
    assert {f["id"] for f in highs} == {i for i, s in expected.items() if s in ("high", "critical")}
    # two findings in one cross-tool group (as the analysis stage stores it): the filter finds just them
    pair = ids[3:5]
    await pool.execute("UPDATE findings SET group_key = 'g-test', group_rule = 'vuln+component+target'"
                       " WHERE id = ANY($1::bigint[])", pair)
    grouped, _ = await all_pages(correlated="true")
    assert [f["id"] for f in grouped] == pair
    assert {(f["correlation_group"], f["correlation_rule"]) for f in grouped} == {("g-test", "vuln+component+target")}
    assert all(f["correlation_group"] is None for f in seen)

    target = seen[0]
    r = await api.post("/api/v1/triage", headers=bearer(triager), json={
        "fingerprint": target["fingerprint"], "product": product, "status": "false_positive",
        "reason": "test double, not shipped"})
    assert r.status_code == 200, r.text
    assert r.json()["triaged"] == 1 and r.json()["rule_id"] > 0
    fps, _ = await all_pages(status="false_positive")
    assert [f["id"] for f in fps] == [target["id"]]
    actor = await pool.fetchval("SELECT actor FROM triage_rules WHERE id = $1", r.json()["rule_id"])
    assert actor == "api:triager"

    r = await api.post("/api/v1/triage", headers=bearer(triager), json={
        "fingerprint": target["fingerprint"], "product": "no-such-product", "status": "false_positive",
        "reason": "nope"})
    assert r.status_code == 404 and "no-such-product" in r.json()["error"]["message"]
    r = await api.post("/api/v1/triage", headers=bearer(triager), json={
        "fingerprint": target["fingerprint"], "product": product, "status": "false_positive", "reason": "x y z",
        "expires_at": "2999-01-01T00:00:00Z"})
    assert r.status_code == 422 and "only a risk acceptance can expire" in r.json()["error"]["message"]

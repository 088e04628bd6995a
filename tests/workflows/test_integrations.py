"""Remediation in every integration at once (webhook, JIRA, ServiceNow, GitHub Issues, Slack), each behind
its local fake that speaks the real API's shapes, on the real Temporal server and PostgreSQL: one
activity per integration, no duplicates, and compensation closes every ticket in every integration."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx
import pytest
import pytest_asyncio
from temporalio.client import WorkflowFailureError
from temporalio.testing import WorkflowEnvironment

from aiva.connectors.github_fake import FakeGitHub
from aiva.connectors.jira_fake import FakeJira
from aiva.connectors.servicenow_fake import FakeServiceNow
from aiva.connectors.slack_fake import FakeSlack
from aiva.connectors.webhook_receiver import WebhookReceiver
from aiva.contracts import PipelineInput, ReportInput
from aiva.settings import Settings
from starter.orchestrator import IntegrationOrchestrator
from starter.recorder import timeline
from tests.helpers import trivy_report
from workflows.pipeline import PipelineWorkflow

CHANNEL = "C0AIVA0001"
NAMES = ["webhook", "jira", "servicenow", "github", "slack"]


@dataclass
class Fakes:
    webhook: WebhookReceiver
    jira: FakeJira
    servicenow: FakeServiceNow
    github: FakeGitHub
    slack: FakeSlack

    def open_counts(self) -> dict[str, int]:
        """Tickets each target holds that are still open."""
        return {
            "webhook": sum(t.status == "open" for t in self.webhook.book.tickets.values()),
            "jira": sum(i.status != "Done" for i in self.jira.state.issues.values()),
            "servicenow": sum(r.get("state") not in ("6", "7") for r in self.servicenow.state.records()),
            "github": sum(i.state == "open" for i in self.github.book.snapshot()),
            "slack": sum(((m.metadata or {}).get("event_payload") or {}).get("state") != "closed"
                         for m in self.slack.workspace.messages(CHANNEL)),
        }

    def totals(self) -> dict[str, int]:
        """Tickets each target holds, open or not."""
        return {"webhook": len(self.webhook.book.tickets), "jira": len(self.jira.state.issues),
                "servicenow": len(self.servicenow.state.records()), "github": len(self.github.book.snapshot()),
                "slack": len(self.slack.workspace.messages(CHANNEL))}


@pytest.fixture
def fakes() -> Iterator[Fakes]:
    f = Fakes(WebhookReceiver(0).start(), FakeJira().start(), FakeServiceNow().start(),
              FakeGitHub("gh-token").start(), FakeSlack("xoxb-test", (CHANNEL,)).start())
    yield f
    for s in (f.webhook, f.jira, f.servicenow, f.github, f.slack):
        s.stop()


def _settings(base: Settings, f: Fakes, jira_token: str = "jira-api-token") -> Settings:
    return base.model_copy(update={
        "task_queue": f"aiva-int-{uuid.uuid4().hex[:6]}",
        "webhook_url": f.webhook.url,
        "jira_base_url": f.jira.url, "jira_email": "aiva@example.com", "jira_api_token": jira_token,
        "jira_project_key": "SEC",
        "servicenow_instance_url": f.servicenow.url, "servicenow_username": "aiva.integration",
        "servicenow_password": "snow-password",
        "github_api_url": f.github.url, "github_repo": "acme/app", "github_token": "gh-token",
        "slack_api_url": f.slack.url, "slack_token": "xoxb-test", "slack_channel": CHANNEL,
    })


@pytest_asyncio.fixture
async def all_integrations_worker(
    temporal_env: WorkflowEnvironment, pool: asyncpg.Pool, http: httpx.AsyncClient, settings: Settings, fakes: Fakes
) -> AsyncIterator[Settings]:
    from worker import build_worker

    s = Settings.model_validate(_settings(settings, fakes).model_dump())  # validated like the environment would be
    async with build_worker(temporal_env.client, pool, http, s):
        yield s


async def _wait_for(cond, timeout: float = 60.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not cond():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


async def test_every_integration_gets_its_tickets_once(
    temporal_env: WorkflowEnvironment, all_integrations_worker: Settings, fakes: Fakes, pool: asyncpg.Pool,
    tmp_path: Path,
) -> None:
    report = trivy_report(tmp_path / "t.json", 12, seed=3)
    orch = IntegrationOrchestrator(temporal_env.client, all_integrations_worker)
    product = f"int-{uuid.uuid4().hex[:6]}"
    inp = PipelineInput(product=product, reports=[ReportInput(path=str(report))], min_ticket_severity="low",
                        report_formats=["json"])
    result = await (await orch.start(inp)).result()
    n = result.counts.tickets_by_integration["webhook"]  # findings at or above "low"
    assert 0 < n <= result.counts.new
    assert result.counts.tickets_by_integration == dict.fromkeys(NAMES, n)
    assert result.counts.tickets_opened == 5 * n
    assert fakes.totals() == dict.fromkeys(NAMES, n) == fakes.open_counts()
    assert await pool.fetchval("SELECT count(DISTINCT integration) FROM tickets t JOIN findings f"
                               " ON f.id = t.finding_id JOIN products p ON p.id = f.product_id"
                               " WHERE p.name = $1 AND t.status = 'open'", product) == 5

    handle = temporal_env.client.get_workflow_handle(result.run_id)
    labels = [a.label for a in timeline(await handle.fetch_history()).activities]
    assert sorted(x for x in labels if x.startswith("open_tickets")) == sorted(f"open_tickets:{x}" for x in NAMES)

    # a re-scan of the same report opens nothing anywhere
    again = await (await orch.start(inp)).result()
    assert again.counts.tickets_opened == 0 and fakes.totals() == dict.fromkeys(NAMES, n)


async def test_cancel_mid_remediation_closes_tickets_in_every_integration(
    temporal_env: WorkflowEnvironment, all_integrations_worker: Settings, fakes: Fakes, tmp_path: Path,
) -> None:
    report = trivy_report(tmp_path / "many.json", 40, seed=11)
    fakes.github.book.delay_s = 0.1  # one slow integration keeps the stage open
    orch = IntegrationOrchestrator(temporal_env.client, all_integrations_worker)
    handle = await orch.start(PipelineInput(product=f"intc-{uuid.uuid4().hex[:6]}",
                                            reports=[ReportInput(path=str(report))], min_ticket_severity="low",
                                            report_formats=["json"]))
    await _wait_for(lambda: fakes.totals()["github"] >= 3)
    assert (await handle.query(PipelineWorkflow.progress)).stage == "remediation"
    await orch.cancel_integration(handle.id, "wrong product")
    with pytest.raises(WorkflowFailureError):
        await handle.result()
    assert all(v > 0 for v in fakes.totals().values())  # each integration had opened some
    assert fakes.open_counts() == dict.fromkeys(NAMES, 0)  # and every one is closed again
    if os.environ.get("AIVA_RECORD_HISTORIES"):  # a golden history for tests/workflows/test_replay.py
        (Path(__file__).resolve().parents[1] / "histories" / "pipeline_integrations_cancelled.json").write_text(
            (await handle.fetch_history()).to_json())


async def test_a_rejecting_integration_fails_the_run_and_the_others_are_rolled_back(
    temporal_env: WorkflowEnvironment, pool: asyncpg.Pool, http: httpx.AsyncClient, settings: Settings,
    fakes: Fakes, tmp_path: Path,
) -> None:
    from worker import build_worker

    s = Settings.model_validate(_settings(settings, fakes, jira_token="wrong-token").model_dump())
    report = trivy_report(tmp_path / "t.json", 8, seed=5)
    async with build_worker(temporal_env.client, pool, http, s):
        handle = await IntegrationOrchestrator(temporal_env.client, s).start(PipelineInput(
            product=f"intr-{uuid.uuid4().hex[:6]}", reports=[ReportInput(path=str(report))],
            min_ticket_severity="low", report_formats=["json"]))
        with pytest.raises(WorkflowFailureError) as ei:
            await handle.result()
        progress = await handle.query(PipelineWorkflow.progress)  # queries need a worker
    cause = ei.value.cause.cause  # the ActivityError's ApplicationError
    assert cause is not None and "jira" in str(cause) and "401" in str(cause)
    tl = timeline(await handle.fetch_history())
    jira = next(a for a in tl.activities if a.label == "open_tickets:jira")
    assert jira.attempts == 1 and jira.outcome == "failed"  # a rejection is not retried
    assert fakes.totals()["jira"] == 0
    assert fakes.open_counts() == dict.fromkeys(NAMES, 0)
    assert await pool.fetchval("SELECT count(*) FROM tickets WHERE run_id=$1 AND status<>'closed'"
                               " AND integration <> 'jira'", handle.id) == 0
    # JIRA refused every call: its reserved rows say so, and the run says what a human must check
    rows = await pool.fetch("SELECT status, last_error FROM tickets WHERE run_id=$1 AND integration='jira'",
                            handle.id)
    assert rows and all(r["status"] == "opening" and "401" in r["last_error"] for r in rows)
    assert "undo-partial:remediation" in progress.stages_done
    assert progress.error and "close_run_tickets left" in progress.error


async def test_fixed_and_triaged_findings_close_their_tickets_everywhere(
    temporal_env: WorkflowEnvironment, all_integrations_worker: Settings, fakes: Fakes, pool: asyncpg.Pool,
    tmp_path: Path,
) -> None:
    """create_and_close: a re-scan that no longer reports a finding closes its tickets in every system;
    so does a triage decision (false positive) at the next run. Nothing else is closed."""
    from aiva.store.triage import add_rule
    from aiva.triage import TriageDecision

    orch = IntegrationOrchestrator(temporal_env.client, all_integrations_worker)
    product = f"intf-{uuid.uuid4().hex[:6]}"

    async def run(report: Path) -> str:
        res = await (await orch.start(PipelineInput(
            product=product, reports=[ReportInput(path=str(report))], min_ticket_severity="low",
            report_formats=["json"]))).result()
        return res.run_id

    await run(trivy_report(tmp_path / "r1.json", 12, seed=3))
    opened = fakes.open_counts()["jira"]
    assert opened > 0 and fakes.open_counts() == dict.fromkeys(NAMES, opened)

    dropped = {0, 1, 2, 3}
    run2 = await run(trivy_report(tmp_path / "r2.json", 12, seed=3, drop=dropped))
    fixed = await pool.fetchval(
        "SELECT count(DISTINCT f.id) FROM tickets t JOIN findings f ON f.id = t.finding_id"
        " JOIN products p ON p.id = f.product_id WHERE p.name = $1 AND f.status = 'mitigated'", product)
    assert 0 < fixed <= len(dropped)
    assert fakes.open_counts() == dict.fromkeys(NAMES, opened - fixed)
    rows = await pool.fetch("SELECT close_reason FROM tickets WHERE closed_by_run = $1", run2)
    assert len(rows) == 5 * fixed and all(r["close_reason"].startswith("Fixed:") for r in rows)
    desc = await temporal_env.client.get_workflow_handle(run2).describe()
    assert (await desc.memo())["summary"]["tickets_closed_fixed"] == 5 * fixed

    fp = await pool.fetchval(
        "SELECT f.fingerprint FROM tickets t JOIN findings f ON f.id = t.finding_id JOIN products p"
        " ON p.id = f.product_id WHERE p.name = $1 AND t.status = 'open' ORDER BY t.id LIMIT 1", product)
    async with pool.acquire() as conn:
        await add_rule(conn, TriageDecision(fingerprint=fp, product=product, status="false_positive",
                                            reason="test double", actor="alice"))
    run3 = await run(trivy_report(tmp_path / "r3.json", 12, seed=3, drop=dropped))
    assert fakes.open_counts() == dict.fromkeys(NAMES, opened - fixed - 1)
    reasons = {r["close_reason"] for r in await pool.fetch("SELECT close_reason FROM tickets WHERE closed_by_run = $1",
                                                           run3)}
    assert len(reasons) == 1 and next(iter(reasons)).startswith("Closed: the finding was triaged as a false positive")
    jira_issue = next(i for i in fakes.jira.state.issues.values() if i.status == "Done")
    assert any("AIVA run" in str(c) for c in jira_issue.comments)  # the reason reached the ticket

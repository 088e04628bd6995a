"""Performance feedback: per-stage figures, slowest/flakiest stages, and each suggestion rule."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.service import RPCError, RPCStatusCode

from aiva import feedback as fbm
from aiva.feedback import (
    PerformanceFeedback,
    Suggestion,
    failure_cause,
    format_duration,
    infer_runs,
    integration_of,
    performance_feedback,
)
from aiva.reports.model import StageTiming

WEBHOOK_503 = "webhook https://hooks.example.com/aiva (HTTP 503): upstream unavailable"


def st(name: str, seconds: float | None, attempts: int = 1, outcome: str = "completed",
       failure: str | None = None) -> StageTiming:
    return StageTiming(name=name, attempts=attempts, duration_ms=None if seconds is None else seconds * 1000,
                       outcome=outcome, failure=failure)


def pipeline(*, ingest: tuple[float, ...] = (1.0,), analyze: float = 2.0, risk: float = 1.0,
             risk_attempts: int = 1, risk_failure: str | None = None,
             tickets: float = 1.0, tickets_attempts: int = 1, tickets_failure: str | None = None,
             render: float = 2.0) -> list[StageTiming]:
    """One run's stages, as the report stage sees them."""
    return [
        *(st("ingest_report", s) for s in ingest),
        st("analyze_run", analyze),
        st("score_risk", risk, attempts=risk_attempts, failure=risk_failure),
        st("open_tickets", tickets, attempts=tickets_attempts, failure=tickets_failure),
        st("render_reports", render),
    ]


def rules(fb: PerformanceFeedback, rule: str) -> list[Suggestion]:
    return [s for s in fb.suggestions if s.rule == rule]


def test_stage_figures() -> None:
    fb = performance_feedback([
        st("ingest_report", 4.0), st("ingest_report", 1.0), st("ingest_report", 2.0, attempts=3),
        st("ingest_report", None, attempts=0, outcome="running"),
        st("score_risk", 1.0, attempts=5, outcome="failed", failure="boom"),
        st("score_risk", 3.0, attempts=2, outcome="timed_out", failure="boom"),
        st("score_risk", 1.0, outcome="cancelled", failure="other"),
    ], runs=1)
    ingest, risk = fb.stages
    assert ingest.name == "ingest_report"  # most total time first
    assert (ingest.count, ingest.total_ms, ingest.p50_ms, ingest.max_ms) == (4, 7000.0, 2000.0, 4000.0)
    assert (ingest.attempts, ingest.retries, ingest.failures, ingest.unfinished) == (5, 2, 0, 1)
    assert (risk.count, risk.total_ms, risk.p50_ms, risk.max_ms) == (3, 5000.0, 1000.0, 3000.0)
    assert (risk.attempts, risk.retries, risk.failures) == (8, 5, 2)  # cancelled is no failure
    assert risk.top_failure == "boom"
    assert fb.stage_ms == 12_000.0 and fb.share_of == "stage time" and fb.wall_ms is None
    assert ingest.share == pytest.approx(7 / 12)
    assert fb.runs == 1 and fb.flakiest_integration is None


def test_empty_input() -> None:
    fb = performance_feedback([])
    assert fb.stages == [] and fb.suggestions == [] and fb.slowest == [] and fb.runs == 1


def test_runs_inferred_or_given() -> None:
    three = pipeline() * 3
    assert infer_runs(three) == 3
    assert infer_runs([st("ingest_report", 1.0)] * 5) == 1
    assert performance_feedback(three).runs == 3
    assert performance_feedback(three, runs=4).runs == 4


def test_slowest_stages_within_ratio() -> None:
    fb = performance_feedback([st("a", 10.0), st("b", 8.5), st("c", 7.9), st("d", 1.0)])
    assert fb.slowest == ["a", "b"]  # c is below 80% of a
    assert performance_feedback([st("a", 10.0), st("b", 1.0)]).slowest == ["a"]


def test_integration_detection() -> None:
    assert integration_of("open_tickets", WEBHOOK_503) == "webhook"
    assert integration_of("close_run_tickets") == "integration"
    assert integration_of("sync_jira_issues") == "jira"
    assert integration_of("notify_slack", "webhook x (HTTP 500): y") == "slack"
    assert integration_of("score_risk", WEBHOOK_503) is None


def test_flakiest_integration() -> None:
    fb = performance_feedback([
        st("open_tickets", 5.0, attempts=3, failure=WEBHOOK_503),
        st("sync_jira_issues", 5.0, attempts=2, outcome="failed", failure="jira x (HTTP 500): no"),
        st("score_risk", 1.0, attempts=5),  # not an integration, however flaky
    ])
    # open_tickets: 2 retries; sync_jira_issues: 1 retry + 1 failure -> tie on 2, more failures wins
    assert fb.flakiest_integration == "sync_jira_issues"
    assert performance_feedback(pipeline()).flakiest_integration is None


def test_rule_integration_retries_with_http_status() -> None:
    stages: list[StageTiming] = []
    for attempts in (6, 5, 6):  # 14 retries over 3 runs
        stages += pipeline(tickets_attempts=attempts, tickets_failure=WEBHOOK_503)
    fb = performance_feedback(stages)
    (s,) = rules(fb, "integration")
    assert s.stage == "open_tickets"
    assert s.message == ("open_tickets retried 14 times over 3 runs: the webhook failed with HTTP 503; "
                         "raise its timeout (AIVA_WEBHOOK_TIMEOUT_S) or add a circuit breaker")
    assert fb.flakiest_integration == "open_tickets"


def test_rule_integration_threshold() -> None:
    # one retry over three runs is below INTEGRATION_RETRIES_PER_RUN
    stages = pipeline(tickets_attempts=2, tickets_failure=WEBHOOK_503) + pipeline() + pipeline()
    assert rules(performance_feedback(stages), "integration") == []
    # ... but one retry in one run is not
    (s,) = rules(performance_feedback(pipeline(tickets_attempts=2, tickets_failure=WEBHOOK_503)), "integration")
    assert s.message.startswith("open_tickets retried 1 time over 1 run: the webhook failed with HTTP 503")
    # a failure counts on its own, even without retries
    failed = [st("open_tickets", 1.0, outcome="failed",
                 failure="webhook https://h (HTTP 401): bad token")]
    (s,) = rules(performance_feedback(failed), "integration")
    assert s.message == ("open_tickets failed 1 time over 1 run: the webhook rejected the request with HTTP 401; "
                         "check AIVA_WEBHOOK_TOKEN and what the receiver expects; retrying does not help")


@pytest.mark.parametrize(("failure", "what", "advice"), [
    ("webhook u (HTTP 502): bad gateway", "failed with HTTP 502", "add a circuit breaker"),
    ("webhook u (HTTP 429): slow down", "was rate limited (HTTP 429)", "AIVA_WEBHOOK_MIN_SEVERITY"),
    ("webhook u (HTTP 404): nope", "rejected the request with HTTP 404", "AIVA_WEBHOOK_TOKEN"),
    ("webhook u: timed out: ReadTimeout", "timed out", "raise AIVA_WEBHOOK_TIMEOUT_S"),
    ("webhook u: connection failed: refused", "could not be reached", "check AIVA_WEBHOOK_URL"),
    ("something odd", "failed (something odd)", "aiva history RUN"),
    (None, "needed retries", "aiva history RUN"),
])
def test_failure_causes(failure: str | None, what: str, advice: str) -> None:
    got_what, got_advice = failure_cause(failure, "webhook")
    assert got_what == what
    assert advice in got_advice


def test_failure_cause_for_other_integrations_names_no_webhook_setting() -> None:
    what, advice = failure_cause("jira u (HTTP 503): down", "jira")
    assert what == "failed with HTTP 503" and "WEBHOOK" not in advice


def test_rule_stage_retries() -> None:
    fb = performance_feedback(pipeline(risk_attempts=3, risk_failure="timeout once"))
    (s,) = rules(fb, "stage_retries")
    assert s.stage == "score_risk"
    assert s.message.startswith("score_risk retried 2 times over 1 run (most common error: timeout once): ")
    assert "timeout" in s.message
    # a failed stage is reported even without retries
    failed = performance_feedback([st("analyze_run", 1.0, outcome="failed",
                                      failure="PostgreSQL connection lost")])
    (s,) = rules(failed, "stage_retries")
    assert s.message.startswith("analyze_run failed 1 time over 1 run (most common error: PostgreSQL")
    assert "AIVA_DB_POOL_MAX" in s.message
    # integrations are not reported twice
    assert rules(performance_feedback(pipeline(tickets_attempts=4)), "stage_retries") == []
    # a clean run gets nothing
    assert performance_feedback(pipeline()).suggestions == []


def test_rule_stage_retries_long_error_is_cut() -> None:
    fb = performance_feedback([st("score_risk", 1.0, attempts=2, failure="x" * 500)])
    (s,) = rules(fb, "stage_retries")
    assert "x" * fbm.FAILURE_QUOTE_CHARS not in s.message and "\u2026" in s.message


def test_rule_render() -> None:
    stages = pipeline(render=41.0, analyze=10.0)
    (s,) = rules(performance_feedback(stages, wall_ms=66_000), "render")
    assert s.message == ("render_reports took 41 s (62% of the run): drop pdf from --formats for large runs "
                         "or lower AIVA_PDF_TOP_FINDINGS")
    # without the wall time, the share is of the summed stage time
    (s,) = rules(performance_feedback(stages), "render")
    assert "(76% of stage time)" in s.message
    # fast, or a small share: nothing
    assert rules(performance_feedback(pipeline(render=9.0), wall_ms=12_000), "render") == []
    assert rules(performance_feedback(pipeline(render=20.0), wall_ms=200_000), "render") == []


def test_rule_render_over_many_runs() -> None:
    stages = pipeline(render=30.0) + pipeline(render=40.0) + pipeline(render=50.0)
    (s,) = rules(performance_feedback(stages, wall_ms=3 * 60_000), "render")
    assert s.message.startswith("render_reports took 40 s a run over 3 runs (67% of run time): ")


def test_rule_ingest_single_report() -> None:
    (s,) = rules(performance_feedback(pipeline(ingest=(12.0,))), "ingest")
    assert s.message.startswith("ingest_report took 12 s for 1 report: ")
    assert "AIVA_BATCH_SIZE" in s.message
    assert rules(performance_feedback(pipeline(ingest=(9.0,))), "ingest") == []


def test_rule_ingest_skewed_reports() -> None:
    (s,) = rules(performance_feedback(pipeline(ingest=(2.0, 2.0, 3.0, 40.0))), "ingest")
    assert s.message.startswith("ingest_report took 47 s for 4 reports (slowest 40 s, 16 times the median 2.5 s): ")
    assert "one report dominates" in s.message
    (s,) = rules(performance_feedback(pipeline(ingest=(11.0, 12.0))), "ingest")
    assert s.message.startswith("ingest_report took 23 s for 2 reports (slowest 12 s): ")


def test_rule_slow_stage() -> None:
    fb = performance_feedback(pipeline(analyze=95.0), wall_ms=135_000)
    (s,) = rules(fb, "slow_stage")
    assert s.message.startswith("analyze_run took 95 s (70% of the run): it matches")
    assert fb.slowest == ["analyze_run"]
    unknown = performance_feedback([st("enrich_intel", 60.0), st("score_risk", 10.0)])
    (s,) = rules(unknown, "slow_stage")
    assert s.message == f"enrich_intel took 60 s (86% of stage time): {fbm.DEFAULT_ADVICE}"
    # render and ingest have their own rules
    assert rules(performance_feedback([st("render_reports", 100.0)]), "slow_stage") == []
    # long but a small share, or a big share but short: nothing
    assert rules(performance_feedback([st("score_risk", 35.0), st("analyze_run", 60.0)]), "slow_stage") != []
    assert rules(performance_feedback([st("score_risk", 35.0)], wall_ms=100_000), "slow_stage") == []
    assert rules(performance_feedback([st("score_risk", 20.0)]), "slow_stage") == []


def test_suggestions_order_follows_rules() -> None:
    stages = pipeline(ingest=(15.0,), analyze=130.0, render=100.0, tickets_attempts=3, tickets_failure=WEBHOOK_503,
                      risk_attempts=2, risk_failure="boom")
    fb = performance_feedback(stages, wall_ms=280_000)
    assert [s.rule for s in fb.suggestions] == ["integration", "stage_retries", "render", "ingest", "slow_stage"]


@pytest.mark.parametrize(("ms", "text"), [
    (40.4, "40 ms"), (999, "999 ms"), (1_400, "1.4 s"), (9_940, "9.9 s"), (12_300, "12 s"), (119_000, "119 s"),
    (185_000, "3 min 05 s"),
    (7_260_000, "2 h 01 min"),
])
def test_format_duration(ms: float, text: str) -> None:
    assert format_duration(ms) == text


def test_html_report_shows_feedback_escaped() -> None:
    from datetime import UTC, datetime, timedelta

    from aiva.reports.html_report import new_digest, render
    from aiva.reports.model import RunSummary

    payload = "<script>alert(1)</script>"
    start = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    summary = RunSummary(
        run_id="run-1", product="shop", started_at=start, finished_at=start + timedelta(seconds=66),
        stages=[*pipeline(render=41.0, analyze=10.0),
                st(f"sync_jira{payload}", 1.0, attempts=3, failure=f"jira x (HTTP 503): {payload}")],
    )
    page = "".join(render(summary, new_digest(summary, 10), print_variant=False))
    section = page[page.index('<section id="feedback">'):page.index("</section>", page.index('id="feedback"'))]
    assert page.index('<section id="stages">') < page.index('<section id="feedback">')
    assert "Performance feedback" in section
    assert "render_reports took 41 s (62% of the run): drop pdf from --formats" in section
    assert "Flakiest integration:</b> sync_jira&lt;script&gt;" in section
    assert payload not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in section
    # no stages: the section says so
    bare = RunSummary(run_id="run-2", product="shop", started_at=start)
    page = "".join(render(bare, new_digest(bare, 10), print_variant=False))
    assert '<section id="feedback">\n<h2>Performance feedback</h2>\n<p class="muted">No stage timings' in page


# ---------------------------------------------------------------- starter.feedback_cmd

HISTORIES = Path(__file__).resolve().parents[1] / "histories"


class _Handle:
    def __init__(self, client: _FakeClient, run_id: str) -> None:
        self._client, self._run_id = client, run_id

    async def fetch_history(self) -> WorkflowHistory:
        self._client.fetched.append(self._run_id)
        path = self._client.files.get(self._run_id)
        if path is None:
            raise RPCError("workflow not found", RPCStatusCode.NOT_FOUND, b"")
        return WorkflowHistory.from_json(self._run_id, path.read_text(encoding="utf-8"))


class _FakeClient:
    """Stands in for temporalio's Client: get_workflow_handle(id).fetch_history() from golden files."""

    def __init__(self, files: dict[str, Path]) -> None:
        self.files = files
        self.fetched: list[str] = []

    def get_workflow_handle(self, run_id: str) -> _Handle:
        return _Handle(self, run_id)


def _completed_histories() -> dict[str, Path]:
    files = {p.stem: p for p in sorted(HISTORIES.glob("*completed*.json"))}
    if not files:
        pytest.skip("no completed golden history in tests/histories/")
    return files


async def test_feedback_for_runs_reads_histories() -> None:
    from starter.feedback_cmd import feedback_for_runs, render_feedback

    files = _completed_histories()
    client = _FakeClient(files)
    ids = list(files)
    fb = await feedback_for_runs(client, [*ids, ids[0]])  # type: ignore[arg-type]
    assert sorted(client.fetched) == sorted(ids)  # the duplicate is fetched once
    assert fb.runs == len(ids)
    names = {s.name: s for s in fb.stages}
    assert {"ingest_report", "analyze_run", "score_risk", "render_reports"} <= set(names)
    assert names["render_reports"].count == len(ids)
    assert fb.wall_ms is not None and fb.wall_ms > 0 and fb.share_of in ("the run", "run time")
    text = render_feedback(fb)
    assert text.startswith(f"Performance feedback over {len(ids)} run")
    assert "render_reports" in text and "Flakiest integration: " in text and "Suggestions" in text


async def test_feedback_for_runs_unknown_run() -> None:
    from aiva.errors import InputError
    from starter.feedback_cmd import feedback_for_runs

    client = _FakeClient({})
    with pytest.raises(InputError, match="no run 'nope'"):
        await feedback_for_runs(client, ["nope"])  # type: ignore[arg-type]
    with pytest.raises(InputError):
        await feedback_for_runs(client, [])  # type: ignore[arg-type]


def test_render_feedback_text() -> None:
    from starter.feedback_cmd import render_feedback

    stages: list[StageTiming] = []
    for attempts in (6, 5, 6):
        stages += pipeline(tickets_attempts=attempts, tickets_failure=WEBHOOK_503, render=41.0)
    text = render_feedback(performance_feedback(stages, wall_ms=3 * 66_000))
    lines = text.splitlines()
    assert lines[0] == "Performance feedback over 3 runs (wall time 3 min 18 s, stage time 2 min 18 s)"
    assert lines[2].split() == ["stage", "count", "total", "median", "max", "share", "attempts", "retries",
                                "failures"]
    row = next(line for line in lines if line.startswith("open_tickets"))
    assert row.split()[1] == "3" and row.split()[-4:] == ["2%", "17", "14", "0"]
    assert "Flakiest integration: open_tickets" in lines
    assert " 1. open_tickets retried 14 times over 3 runs: the webhook failed with HTTP 503;" in text
    assert all(len(line) <= 100 for line in lines if not line.startswith(("stage", "-", "open", "render")))
    assert render_feedback(performance_feedback([])).endswith("No activities recorded.\n")

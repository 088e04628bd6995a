"""Performance feedback: what a run's (or several runs') stage timings say, and what to change.

    fb = performance_feedback(summary.stages)                       # one run
    fb = performance_feedback(all_stages, runs=3, wall_ms=...)       # many runs together

Input is the pipeline's activities as `StageTiming` rows (name, attempts, duration,
outcome, failure), read from the workflow history. Pure: no Temporal, no I/O.

Per stage (activity name): count, total / median (p50) / max duration, attempts,
retries (attempts - 1, summed), failures (outcome failed or timed_out), the most common
failure text. Shares of time are taken of the runs' wall-clock time when `wall_ms` is
given ("% of the run"), else of the summed stage time ("% of stage time"). Parallel
activities (ingest_report, one per report) can add up to more than the wall time; shares
are capped at 100%.

The number of runs is `runs` when given, else the largest count of a once-per-run
activity (ONCE_PER_RUN), else 1.

Integrations are the remediation activities (INTEGRATION_ACTIVITIES: open_tickets, close_fixed_tickets,
close_run_tickets) and any activity whose name contains an integration's name
(webhook, jira, servicenow, github, slack). The integration a failure names ("webhook
https://... (HTTP 503): ...") is the one reported.

Summary figures:
- slowest: the stage with the most total time, and every stage within SLOWEST_RATIO of it;
- flakiest_integration: the integration activity with the most retries + failures
  (ties: more failures, then name); None when no integration retried or failed.

Rules, in the order their suggestions are listed (thresholds are the constants below):
1. integration trouble: an integration activity that retried at least
   INTEGRATION_RETRIES_PER_RUN times a run on average, or failed at least
   INTEGRATION_MIN_FAILURES times. The sentence names the cause read from the failure
   (HTTP status, timeout, connection) and the knob to turn.
2. stage trouble: any other activity with STAGE_RETRIES_PER_RUN retries a run, or
   STAGE_MIN_FAILURES failures; quotes the most common error.
3. slow reports: render_reports taking at least RENDER_MIN_S a run and RENDER_MIN_SHARE
   of the time: drop pdf or lower AIVA_PDF_TOP_FINDINGS.
4. slow ingest: an ingest_report activity taking at least INGEST_SLOW_S; when one report
   takes INGEST_SKEW_RATIO times the median of several, it says that report dominates.
5. slow stage: any other activity taking at least SLOW_STAGE_MIN_S a run and
   SLOW_STAGE_MIN_SHARE of the time, with advice for the known stages.
"""

from __future__ import annotations

import re
import statistics
from collections import Counter, defaultdict
from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict

from aiva.enums import IntegrationType
from aiva.reports.model import StageTiming

INTEGRATION_ACTIVITIES: frozenset[str] = frozenset({"open_tickets", "close_run_tickets", "close_fixed_tickets"})
INTEGRATION_NAMES: tuple[str, ...] = tuple(t.value for t in IntegrationType)
ONCE_PER_RUN: tuple[str, ...] = ("analyze_run", "score_risk", "open_tickets", "render_reports")
FAILED_OUTCOMES: frozenset[str] = frozenset({"failed", "timed_out"})
RENDER_STAGE = "render_reports"
INGEST_STAGE = "ingest_report"

SLOWEST_RATIO = 0.8  # stages within 80% of the slowest one's time are listed as slowest too
INTEGRATION_RETRIES_PER_RUN = 1.0
INTEGRATION_MIN_FAILURES = 1
STAGE_RETRIES_PER_RUN = 1.0
STAGE_MIN_FAILURES = 1
RENDER_MIN_S = 10.0
RENDER_MIN_SHARE = 0.30
INGEST_SLOW_S = 10.0
INGEST_SKEW_RATIO = 3.0
SLOW_STAGE_MIN_S = 30.0
SLOW_STAGE_MIN_SHARE = 0.40
FAILURE_QUOTE_CHARS = 120

_HTTP_STATUS = re.compile(r"\bHTTP (\d{3})\b")

STAGE_ADVICE: dict[str, str] = {
    "analyze_run": "it matches the run's findings against every stored finding of the product; "
    "triage or close stale findings, and check the database has enough connections (AIVA_DB_POOL_MAX)",
    "score_risk": "it rescores every open finding of the product; triage the backlog of open findings "
    "and check the database is not starved",
    "open_tickets": "tickets are opened one at a time; raise AIVA_WEBHOOK_MIN_SEVERITY to open fewer, "
    "or make the receiver answer faster",
    "close_run_tickets": "tickets are closed one at a time; make the receiver answer faster",
    "undo_ingest": "compensation deletes the run's findings in batches; check the database load",
    "undo_analysis": "compensation restores the product's findings; check the database load",
    "apply_triage": "check the database load and locks on the findings table",
}
DEFAULT_ADVICE = "open the run in the Temporal UI to see where the activity spends its time (attempts, heartbeats)"


class StageStats(BaseModel):
    """One activity name's figures over the given stage rows."""

    model_config = ConfigDict(frozen=True)

    name: str
    count: int
    total_ms: float
    p50_ms: float | None
    max_ms: float | None
    attempts: int
    retries: int
    failures: int
    unfinished: int  # rows without a duration (still running, or never closed)
    share: float  # of the wall time (or of the summed stage time), 0 to 1
    integration: str | None = None  # the integration it talks to, for integration activities
    top_failure: str | None = None  # the most common failure text


class Suggestion(BaseModel):
    """One concrete suggestion: which rule fired, for which stage, and the sentence."""

    model_config = ConfigDict(frozen=True)

    rule: str
    stage: str
    message: str


class PerformanceFeedback(BaseModel):
    """Per-stage figures, the slowest and flakiest stages, and suggestions (see the module docstring)."""

    model_config = ConfigDict(frozen=True)

    runs: int
    wall_ms: float | None
    stage_ms: float
    share_of: str  # "the run", "run time" or "stage time": what shares are taken of
    stages: list[StageStats]
    slowest: list[str]
    flakiest_integration: str | None
    suggestions: list[Suggestion]


def format_duration(ms: float) -> str:
    """A duration for a sentence: "40 ms", "1.4 s", "12 s", "3 min 05 s", "2 h 01 min"."""
    s = ms / 1000
    if s < 1:
        return f"{ms:.0f} ms"
    if s < 10:
        return f"{s:.1f} s"
    if s < 120:
        return f"{s:.0f} s"
    total = round(s)
    if total < 7200:
        return f"{total // 60} min {total % 60:02d} s"
    return f"{total // 3600} h {total % 3600 // 60:02d} min"


def _times(n: int) -> str:
    return f"{n} time" if n == 1 else f"{n} times"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _quote(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= FAILURE_QUOTE_CHARS else text[: FAILURE_QUOTE_CHARS - 1].rstrip() + "\u2026"


def integration_of(name: str, failure: str | None = None) -> str | None:
    """The integration an activity talks to; None when it is not an integration activity.

    An activity is one when it is a remediation activity or its name contains an
    integration's name. The integration is the one named in the activity name, else the
    one a failure text starts with ("webhook https://..."), else "integration".
    """
    low = name.lower()
    named = next((n for n in INTEGRATION_NAMES if n in low), None)
    if named is None and name not in INTEGRATION_ACTIVITIES:
        return None
    if named:
        return named
    if failure:
        first = failure.strip().split(" ", 1)[0].lower()
        if first in INTEGRATION_NAMES:
            return first
    return "integration"


def infer_runs(stages: Sequence[StageTiming]) -> int:
    """How many runs the rows cover: the largest count of a once-per-run activity, at least 1."""
    counts = Counter(s.name for s in stages)
    return max([counts[n] for n in ONCE_PER_RUN if counts[n]] or [1])


def stage_stats(stages: Sequence[StageTiming], *, denominator_ms: float) -> list[StageStats]:
    """Figures per activity name, slowest (most total time) first, then by name."""
    by_name: dict[str, list[StageTiming]] = defaultdict(list)
    for s in stages:
        by_name[s.name].append(s)
    out: list[StageStats] = []
    for name, rows in by_name.items():
        durations = [r.duration_ms for r in rows if r.duration_ms is not None]
        total = float(sum(durations))
        failures_text = Counter(r.failure for r in rows if r.failure)
        top = failures_text.most_common(1)[0][0] if failures_text else None
        out.append(StageStats(
            name=name,
            count=len(rows),
            total_ms=total,
            p50_ms=float(statistics.median(durations)) if durations else None,
            max_ms=float(max(durations)) if durations else None,
            attempts=sum(r.attempts for r in rows),
            retries=sum(max(r.attempts - 1, 0) for r in rows),
            failures=sum(1 for r in rows if r.outcome in FAILED_OUTCOMES),
            unfinished=len(rows) - len(durations),
            share=min(total / denominator_ms, 1.0) if denominator_ms > 0 else 0.0,
            integration=integration_of(name, top),
            top_failure=top,
        ))
    out.sort(key=lambda st: (-st.total_ms, st.name))
    return out


def failure_cause(failure: str | None, integration: str) -> tuple[str, str]:
    """(what happened, what to do) for an integration's failure text; see rule 1."""
    timeout_knob = "AIVA_WEBHOOK_TIMEOUT_S" if integration == "webhook" else "its timeout"
    url_knob = "AIVA_WEBHOOK_URL" if integration == "webhook" else "its URL"
    if not failure:
        return "needed retries", "see the run's history (aiva history RUN) for the errors"
    m = _HTTP_STATUS.search(failure)
    if m:
        code = int(m.group(1))
        if code == 429:
            return ("was rate limited (HTTP 429)",
                    "open fewer tickets (raise AIVA_WEBHOOK_MIN_SEVERITY) or ask for a higher rate limit")
        if code >= 500:
            knob = "raise its timeout (AIVA_WEBHOOK_TIMEOUT_S)" if integration == "webhook" else "raise its timeout"
            return f"failed with HTTP {code}", f"{knob} or add a circuit breaker"
        if code >= 400:
            token = "AIVA_WEBHOOK_TOKEN" if integration == "webhook" else "its credentials"
            return (f"rejected the request with HTTP {code}",
                    f"check {token} and what the receiver expects; retrying does not help")
    low = failure.lower()
    if "timed out" in low or "timeout" in low:
        return "timed out", f"raise {timeout_knob} or make the receiver answer faster"
    if "connection" in low or "connect" in low or "refused" in low or "resolve" in low:
        return "could not be reached", f"check {url_knob} and that the receiver is up"
    return f"failed ({_quote(failure)})", "see the run's history (aiva history RUN) for the errors"


def _stage_failure_advice(failure: str | None) -> str:
    low = (failure or "").lower()
    if "heartbeat" in low:
        return "the activity stopped heartbeating, so look for a blocked event loop or a stuck worker"
    if "timed out" in low or "timeout" in low:
        return "it ran into its timeout, so make it faster or raise the activity's timeout in workflows/pipeline.py"
    if "postgres" in low or "database" in low or "connection" in low:
        return "check the database (AIVA_DATABASE_URL, AIVA_DB_POOL_MAX) and its load"
    return "each retry costs its backoff; find the cause in the run's history (aiva history RUN)"


def _retry_head(st: StageStats, runs: int) -> str:
    parts = []
    if st.retries:
        parts.append(f"retried {_times(st.retries)}")
    if st.failures:
        parts.append(f"failed {_times(st.failures)}")
    return f"{st.name} {' and '.join(parts)} over {_plural(runs, 'run')}"


def _share_text(st: StageStats, runs: int, share_of: str) -> str:
    if runs == 1:
        return f"{st.name} took {format_duration(st.total_ms)} ({st.share:.0%} of {share_of})"
    return (f"{st.name} took {format_duration(st.total_ms / runs)} a run over {_plural(runs, 'run')} "
            f"({st.share:.0%} of {share_of})")


def _integration_rule(st: StageStats, runs: int) -> Suggestion | None:
    if st.integration is None:
        return None
    if st.retries / runs < INTEGRATION_RETRIES_PER_RUN and st.failures < INTEGRATION_MIN_FAILURES:
        return None
    what, advice = failure_cause(st.top_failure, st.integration)
    return Suggestion(rule="integration", stage=st.name,
                      message=f"{_retry_head(st, runs)}: the {st.integration} {what}; {advice}")


def _stage_rule(st: StageStats, runs: int) -> Suggestion | None:
    if st.integration is not None:
        return None
    if st.retries / runs < STAGE_RETRIES_PER_RUN and st.failures < STAGE_MIN_FAILURES:
        return None
    error = f" (most common error: {_quote(st.top_failure)})" if st.top_failure else ""
    return Suggestion(rule="stage_retries", stage=st.name,
                      message=f"{_retry_head(st, runs)}{error}: {_stage_failure_advice(st.top_failure)}")


def _render_rule(st: StageStats, runs: int, share_of: str) -> Suggestion | None:
    if st.name != RENDER_STAGE:
        return None
    if st.total_ms / runs < RENDER_MIN_S * 1000 or st.share < RENDER_MIN_SHARE:
        return None
    return Suggestion(rule="render", stage=st.name, message=(
        f"{_share_text(st, runs, share_of)}: drop pdf from --formats for large runs "
        "or lower AIVA_PDF_TOP_FINDINGS"))


def _ingest_rule(st: StageStats, runs: int) -> Suggestion | None:
    if st.name != INGEST_STAGE or st.max_ms is None or st.max_ms < INGEST_SLOW_S * 1000:
        return None
    head = f"{st.name} took {format_duration(st.total_ms)} for {_plural(st.count, 'report')}"
    if runs > 1:
        head += f" over {_plural(runs, 'run')}"
    p50 = st.p50_ms or 0.0
    if st.count >= 2 and p50 > 0 and st.max_ms >= INGEST_SKEW_RATIO * p50:
        ratio = st.max_ms / p50
        return Suggestion(rule="ingest", stage=st.name, message=(
            f"{head} (slowest {format_duration(st.max_ms)}, {ratio:.0f} times the median "
            f"{format_duration(p50)}): one report dominates the scan stage; split that scanner's output into "
            "smaller reports, which are ingested in parallel"))
    if st.count >= 2:
        head += f" (slowest {format_duration(st.max_ms)})"
    return Suggestion(rule="ingest", stage=st.name, message=(
        f"{head}: each report is parsed and stored by one activity, so split large scanner reports into "
        "several (they are ingested in parallel) or raise AIVA_BATCH_SIZE for fewer database round trips"))


def _slow_rule(st: StageStats, runs: int, share_of: str) -> Suggestion | None:
    if st.name in (RENDER_STAGE, INGEST_STAGE):
        return None
    if st.total_ms / runs < SLOW_STAGE_MIN_S * 1000 or st.share < SLOW_STAGE_MIN_SHARE:
        return None
    advice = STAGE_ADVICE.get(st.name, DEFAULT_ADVICE)
    return Suggestion(rule="slow_stage", stage=st.name, message=f"{_share_text(st, runs, share_of)}: {advice}")


def _slowest(stats: list[StageStats]) -> list[str]:
    if not stats or stats[0].total_ms <= 0:
        return []
    top = stats[0].total_ms
    return [st.name for st in stats if st.total_ms > 0 and st.total_ms >= SLOWEST_RATIO * top]


def _flakiest(stats: list[StageStats]) -> str | None:
    flaky = [st for st in stats if st.integration is not None and st.retries + st.failures > 0]
    if not flaky:
        return None
    flaky.sort(key=lambda st: (-(st.retries + st.failures), -st.failures, st.name))
    return flaky[0].name


def performance_feedback(
    stages: Sequence[StageTiming], *, runs: int | None = None, wall_ms: float | None = None
) -> PerformanceFeedback:
    """Per-stage figures, slowest stages, flakiest integration and suggestions (rules in the module docstring).

    `runs`: how many runs the rows cover (default: inferred); `wall_ms`: the runs' summed
    wall-clock time, which shares are taken of (default: the summed stage time).
    """
    n_runs = max(runs if runs is not None else infer_runs(stages), 1)
    stage_ms = float(sum(s.duration_ms for s in stages if s.duration_ms is not None))
    if wall_ms is not None and wall_ms > 0:
        denominator, share_of = wall_ms, ("the run" if n_runs == 1 else "run time")
    else:
        denominator, share_of = stage_ms, "stage time"
    stats = stage_stats(stages, denominator_ms=denominator)
    suggestions: list[Suggestion] = []
    for rule in (
        lambda st: _integration_rule(st, n_runs),
        lambda st: _stage_rule(st, n_runs),
        lambda st: _render_rule(st, n_runs, share_of),
        lambda st: _ingest_rule(st, n_runs),
        lambda st: _slow_rule(st, n_runs, share_of),
    ):
        suggestions.extend(s for s in map(rule, stats) if s is not None)
    return PerformanceFeedback(
        runs=n_runs,
        wall_ms=wall_ms if wall_ms is not None and wall_ms > 0 else None,
        stage_ms=stage_ms,
        share_of=share_of,
        stages=stats,
        slowest=_slowest(stats),
        flakiest_integration=_flakiest(stats),
        suggestions=suggestions,
    )

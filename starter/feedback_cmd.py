"""`aiva feedback RUN...`: performance feedback over one or more runs, read from their workflow histories.

    fb = await feedback_for_runs(client, ["run-a", "run-b"])
    print(render_feedback(fb))

Each run's history is folded into its timeline (`starter.recorder.timeline`); every
activity becomes a `StageTiming` (as the report stage does), and `aiva.feedback`
does the rest. Shares are taken of the runs' summed wall time (start to close, or to
the last closed activity for a run still going).
"""

from __future__ import annotations

import asyncio
import textwrap
from datetime import datetime

from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from aiva.errors import InputError
from aiva.feedback import PerformanceFeedback, format_duration, performance_feedback
from aiva.reports.model import StageTiming
from starter.recorder import ActivityRecord, Timeline, timeline

FETCH_CONCURRENCY = 8
TEXT_WIDTH = 100


def stage_timing(record: ActivityRecord) -> StageTiming:
    """One activity of a run as a StageTiming (its failure, else the last retried attempt's failure)."""
    return StageTiming(name=record.label, attempts=record.attempts, duration_ms=record.duration_ms,
                       outcome=record.outcome, failure=record.failure or record.last_retry_failure)


def wall_ms(tl: Timeline) -> float | None:
    """A run's wall time: start to close, or to its last closed activity while it runs; None if unknown."""
    if tl.started is None:
        return None
    end: datetime | None = tl.closed
    if end is None:
        closed = [a.closed for a in tl.activities if a.closed is not None]
        end = max(closed) if closed else None
    return None if end is None else (end - tl.started).total_seconds() * 1000


def feedback_for_timelines(timelines: list[Timeline]) -> PerformanceFeedback:
    """Performance feedback over the runs' timelines (shares of their summed wall time when every run has one)."""
    stages = [stage_timing(a) for tl in timelines for a in tl.activities]
    walls = [wall_ms(tl) for tl in timelines]
    total_wall = sum(w for w in walls if w is not None) if walls and all(w is not None for w in walls) else None
    return performance_feedback(stages, runs=max(len(timelines), 1), wall_ms=total_wall)


async def feedback_for_runs(client: Client, run_ids: list[str]) -> PerformanceFeedback:
    """Fetch each run's history (latest execution of the workflow id) and return the feedback over all of them.

    Raises InputError naming a run id that Temporal does not know. Duplicate ids count once.
    """
    ids = list(dict.fromkeys(run_ids))
    if not ids:
        raise InputError("name at least one run id")
    gate = asyncio.Semaphore(FETCH_CONCURRENCY)

    async def one(run_id: str) -> Timeline:
        async with gate:
            try:
                history = await client.get_workflow_handle(run_id).fetch_history()
            except RPCError as e:
                if e.status == RPCStatusCode.NOT_FOUND:
                    raise InputError(f"no run {run_id!r} in Temporal (see `aiva runs`)") from e
                raise
        return timeline(history)

    timelines = await asyncio.gather(*(one(r) for r in ids))
    return feedback_for_timelines(list(timelines))


def render_feedback(fb: PerformanceFeedback) -> str:
    """The feedback as plain text for a terminal: a per-stage table, slowest/flakiest, numbered suggestions."""
    runs = f"{fb.runs} run" if fb.runs == 1 else f"{fb.runs} runs"
    times = [f"stage time {format_duration(fb.stage_ms)}"]
    if fb.wall_ms is not None:
        times.insert(0, f"wall time {format_duration(fb.wall_ms)}")
    lines = [f"Performance feedback over {runs} ({', '.join(times)})", ""]
    if not fb.stages:
        lines.append("No activities recorded.")
        return "\n".join(lines) + "\n"

    header = ("stage", "count", "total", "median", "max", "share", "attempts", "retries", "failures")
    rows = [
        (
            st.name,
            str(st.count),
            format_duration(st.total_ms),
            "-" if st.p50_ms is None else format_duration(st.p50_ms),
            "-" if st.max_ms is None else format_duration(st.max_ms),
            f"{st.share:.0%}",
            str(st.attempts),
            str(st.retries),
            str(st.failures),
        )
        for st in fb.stages
    ]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: tuple[str, ...]) -> str:
        first = cells[0].ljust(widths[0])
        rest = "  ".join(c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True))
        return f"{first}  {rest}".rstrip()

    lines.append(line(header))
    lines.append("  ".join("-" * w for w in widths))
    lines.extend(line(r) for r in rows)
    lines.append(f"(share: of {fb.share_of})")
    lines.append("")
    label = "Slowest stage" if len(fb.slowest) == 1 else "Slowest stages"
    lines.append(f"{label}: {', '.join(fb.slowest) or '-'}")
    lines.append(f"Flakiest integration: {fb.flakiest_integration or '-'}")
    lines.append("")
    if fb.suggestions:
        lines.append("Suggestions:")
        for n, s in enumerate(fb.suggestions, 1):
            prefix = f"{n:>2}. "
            lines.append(textwrap.fill(s.message, width=TEXT_WIDTH, initial_indent=prefix,
                                       subsequent_indent=" " * len(prefix)))
    else:
        lines.append("Suggestions: none (no stage was slow, retried or failed beyond the thresholds).")
    return "\n".join(lines) + "\n"

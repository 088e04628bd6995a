"""`aiva stats`: per-activity figures over many runs, from their workflow histories."""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass

from temporalio.client import Client

from starter.recorder import ActivityRecord, timeline


@dataclass(frozen=True)
class ActivityStats:
    """One activity type over a window."""

    name: str
    count: int
    p50_ms: float
    p95_ms: float
    failure_rate: float
    retry_rate: float


def _pct(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def summarize(records: list[ActivityRecord]) -> list[ActivityStats]:
    """Aggregate activity records by name."""
    by_name: dict[str, list[ActivityRecord]] = defaultdict(list)
    for r in records:
        by_name[r.label].append(r)
    out = []
    for name, rs in sorted(by_name.items()):
        durations = sorted(r.duration_ms for r in rs if r.duration_ms is not None)
        closed = [r for r in rs if r.outcome != "running"]
        failed = sum(1 for r in closed if r.outcome in ("failed", "timed_out"))
        retried = sum(1 for r in closed if r.attempts > 1)
        out.append(ActivityStats(
            name=name, count=len(rs), p50_ms=_pct(durations, 50), p95_ms=_pct(durations, 95),
            failure_rate=failed / len(closed) if closed else 0.0,
            retry_rate=retried / len(closed) if closed else 0.0,
        ))
    return out


async def activity_stats(client: Client, query: str, limit: int = 1000) -> tuple[list[ActivityStats], int]:
    """Read the histories of the runs matching `query` and aggregate their activities."""
    records: list[ActivityRecord] = []
    n = 0
    async for w in client.list_workflows(query, limit=limit):
        history = await client.get_workflow_handle(w.id, run_id=w.run_id).fetch_history()
        records.extend(timeline(history).activities)
        n += 1
    return summarize(records), n

"""Analysis and risk stages: lifecycle reconciliation and scoring, set-based in PostgreSQL."""

from __future__ import annotations

import asyncpg
from temporalio import activity

from aiva.contracts import AnalysisResult, CompensationResult, RiskResult, RunRef
from aiva.enums import ModuleName
from aiva.store import reconcile, scoring


class AnalysisActivities:
    """Dedupe + lifecycle; risk scores; undo of the lifecycle changes."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @activity.defn(name="analyze_run")
    async def analyze_run(self, ref: RunRef) -> AnalysisResult:
        """Match the run's findings against the product's, apply transitions (once per run)."""
        async with self._pool.acquire() as conn:
            return await reconcile.analyze_run(conn, ref.run_id)

    @activity.defn(name="undo_analysis")
    async def undo_analysis(self, ref: RunRef) -> CompensationResult:
        """Compensation: restore the statuses the run changed, drop the findings it created."""
        async with self._pool.acquire() as conn:
            n = await reconcile.revert_run(conn, ref.run_id)
        return CompensationResult(step=ModuleName.ANALYSIS, undone=n)

    @activity.defn(name="score_risk")
    async def score_risk(self, ref: RunRef) -> RiskResult:
        """Score every finding the run saw."""
        async with self._pool.acquire() as conn:
            return await scoring.score_run(conn, ref.run_id)

"""Analysis and risk stages: lifecycle reconciliation and scoring, set-based in PostgreSQL."""

from __future__ import annotations

import asyncpg
from temporalio import activity

from activities import metrics
from aiva.contracts import (
    AnalysisResult,
    AttackPathsResult,
    CompensationResult,
    ComplianceView,
    RiskResult,
    RunRef,
    ThreatView,
    VulnerabilityView,
)
from aiva.enums import ModuleName
from aiva.settings import Settings
from aiva.store import analysis_views, reconcile, scoring


class AnalysisActivities:
    """Dedupe + lifecycle; the three parallel views; risk scores and attack paths; undo."""

    def __init__(self, pool: asyncpg.Pool, settings: Settings) -> None:
        self._pool = pool
        self._settings = settings

    @activity.defn(name="analyze_vulnerabilities")
    async def analyze_vulnerabilities(self, ref: RunRef) -> VulnerabilityView:
        """Cross-tool correlation of the touched assets' open findings; false-positive likelihood of new ones."""
        async with self._pool.acquire() as conn:
            r = await analysis_views.vulnerabilities(conn, ref.run_id, self._settings.fp_auto_close_threshold)
        return VulnerabilityView(**r)

    @activity.defn(name="check_compliance")
    async def check_compliance(self, ref: RunRef) -> ComplianceView:
        """Evaluate OWASP Top 10, CWE Top 25, PCI DSS, SOX and GDPR views over the product."""
        async with self._pool.acquire() as conn:
            r = await analysis_views.compliance(conn, ref.run_id)
        return ComplianceView(failed_controls=r["frameworks"])

    @activity.defn(name="correlate_threats")
    async def correlate_threats(self, ref: RunRef) -> ThreatView:
        """KEV / EPSS exposure of the run's open findings."""
        async with self._pool.acquire() as conn:
            return ThreatView(**await analysis_views.threats(conn, ref.run_id))

    @activity.defn(name="find_attack_paths")
    async def find_attack_paths(self, ref: RunRef) -> AttackPathsResult:
        """Top attack paths over the product's inventory, weighted by the freshly scored findings."""
        async with self._pool.acquire() as conn:
            r = await analysis_views.attack_paths_for_run(conn, ref.run_id)
        paths = r["paths"]
        return AttackPathsResult(
            paths=len(paths), skipped_reason=r["skipped_reason"],
            top=[" -> ".join(["internet", *(h["to"] for h in p["hops"])]) for p in paths[:3]])

    @activity.defn(name="analyze_run")
    async def analyze_run(self, ref: RunRef) -> AnalysisResult:
        """Match the run's findings against the product's, apply transitions (once per run)."""
        async with self._pool.acquire() as conn:
            result = await reconcile.analyze_run(conn, ref.run_id)
        for change in ("new", "reopened", "mitigated", "unchanged", "triaged"):
            metrics.TRANSITIONS.labels(change).inc(getattr(result, change))
        return result

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

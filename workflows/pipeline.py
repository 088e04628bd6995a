"""The pipeline: scan -> analysis -> risk -> remediation -> report, as a saga.

Each stage is an activity (or several in parallel) with its own retry policy and
timeouts. Before each side-effecting stage runs, its undo is registered; on
failure, on a Temporal cancel, or on the `cancel_run` signal, the undos run in
reverse, shielded so that a second cancel cannot cut them short. Findings never
pass through here: activities return ids and counts only (claim check).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, is_cancelled_exception

with workflow.unsafe.imports_passed_through():
    from aiva.contracts import (
        AnalysisResult,
        AttackPathsResult,
        CompensationResult,
        ComplianceView,
        IngestInput,
        IngestResult,
        IntegrationPlan,
        PipelineInput,
        PipelineProgress,
        PipelineResult,
        RemediationInput,
        RemediationResult,
        ReportStageInput,
        ReportStageResult,
        RiskResult,
        RunRef,
        ScannerInput,
        ThreatView,
        TicketSyncResult,
        TriageResult,
        VulnerabilityView,
    )
    from aiva.enums import ModuleName
    from aiva.triage import TriageDecision
    from workflows import search_attributes as sa

T = TypeVar("T")

NON_RETRYABLE = [
    "InputError", "UnknownFormatError", "ReportParseError", "ReportTooLargeError", "UnsafeInputError",
    "IntegrationRejected", "ConfigError", "MigrationError", "ScannerNotInstalled",
]
STANDARD_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1), backoff_coefficient=2.0, maximum_interval=timedelta(seconds=30),
    maximum_attempts=5, non_retryable_error_types=NON_RETRYABLE,
)
INTEGRATION_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2), backoff_coefficient=2.0, maximum_interval=timedelta(minutes=1),
    maximum_attempts=8, non_retryable_error_types=NON_RETRYABLE,
)
SCANNER_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=5), backoff_coefficient=2.0, maximum_interval=timedelta(minutes=1),
    maximum_attempts=3, non_retryable_error_types=NON_RETRYABLE,
)
COMPENSATION_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1), backoff_coefficient=2.0, maximum_interval=timedelta(seconds=30),
    maximum_attempts=10,
)


# Side-effecting stages: on cancel, wait until the activity has really stopped, so that
# compensation never runs while the step it undoes is still writing.
WAIT = workflow.ActivityCancellationType.WAIT_CANCELLATION_COMPLETED


class UserCancelled(Exception):
    """Raised inside the workflow when the cancel_run signal arrives."""


@workflow.defn
class PipelineWorkflow:
    """One AIVA run over a product's scanner reports."""

    def __init__(self) -> None:
        self._progress = PipelineProgress()
        self._cancel_reason: str | None = None
        self._undo: list[tuple[ModuleName, str]] = []
        self._product = ""

    @workflow.query
    def progress(self) -> PipelineProgress:
        """Where the run is: stage, status, counts."""
        return self._progress

    @workflow.signal
    def cancel_run(self, reason: str) -> None:
        """Ask the run to stop; compensation undoes what it did."""
        if self._cancel_reason is None:
            self._cancel_reason = reason or "cancelled by user"
            self._progress.cancel_reason = self._cancel_reason

    @workflow.update
    async def triage(self, decision: TriageDecision) -> TriageResult:
        """Mark a finding false positive / risk accepted / out of scope; later scans honour it."""
        result: TriageResult = await workflow.execute_activity(
            "apply_triage", decision, result_type=TriageResult, start_to_close_timeout=timedelta(minutes=2),
            retry_policy=STANDARD_RETRY,
        )
        return result

    @triage.validator
    def _validate_triage(self, decision: TriageDecision) -> None:
        """Reject a decision for another product, an expiry in the past, or a target scope without a target."""
        if decision.product != self._product:
            raise ValueError(f"this run is for product {self._product!r}, not {decision.product!r}")
        decision.check(workflow.now())

    @workflow.run
    async def run(self, inp: PipelineInput) -> PipelineResult:
        """Run the five stages; compensate in reverse on failure or cancellation."""
        run_id = workflow.info().workflow_id
        ref = RunRef(run_id=run_id, product=inp.product)
        self._product = inp.product
        counts = self._progress.counts
        counts.reports = len(inp.reports) + sum(len(d.scanners) for d in inp.scan_dirs)
        workflow.upsert_search_attributes([sa.PRODUCT.value_set(inp.product)])
        try:
            # scan: every report in parallel, each its own activity
            self._enter(ModuleName.SCAN)
            self._undo.append((ModuleName.SCAN, "undo_ingest"))
            # real scanners run beside the report ingests, one activity per directory x scanner
            scanner_inputs = [
                ScannerInput(run_id=run_id, product=inp.product, index=j, scanner=name, target_dir=d.path,
                             target=d.target)
                for j, (d, name) in enumerate((d, n) for d in inp.scan_dirs for n in d.scanners)
            ]
            ingested: list[IngestResult] = await self._guard(lambda: _all_or_first_error([
                workflow.execute_activity(
                    "ingest_report", IngestInput(run_id=run_id, product=inp.product, index=i, report=r),
                    result_type=IngestResult, start_to_close_timeout=timedelta(minutes=30),
                    heartbeat_timeout=timedelta(minutes=2), retry_policy=STANDARD_RETRY,
                    cancellation_type=WAIT,
                )
                for i, r in enumerate(inp.reports)
            ] + [
                workflow.execute_activity(
                    "run_scanner", si, result_type=IngestResult, start_to_close_timeout=timedelta(hours=1),
                    heartbeat_timeout=timedelta(minutes=2), retry_policy=SCANNER_RETRY, cancellation_type=WAIT,
                )
                for si in scanner_inputs
            ]))
            counts.ingested_findings = sum(x.findings for x in ingested)
            workflow.upsert_search_attributes([sa.FINDINGS.value_set(counts.ingested_findings)])
            self._done(ModuleName.SCAN)

            # analysis: dedupe + lifecycle against the product's stored findings
            self._enter(ModuleName.ANALYSIS)
            self._undo.append((ModuleName.ANALYSIS, "undo_analysis"))
            analysis: AnalysisResult = await self._guard(lambda: workflow.execute_activity(
                "analyze_run", ref, result_type=AnalysisResult, start_to_close_timeout=timedelta(minutes=30),
                retry_policy=STANDARD_RETRY, cancellation_type=WAIT,
            ))
            counts.new, counts.active = analysis.new, analysis.active
            counts.reopened, counts.mitigated, counts.unchanged = (
                analysis.reopened, analysis.mitigated, analysis.unchanged)
            if workflow.patched("analysis-views-v1"):
                # vulnerability analysis, compliance check and threat correlation, in parallel, then joined
                vuln, _compliance, threat = await self._guard(lambda: _all_or_first_error([
                    workflow.execute_activity(name, ref, result_type=rtype,
                                              start_to_close_timeout=timedelta(minutes=20),
                                              retry_policy=STANDARD_RETRY, cancellation_type=WAIT)
                    for name, rtype in (("analyze_vulnerabilities", VulnerabilityView),
                                        ("check_compliance", ComplianceView),
                                        ("correlate_threats", ThreatView))
                ]))
                counts.multi_tool_groups = vuln.multi_tool_groups
                counts.kev = threat.kev
            self._done(ModuleName.ANALYSIS)

            # risk: derived scores, recomputed by any later run, so no undo
            self._enter(ModuleName.RISK)
            risk: RiskResult = await self._guard(lambda: workflow.execute_activity(
                "score_risk", ref, result_type=RiskResult, start_to_close_timeout=timedelta(minutes=20),
                retry_policy=STANDARD_RETRY,
            ))
            counts.critical = risk.by_level.get("critical", 0)
            counts.high = risk.by_level.get("high", 0)
            workflow.upsert_search_attributes([sa.CRITICAL.value_set(counts.critical),
                                               sa.HIGH.value_set(counts.high)])
            if workflow.patched("attack-paths-v1"):
                paths: AttackPathsResult = await self._guard(lambda: workflow.execute_activity(
                    "find_attack_paths", ref, result_type=AttackPathsResult,
                    start_to_close_timeout=timedelta(minutes=10), retry_policy=STANDARD_RETRY,
                ))
                counts.attack_paths = paths.paths
            self._done(ModuleName.RISK)

            # remediation: tickets for new/reopened findings; undo closes them
            self._enter(ModuleName.REMEDIATION)
            if inp.remediation:
                self._undo.append((ModuleName.REMEDIATION, "close_run_tickets"))
                if workflow.patched("per-integration-tickets-v1"):
                    # one activity per integration: a slow or failing JIRA retries on its own, in its own
                    # history events, without re-driving Slack or the webhook
                    plan: IntegrationPlan = await self._guard(lambda: workflow.execute_activity(
                        "list_integrations", ref, result_type=IntegrationPlan,
                        start_to_close_timeout=timedelta(minutes=1), retry_policy=STANDARD_RETRY,
                    ))
                    rems = await self._guard(lambda: _all_or_first_error([
                        self._open_tickets(RemediationInput(run_id=run_id, product=inp.product,
                                                            min_severity=inp.min_ticket_severity, integration=name))
                        for name in plan.integrations
                    ]))
                    counts.tickets_by_integration = {r.integration: r.opened + r.already_open for r in rems}
                    counts.tickets_opened = sum(counts.tickets_by_integration.values())
                else:
                    rem = await self._guard(lambda: self._open_tickets(RemediationInput(
                        run_id=run_id, product=inp.product, min_severity=inp.min_ticket_severity)))
                    counts.tickets_opened = rem.opened + rem.already_open
            self._done(ModuleName.REMEDIATION)

            # report: written atomically (temp file + rename), nothing to undo
            self._enter(ModuleName.REPORT)
            reports: ReportStageResult = await self._guard(lambda: workflow.execute_activity(
                "render_reports", ReportStageInput(run_id=run_id, product=inp.product, formats=inp.report_formats),
                result_type=ReportStageResult, start_to_close_timeout=timedelta(minutes=30),
                heartbeat_timeout=timedelta(minutes=5), retry_policy=STANDARD_RETRY,
            ))
            self._done(ModuleName.REPORT)

            if inp.remediation and workflow.patched("close-fixed-tickets-v1"):
                # Past the saga's pivot (the report is out): retried, never compensated. Tickets whose
                # finding this run found fixed, or that were triaged away, are closed in their systems.
                try:
                    synced: TicketSyncResult = await self._guard(lambda: workflow.execute_activity(
                        "close_fixed_tickets", ref, result_type=TicketSyncResult,
                        start_to_close_timeout=timedelta(minutes=30), schedule_to_close_timeout=timedelta(hours=2),
                        heartbeat_timeout=timedelta(seconds=60), retry_policy=INTEGRATION_RETRY,
                    ))
                except ActivityError as e:
                    if is_cancelled_exception(e):
                        raise
                    # the run's results stand; the next run of the product picks these tickets up again
                    synced = TicketSyncResult(failures=[_describe(e)])
                    self._progress.error = f"closing fixed tickets failed (the next run retries): {_describe(e)}"
                counts.tickets_closed_fixed = synced.closed
                if synced.failed:
                    self._progress.error = f"{synced.failed} fixed tickets could not be closed: " + (
                        "; ".join(synced.failures)[:500])
        except BaseException as e:
            await self._fail(e)
            raise
        await workflow.wait_condition(workflow.all_handlers_finished)
        self._progress.stage = "done"
        self._progress.status = "completed"
        workflow.upsert_search_attributes([sa.STAGE.value_set("done"), sa.OUTCOME.value_set("completed")])
        workflow.upsert_memo({"summary": counts.model_dump(), "reports": reports.files})
        return PipelineResult(
            run_id=run_id, product=inp.product, counts=counts, reports=reports.files,
            warnings=sum(x.warnings for x in ingested),
        )

    async def _open_tickets(self, inp: RemediationInput) -> RemediationResult:
        # "open_tickets:jira": the history (and so aiva history / stats / feedback) names the integration
        result: RemediationResult = await workflow.execute_activity(
            "open_tickets", inp, result_type=RemediationResult, start_to_close_timeout=timedelta(minutes=30),
            activity_id=f"open_tickets:{inp.integration}" if inp.integration else None,
            schedule_to_close_timeout=timedelta(hours=2), heartbeat_timeout=timedelta(seconds=60),
            retry_policy=INTEGRATION_RETRY, cancellation_type=WAIT,
        )
        return result

    def _enter(self, stage: ModuleName) -> None:
        self._progress.stage = stage.value
        workflow.upsert_search_attributes([sa.STAGE.value_set(stage.value)])

    def _done(self, stage: ModuleName) -> None:
        self._progress.stages_done.append(stage.value)

    async def _guard(self, start: Callable[[], Awaitable[T]]) -> T:
        """Run a stage, racing it against the cancel_run signal and a Temporal cancel.

        Either way the stage's activities are cancelled and AWAITED before compensation
        starts: a Temporal cancel does not stop activities started as tasks by itself.
        """
        if self._cancel_reason is not None:
            raise UserCancelled(self._cancel_reason)
        task: asyncio.Future[T] = asyncio.ensure_future(start())
        try:
            await workflow.wait_condition(lambda: task.done() or self._cancel_reason is not None)
        except asyncio.CancelledError:
            await _stop(task)
            raise
        if not task.done():
            await _stop(task)
            raise UserCancelled(self._cancel_reason or "cancelled")
        return task.result()

    async def _fail(self, error: BaseException) -> None:
        """Record why the run stopped, then compensate (shielded)."""
        if isinstance(error, UserCancelled):
            outcome, message = "cancelled", f"cancelled by signal: {error}"
        elif is_cancelled_exception(error):
            outcome, message = "cancelled", "cancelled through Temporal"
        else:
            outcome, message = "failed", _describe(error)
        self._progress.status = "compensating"
        self._progress.error = message
        workflow.upsert_search_attributes([sa.OUTCOME.value_set(outcome)])
        await self._compensate_shielded()
        self._progress.status = outcome
        workflow.upsert_memo({"outcome": outcome, "error": message[:1000],
                              "summary": self._progress.counts.model_dump()})
        if isinstance(error, UserCancelled):
            # Turn the in-workflow signal into a proper, non-retryable failure of the run.
            raise ApplicationError(message, type="UserCancelled", non_retryable=True) from None

    async def _compensate_shielded(self) -> None:
        task = asyncio.ensure_future(self._compensate())
        while True:
            try:
                await asyncio.shield(task)
                return
            except asyncio.CancelledError:
                workflow.logger.warning("cancel requested during compensation; finishing compensation first")

    async def _compensate(self) -> None:
        ref = RunRef(run_id=workflow.info().workflow_id, product=self._product)
        for stage, activity_name in reversed(self._undo):
            try:
                undone: CompensationResult = await workflow.execute_activity(
                    activity_name, ref, result_type=CompensationResult,
                    start_to_close_timeout=timedelta(minutes=10), heartbeat_timeout=timedelta(minutes=2),
                    retry_policy=COMPENSATION_RETRY,
                )
                if undone.failed:
                    # what a human must finish (e.g. a ticket the target refuses to close): say so, go on
                    workflow.logger.error("compensation %s left %d undone: %s", activity_name, undone.failed,
                                          "; ".join(undone.failures))
                    self._progress.stages_done.append(f"undo-partial:{stage.value}")
                    self._progress.error = (self._progress.error or "") + (
                        f" | {activity_name} left {undone.failed} undone: {'; '.join(undone.failures)[:500]}")
                else:
                    self._progress.stages_done.append(f"undo:{stage.value}")
            except ActivityError as e:
                workflow.logger.error("compensation %s failed: %s", activity_name, e)
                self._progress.stages_done.append(f"undo-failed:{stage.value}")


async def _stop(task: asyncio.Future[T]) -> None:
    """Cancel a stage and wait until its activities acknowledge (WAIT_CANCELLATION_COMPLETED)."""
    task.cancel()
    with contextlib.suppress(BaseException):
        await task


async def _all_or_first_error(aws: list[Awaitable[T]]) -> list[T]:
    """Await every activity (none is left running behind compensation), then raise the first error."""
    results = await asyncio.gather(*aws, return_exceptions=True)
    for r in results:
        if isinstance(r, BaseException):
            raise r
    return list(results)  # type: ignore[arg-type]


def _describe(error: BaseException) -> str:
    cause: BaseException | None = error
    parts = []
    while cause is not None and len(parts) < 4:
        parts.append(str(cause) or type(cause).__name__)
        cause = cause.__cause__
    return " <- ".join(p for p in parts if p)

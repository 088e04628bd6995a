"""The threat-intel refresh: one activity that loads the feeds and re-scores what changed.

Started by a Temporal Schedule (`aiva intel schedule`), or once by `aiva intel refresh`.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from aiva.contracts import IntelRefreshInput, IntelRefreshResult

INTEL_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=5), backoff_coefficient=2.0, maximum_interval=timedelta(minutes=5),
    maximum_attempts=6, non_retryable_error_types=["ReportParseError", "ReportTooLargeError", "InputError"],
)


@workflow.defn
class IntelRefreshWorkflow:
    """Refresh KEV / EPSS and re-score affected findings."""

    @workflow.run
    async def run(self, inp: IntelRefreshInput) -> IntelRefreshResult:
        """Load the feeds (retrying unavailable sources), then re-score."""
        result: IntelRefreshResult = await workflow.execute_activity(
            "refresh_intel", inp, result_type=IntelRefreshResult, start_to_close_timeout=timedelta(minutes=30),
            heartbeat_timeout=timedelta(minutes=5), retry_policy=INTEL_RETRY,
        )
        return result

"""A deliberately non-deterministic variant of the pipeline, for the replay test.

Kept in its own module: the workflow sandbox re-imports the module a workflow is
defined in, so it must do no I/O at import time.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import workflow


@workflow.defn(name="PipelineWorkflow")
class ReorderedPipeline:
    """Same workflow type, but analysis is scheduled before the scan stage."""

    @workflow.run
    async def run(self, inp: Any) -> None:
        await workflow.execute_activity("analyze_run", {}, start_to_close_timeout=timedelta(minutes=1))

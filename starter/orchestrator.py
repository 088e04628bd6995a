"""The Python API (the seed's IntegrationOrchestrator), a thin client over the pipeline workflow."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

from temporalio.client import Client, WorkflowHandle
from temporalio.common import SearchAttributePair, TypedSearchAttributes

from aiva.contracts import PipelineInput, PipelineProgress, PipelineResult, ReportInput
from aiva.settings import Settings
from workflows import search_attributes as sa
from workflows.pipeline import PipelineWorkflow


def new_run_id(product: str) -> str:
    """A readable, unique workflow id: aiva-<product>-<utc time>-<random>."""
    slug = "".join(c if c.isalnum() or c in "-_." else "-" for c in product.lower())[:40]
    return f"aiva-{slug}-{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"


class IntegrationOrchestrator:
    """Start, watch and cancel pipeline runs."""

    def __init__(self, client: Client, settings: Settings) -> None:
        self.client = client
        self.settings = settings

    @classmethod
    async def create_default(cls, settings: Settings | None = None) -> IntegrationOrchestrator:
        """Connect with the configured (or default) settings."""
        from worker import connect_temporal

        settings = settings or Settings()
        return cls(await connect_temporal(settings), settings)

    async def start(
        self, inp: PipelineInput, run_id: str | None = None
    ) -> WorkflowHandle[PipelineWorkflow, PipelineResult]:
        """Start a run and return its handle."""
        run_id = run_id or new_run_id(inp.product)
        return await self.client.start_workflow(
            PipelineWorkflow.run, inp, id=run_id, task_queue=self.settings.task_queue,
            search_attributes=TypedSearchAttributes([SearchAttributePair(sa.PRODUCT, inp.product),
                                                     SearchAttributePair(sa.STAGE, "pending")]),
            memo={"requested_by": inp.requested_by, "reports": [r.path for r in inp.reports]},
        )

    async def execute_integration_flow(
        self, product: str, reports: Sequence[str | ReportInput], *, wait: bool = True, **options: object
    ) -> PipelineResult | str:
        """Run the pipeline over report files; the result when waiting, else the run id."""
        items = [r if isinstance(r, ReportInput) else ReportInput(path=str(r)) for r in reports]
        handle = await self.start(PipelineInput(product=product, reports=items, **options))  # type: ignore[arg-type]
        if not wait:
            return handle.id
        return await handle.result()

    async def get_integration_status(self, run_id: str) -> PipelineProgress:
        """The run's progress query (works on closed runs too)."""
        return await self.client.get_workflow_handle(run_id).query(PipelineWorkflow.progress)

    async def cancel_integration(self, run_id: str, reason: str = "cancelled by user", hard: bool = False) -> None:
        """Cancel by signal (default) or by a Temporal cancel request; both compensate."""
        handle = self.client.get_workflow_handle(run_id)
        if hard:
            await handle.cancel()
        else:
            await handle.signal(PipelineWorkflow.cancel_run, reason)

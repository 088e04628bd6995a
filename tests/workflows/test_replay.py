"""Replay the committed golden histories with the current workflow code.

A change that makes the pipeline non-deterministic (an activity added, removed or
reordered without `workflow.patched`) fails here before it reaches a deploy.
Record new goldens with: AIVA_RECORD_HISTORIES=1 pytest tests/workflows/test_pipeline.py -k replay
"""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio import workflow
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from tests.workflows.reordered_pipeline import ReorderedPipeline
from workflows.pipeline import PipelineWorkflow

HISTORIES = sorted((Path(__file__).resolve().parents[1] / "histories").glob("*.json"))


def _load(path: Path) -> WorkflowHistory:
    return WorkflowHistory.from_json(path.stem, path.read_text())


def test_golden_histories_exist() -> None:
    assert HISTORIES, "no golden histories in tests/histories/"


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_replay_golden_history(path: Path) -> None:
    await Replayer(workflows=[PipelineWorkflow], data_converter=pydantic_data_converter).replay_workflow(
        _load(path))


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_replay_catches_a_non_deterministic_change(path: Path) -> None:
    with pytest.raises(workflow.NondeterminismError):
        await Replayer(workflows=[ReorderedPipeline], data_converter=pydantic_data_converter).replay_workflow(
            _load(path))

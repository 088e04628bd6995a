"""`aiva dev --detach` / `--stop`: the first README command's stack, on free ports."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from aiva.settings import Settings
from starter import devstack
from starter.services import port_open


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_detached_dev_stack_starts_registers_attributes_and_stops(
        tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    port, ui = _free_port(), _free_port()
    monkeypatch.setenv("AIVA_DATABASE_URL", database_url)
    monkeypatch.setenv("AIVA_TEMPORAL_ADDRESS", f"127.0.0.1:{port}")
    monkeypatch.setenv("AIVA_TEMPORAL_UI_PORT", str(ui))
    monkeypatch.setenv("AIVA_TASK_QUEUE", "devstack-test")
    s = Settings(home=tmp_path / "home")
    try:
        msg = devstack.start_detached(s)
        assert "running in the background" in msg
        assert port_open("127.0.0.1", port) and port_open("127.0.0.1", ui)
        client = await Client.connect(s.temporal_address, data_converter=pydantic_data_converter)
        from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest

        resp = await client.operator_service.list_search_attributes(ListSearchAttributesRequest(namespace="default"))
        assert {"AivaProduct", "AivaStage", "AivaCritical", "AivaHigh"} <= set(resp.custom_attributes)
        assert devstack.ensure_running(s).startswith("using the dev stack")
    finally:
        stopped = devstack.stop_detached(s)
    assert "stopped" in stopped
    assert not port_open("127.0.0.1", port)

"""`aiva api serve`'s server over a real socket: health, and an upload streamed through uvicorn into a run."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import httpx
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from aiva.ratelimit import InProcessRateLimiter
from aiva.settings import Settings
from starter.cli_api import build_server
from tests.api.support import KeyFactory, bearer

SARIF = Path(__file__).resolve().parents[1] / "fixtures" / "sarif" / "small.sarif"


async def test_the_served_api_answers_over_http(
        temporal_env: WorkflowEnvironment, pool: asyncpg.Pool, api_settings: Settings, worker: Worker,
        new_key: KeyFactory) -> None:
    server = build_server(api_settings, temporal_env.client, pool, InProcessRateLimiter(), "127.0.0.1", 0)
    server.config.log_level = "warning"
    task = asyncio.create_task(server.serve())
    try:
        deadline = asyncio.get_running_loop().time() + 30
        while not server.started:
            assert not task.done(), "the server stopped before it started"
            assert asyncio.get_running_loop().time() < deadline, "the server did not start"
            await asyncio.sleep(0.05)
        port = server.servers[0].sockets[0].getsockname()[1]
        _, token = await new_key("runs:write,runs:read")
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            assert (await http.get("/healthz")).json()["ok"] is True
            r = await http.post("/api/v1/runs", headers=bearer(token), data={"product": "served", "formats": "json"},
                                files={"files": ("small.sarif", SARIF.read_bytes())})
            assert r.status_code == 202, r.text
            run_id = r.json()["run_id"]
            assert Path(r.json()["reports"][0]).read_bytes() == SARIF.read_bytes()
            await temporal_env.client.get_workflow_handle(run_id).result()
            r = await http.get(r.json()["status_url"], headers=bearer(token))
            assert r.status_code == 200 and r.json()["progress"]["status"] == "completed"
            assert (await http.get("/api/v1/runs", headers={"X-API-Key": "aiva_bad"})).status_code == 401
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 30)

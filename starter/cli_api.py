"""`aiva apikey create|list|revoke` and `aiva api serve`: the HTTP ingest API and its keys."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated

import asyncpg
import typer

from aiva.apikeys import SCOPES, parse_scopes
from aiva.errors import AivaError, ApiKeyFormatError
from starter.cli import _run, _settings, app, err, out, parse_since

if TYPE_CHECKING:  # the CLI imports this module on every start: keep uvicorn and Temporal out of that path
    import uvicorn
    from temporalio.client import Client

    from aiva.ratelimit import RateLimiter
    from aiva.settings import Settings

apikey_app = typer.Typer(help="API keys for the HTTP API. Scopes: "
                         + "; ".join(f"{k} ({v})" for k, v in SCOPES.items()))
api_app = typer.Typer(help="The HTTP ingest API.")
app.add_typer(apikey_app, name="apikey")
app.add_typer(api_app, name="api")


@asynccontextmanager
async def _pool() -> AsyncIterator[asyncpg.Pool]:
    from aiva.store.database import create_pool, database_url
    from aiva.store.migrate import migrate

    s = _settings()
    pool = await create_pool(await asyncio.to_thread(database_url, s), s.db_pool_max)
    try:
        async with pool.acquire() as conn:
            await migrate(conn)  # type: ignore[arg-type]  # a pool connection proxies a Connection
        yield pool
    finally:
        await pool.close()


def _when(t: datetime | None) -> str:
    return f"{t:%Y-%m-%d %H:%M}" if t else "-"


@apikey_app.command("create")
def apikey_create(
    name: str,
    scopes: Annotated[str, typer.Option(help=f"comma-separated: {', '.join(SCOPES)}")],
    expires: Annotated[str | None, typer.Option(help="lifetime, e.g. 90d (default: never expires)")] = None,
    by: Annotated[str, typer.Option(help="who creates it (recorded)")] = os.environ.get("USER", "cli"),
) -> None:
    """Create a key and print its token once: it is never shown again (only its hash is stored)."""
    try:
        granted = parse_scopes(scopes)
    except ApiKeyFormatError as e:
        raise typer.BadParameter(str(e), param_hint="--scopes") from e
    if not 1 <= len(name) <= 200:
        raise typer.BadParameter("the name is 1 to 200 characters", param_hint="NAME")
    expires_at = datetime.now(UTC) + parse_since(expires) if expires else None

    async def go() -> None:
        from aiva.store.apikeys import create_key

        async with _pool() as pool:
            key, issued = await create_key(pool, name, granted, by, _settings().secret_hash_key.get_secret_value()
                                           .encode(), expires_at)
        out.print(f"created API key [bold]{key.key_id}[/bold] ({name}): scopes {', '.join(sorted(key.scopes))}, "
                  f"expires {_when(key.expires_at)}")
        err.print("the token follows; store it now, it is not shown again:")
        # Printed raw on stdout alone so `TOKEN=$(aiva apikey create ...)`-style scripts can take it.
        out.print(issued.token, markup=False, highlight=False, soft_wrap=True)
    _run(go())


@apikey_app.command("list")
def apikey_list() -> None:
    """Every key: id, name, scopes, state, last use (never secrets)."""
    async def go() -> None:
        from aiva.store.apikeys import list_keys

        async with _pool() as pool:
            keys = await list_keys(pool)
        now = datetime.now(UTC)
        if not keys:
            out.print("no API keys (create one: aiva apikey create NAME --scopes runs:write,runs:read)")
        # One line per key, never wrapped, so the output can be grepped and the id copied whole.
        for k in keys:
            out.print(f"{k.key_id}  {k.state(now):7}  {k.name}  scopes={','.join(sorted(k.scopes))}  "
                      f"created={_when(k.created_at)} by {k.created_by}  last_used={_when(k.last_used_at)}  "
                      f"expires={_when(k.expires_at)}", markup=False, highlight=False, soft_wrap=True)
    _run(go())


@apikey_app.command("revoke")
def apikey_revoke(key_id: str) -> None:
    """Revoke a key at once; calls with it get 401 from then on."""
    async def go() -> None:
        from aiva.store.apikeys import revoke_key

        async with _pool() as pool:
            key = await revoke_key(pool, key_id)
        if key is None:
            raise AivaError(f"no API key {key_id!r} (see aiva apikey list)")
        out.print(f"revoked API key {key.key_id} ({key.name}) at {_when(key.revoked_at)}")
    _run(go())


def build_server(settings: Settings, client: Client, pool: asyncpg.Pool, limiter: RateLimiter,
                 host: str | None = None, port: int | None = None) -> uvicorn.Server:
    """The uvicorn server for the API app (the caller owns the client, pool and limiter)."""
    import uvicorn

    from starter.api import create_app

    config = uvicorn.Config(create_app(settings, client, pool, limiter), host=host or settings.api_host,
                            port=settings.api_port if port is None else port, log_level="info")
    return uvicorn.Server(config)


@api_app.command("serve")
def api_serve(
    host: Annotated[str | None, typer.Option(help="bind address (default AIVA_API_HOST)")] = None,
    port: Annotated[int | None, typer.Option(min=1, max=65535, help="port (default AIVA_API_PORT)")] = None,
) -> None:
    """Serve the HTTP API (uvicorn) as a Temporal client of the configured server."""
    import logging

    from aiva.ratelimit import limiter_for
    from worker import connect_temporal

    s = _settings()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    async def go() -> None:
        limiter = limiter_for(s.redis_url)
        try:
            async with _pool() as pool:
                server = build_server(s, await connect_temporal(s), pool, limiter, host, port)
                out.print(f"AIVA API on http://{server.config.host}:{server.config.port}/docs; rate limiter: "
                          f"{'Redis' if s.redis_url else 'in-process'}; inbox: {s.resolved_inbox_dir}")
                await server.serve()
        finally:
            await limiter.aclose()
    _run(go())


inbox_app = typer.Typer(help="The HTTP API's inbox of uploaded reports.")
app.add_typer(inbox_app, name="inbox")


@inbox_app.command("prune")
def inbox_prune(
    keep: Annotated[str, typer.Option(help="keep an ended run's uploads this long, e.g. 1d (default: 0)")] = "0s",
    orphans: Annotated[str, typer.Option(help="remove other folders older than this (failed runs, staging)")] = "7d",
    dry_run: Annotated[bool, typer.Option("--dry-run", help="list what would go, remove nothing")] = False,
) -> None:
    """Remove the uploads of runs that ended (completed or compensated) and old leftovers."""
    from starter.inbox import prune_inbox

    s = _settings()
    now = datetime.now(UTC)
    keep_for, orphan_after = parse_since(keep), parse_since(orphans)

    async def go() -> None:
        async with _pool() as pool, pool.acquire() as conn:
            r = await prune_inbox(conn, s.resolved_inbox_dir, now=now, keep=keep_for, orphan_after=orphan_after,
                                  dry_run=dry_run)
        verb = "would remove" if dry_run else "removed"
        for name in r.removed:
            out.print(f"{verb} {name}")
        out.print(f"{verb} {len(r.removed)} folder(s), {r.freed_bytes:,} bytes; kept {r.kept} "
                  f"({s.resolved_inbox_dir})")
    _run(go())

"""The HTTP ingest API (FastAPI): upload reports to start runs, watch and cancel them, read findings, triage.

The API is a Temporal *client* only: it starts, queries and signals `PipelineWorkflow`
through `IntegrationOrchestrator`, reads PostgreSQL, and never runs an activity.
Uploaded reports are streamed to HOME/inbox/<run id>/ (AIVA_API_INBOX_DIR), which the
workers must be able to read (one machine, or a shared volume).

Every call but /healthz needs an API key (`Authorization: Bearer aiva_<id>_<secret>` or
`X-API-Key`) with the endpoint's scope; each key has a token bucket, and failed
authentications are limited per client address so keys cannot be guessed at speed.
"""

# No `from __future__ import annotations` here: FastAPI reads the endpoints' annotations at runtime,
# and those built inside create_app refer to its locals.
import asyncio
import logging
import shutil
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal, cast

import asyncpg
from fastapi import Depends, FastAPI, Query, Request, Security
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from activities.triage import record_and_apply  # the plain function `aiva triage` uses; not an activity
from aiva import parsers
from aiva.apikeys import ApiKeyRecord, parse_token, verify_secret
from aiva.contracts import PipelineInput, ReportInput
from aiva.enums import Severity, VulnerabilityStatus
from aiva.errors import ApiKeyFormatError, InputError
from aiva.ratelimit import Decision, Rate, RateLimiter
from aiva.settings import Settings
from aiva.store import apikeys as key_store
from aiva.store.findings_page import findings_page, product_id
from aiva.triage import TriageDecision
from starter.api_models import (
    ApiError,
    CancelAccepted,
    CancelRequest,
    ErrorBody,
    FindingOut,
    FindingsPage,
    Health,
    RunAccepted,
    RunForm,
    RunList,
    RunStatus,
    RunSummary,
    TriageOut,
    TriageRequest,
    unauthorized,
)
from starter.api_upload import SavedFile, receive_upload
from starter.orchestrator import IntegrationOrchestrator, new_run_id
from workflows import search_attributes as sa
from workflows.pipeline import PipelineWorkflow

log = logging.getLogger("aiva.api")
PREFIX = "/api/v1"
MAX_PAGE = 500
MAX_FILES = 200  # PipelineInput.reports' own bound
# Compared against when the key id is unknown, so a miss costs what a wrong secret costs.
_NO_HASH = "0" * 64
_RUN_ID = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,254}$"
_PLAIN = r'^[^"\\]+$'  # values spliced into a visibility query: no quotes, no backslashes
RunId = Annotated[str, PathParam(pattern=_RUN_ID, max_length=255)]
ExecutionStatus = Literal["Running", "Completed", "Failed", "Canceled", "Terminated", "TimedOut", "ContinuedAsNew"]
_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody} for code in (401, 403, 404, 409, 413, 415, 422, 429, 503)
}
_RUNS_BODY = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["product", "files"],
    "properties": {
        "product": {"type": "string"}, "target": {"type": "string"}, "format": {"type": "string"},
        "formats": {"type": "string", "description": "report formats, comma-separated (html,pdf,json,...)"},
        "remediation": {"type": "boolean"},
        "min_ticket_severity": {"type": "string", "enum": [s.value for s in Severity]},
        "files": {"type": "array", "items": {"type": "string", "format": "binary"}},
    }}}}}}

_bearer = HTTPBearer(auto_error=False, description="Authorization: Bearer aiva_<id>_<secret>")
_header_key = APIKeyHeader(name="X-API-Key", auto_error=False, description="aiva_<id>_<secret>")


def _now() -> datetime:
    return datetime.now(UTC)


class Gatekeeper:
    """Authentication, rate limiting and scope checks for every protected call."""

    def __init__(self, settings: Settings, pool: asyncpg.Pool, limiter: RateLimiter) -> None:
        self.pool = pool
        self.limiter = limiter
        self.hash_key = settings.secret_hash_key.get_secret_value().encode()
        self.key_rate = Rate(settings.api_rate_per_minute, settings.api_rate_burst)
        self.fail_rate = Rate(settings.api_auth_failures_per_minute, settings.api_auth_failures_per_minute)

    async def authorize(self, request: Request, token: str | None, scope: str) -> ApiKeyRecord:
        """The caller's key when it is valid, within its rate and carries `scope`; else an ApiError."""
        fail_bucket = f"authfail:{request.client.host if request.client else 'unknown'}"
        gate = await self.limiter.peek(fail_bucket, self.fail_rate)
        if not gate.allowed:  # checked before the key, or a blocked guesser could still tell right from wrong
            raise _too_many(gate, "too many failed authentications from this address")
        now = _now()
        key = await self._authenticate(token, now)
        if key is None:
            await self.limiter.acquire(fail_bucket, self.fail_rate)
            log.info("authentication failed from %s", fail_bucket.partition(":")[2])
            raise unauthorized()
        await key_store.touch(self.pool, key, now)
        decision = await self.limiter.acquire(f"key:{key.key_id}", self.key_rate)
        if not decision.allowed:
            raise _too_many(decision, "rate limit of this API key exceeded")
        if not key.allows(scope):
            raise ApiError(403, "Forbidden", f"this API key lacks the scope {scope!r}", scope=scope)
        return key

    async def _authenticate(self, token: str | None, now: datetime) -> ApiKeyRecord | None:
        if not token:
            return None
        try:
            key_id, secret = parse_token(token)
        except ApiKeyFormatError:
            return None
        found = await key_store.lookup(self.pool, key_id)
        ok = verify_secret(secret, found[1] if found else _NO_HASH, self.hash_key)
        if found is None or not ok or found[0].state(now) != "active":
            return None
        return found[0]


def _too_many(d: Decision, message: str) -> ApiError:
    return ApiError(429, "RateLimited", message, headers={"Retry-After": d.retry_after_header},
                    retry_after=round(d.retry_after, 3))


def _validation(e: ValidationError, where: str = "body") -> ApiError:
    errs = [{"field": ".".join(str(p) for p in err["loc"]) or where, "message": err["msg"]} for err in e.errors()]
    return ApiError(422, "ValidationError", f"{errs[0]['field']}: {errs[0]['message']}",
                    field=errs[0]["field"], errors=errs)


def _temporal_error(e: RPCError, run_id: str) -> ApiError:
    if e.status == RPCStatusCode.NOT_FOUND:
        return ApiError(404, "NotFound", f"no run {run_id!r}", run_id=run_id)
    return ApiError(503, "TemporalUnavailable", f"Temporal did not answer: {e.message}")


def create_app(settings: Settings, temporal_client: Client, pool: asyncpg.Pool, limiter: RateLimiter) -> FastAPI:
    """The API application over the given Temporal client, PostgreSQL pool and rate limiter (owned by the caller)."""
    app = FastAPI(title="AIVA ingest API", version="1", responses=_ERRORS)
    gate = Gatekeeper(settings, pool, limiter)
    orch = IntegrationOrchestrator(temporal_client, settings)
    _install_error_handlers(app)

    def scope(name: str) -> Any:
        async def dependency(
            request: Request,
            bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
            header: Annotated[str | None, Security(_header_key)],
        ) -> ApiKeyRecord:
            return await gate.authorize(request, bearer.credentials if bearer else header, name)
        return Depends(dependency)

    async def is_open_run(run_id: str) -> bool:
        try:
            desc = await temporal_client.get_workflow_handle(run_id).describe()
        except RPCError as e:
            raise _temporal_error(e, run_id) from e
        if desc.workflow_type != PipelineWorkflow.__name__:
            raise ApiError(404, "NotFound", f"no run {run_id!r}", run_id=run_id)
        return desc.status == WorkflowExecutionStatus.RUNNING

    @app.post(f"{PREFIX}/runs", status_code=202, openapi_extra=_RUNS_BODY)
    async def start_run(request: Request, key: Annotated[ApiKeyRecord, scope("runs:write")]) -> RunAccepted:
        """Upload one or more reports (multipart field `files`) and start a pipeline run over them."""
        inbox = settings.resolved_inbox_dir
        staging = inbox / f".upload-{uuid.uuid4().hex}"
        upload = await receive_upload(request, staging, settings.max_report_bytes, MAX_FILES)
        final: Path | None = None
        try:
            inp, run_id = _pipeline_input(upload.fields, upload.files, inbox, key)
            final = inbox / run_id
            await asyncio.to_thread(staging.rename, final)
            try:
                handle = await orch.start(inp, run_id=run_id)
            except RPCError as e:
                raise ApiError(503, "TemporalUnavailable", f"could not start the run: {e.message}") from e
        except BaseException:
            for d in (staging, final):
                if d is not None:
                    await asyncio.to_thread(shutil.rmtree, d, True)
            raise
        log.info("run %s started by key %s with %d report(s)", handle.id, key.key_id, len(inp.reports))
        return RunAccepted(run_id=handle.id, status_url=str(request.url_for("get_run", run_id=handle.id)),
                           temporal_ui_url=f"{settings.ui_url}/{handle.id}", reports=[r.path for r in inp.reports])

    @app.get(f"{PREFIX}/runs")
    async def list_runs(
        key: Annotated[ApiKeyRecord, scope("runs:read")],
        product: Annotated[str | None, Query(max_length=200, pattern=_PLAIN)] = None,
        status: ExecutionStatus | None = None,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    ) -> RunList:
        """Pipeline runs, newest first, through Temporal visibility (filters: product, status)."""
        parts = [f'WorkflowType="{PipelineWorkflow.__name__}"']
        if product:
            parts.append(f'{sa.PRODUCT.name}="{product}"')
        if status:
            parts.append(f'ExecutionStatus="{status}"')
        runs: list[RunSummary] = []
        try:
            async for w in temporal_client.list_workflows(" AND ".join(parts), limit=limit):
                attrs = w.typed_search_attributes
                runs.append(RunSummary(
                    run_id=w.id, product=attrs.get(sa.PRODUCT), status=w.status.name if w.status else "UNKNOWN",
                    stage=attrs.get(sa.STAGE), critical=attrs.get(sa.CRITICAL) or 0, high=attrs.get(sa.HIGH) or 0,
                    started_at=w.start_time, closed_at=w.close_time))
        except RPCError as e:
            raise ApiError(503, "TemporalUnavailable", f"Temporal did not answer: {e.message}") from e
        return RunList(runs=runs)

    @app.get(f"{PREFIX}/runs/{{run_id}}", name="get_run")
    async def get_run(run_id: RunId, key: Annotated[ApiKeyRecord, scope("runs:read")]
                      ) -> RunStatus:
        """A run's execution status and its progress query (stage, status, counts); works on closed runs."""
        handle = temporal_client.get_workflow_handle(run_id)
        try:
            desc = await handle.describe()
            if desc.workflow_type != PipelineWorkflow.__name__:
                raise ApiError(404, "NotFound", f"no run {run_id!r}", run_id=run_id)
            progress = await handle.query(PipelineWorkflow.progress, rpc_timeout=timedelta(seconds=15))
        except RPCError as e:
            raise _temporal_error(e, run_id) from e
        return RunStatus(run_id=run_id, execution_status=desc.status.name if desc.status else "UNKNOWN",
                         progress=progress, temporal_ui_url=f"{settings.ui_url}/{run_id}")

    @app.post(f"{PREFIX}/runs/{{run_id}}/cancel", status_code=202)
    async def cancel_run(run_id: RunId, key: Annotated[ApiKeyRecord, scope("runs:write")],
                         body: CancelRequest | None = None) -> CancelAccepted:
        """Send the run the cancel_run signal; its compensation closes tickets and undoes its stores."""
        if not await is_open_run(run_id):
            raise ApiError(409, "Conflict", f"run {run_id!r} is already closed", run_id=run_id)
        reason = f"{(body or CancelRequest()).reason} (API key {key.name!r})"
        try:
            await orch.cancel_integration(run_id, reason)
        except RPCError as e:
            raise _temporal_error(e, run_id) from e
        log.info("cancel of %s requested by key %s", run_id, key.key_id)
        return CancelAccepted(run_id=run_id)

    @app.get(f"{PREFIX}/products/{{product}}/findings")
    async def list_findings(
        product: str, key: Annotated[ApiKeyRecord, scope("findings:read")],
        status: Annotated[list[VulnerabilityStatus] | None, Query()] = None,
        severity: Annotated[list[Severity] | None, Query()] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
        cursor: Annotated[str | None, Query(pattern=r"^\d{1,18}$")] = None,
        correlated: Annotated[bool, Query(description="only findings other tools report too")] = False,
    ) -> FindingsPage:
        """The product's current findings in pages (keyset): pass next_cursor back as ?cursor= until it is null."""
        pid = await product_id(pool, product)
        if pid is None:
            raise ApiError(404, "NotFound", f"unknown product {product!r}", product=product)
        rows, nxt = await findings_page(
            pool, pid, after=int(cursor or 0), limit=limit,
            statuses=[s.value for s in status] if status else None,
            severities=[s.value for s in severity] if severity else None, correlated=correlated)
        return FindingsPage(product=product, findings=[FindingOut.model_validate(r) for r in rows],
                            next_cursor=None if nxt is None else str(nxt))

    @app.post(f"{PREFIX}/triage")
    async def triage(body: TriageRequest, key: Annotated[ApiKeyRecord, scope("triage:write")]) -> TriageOut:
        """Record a triage decision (as `aiva triage` does) and apply it to the product's findings now."""
        try:
            decision = TriageDecision(**body.model_dump(), actor=f"api:{key.name}")
            decision.check(_now())
        except ValidationError as e:
            raise _validation(e) from e
        except ValueError as e:
            raise ApiError(422, "ValidationError", str(e), field="body") from e
        try:
            async with pool.acquire() as conn:
                # A pool connection proxies a Connection; the stubs type it apart.
                result = await record_and_apply(cast(asyncpg.Connection, conn), decision)
        except ApplicationError as e:  # unknown product or target
            raise ApiError(404, "NotFound", e.message) from e
        log.info("triage rule #%d (%s) recorded by key %s", result.rule_id, decision.status.value, key.key_id)
        return TriageOut(**result.model_dump())

    @app.get("/healthz")
    async def healthz() -> JSONResponse:
        """No auth: whether PostgreSQL and Temporal answer (200 when both do, else 503)."""
        pg = tp = "ok"
        try:
            await asyncio.wait_for(pool.fetchval("SELECT 1"), 5)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as e:
            pg = f"unavailable: {type(e).__name__}"
        try:
            if not await temporal_client.service_client.check_health(timeout=timedelta(seconds=5)):
                tp = "unavailable: not serving"
        except (RPCError, RuntimeError) as e:
            tp = f"unavailable: {type(e).__name__}"
        health = Health(ok=pg == tp == "ok", postgres=pg, temporal=tp)
        return JSONResponse(health.model_dump(), status_code=200 if health.ok else 503)

    return app


def _pipeline_input(fields: dict[str, list[str]], files: list[SavedFile], inbox: Path, key: ApiKeyRecord
                    ) -> tuple[PipelineInput, str]:
    """Validate the form; the pipeline input (paths in the run's final inbox folder) and the new run id."""
    try:
        form = RunForm.from_fields(fields)
    except ValidationError as e:
        raise _validation(e) from e
    if not files:
        raise ApiError(422, "ValidationError", "upload at least one report file in the field 'files'", field="files")
    empty = [f.original_name for f in files if f.size == 0]
    if empty:
        raise ApiError(422, "ValidationError", f"{empty[0]}: the file is empty", field="files", file=empty[0])
    if form.format:
        try:
            parsers.get(form.format)
        except InputError as e:
            raise ApiError(422, "ValidationError", str(e), field="format") from e
    run_id = new_run_id(form.product)
    folder = (inbox / run_id).resolve()
    options: dict[str, Any] = {} if form.formats is None else {"report_formats": form.formats}
    try:
        inp = PipelineInput(
            product=form.product, reports=[ReportInput(path=str(folder / n), format=form.format, target=form.target)
                                           for n in (f.path.name for f in files)],
            remediation=form.remediation, min_ticket_severity=form.min_ticket_severity,
            requested_by=f"api:{key.name}", **options)
    except ValidationError as e:
        raise _validation(e) from e
    return inp, run_id


def _install_error_handlers(app: FastAPI) -> None:
    """Every error as {"error": {"type", "message", ...}}."""

    @app.exception_handler(ApiError)
    async def api_error(_request: Request, e: ApiError) -> JSONResponse:
        return JSONResponse(e.body(), status_code=e.status, headers=e.headers)

    @app.exception_handler(RequestValidationError)
    async def request_invalid(_request: Request, e: RequestValidationError) -> JSONResponse:
        errs = [{"field": ".".join(str(p) for p in err["loc"][1:]) or str(err["loc"][0]),
                 "location": str(err["loc"][0]), "message": err["msg"]} for err in e.errors()]
        first = errs[0] if errs else {"field": "body", "message": "invalid request"}
        return JSONResponse(ApiError(422, "ValidationError", f"{first['field']}: {first['message']}",
                                     field=first["field"], errors=errs).body(), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, e: StarletteHTTPException) -> JSONResponse:
        kind = {404: "NotFound", 405: "MethodNotAllowed"}.get(e.status_code, "HTTPError")
        return JSONResponse({"error": {"type": kind, "message": str(e.detail)}}, status_code=e.status_code,
                            headers=getattr(e, "headers", None))

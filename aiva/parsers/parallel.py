"""Ingest rows of a report, and the parallel ingest of one large streamed report across processes.

A row is what the scan stage COPYs for a finding, without its scan id and `ord`:
`(fingerprint, tool, target, severity, data_json)`. `open_rows` gives a report's rows in order,
deduplicated as the parser deduplicates (the first of each fingerprint is kept):

- in this process (`parser.parse`, one row per finding) for every format, for reports under the
  parser's streaming threshold, and whenever no pool (or a pool of one process) is given;
- across an `IngestPool` of worker processes for the formats the parser streams with `JsonStream`
  (Trivy, SARIF) above their `STREAM_ABOVE_BYTES`. The parent walks the document exactly as the
  single-process path does and cuts its big arrays into the same `Piece`s (16 KiB of whole
  elements: the cut is checked by decoding it, which is what keeps a cut out of a string).
  Consecutive Pieces of one list, up to JOB_BYTES, go to a worker as one job: their bytes, the
  list's context (the parser's small `spec`; a SARIF run's rules are not in it: a worker reads
  them from the report once per reading, see `sarif._RunSpec`) and the parse context. A worker
  decodes, normalises, fingerprints and serialises, and returns rows. The parent keeps at most
  IN_FLIGHT_PER_PROCESS jobs per process outstanding (memory stays a few MiB whatever the size of
  the report), takes their answers in report order, drops repeated fingerprints, and yields rows.

Both paths give the same rows in the same order, and the same ReportParseError (file, format,
reason, position) after the same rows: a worker turns the Pieces of its job into findings one
Piece at a time, as the single-process parser does, and answers with the rows of the Pieces done
and the error; a parse error of the walk itself (truncated JSON) is raised only once every job
before it has answered. Findings the walk makes itself (lists kept aside in memory, a Trivy
cluster report) are turned into rows in the parent, in their place.

The pool is long-lived (one per worker process, created once by the composition root) and uses
the 'spawn' start method: the worker process runs threads, which fork would copy mid-flight.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Generator, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from types import TracebackType
from typing import Any, ClassVar, Protocol, TypeAlias, runtime_checkable

import orjson

from aiva.errors import ReportParseError
from aiva.gcpause import freeze_startup_heap
from aiva.parsers import detect, get
from aiva.parsers._jsonstream import Piece
from aiva.parsers.base import DEFAULT_MAX_BYTES, ParseContext, Parser, ReportSource
from aiva.schemas import Finding

Row: TypeAlias = tuple[str, str, str | None, str, str]
# A job's bytes: big enough that a job is worth sending (a few hundred findings), small enough to
# spread a report over the processes and keep memory flat.
JOB_BYTES = 1 << 20
# Jobs outstanding per process: one running, one queued behind it, so that no process waits.
IN_FLIGHT_PER_PROCESS = 2
# Findings the walk made itself, sent on in groups of this many rows.
LOCAL_ROWS = 1000
# How often a wait for a worker looks whether the stream was closed (a cancelled activity).
POLL_S = 0.05

_to_json = Finding.__pydantic_serializer__.to_json
# A worker's parse error, as fields: ReportParseError's arguments (it does not pickle as itself).
_Failure: TypeAlias = tuple[str, str, str, str | None]
_JobResult: TypeAlias = tuple[list[Row], _Failure | None]


def row_of(f: Finding) -> Row:
    """A finding as its COPY row (less scan id and ord); `data_json` is `f.model_dump_json()`."""
    return (f.fingerprint, f.tool.name, f.target, f.severity.value, _to_json(f).decode())


@runtime_checkable
class PieceParser(Protocol):
    """A parser whose large reports can be parsed in Pieces, in other processes (trivy, sarif)."""

    name: ClassVar[str]

    def stream_units(self, source: ReportSource, ctx: ParseContext) -> Iterator[Piece | Finding] | None:
        """The streamed report as Pieces and findings, in report order; None when it is not streamed."""
        ...

    def piece_findings(self, spec: Any, first: int, items: list[Any], path: str, ctx: ParseContext) -> list[Finding]:
        """The findings of one Piece; a bad entry raises ReportParseError."""
        ...


# -- the pool -------------------------------------------------------------------------------------


class IngestPool:
    """A long-lived pool of worker processes for parsing large reports (created at first use).

    Share one per worker process; `shutdown` it with the worker. A pool whose process died (killed,
    out of memory) fails the ingest that was using it and is replaced at the next submit.
    """

    def __init__(self, processes: int, start_method: str = "spawn") -> None:
        if processes < 1:
            raise ValueError("an ingest pool needs at least one process")
        if start_method == "fork":
            raise ValueError("fork is unsafe here: the worker process runs threads (use spawn or forkserver)")
        self.processes = processes
        self._mp = multiprocessing.get_context(start_method)
        self._lock = threading.Lock()
        self._executor: ProcessPoolExecutor | None = None
        self._closed = False

    def _current(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._closed:
                raise RuntimeError("the ingest pool is shut down")
            if self._executor is None:
                self._executor = ProcessPoolExecutor(self.processes, mp_context=self._mp, initializer=_init_worker)
            return self._executor

    def submit(self, fn: Callable[..., Any], /, *args: Any) -> Future[Any]:
        """Run `fn(*args)` in a worker process (a broken pool is replaced first)."""
        executor = self._current()
        try:
            return executor.submit(fn, *args)
        except BrokenProcessPool:
            with self._lock:
                if self._executor is executor:
                    self._executor = None
            executor.shutdown(wait=False, cancel_futures=True)
            return self._current().submit(fn, *args)

    def warm(self, timeout_s: float = 60.0) -> set[int]:
        """Start every process now (each imports the parsers); their pids."""
        pids: set[int] = set()
        deadline = time.monotonic() + timeout_s
        while len(pids) < self.processes and time.monotonic() < deadline:
            # A process takes one task at a time: tasks that last a moment land on different processes.
            futures = [self.submit(_pid_after, 0.05) for _ in range(self.processes)]
            pids.update(f.result(timeout=timeout_s) for f in futures)
        return pids

    def pids(self) -> list[int]:
        """The pids of the running worker processes (for measurements)."""
        with self._lock:
            executor = self._executor
        procs = getattr(executor, "_processes", None) or {}
        return sorted(procs)

    def shutdown(self) -> None:
        """Stop the processes (queued jobs are cancelled); the pool cannot be used again."""
        with self._lock:
            executor, self._executor, self._closed = self._executor, None, True
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> IngestPool:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.shutdown()


def _init_worker() -> None:
    """A worker process: Ctrl-C is the parent's to handle; the parsers are imported up front."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from aiva.parsers import available

    available()
    freeze_startup_heap()


def _pid_after(seconds: float) -> int:
    time.sleep(seconds)
    return os.getpid()


def run_job(fmt: str, path: str, ctx: ParseContext, spec: Any, pieces: list[tuple[int, bytes]]) -> _JobResult:
    """In a worker process: the rows of a job's Pieces, and the parse error that stopped it, if any."""
    parser = get(fmt)
    if not isinstance(parser, PieceParser):
        raise TypeError(f"the {fmt} parser does not parse Pieces")
    rows: list[Row] = []
    try:
        for first, raw in pieces:
            # Piece by Piece, as the single-process path: an error keeps the rows of the Pieces before.
            findings = parser.piece_findings(spec, first, orjson.loads(raw), path, ctx)
            rows += [row_of(f) for f in findings]
    except ReportParseError as e:
        return rows, (e.path, e.format, e.reason, e.position)
    return rows, None


# -- the rows of one report -------------------------------------------------------------------------


class RowStream:
    """A report's rows in order (an iterator); `close` stops it from any thread, jobs cancelled."""

    def __init__(
        self, chunks: Iterator[list[Row]], source: Iterator[Any], stop: threading.Event, parallel: bool
    ) -> None:
        self._chunks = chunks  # rows come a list at a time: a generator step per row costs
        self._rows: list[Row] = []
        self._at = 0
        self._error: Exception | None = None
        self._source = source  # what holds the file and the jobs: closed by `close`
        self._stop = stop
        self._lock = threading.Lock()
        self.parallel = parallel

    def __iter__(self) -> RowStream:
        return self

    def __next__(self) -> Row:
        batch = self.take(1)
        if not batch:
            raise StopIteration
        return batch[0]

    def take(self, n: int) -> list[Row]:
        """The next `n` rows (fewer at the end; none once closed). A parse error is raised after the
        rows before it: by this call when it has none to give, else by the next one."""
        with self._lock:
            if self._error is not None:
                error, self._error = self._error, None
                raise error
            out: list[Row] = []
            while len(out) < n and not self._stop.is_set():
                if self._at >= len(self._rows):
                    try:
                        self._rows, self._at = next(self._chunks), 0
                    except (StopIteration, _Stopped):
                        break
                    except Exception as e:
                        if not out:
                            raise
                        self._error = e
                        break
                    continue
                end = self._at + n - len(out)
                out += self._rows[self._at:end]
                self._at = end
            return out if not self._stop.is_set() else []

    def close(self) -> None:
        """Stop: the file is closed and outstanding jobs are cancelled (a running one finishes,
        unread). Blocks until the stream is not in use, which the stop makes short."""
        self._stop.set()
        with self._lock:
            close = getattr(self._source, "close", None)
            if close is not None:
                close()


def _chunked(rows: Iterator[Row], n: int = LOCAL_ROWS) -> Iterator[list[Row]]:
    """Rows a list at a time; an error comes after the rows before it, as the parser gave them."""
    chunk: list[Row] = []
    try:
        for row in rows:
            chunk.append(row)
            if len(chunk) >= n:
                yield chunk
                chunk = []
    except Exception:
        if chunk:
            yield chunk
        raise
    if chunk:
        yield chunk


class _Stopped(Exception):
    """The stream was closed while it waited for a worker."""


def open_rows(
    path: str, fmt: str | None = None, ctx: ParseContext | None = None, pool: IngestPool | None = None
) -> tuple[Parser, RowStream]:
    """Detect (or take) the format; the parser and the report's rows, in parallel when it pays (above)."""
    ctx = ctx or ParseContext()
    source = ReportSource(path, max_bytes=ctx.max_bytes or DEFAULT_MAX_BYTES)
    parser = get(fmt) if fmt else detect(source)
    stop = threading.Event()
    if pool is not None and pool.processes > 1 and isinstance(parser, PieceParser):
        units = parser.stream_units(source, ctx)
        if units is not None:
            rows = _parallel_rows(parser.name, path, ctx, units, pool, stop)
            return parser, RowStream(rows, rows, stop, True)
    findings = parser.parse(source, ctx)
    return parser, RowStream(_chunked(map(row_of, findings)), findings, stop, False)


def _parallel_rows(
    fmt: str, path: str, ctx: ParseContext, units: Iterator[Piece | Finding], pool: IngestPool, stop: threading.Event
) -> Iterator[list[Row]]:
    window: deque[Future[_JobResult] | list[Row] | BaseException] = deque()
    limit = IN_FLIGHT_PER_PROCESS * pool.processes
    seen: set[str] = set()
    entries = _entries(fmt, path, ctx, units)
    try:
        for entry in entries:
            if stop.is_set():
                return
            window.append(pool.submit(run_job, *entry) if isinstance(entry, tuple) else entry)
            while len(window) >= limit:
                yield from _answer(window.popleft(), seen, stop)
        while window:
            yield from _answer(window.popleft(), seen, stop)
    finally:
        for w in window:
            if isinstance(w, Future):
                w.cancel()
        entries.close()
        close = getattr(units, "close", None)
        if close is not None:
            close()  # the walk: its file


def _entries(
    fmt: str, path: str, ctx: ParseContext, units: Iterator[Piece | Finding]
) -> Generator[tuple[Any, ...] | list[Row] | BaseException, None, None]:
    """The walk as jobs (argument tuples for run_job), rows made here, and, last, the walk's error."""
    spec: Any = None
    pieces: list[tuple[int, bytes]] = []
    size = 0
    local: list[Row] = []
    try:
        for unit in units:
            if isinstance(unit, Piece):
                if local:
                    yield local
                    local = []
                if pieces and unit.spec is not spec:
                    yield (fmt, path, ctx, spec, pieces)
                    pieces, size = [], 0
                spec = unit.spec
                pieces.append((unit.first, unit.raw))
                size += len(unit.raw)
                if size >= JOB_BYTES:
                    yield (fmt, path, ctx, spec, pieces)
                    pieces, size = [], 0
            else:
                if pieces:
                    yield (fmt, path, ctx, spec, pieces)
                    pieces, size = [], 0
                local.append(row_of(unit))
                if len(local) >= LOCAL_ROWS:
                    yield local
                    local = []
    except Exception as e:  # raised in its place: after the rows of everything before it
        failure: BaseException | None = e
    else:
        failure = None
    if pieces:
        yield (fmt, path, ctx, spec, pieces)
    if local:
        yield local
    if failure is not None:
        yield failure


def _answer(
    entry: Future[_JobResult] | list[Row] | BaseException, seen: set[str], stop: threading.Event
) -> Iterator[list[Row]]:
    """The rows of one entry of the window, first fingerprints only; then its error, if any."""
    failure: _Failure | None = None
    if isinstance(entry, BaseException):
        raise entry
    if isinstance(entry, Future):
        while True:
            try:
                rows, failure = entry.result(timeout=POLL_S)
                break
            except TimeoutError:
                if stop.is_set():
                    raise _Stopped() from None
    else:
        rows = entry
    add = seen.add
    # `add` answers None: a row is kept when its fingerprint was not seen, and is marked seen.
    fresh = [r for r in rows if not (r[0] in seen or add(r[0]))]
    if fresh:
        yield fresh
    if failure is not None:
        raise ReportParseError(*failure)

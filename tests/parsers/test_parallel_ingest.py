"""The parallel ingest (aiva.parsers.parallel) gives exactly what the single-process path gives.

The same rows in the same order for every Trivy and SARIF report (corpus, own fixtures, generated
20k-finding reports), the same ReportParseError after the same rows for broken ones, bounded work
in flight, a stream that stops when closed; and, through the scan activity on PostgreSQL, the same
stored rows, heartbeats along the way, and nothing stored on failure or cancel.

The thresholds (streaming, job size, batch size, what is kept aside) are changed in this process
only, which is where the walk runs: worker processes decode, normalise and serialise Pieces, which
those settings do not touch.
"""

from __future__ import annotations

import asyncio
import json
import random
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import Future, wait
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.scan import ScanActivities, _take_rows
from aiva.contracts import IngestInput, ReportInput
from aiva.errors import ReportParseError
from aiva.parsers import _jsonstream, get, parallel, sarif, trivy
from aiva.parsers.base import ParseContext, ReportSource
from aiva.parsers.parallel import IngestPool, Row, open_rows
from aiva.settings import Settings
from tests.corpus import corpus_dir
from tests.parsers.stream_docs import SARIF_VARIANTS, TRIVY_VARIANTS, sarif_doc, sarif_variant, trivy_doc, trivy_variant

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
GEN = Path(__file__).resolve().parents[3] / "shared" / "bench" / "gen_reports.py"
Outcome = tuple[list[Row], tuple[str, str, str, str | None] | None]


@pytest.fixture(scope="module")
def ingest_pool() -> Iterator[IngestPool]:
    """Two worker processes (spawn), shared by the tests of this module, as a worker shares its pool."""
    with IngestPool(2) as p:
        p.warm()
        yield p


@pytest.fixture()
def streamed(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """Every Trivy and SARIF report streamed (so that the parallel path takes it), in small jobs."""
    monkeypatch.setattr(trivy, "STREAM_ABOVE_BYTES", 0)
    monkeypatch.setattr(sarif, "STREAM_ABOVE_BYTES", 0)
    monkeypatch.setattr(parallel, "JOB_BYTES", 40_000)
    return monkeypatch


def _drain(path: Path, pool: IngestPool | None, ctx: ParseContext | None = None, fmt: str | None = None) -> Outcome:
    """Every row, in batches as the activity takes them, and the parse error that ended them."""
    _, stream = open_rows(str(path), fmt, ctx or ParseContext(), pool)
    assert stream.parallel is (pool is not None)
    rows: list[Row] = []
    try:
        while batch := stream.take(997):
            rows += batch
    except ReportParseError as e:
        return rows, (e.path, e.format, e.reason, e.position)
    finally:
        stream.close()
    return rows, None


def _same(path: Path, pool: IngestPool, ctx: ParseContext | None = None, fmt: str | None = None) -> Outcome:
    """Single-process and parallel outcomes are equal; the outcome."""
    single = _drain(path, None, ctx, fmt)
    par = _drain(path, pool, ctx, fmt)
    assert par[1] == single[1], f"{path.name}: {par[1]} != {single[1]}"
    assert len(par[0]) == len(single[0]), f"{path.name}: {len(par[0])} rows != {len(single[0])}"
    assert par[0] == single[0], f"{path.name}: the rows differ"
    return single


def _write(tmp_path: Path, name: str, doc: Any) -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(doc, indent=1))
    return path


# -- rows are the records of today's path -------------------------------------------------------------


def test_rows_are_the_records_of_the_findings(tmp_path: Path) -> None:
    """A single-process RowStream's records are the parser's findings as COPY records, in order."""
    path = _write(tmp_path, "t.json", trivy_doc())
    findings = get("trivy").parse(ReportSource(str(path)), ParseContext())
    want = [(7, i, f.fingerprint, f.tool.name, f.target, f.severity.value, f.model_dump_json())
            for i, f in enumerate(findings, 3)]
    _, stream = open_rows(str(path))
    assert _take_rows(stream, 10_000, 7, 3) == want
    assert len(want) == 68 and [r[1] for r in want] == list(range(3, 71))


# -- the corpus and own fixtures ---------------------------------------------------------------------------


def _corpus_paths() -> list[Path]:
    paths = sorted((FIXTURES / "trivy").glob("*.json")) + sorted((FIXTURES / "sarif").glob("*.sarif"))
    c = corpus_dir()
    if c is not None:
        paths += sorted((c / "trivy").glob("*.json")) + sorted((c / "sarif").glob("*.sarif"))
    return paths


@pytest.mark.parametrize("batch", [1 << 14, 300])
def test_corpus_parallel_same_as_single(
    batch: int, ingest_pool: IngestPool, streamed: pytest.MonkeyPatch
) -> None:
    """Every Trivy and SARIF report of the corpus and the fixtures, cut in large and in tiny Pieces."""
    streamed.setattr(_jsonstream, "BATCH_BYTES", batch)
    streamed.setattr(parallel, "JOB_BYTES", 1 if batch < 1000 else 40_000)  # tiny: a job per Piece
    counted = 0
    for path in _corpus_paths():
        rows, error = _same(path, ingest_pool)
        counted += len(rows)
        assert error is None, f"{path.name}: {error}"
    # Our own fixtures hold a few findings; the corpus (beside the checkout in CI) hundreds.
    assert counted > (100 if corpus_dir() is not None else 0)


@pytest.mark.parametrize("variant", [*TRIVY_VARIANTS, "repeats", "cluster"])
def test_trivy_variants(variant: str, tmp_path: Path, ingest_pool: IngestPool,
                        streamed: pytest.MonkeyPatch) -> None:
    """Key orders that make the walk keep lists aside (in memory, or read again), repeated findings
    across jobs, the legacy list form, and a cluster report (loaded whole, made in the parent)."""
    streamed.setattr(_jsonstream, "BATCH_BYTES", 500)
    streamed.setattr(parallel, "JOB_BYTES", 1)
    doc: Any = trivy_variant("plain" if variant in ("repeats", "cluster") else variant, streamed)
    if variant == "repeats":  # the same vulnerabilities again, in later jobs: the first ones are kept
        doc["Results"].append(dict(doc["Results"][0]))
        doc["Results"][1]["Vulnerabilities"] += doc["Results"][1]["Vulnerabilities"]
    elif variant == "cluster":
        doc = {"ClusterName": "c1", "Resources": [
            {"Namespace": "ns", "Kind": "Deployment", "Name": "web", "Results": doc["Results"]}]}
    path = _write(tmp_path, "t.json", doc)
    rows, error = _same(path, ingest_pool, fmt="trivy")
    assert error is None and len(rows) == 68
    assert len({r[0] for r in rows}) == len(rows)
    _same(path, ingest_pool, ParseContext(target="given"), fmt="trivy")


def test_trivy_secrets_use_the_given_key(tmp_path: Path, ingest_pool: IngestPool,
                                         streamed: pytest.MonkeyPatch) -> None:
    """The parse context (secret key, target) reaches the worker processes."""
    doc = trivy_doc()
    doc["Results"][0]["Secrets"] = [{"RuleID": "aws", "Title": "AWS", "Severity": "HIGH", "StartLine": i,
                                     "Match": f"key=AKIA{i:016d}", "Secret": f"AKIA{i:016d}"} for i in range(30)]
    path = _write(tmp_path, "s.json", doc)
    a, _ = _same(path, ingest_pool, ParseContext(secret_key=b"one-key-of-sixteen", target="x"))
    b, _ = _same(path, ingest_pool, ParseContext(secret_key=b"another-key-of-16"))
    hashes = {json.loads(r[4])["secret_hash"] for r in a} - {None}
    assert len(hashes) == 30
    assert hashes.isdisjoint({json.loads(r[4])["secret_hash"] for r in b})
    assert {r[2] for r in a} == {"x"}


@pytest.mark.parametrize("variant", [*SARIF_VARIANTS, "secrets"])
def test_sarif_variants(variant: str, tmp_path: Path, ingest_pool: IngestPool,
                        streamed: pytest.MonkeyPatch) -> None:
    """Run contexts rebuilt in the workers from the file (tool, rules, repository), set-aside results."""
    streamed.setattr(_jsonstream, "BATCH_BYTES", 700)
    streamed.setattr(parallel, "JOB_BYTES", 1)
    doc = sarif_variant(variant, streamed)
    if variant == "secrets":
        for i, r in enumerate(doc["runs"][0]["results"]):
            r["properties"] = {"offender": f"ghp_{i:036d}"}
    path = _write(tmp_path, "s.sarif", doc)
    rows, error = _same(path, ingest_pool, fmt="sarif")
    assert error is None
    assert len(rows) == {"two-runs": 80, "no-results": 0, "null-results": 0}.get(variant, 40)
    if variant.startswith("vcp"):
        assert all(r[2] is not None and r[2].startswith("https://git.example/") for r in rows)
    _same(path, ingest_pool, ParseContext(target="given", secret_key=b"0123456789abcdef"), fmt="sarif")


# -- broken reports ----------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["trivy", "sarif"])
def test_wrong_types_same_error_after_same_rows(fmt: str, tmp_path: Path, ingest_pool: IngestPool,
                                                streamed: pytest.MonkeyPatch) -> None:
    """A wrong-typed field in a Piece: the rows of the Pieces before it, then the same error."""
    streamed.setattr(_jsonstream, "BATCH_BYTES", 600)
    streamed.setattr(parallel, "JOB_BYTES", 2000)
    rng = random.Random(5)
    seen_errors = 0
    for trial in range(12):
        doc: Any = trivy_doc() if fmt == "trivy" else sarif_doc(2)
        items = doc["Results"][0]["Vulnerabilities"] if fmt == "trivy" else doc["runs"][1]["results"]
        bad = items[rng.randrange(len(items))]
        key = rng.choice(sorted(bad) if fmt == "trivy" else ["locations", "properties", "message", "fingerprints"])
        bad[key] = rng.choice([5, [1], {"a": {}}, True, "x" * 3])
        path = _write(tmp_path, f"bad{trial}.{'json' if fmt == 'trivy' else 'sarif'}", doc)
        _, error = _same(path, ingest_pool, fmt=fmt)
        seen_errors += error is not None
    assert seen_errors >= 4


@pytest.mark.parametrize("fmt", ["trivy", "sarif"])
def test_truncated_and_corrupted_same_error_after_same_rows(
    fmt: str, tmp_path: Path, ingest_pool: IngestPool, streamed: pytest.MonkeyPatch
) -> None:
    """Truncated anywhere, or a byte overwritten: the same rows, then the same error (byte position)."""
    streamed.setattr(_jsonstream, "BATCH_BYTES", 800)
    streamed.setattr(parallel, "JOB_BYTES", 3000)
    data = json.dumps(trivy_doc() if fmt == "trivy" else sarif_doc(2), indent=1).encode()
    ext = "json" if fmt == "trivy" else "sarif"
    rng = random.Random(fmt)
    errors = rows_before_errors = 0
    for trial in range(40):
        if trial % 2:
            bad = data[: rng.randrange(len(data) // 5, len(data))]
        else:
            b = bytearray(data)
            b[rng.randrange(len(b) // 5, len(b))] = rng.choice(b'{}[],:"\\x\xff')
            bad = bytes(b)
        path = tmp_path / f"broken{trial}.{ext}"
        path.write_bytes(bad)
        rows, error = _same(path, ingest_pool, fmt=fmt)
        errors += error is not None
        rows_before_errors += bool(rows) and error is not None
    assert errors >= 25 and rows_before_errors >= 5


# -- large generated reports --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A 20,000-finding Trivy report and SARIF log from the shared benchmark generator."""
    if not GEN.exists():
        pytest.skip(f"{GEN} is absent")
    out = tmp_path_factory.mktemp("generated")
    paths = {"trivy": out / "trivy-20000.json", "sarif": out / "sarif-20000.sarif"}
    for fmt, path in paths.items():
        subprocess.run([sys.executable, str(GEN), fmt, "20000", str(path)], check=True)
    return paths


@pytest.mark.parametrize("fmt", ["trivy", "sarif"])
def test_generated_20k_same_rows(fmt: str, generated: dict[str, Path], ingest_pool: IngestPool,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """20k findings at the default batch and job sizes: every row the same, in the same order."""
    monkeypatch.setattr(trivy, "STREAM_ABOVE_BYTES", 0)
    monkeypatch.setattr(sarif, "STREAM_ABOVE_BYTES", 0)
    rows, error = _same(generated[fmt], ingest_pool)
    assert error is None and len(rows) > 19_000
    assert len({r[0] for r in rows}) == len(rows)


@pytest.mark.parametrize("fmt", ["trivy", "sarif"])
def test_generated_20k_truncated(fmt: str, generated: dict[str, Path], ingest_pool: IngestPool,
                                 tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Cut in the middle: thousands of the same rows, then the same error."""
    monkeypatch.setattr(trivy, "STREAM_ABOVE_BYTES", 0)
    monkeypatch.setattr(sarif, "STREAM_ABOVE_BYTES", 0)
    data = generated[fmt].read_bytes()
    path = tmp_path / f"cut.{generated[fmt].suffix}"
    path.write_bytes(data[: len(data) * 3 // 5])
    rows, error = _same(path, ingest_pool)
    assert error is not None and error[3] is not None and error[3].startswith("byte ")
    assert len(rows) > 5_000


# -- bounded, and stoppable ---------------------------------------------------------------------------------


class _Counting(IngestPool):
    """An IngestPool that remembers every job it was given."""

    def __init__(self, processes: int) -> None:
        super().__init__(processes)
        self.futures: list[Future[Any]] = []

    def submit(self, fn: Any, /, *args: Any) -> Future[Any]:
        f = super().submit(fn, *args)
        self.futures.append(f)
        return f


def test_jobs_in_flight_are_bounded_and_close_cancels(generated: dict[str, Path],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """The parent keeps at most IN_FLIGHT_PER_PROCESS jobs per process outstanding; closing the
    stream stops it (no row more), cancels the jobs not started, and leaves the pool usable."""
    monkeypatch.setattr(trivy, "STREAM_ABOVE_BYTES", 0)
    monkeypatch.setattr(parallel, "JOB_BYTES", 64 * 1024)
    with _Counting(2) as pool:
        _, stream = open_rows(str(generated["trivy"]), None, ParseContext(), pool)
        first = stream.take(100)
        assert len(first) == 100
        outstanding = [f for f in pool.futures if not f.done()]
        assert len(pool.futures) <= parallel.IN_FLIGHT_PER_PROCESS * 2 + 1
        assert len(outstanding) <= parallel.IN_FLIGHT_PER_PROCESS * 2
        stream.close()
        assert stream.take(10) == []
        wait(pool.futures, timeout=60)
        assert all(f.done() for f in pool.futures)
        submitted = len(pool.futures)
        rows, error = _drain(generated["trivy"], pool)
        assert error is None and len(rows) > 19_000
        assert len(pool.futures) > submitted + 10  # the whole report is many more jobs than were sent


def test_close_from_another_thread_stops_a_waiting_take(generated: dict[str, Path], ingest_pool: IngestPool,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """A batch being made in one thread (as the activity's) ends when another thread closes the stream."""
    monkeypatch.setattr(sarif, "STREAM_ABOVE_BYTES", 0)
    _, stream = open_rows(str(generated["sarif"]), None, ParseContext(), ingest_pool)
    got: list[list[Row]] = []
    started = threading.Event()

    def take_all() -> None:
        started.set()
        got.append(stream.take(10**9))

    t = threading.Thread(target=take_all)
    t.start()
    started.wait()
    stream.close()
    t.join(timeout=60)
    assert not t.is_alive()
    assert got == [[]]  # a closed stream hands out nothing, not a part of a batch


def test_pool_refuses_fork_and_is_not_used_after_shutdown() -> None:
    with pytest.raises(ValueError, match="fork"):
        IngestPool(2, start_method="fork")
    with pytest.raises(ValueError):
        IngestPool(0)
    p = IngestPool(2)
    p.shutdown()
    with pytest.raises(RuntimeError):
        p.submit(print)


# -- through the scan activity, on PostgreSQL ------------------------------------------------------------


async def _stored(pool: asyncpg.Pool, scan_id: int) -> list[tuple[Any, ...]]:
    rows = await pool.fetch(
        "SELECT ord, fingerprint, tool, target, severity, data::text AS data FROM scan_findings"
        " WHERE scan_id = $1 ORDER BY ord", scan_id)
    return [tuple(r) for r in rows]


def _input(path: Path, index: int = 0) -> IngestInput:
    return IngestInput(run_id=f"run-{uuid.uuid4().hex[:8]}", product=f"par-{uuid.uuid4().hex[:6]}", index=index,
                       report=ReportInput(path=str(path)))


async def test_activity_stores_the_same_rows_with_heartbeats(
    pool: asyncpg.Pool, settings: Settings, generated: dict[str, Path], ingest_pool: IngestPool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(trivy, "STREAM_ABOVE_BYTES", 0)
    single = await ActivityEnvironment().run(ScanActivities(pool, settings).ingest_report,
                                             _input(generated["trivy"]))
    env = ActivityEnvironment()
    beats: list[Any] = []
    env.on_heartbeat = lambda *details: beats.append(details[0])
    par = await env.run(ScanActivities(pool, settings, ingest_pool).ingest_report, _input(generated["trivy"]))
    assert (par.findings, par.warnings, par.sha256, par.format) == (
        single.findings, single.warnings, single.sha256, single.format)
    assert await _stored(pool, par.scan_id) == await _stored(pool, single.scan_id)
    assert len(beats) >= par.findings // settings.batch_size
    assert beats == sorted(beats) and beats[-1] == par.findings


async def test_activity_bad_report_in_parallel_stores_nothing(
    pool: asyncpg.Pool, settings: Settings, generated: dict[str, Path], ingest_pool: IngestPool,
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Truncated after thousands of findings: the single-process error, non-retryable, no scan row."""
    monkeypatch.setattr(sarif, "STREAM_ABOVE_BYTES", 0)
    data = generated["sarif"].read_bytes()
    bad = tmp_path / "cut.sarif"
    bad.write_bytes(data[: len(data) // 2])
    errors = []
    for ingest in (None, ingest_pool):
        inp = _input(bad)
        with pytest.raises(ApplicationError) as ei:
            await ActivityEnvironment().run(ScanActivities(pool, settings, ingest).ingest_report, inp)
        assert ei.value.type == "ReportParseError" and ei.value.non_retryable
        errors.append(str(ei.value))
        assert await pool.fetchval("SELECT count(*) FROM scans WHERE run_id = $1", inp.run_id) == 0
    assert errors[0] == errors[1] and "byte " in errors[0]


async def test_activity_cancelled_mid_ingest_stores_nothing(
    pool: asyncpg.Pool, settings: Settings, generated: dict[str, Path], monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A cancel after the first batch: CancelledError, no scan row, the jobs not started cancelled."""
    monkeypatch.setattr(trivy, "STREAM_ABOVE_BYTES", 0)
    monkeypatch.setattr(parallel, "JOB_BYTES", 64 * 1024)
    env = ActivityEnvironment()
    env.on_heartbeat = lambda *details: env.cancel()
    inp = _input(generated["trivy"])
    with _Counting(2) as counting:
        with pytest.raises(asyncio.CancelledError):
            await env.run(ScanActivities(pool, settings, counting).ingest_report, inp)
        wait(counting.futures, timeout=60)
        assert all(f.done() for f in counting.futures)
        assert len(counting.futures) < 100  # the report is ~290 such jobs: the rest were never sent
    assert await pool.fetchval("SELECT count(*) FROM scans WHERE run_id = $1", inp.run_id) == 0


async def test_settings_and_wiring(pool: asyncpg.Pool, settings: Settings, ingest_pool: IngestPool) -> None:
    """AIVA_INGEST_PROCESSES: 1 keeps today's path; more gives the scan group a pool (or the worker's)."""
    from worker import build_activities, ingest_processes

    assert Settings.model_fields["ingest_processes"].default == 1
    assert ScanActivities(pool, settings)._ingest_pool is None
    two = settings.model_copy(update={"ingest_processes": 2})
    own = ScanActivities(pool, two)._ingest_pool
    assert own is not None and own.processes == 2
    own.shutdown()
    acts = build_activities(None, pool, None, settings, ingest_pool=ingest_pool)  # type: ignore[arg-type]
    scan = next(a for a in acts if getattr(a, "__temporal_activity_definition").name == "ingest_report")
    assert scan.__self__._ingest_pool is ingest_pool  # type: ignore[attr-defined]
    with ingest_processes(settings) as none:
        assert none is None
    with ingest_processes(two) as started:
        assert started is not None and started.processes == 2
    with pytest.raises(RuntimeError):
        started.submit(print)  # shut down with the worker

"""Benchmark report ingest: parse + normalize + serialise large Trivy and SARIF reports.

    .venv/bin/python -m bench.parse_bench                       # 100k and 1M, trivy and sarif, 1 and 2 processes
    .venv/bin/python -m bench.parse_bench --sizes 100000 --repeat 5 --processes 1,2,3
    .venv/bin/python -m bench.parse_bench --db postgresql://postgres@127.0.0.1:5432/test

The reports come from ../shared/bench/gen_reports.py (deterministic; seed 1), written
once to bench/out/ (git-ignored) and reused while their size matches. Each measurement
runs in a FRESH child process, so that its peak RSS (getrusage ru_maxrss) is its own,
and the cases of one report alternate, so that machine noise hits them alike:

- parse:   (1 process) detect the format from content, parse, normalize, fingerprint; the
           findings are dropped as they come (the issue's "parsing and normalizing" figure);
- records: the same, plus turning every finding into its COPY record (`activities.scan._take_rows`
           over `aiva.parsers.parallel.open_rows`: `model_dump_json()`), in batches of the default
           batch size: everything the scan activity does but PostgreSQL. With N > 1 processes
           (--processes), the report is parsed by an `IngestPool` of N worker processes, as the
           worker does with AIVA_INGEST_PROCESSES=N; the pool is started (and its processes have
           imported the parsers) before the clock starts, as a worker's long-lived pool is.

The clock starts after imports (and the startup-heap freeze the worker does), at detection.
Peak RSS is the child's own plus, for N > 1, each worker process's (VmHWM, read before the
pool shuts down; RUSAGE_CHILDREN's ru_maxrss, the largest of them, is printed beside it as a
check). With --db the records child also COPYs every batch into a scratch TEMP table shaped
like scan_findings (nothing is left behind), to show end-to-end ingest speed.

Budgets (the issue): 1M findings ingest under 1.5 GB peak RSS, parent and children together;
>= 50,000 findings/s for the 100k files, checked against the 1-process parse figure and the
N-process records figures. A case over budget is flagged; --check makes that the exit status.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
GEN = ROOT.parent / "shared" / "bench" / "gen_reports.py"
OUT = ROOT / "bench" / "out"
EXT = {"trivy": "json", "sarif": "sarif"}
BATCH = 5000  # aiva.settings.Settings.batch_size's default
RSS_BUDGET_MIB = 1.5 * 1024  # for 1,000,000 findings, parent + children
RATE_BUDGET = 50_000  # findings/s, for the 100,000-finding files


def _maxrss_mib(who: int = resource.RUSAGE_SELF) -> float:
    # ru_maxrss is in KiB on Linux (bytes on macOS).
    rss = resource.getrusage(who).ru_maxrss
    return rss / (1024 * 1024) if sys.platform == "darwin" else rss / 1024


def _hwm_mib(pid: int) -> float | None:
    """A live process's peak RSS (Linux: VmHWM), None where /proc does not tell."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def _cpu_s(pid: int) -> float | None:
    """A live process's user + system CPU seconds (Linux /proc), None where /proc does not tell."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# --------------------------------------------------------------------------- child


def _child(path: str, db: str | None, mode: str, processes: int) -> None:
    from activities.scan import _take_rows
    from aiva import parsers
    from aiva.gcpause import freeze_startup_heap
    from aiva.parsers.base import ParseContext
    from aiva.parsers.parallel import IngestPool, open_rows

    pool = IngestPool(processes) if processes > 1 else None
    pids: list[int] = []
    if pool is not None:
        pool.warm()
        pids = pool.pids()
    freeze_startup_heap()  # as the worker does once it is built
    base_rss = _maxrss_mib()
    workers_cpu0 = sum(_cpu_s(p) or 0.0 for p in pids)
    t0 = time.perf_counter()
    c0 = time.process_time()
    total = 0
    nbytes = 0
    parallel = False
    if mode == "parse":
        parser, findings = parsers.open_report(path, None, ParseContext())
        for _ in findings:
            total += 1
    else:
        parser, rows = open_rows(path, None, ParseContext(), pool)
        parallel = rows.parallel
        try:
            if db is None:
                while True:
                    batch = _take_rows(rows, BATCH, 1, total)
                    if not batch:
                        break
                    total += len(batch)
                    nbytes += sum(len(r[6]) for r in batch)
            else:
                import asyncio

                total, nbytes = asyncio.run(_copy(db, lambda n, start: _take_rows(rows, n, 1, start)))
        finally:
            rows.close()
    seconds = time.perf_counter() - t0
    cpu = time.process_time() - c0
    workers_cpu = sum(_cpu_s(p) or 0.0 for p in pids) - workers_cpu0
    hwm = [_hwm_mib(p) for p in pids]
    if pool is not None:
        pool.shutdown()
    children_max = _maxrss_mib(resource.RUSAGE_CHILDREN) if pids else 0.0
    # Without /proc, every worker is counted at the largest one's peak (an upper bound).
    children = sum(h if h is not None else children_max for h in hwm)
    print(json.dumps({
        "format": parser.name, "findings": total, "seconds": seconds, "cpu_seconds": cpu,
        "workers_cpu_seconds": workers_cpu, "json_bytes": nbytes, "parallel": parallel,
        "peak_rss_mib": _maxrss_mib(), "children_rss_mib": children, "children_max_rss_mib": children_max,
        "import_rss_mib": base_rss,
    }))


async def _copy(db: str, take: Any) -> tuple[int, int]:
    import asyncpg

    from aiva.store.ingest import pg_safe

    columns = ("scan_id", "ord", "fingerprint", "tool", "target", "severity", "data")
    conn = await asyncpg.connect(db)
    try:
        await conn.execute(
            "CREATE TEMP TABLE bench_scan_findings (scan_id bigint NOT NULL, ord integer NOT NULL,"
            " fingerprint text NOT NULL, tool text NOT NULL, target text, severity text NOT NULL,"
            " data jsonb NOT NULL, PRIMARY KEY (scan_id, ord))"
        )
        await conn.execute("CREATE INDEX ON bench_scan_findings(fingerprint)")
        total = nbytes = 0
        async with conn.transaction():
            while True:
                raw = take(BATCH, total)
                if not raw:
                    break
                # As aiva.store.ingest.store_scan does: NUL (refused by PostgreSQL) replaced.
                batch = [pg_safe(r) if ("\\u0000" in r[6] or "\x00" in r[3] or "\x00" in (r[4] or "")) else r
                         for r in raw]
                await conn.copy_records_to_table("bench_scan_findings", records=batch, columns=columns)
                total += len(batch)
                nbytes += sum(len(r[6]) for r in batch)
        return total, nbytes
    finally:
        await conn.close()


# --------------------------------------------------------------------------- parent


def _report(fmt: str, n: int, out: Path, regen: bool) -> Path | None:
    path = out / f"{fmt}-{n}.{EXT[fmt]}"
    if path.exists() and not regen:
        return path
    if not GEN.exists():
        return None
    out.mkdir(parents=True, exist_ok=True)
    print(f"generating {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path} ...", file=sys.stderr)
    tmp = path.with_suffix(path.suffix + ".tmp")
    subprocess.run([sys.executable, str(GEN), fmt, str(n), str(tmp)], check=True)
    tmp.replace(path)
    return path


def _run_child(path: Path, db: str | None, mode: str, processes: int) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "bench.parse_bench", "--child", str(path), "--mode", mode,
           "--child-processes", str(processes)]
    if db:
        cmd += ["--db", db]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"benchmark child failed for {path}:\n{proc.stderr}")
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def _cases(processes: list[int]) -> list[tuple[str, int]]:
    """(mode, processes) for one report: the 1-process parse, then records for each process count."""
    return [("parse", 1)] + [("records", p) for p in processes]


def _summary(fmt: str, n: int, path: Path, mode: str, procs: int, runs: list[dict[str, Any]],
             single_records: float | None) -> tuple[dict[str, Any], list[str]]:
    secs = statistics.median(r["seconds"] for r in runs)
    count = runs[0]["findings"]
    rate = count / secs if secs else 0.0
    rss = max(r["peak_rss_mib"] + r["children_rss_mib"] for r in runs)
    notes = []
    if n >= 1_000_000 and rss >= RSS_BUDGET_MIB:
        notes.append(f"RSS >= {RSS_BUDGET_MIB:.0f} MiB")
    if n == 100_000 and rate < RATE_BUDGET and (mode == "parse" or procs > 1):
        notes.append(f"{mode} < {RATE_BUDGET:,} findings/s")
    row = {
        "format": fmt, "size": n, "findings": count, "file_mb": path.stat().st_size / 1e6, "mode": mode,
        "processes": procs, "seconds": secs, "per_s": rate,
        "vs_1_process": rate / single_records if single_records and mode == "records" else None,
        "cpu_seconds": statistics.median(r["cpu_seconds"] + r["workers_cpu_seconds"] for r in runs),
        "peak_rss_mib": rss, "parent_rss_mib": max(r["peak_rss_mib"] for r in runs),
        "children_rss_mib": max(r["children_rss_mib"] for r in runs),
        "children_max_rss_mib": max(r["children_max_rss_mib"] for r in runs),
        "runs": [round(r["seconds"], 3) for r in runs], "db": bool(runs[0].get("db")),
        "parallel": bool(runs[0]["parallel"]),
    }
    return row, notes


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="100000,1000000", help="comma-separated finding counts")
    ap.add_argument("--formats", default="trivy,sarif", help="comma-separated: trivy, sarif")
    ap.add_argument("--processes", default="1,2", help="comma-separated process counts for the records cases")
    ap.add_argument("--repeat", type=int, default=3, help="runs per case (median seconds, max RSS)")
    ap.add_argument("--out", type=Path, default=OUT, help="where the generated reports are kept")
    ap.add_argument("--regen", action="store_true", help="regenerate the reports even if present")
    ap.add_argument("--db", help="also COPY into a TEMP table of this PostgreSQL database")
    ap.add_argument("--json", action="store_true", help="print the results as JSON too")
    ap.add_argument("--check", action="store_true", help="exit 1 when a budget is missed")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--mode", default="records", help=argparse.SUPPRESS)
    ap.add_argument("--child-processes", type=int, default=1, help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.child:
        _child(a.child, a.db, a.mode, a.child_processes)
        return 0

    sizes = [int(s.replace("_", "")) for s in a.sizes.split(",") if s.strip()]
    formats = [f.strip() for f in a.formats.split(",") if f.strip()]
    processes = sorted({int(p) for p in a.processes.split(",") if p.strip()})
    for f in formats:
        if f not in EXT:
            ap.error(f"unknown format {f!r} (trivy, sarif)")
    if not processes or processes[0] < 1:
        ap.error("--processes takes counts >= 1")
    rows: list[dict[str, Any]] = []
    missed = False
    second = "records+COPY" if a.db else "records"
    print(f"parse = parse+normalize+fingerprint (1 process); {second} = that + COPY records"
          f"{' + COPY into a TEMP table' if a.db else ''}, with N ingest processes; {a.repeat} run(s) of each"
          f" per case, each in a fresh process, the cases of a report alternating; medians; cores: {os.cpu_count()}")
    header = (f"{'format':<6} {'findings':>9} {'MB':>4} {'case':<13} {'seconds':>8} {'findings/s':>11}"
              f" {'x 1 proc':>8} {'CPU s':>6} {'peak RSS MiB (parent + children)':>34}  budget")
    print(header)
    print("-" * len(header))
    for fmt in formats:
        for n in sizes:
            path = _report(fmt, n, a.out, a.regen)
            if path is None:
                print(f"skipped {fmt} {n}: {GEN} is absent (the generator lives in ../shared/bench/)")
                continue
            cases = _cases(processes)
            runs: dict[tuple[str, int], list[dict[str, Any]]] = {c: [] for c in cases}
            for _ in range(max(1, a.repeat)):
                for mode, procs in cases:
                    r = _run_child(path, a.db if mode == "records" else None, mode, procs)
                    r["db"] = bool(a.db) and mode == "records"
                    runs[(mode, procs)].append(r)
            single = None
            if ("records", 1) in runs:
                recs = runs[("records", 1)]
                secs = statistics.median(r["seconds"] for r in recs)
                single = recs[0]["findings"] / secs if secs else None
            for mode, procs in cases:
                row, notes = _summary(fmt, n, path, mode, procs, runs[(mode, procs)], single)
                missed = missed or bool(notes)
                rows.append(row)
                label = f"{second if mode == 'records' else mode} x{procs}"
                ratio = f"{row['vs_1_process']:.2f}" if row["vs_1_process"] is not None else ""
                rss = (f"{row['peak_rss_mib']:,.0f} = {row['parent_rss_mib']:,.0f} + {row['children_rss_mib']:,.0f}"
                       f" (max {row['children_max_rss_mib']:,.0f})" if procs > 1 else f"{row['peak_rss_mib']:,.0f}")
                print(f"{fmt:<6} {row['findings']:>9,} {row['file_mb']:>4.0f} {label:<13} {row['seconds']:>8.2f}"
                      f" {row['per_s']:>11,.0f} {ratio:>8} {row['cpu_seconds']:>6.1f} {rss:>34}"
                      f"  {'MISSED: ' + '; '.join(notes) if notes else 'ok'}", flush=True)
    if a.json:
        print(json.dumps(rows, indent=1))
    return 1 if (a.check and missed) else 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Benchmark report ingest: parse + normalize + serialise large Trivy and SARIF reports.

    .venv/bin/python -m bench.parse_bench                       # 100k and 1M, trivy and sarif
    .venv/bin/python -m bench.parse_bench --sizes 100000 --repeat 5
    .venv/bin/python -m bench.parse_bench --db postgresql://postgres@127.0.0.1:5432/test

The reports come from ../shared/bench/gen_reports.py (deterministic; seed 1), written
once to bench/out/ (git-ignored) and reused while their size matches. Each measurement
runs in a FRESH child process, so that its peak RSS (getrusage ru_maxrss) is its own,
and the two kinds of child alternate, so that machine noise hits both alike:

- parse:   detect the format from content, parse, normalize, fingerprint; the findings
           are dropped as they come (the issue's "parsing and normalizing" figure);
- records: the same, plus turning every finding into its COPY record with
           `activities.scan._take` (`Finding.model_dump_json()`), in batches of the
           default batch size: everything the scan activity does but PostgreSQL.

The clock starts after imports, at detection. With --db the records child also COPYs
every batch into a scratch TEMP table shaped like scan_findings (nothing is left behind),
to show end-to-end ingest speed.

Budgets (the issue): 1M findings ingest under 1.5 GB peak RSS (records child); >= 50,000
findings/s parse + normalize for the 100k files. A case over budget is flagged; --check
makes that the exit status.
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
RSS_BUDGET_MIB = 1.5 * 1024  # for 1,000,000 findings
RATE_BUDGET = 50_000  # findings/s, for the 100,000-finding files


def _maxrss_mib() -> float:
    # ru_maxrss is in KiB on Linux (bytes on macOS).
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (1024 * 1024) if sys.platform == "darwin" else rss / 1024


# --------------------------------------------------------------------------- child


def _child(path: str, db: str | None, mode: str) -> None:
    from activities.scan import _take
    from aiva import parsers
    from aiva.parsers.base import ParseContext

    base_rss = _maxrss_mib()
    t0 = time.perf_counter()
    c0 = time.process_time()
    parser, findings = parsers.open_report(path, None, ParseContext())
    total = 0
    nbytes = 0
    if mode == "parse":
        for _ in findings:
            total += 1
    elif db is None:
        while True:
            batch = _take(findings, BATCH, 1, total)
            if not batch:
                break
            total += len(batch)
            nbytes += sum(len(r[6]) for r in batch)
    else:
        import asyncio

        total, nbytes = asyncio.run(_copy(db, findings, _take))
    seconds = time.perf_counter() - t0
    print(json.dumps({
        "format": parser.name, "findings": total, "seconds": seconds, "cpu_seconds": time.process_time() - c0,
        "json_bytes": nbytes,
        "peak_rss_mib": _maxrss_mib(), "import_rss_mib": base_rss,
    }))


async def _copy(db: str, findings: Any, take: Any) -> tuple[int, int]:
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
                raw = take(findings, BATCH, 1, total)
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


def _run_child(path: Path, db: str | None, mode: str) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "bench.parse_bench", "--child", str(path), "--mode", mode]
    if db:
        cmd += ["--db", db]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"benchmark child failed for {path}:\n{proc.stderr}")
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="100000,1000000", help="comma-separated finding counts")
    ap.add_argument("--formats", default="trivy,sarif", help="comma-separated: trivy, sarif")
    ap.add_argument("--repeat", type=int, default=3, help="runs per case (median seconds, max RSS)")
    ap.add_argument("--out", type=Path, default=OUT, help="where the generated reports are kept")
    ap.add_argument("--regen", action="store_true", help="regenerate the reports even if present")
    ap.add_argument("--db", help="also COPY into a TEMP table of this PostgreSQL database")
    ap.add_argument("--json", action="store_true", help="print the results as JSON too")
    ap.add_argument("--check", action="store_true", help="exit 1 when a budget is missed")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--mode", default="records", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.child:
        _child(a.child, a.db, a.mode)
        return 0

    sizes = [int(s.replace("_", "")) for s in a.sizes.split(",") if s.strip()]
    formats = [f.strip() for f in a.formats.split(",") if f.strip()]
    for f in formats:
        if f not in EXT:
            ap.error(f"unknown format {f!r} (trivy, sarif)")
    rows: list[dict[str, Any]] = []
    missed = False
    second = "records+COPY" if a.db else "records"
    print(f"parse = parse+normalize+fingerprint; {second} = that + COPY records"
          f"{' + COPY into a TEMP table' if a.db else ''}; {a.repeat} run(s) of each per case, each in a fresh"
          f" process, alternating; medians; cores: {os.cpu_count()}")
    header = (f"{'format':<6} {'findings':>9} {'MB':>5} {'parse s':>8} {'parse/s':>9} {second + ' s':>11}"
              f" {second + '/s':>11} {'peak RSS MiB':>13}  budget")
    print(header)
    print("-" * len(header))
    for fmt in formats:
        for n in sizes:
            path = _report(fmt, n, a.out, a.regen)
            if path is None:
                print(f"skipped {fmt} {n}: {GEN} is absent (the generator lives in ../shared/bench/)")
                continue
            parse_runs: list[dict[str, Any]] = []
            rec_runs: list[dict[str, Any]] = []
            for _ in range(max(1, a.repeat)):
                parse_runs.append(_run_child(path, None, "parse"))
                rec_runs.append(_run_child(path, a.db, "records"))
            p_secs = statistics.median(r["seconds"] for r in parse_runs)
            r_secs = statistics.median(r["seconds"] for r in rec_runs)
            rss = max(r["peak_rss_mib"] for r in rec_runs + parse_runs)
            count = rec_runs[0]["findings"]
            p_rate = count / p_secs if p_secs else 0.0
            r_rate = count / r_secs if r_secs else 0.0
            notes = []
            if n >= 1_000_000 and rss >= RSS_BUDGET_MIB:
                notes.append(f"RSS >= {RSS_BUDGET_MIB:.0f} MiB")
            if n == 100_000 and p_rate < RATE_BUDGET:
                notes.append(f"parse < {RATE_BUDGET} findings/s")
            missed = missed or bool(notes)
            row = {"format": fmt, "size": n, "findings": count, "file_mb": path.stat().st_size / 1e6,
                   "parse_seconds": p_secs, "parse_per_s": p_rate,
                   "records_seconds": r_secs, "records_per_s": r_rate, "peak_rss_mib": rss,
                   "parse_runs": [round(r["seconds"], 3) for r in parse_runs],
                   "records_runs": [round(r["seconds"], 3) for r in rec_runs], "db": bool(a.db)}
            rows.append(row)
            print(f"{fmt:<6} {count:>9,} {row['file_mb']:>5.0f} {p_secs:>8.2f} {p_rate:>9,.0f} {r_secs:>11.2f}"
                  f" {r_rate:>11,.0f} {rss:>13,.0f}  {'MISSED: ' + '; '.join(notes) if notes else 'ok'}", flush=True)
    if a.json:
        print(json.dumps(rows, indent=1))
    return 1 if (a.check and missed) else 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Benchmark the report writers on synthetic findings.

    .venv/bin/python -m bench.reports_bench --findings 100000

Synthesizes ReportFindings (SAST, SCA, DAST, secrets; ~2,000 distinct rules; some
multi-line, non-Latin and hostile text) into a JSON Lines file, then times, each in a
fresh child process so that peak RSS is per format:
- each format alone (html, json, csv, sarif, pdf), parse of the JSONL included;
- html+json+csv+sarif together (one pass);
- all five in one pass, and all five with the PDF in a spawned process of its own beside the
  pass (`/p`: what the report activity does for large runs);
- the parse alone (reading the JSONL into ReportFindings, no writer).
Prints wall-clock seconds, CPU seconds of the child (user + system, the PDF's process
included; less sensitive to other load on the machine) and peak RSS (MiB; with `/p` the
child's plus the PDF process's) per line, and checks the wall-clock budgets
(html+json+csv+sarif < 30 s, pdf < 60 s for 100,000 findings).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

from aiva.enums import Confidence, FindingCategory, RiskLevel, Severity, VulnerabilityStatus
from aiva.reports.model import ReportFinding, RunSummary, StageTiming, TrendPoint, jsonl_source
from aiva.schemas import (
    Component,
    CVEReference,
    CvssScore,
    CWEReference,
    Endpoint,
    Finding,
    Location,
    ToolInfo,
)

BUDGET_COMBINED_S = 30.0
BUDGET_PDF_S = 60.0
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
_WORDS = [
    "buffer", "overflow", "injection", "path", "traversal", "deserialization", "prototype", "pollution",
    "regex", "denial", "certificate", "validation", "hard-coded", "secret", "outdated", "library",
    "cross-site", "scripting", "request", "forgery",
]
_TEXTS = (
    "Untrusted input reaches a sensitive sink without validation.",
    "输入未经验证即到达敏感操作。",
    "検証されていない入力が危険な処理に到達します。",
    "تصل المدخلات غير الموثوقة إلى عملية حساسة دون تحقق.",
    'Value contains "quotes", commas, and a\nsecond line.',
    "=HYPERLINK(\"http://evil.example\",\"click\")",
    "<script>document.title='x'</script>",
)


def synth_finding(i: int, rng: random.Random) -> ReportFinding:
    """One deterministic synthetic ReportFinding (kind chosen by i, details by rng)."""
    kind = i % 4
    sev = rng.choice(list(Severity))
    score = round(rng.uniform(0.0, 10.0), 1)
    rule = rng.randrange(2000)
    first = NOW - timedelta(days=rng.randrange(0, 200), hours=rng.randrange(24))
    status = rng.choices(
        [VulnerabilityStatus.NEW, VulnerabilityStatus.ACTIVE, VulnerabilityStatus.REOPENED,
         VulnerabilityStatus.MITIGATED, VulnerabilityStatus.FALSE_POSITIVE],
        weights=[20, 60, 5, 10, 5],
    )[0]
    change = {"new": "new", "reopened": "reopened", "mitigated": "mitigated"}.get(status.value, "unchanged")
    words = " ".join(rng.choice(_WORDS) for _ in range(4))
    common: dict[str, object] = {
        "fingerprint": f"{i:08x}{rng.getrandbits(96):024x}",
        "fingerprint_version": "1",
        "severity": sev,
        "confidence": rng.choice(list(Confidence)),
        "description": rng.choice(_TEXTS) + (" " + words) * rng.randrange(1, 6),
        "cwes": (CWEReference(id=rng.choice((79, 89, 22, 78, 502, 798, 1321, 400))),),
        "references": (f"https://example.org/advisory/{rule}",),
    }
    if kind == 0:
        f = Finding(
            format="semgrep", tool=ToolInfo(name="semgrep", version="1.80.0"), category=FindingCategory.SAST,
            rule_id=f"python.lang.security.rule-{rule}", title=f"Possible {words} in handler {i}",
            location=Location(file_path=f"src/app/module_{i % 500}/views.py", start_line=1 + i % 900,
                              end_line=3 + i % 900,
                              snippet="query = 'SELECT * FROM t WHERE id=' + request.args['id']"),
            **common,
        )
    elif kind == 1:
        f = Finding(
            format="trivy", tool=ToolInfo(name="trivy", version="0.55.0"), category=FindingCategory.SCA,
            rule_id=f"CVE-2024-{10000 + rule}", title=f"lib{rule % 300}: {words}",
            vulnerability_ids=(CVEReference.of(f"CVE-2024-{10000 + rule}"),),
            cvss_v3=CvssScore(version="3.1", vector="CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
                              base_score=9.8),
            component=Component(purl=f"pkg:npm/lib{rule % 300}@1.{i % 10}.0", name=f"lib{rule % 300}",
                                version=f"1.{i % 10}.0", ecosystem="npm", fixed_version=f"1.{i % 10}.1",
                                path="package-lock.json"),
            remediation="Upgrade to the fixed version." if i % 3 else None,
            **common,
        )
    elif kind == 2:
        f = Finding(
            format="zap", tool=ToolInfo(name="ZAP", version="2.15"), category=FindingCategory.DAST,
            rule_id=str(10000 + rule % 200), title=f"Reflected {words}",
            endpoint=Endpoint(url=f"https://app.example.com/page/{i % 700}?q=1", host="app.example.com",
                              port=443, protocol="https", parameter="q"),
            **common,
        )
    else:
        f = Finding(
            format="gitleaks", tool=ToolInfo(name="gitleaks"), category=FindingCategory.SECRET,
            rule_id="generic-api-key", title=f"Secret found: generic API key {i}",
            location=Location(file_path=f"config/settings_{i % 50}.env", start_line=1 + i % 40),
            secret_hash=f"{rng.getrandbits(128):032x}",
            **common,
        )
    return ReportFinding(
        id=i + 1, finding=f, status=status, risk_score=score, risk_level=RiskLevel.from_score(score),
        first_seen=first, last_seen=NOW, occurrences=1 + i % 3, change=change,
    )


def synth_summary(n: int) -> RunSummary:
    """A RunSummary for a synthetic run of n findings, with stages and a trend."""
    return RunSummary(
        run_id="bench-run-0001", product="bench product", started_at=NOW - timedelta(minutes=12),
        finished_at=NOW, total_findings=n, new=n // 5, active=n // 2, reopened=n // 20, mitigated=n // 10,
        unchanged=n // 2, tickets_opened=42,
        stages=[StageTiming(name=s, attempts=1, duration_ms=1234.5, outcome="completed")
                for s in ("scan", "analysis", "risk", "remediation", "report")],
        trend=[TrendPoint(run_id=f"r{k}", started_at=NOW - timedelta(days=7 * (8 - k)), open=n - n // 20 * k,
                          new=300 + 20 * k, mitigated=200 + 10 * k) for k in range(8)],
    )


def write_jsonl(path: Path, n: int, seed: int = 7) -> None:
    """Write n synthetic findings as JSON Lines."""
    rng = random.Random(seed)
    with open(path, "wb") as fh:
        for i in range(n):
            fh.write(orjson.dumps(synth_finding(i, rng).model_dump(mode="json")))
            fh.write(b"\n")


PDF_PROCESS_SUFFIX = "/p"


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _child(jsonl: Path, formats: list[str], n: int) -> None:
    from aiva.reports.writer import write_reports

    pdf_process = formats[-1].endswith(PDF_PROCESS_SUFFIX)
    formats = [f.removesuffix(PDF_PROCESS_SUFFIX) for f in formats]

    summary = synth_summary(n)
    source = jsonl_source(jsonl)
    with tempfile.TemporaryDirectory(prefix="aiva-bench-out-") as out:
        ru0 = resource.getrusage(resource.RUSAGE_SELF)
        cpu0 = ru0.ru_utime + ru0.ru_stime
        t0 = time.perf_counter()
        if formats == ["parse"]:
            count = sum(1 for _ in source())
            sizes = {"parse": count}
        else:
            paths = write_reports(summary, source, Path(out), formats, pdf_process=pdf_process)
            sizes = {fmt: os.path.getsize(p) for fmt, p in paths.items()}
        elapsed = time.perf_counter() - t0
    ru = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)  # the PDF's process, with /p
    cpu = ru.ru_utime + ru.ru_stime - cpu0 + kids.ru_utime + kids.ru_stime
    rss = _peak_rss_mib() + kids.ru_maxrss / 1024.0
    print(json.dumps({"seconds": elapsed, "cpu_seconds": cpu, "peak_rss_mib": rss, "sizes": sizes}))


def _run_child(jsonl: Path, formats: list[str], n: int) -> dict[str, object]:
    cmd = [sys.executable, "-m", "bench.reports_bench", "--child", ",".join(formats),
           "--input", str(jsonl), "--findings", str(n)]
    done = subprocess.run(cmd, check=True, capture_output=True, text=True)
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; exit status 1 when a budget is exceeded (at 100,000 findings or more)."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--findings", type=int, default=100_000)
    ap.add_argument("--formats", default="parse,json,csv,sarif,html,pdf,html+json+csv+sarif,"
                                         "html+json+csv+sarif+pdf,html+json+csv+sarif+pdf/p",
                    help="comma-separated cases; a case joins formats with '+'; a case ending in"
                         " '/p' renders its PDF in a process of its own, as the report stage does for large runs")
    ap.add_argument("--input", type=Path, help="reuse this JSONL instead of synthesizing")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.child:
        _child(args.input, args.child.split(","), args.findings)
        return 0

    with tempfile.TemporaryDirectory(prefix="aiva-bench-") as tmp:
        jsonl = args.input or Path(tmp) / "findings.jsonl"
        if args.input is None:
            t0 = time.perf_counter()
            write_jsonl(jsonl, args.findings)
            print(f"synthesized {args.findings:,} findings in {time.perf_counter() - t0:.1f} s "
                  f"({jsonl.stat().st_size / 2**20:.0f} MiB JSONL)")
        ok = True
        print(f"{'case':<24}{'seconds':>10}{'CPU s':>8}{'peak RSS MiB':>14}   output size")
        for case in args.formats.split(","):
            formats = case.split("+")
            r = _run_child(jsonl, formats, args.findings)
            secs = float(r["seconds"])  # type: ignore[arg-type]
            rss = float(r["peak_rss_mib"])  # type: ignore[arg-type]
            cpu = float(r["cpu_seconds"])  # type: ignore[arg-type]
            sizes = r["sizes"]
            assert isinstance(sizes, dict)
            size_text = ", ".join(
                f"{k}={v:,}" if k == "parse" else f"{k}={v / 2**20:.1f} MiB" for k, v in sizes.items()
            )
            flag = ""
            if args.findings >= 100_000:
                if case == "html+json+csv+sarif" and secs >= BUDGET_COMBINED_S:
                    flag, ok = "  OVER BUDGET (30 s)", False
                if case == "pdf" and secs >= BUDGET_PDF_S:
                    flag, ok = "  OVER BUDGET (60 s)", False
            print(f"{case:<24}{secs:>10.2f}{cpu:>8.2f}{rss:>14.0f}   {size_text}{flag}", flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())

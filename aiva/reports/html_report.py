"""HTML report (and its print variant, which weasyprint turns into the PDF).

One pass over the findings feeds a `Digest`: exact counts over every finding (by
severity and risk of open findings, by status and change, age of open findings) and
the top N findings by risk kept in a bounded heap. The page shows all findings up to
`HTML_CAP` (5,000) and says how many more are in the JSON/CSV/SARIF reports; the PDF
shows the top `PDF_CAP` (200), so it never runs to thousands of pages.

Scanner text is attacker-controlled. The template engine escapes everything
(autoescape on); only the server-drawn SVG charts (which escape their own labels, see
`aiva.reports.charts`) are marked safe. Only http(s) references become links. The page
loads nothing from anywhere (no script, no CDN, no remote font) and carries a strict
Content-Security-Policy as defence in depth.
"""

from __future__ import annotations

import heapq
import itertools
import logging
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from aiva.feedback import PerformanceFeedback, format_duration, performance_feedback
from aiva.reports.charts import Bar, Series, bar_chart, line_chart
from aiva.reports.common import (
    RISK_ORDER,
    RISK_RANK,
    SEVERITY_COLORS,
    SEVERITY_ORDER,
    as_utc,
    endpoint_text,
    location_text,
    rule_key,
    truncate,
)
from aiva.reports.guidance import remediation_for
from aiva.reports.model import ReportFinding, RunSummary

HTML_CAP = 5_000
PDF_CAP = 200
AGE_BUCKETS: tuple[tuple[str, int, int | None], ...] = (
    ("0-7 days", 0, 7),
    ("8-30 days", 8, 30),
    ("31-90 days", 31, 90),
    (">90 days", 91, None),
)
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"
TEMPLATE_DIR = Path(__file__).parent / "templates"
_log = logging.getLogger(__name__)
_KNOWN_CHANGES = frozenset({"new", "reopened", "mitigated", "unchanged"})

_env: Environment | None = None


def environment() -> Environment:
    """The report templates' Jinja environment (autoescape on for every template)."""
    global _env
    if _env is None:
        _env = Environment(
            loader=FileSystemLoader(TEMPLATE_DIR),
            autoescape=True,
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
    return _env


def _age_bucket(days: int) -> int:
    for i, (_, lo, hi) in enumerate(AGE_BUCKETS):
        if days >= lo and (hi is None or days <= hi):
            return i
    return 0  # negative ages (clock skew) count as new


@dataclass
class Digest:
    """Counts over every finding plus the `cap` highest-risk findings (open ones first)."""

    cap: int
    reference_time: datetime
    total: int = 0
    open_total: int = 0
    severity_open: Counter[str] = field(default_factory=Counter)
    risk_open: Counter[str] = field(default_factory=Counter)
    status: Counter[str] = field(default_factory=Counter)
    change: Counter[str] = field(default_factory=Counter)
    age: list[int] = field(default_factory=lambda: [0] * len(AGE_BUCKETS))
    _heap: list[tuple[int, int, int, float, int, ReportFinding]] = field(default_factory=list)
    _seq: Iterator[int] = field(default_factory=itertools.count)

    def add(self, item: ReportFinding) -> None:
        """Count one finding and keep it if it ranks among the top `cap`."""
        self.total += 1
        f = item.finding
        is_open = item.status.is_open
        self.status[item.status.value] += 1
        self.change[item.change] += 1
        if is_open:
            self.open_total += 1
            self.severity_open[f.severity.value] += 1
            self.risk_open[item.risk_level.value] += 1
            days = (self.reference_time - as_utc(item.first_seen)).days
            self.age[_age_bucket(days)] += 1
        if self.cap <= 0:
            return
        rank = (int(is_open), RISK_RANK[item.risk_level], f.severity.rank, item.risk_score, -next(self._seq))
        key = (*rank, item)
        if len(self._heap) < self.cap:
            heapq.heappush(self._heap, key)
        elif key[:5] > self._heap[0][:5]:
            heapq.heapreplace(self._heap, key)

    @property
    def omitted(self) -> int:
        """How many findings are not among the kept ones."""
        return self.total - len(self._heap)

    def top(self) -> list[ReportFinding]:
        """The kept findings in display order: risk level, severity, open first, score, input order."""
        ordered = sorted(self._heap, key=lambda k: (k[1], k[2], k[0], k[3], k[4]), reverse=True)
        return [k[5] for k in ordered]


def _reference_time(summary: RunSummary) -> datetime:
    return as_utc(summary.finished_at or summary.started_at)


def new_digest(summary: RunSummary, cap: int) -> Digest:
    """A Digest keeping `cap` findings, with ages measured at the run's end (or start)."""
    return Digest(cap=cap, reference_time=_reference_time(summary))


def _ordered_counts(counts: dict[str, int], order: tuple[str, ...]) -> list[tuple[str, int]]:
    out = [(k, int(counts.get(k, 0))) for k in order]
    out.extend((k, int(v)) for k, v in sorted(counts.items()) if k not in order)
    return out


def _badge_rows(counts: dict[str, int], order: tuple[str, ...]) -> list[tuple[str, int, str]]:
    """(name, count, css class) rows; only known names get their own class (never a free-text key)."""
    return [(k, n, k if k in SEVERITY_COLORS else "other") for k, n in _ordered_counts(counts, order)]


@dataclass(frozen=True, slots=True)
class Reference:
    """A reference as shown: its text, and whether it may be a link (http and https only)."""

    text: str
    link: bool


def _reference(ref: str) -> Reference:
    low = ref.strip().lower()
    return Reference(ref, low.startswith(("https://", "http://")))


@dataclass(frozen=True, slots=True)
class FindingView:
    """What the template shows of one finding: plain strings, escaped by the template.

    A slotted class rather than a dict: Jinja resolves `f.title` by attribute first,
    and a dict's failed attribute lookups cost an exception each (thousands per page).
    """

    id: int
    title: str
    severity: str
    risk_level: str
    risk_score: str
    status: str
    is_open: bool
    change: str
    change_class: str
    tool: str
    rule: str
    category: str
    confidence: str
    cves: list[str]
    cwes: list[str]
    cvss: str
    component: str
    version: str
    fixed_version: str
    purl: str
    location: str
    endpoint: str
    target: str
    description: str
    description_cut: bool
    snippet: str
    snippet_cut: bool
    remediation: str
    remediation_generic: bool
    remediation_cut: bool
    references: list[Reference]
    first_seen: str
    last_seen: str
    occurrences: int
    fingerprint: str


def finding_view(item: ReportFinding, *, text_limit: int, snippet_limit: int) -> FindingView:
    """What the template shows of one finding (long texts cut to the limits)."""
    f = item.finding
    comp = f.component
    description, description_cut = truncate(f.description, text_limit)
    snippet, snippet_cut = truncate(f.location.snippet if f.location else None, snippet_limit)
    guidance, generic = remediation_for(f)
    guidance, guidance_cut = truncate(guidance, text_limit)
    cvss = f.cvss_v3 or f.cvss_v4
    short = text_limit // 4  # identifiers and one-line fields: 1,000 characters on screen, 200 in print

    def cut(text: str | None) -> str:
        return truncate(text, short)[0]

    return FindingView(
        id=item.id,
        title=cut(f.title),
        severity=f.severity.value,
        risk_level=item.risk_level.value,
        risk_score=f"{item.risk_score:.1f}",
        status=item.status.value.replace("_", " "),
        is_open=item.status.is_open,
        change=item.change,
        change_class=item.change if item.change in _KNOWN_CHANGES else "other",
        tool=cut(f.tool.name + (f" {f.tool.version}" if f.tool.version else "")),
        rule=cut(f.rule_id or rule_key(f)),
        category=f.category.value,
        confidence=f.confidence.value,
        cves=[v.id for v in f.vulnerability_ids[:50]],
        cwes=[str(c) for c in f.cwes],
        cvss=f"{cvss.base_score:.1f} ({cvss.vector})" if cvss else "",
        component=cut(comp.name) if comp else "",
        version=cut(comp.version) if comp else "",
        fixed_version=cut(comp.fixed_version) if comp else "",
        purl=cut(comp.purl) if comp else "",
        location=cut(location_text(f)),
        endpoint=cut(endpoint_text(f)),
        target=cut(f.target),
        description=description,
        description_cut=description_cut,
        snippet=snippet,
        snippet_cut=snippet_cut,
        remediation=guidance,
        remediation_generic=generic,
        remediation_cut=guidance_cut,
        references=[_reference(r) if len(r) <= short else Reference(cut(r), False) for r in f.references[:20]],
        first_seen=as_utc(item.first_seen).strftime("%Y-%m-%d"),
        last_seen=as_utc(item.last_seen).strftime("%Y-%m-%d"),
        occurrences=item.occurrences,
        fingerprint=f.fingerprint,
    )


@dataclass(frozen=True, slots=True)
class SeverityGroup:
    """Findings of one severity within a risk level."""

    severity: str
    findings: list[FindingView]


@dataclass(frozen=True, slots=True)
class RiskGroup:
    """Findings of one risk level, by severity."""

    risk: str
    count: int
    severities: list[SeverityGroup]


def _group(items: list[ReportFinding], text_limit: int, snippet_limit: int) -> list[RiskGroup]:
    groups: list[RiskGroup] = []
    for risk, by_risk in itertools.groupby(items, key=lambda i: i.risk_level):
        subgroups = []
        count = 0
        for sev, by_sev in itertools.groupby(by_risk, key=lambda i: i.finding.severity):
            views = [finding_view(i, text_limit=text_limit, snippet_limit=snippet_limit) for i in by_sev]
            count += len(views)
            subgroups.append(SeverityGroup(sev.value, views))
        groups.append(RiskGroup(risk.value, count, subgroups))
    return groups


def charts(summary: RunSummary, digest: Digest) -> dict[str, Markup]:
    """The report's SVG charts, keyed by name (escaped by the chart functions, so marked safe)."""
    sev_counts = summary.by_severity or dict(digest.severity_open)
    risk_counts = summary.by_risk or dict(digest.risk_open)
    sev_bars = [
        Bar(k, v, SEVERITY_COLORS.get(k, "#4b5563"))
        for k, v in _ordered_counts(sev_counts, tuple(s.value for s in SEVERITY_ORDER))
    ]
    risk_bars = [
        Bar(k, v, SEVERITY_COLORS.get(k, "#4b5563"))
        for k, v in _ordered_counts(risk_counts, tuple(r.value for r in RISK_ORDER))
    ]
    age_bars = [Bar(label, n, "#0f766e") for (label, _, _), n in zip(AGE_BUCKETS, digest.age, strict=True)]
    sev_title = "Findings by severity" if summary.by_severity else "Open findings by severity"
    risk_title = "Findings by risk level" if summary.by_risk else "Open findings by risk level"
    out = {
        "severity": Markup(bar_chart(sev_title, sev_bars)),  # noqa: S704 - escaped by charts
        "risk": Markup(bar_chart(risk_title, risk_bars)),  # noqa: S704
        "age": Markup(bar_chart("Age of open findings (since first seen)", age_bars)),  # noqa: S704
    }
    if summary.trend:
        labels = [as_utc(p.started_at).strftime("%Y-%m-%d") for p in summary.trend]
        series = [
            Series("open", [p.open for p in summary.trend], "#dc2626"),
            Series("new", [p.new for p in summary.trend], "#f59e0b"),
            Series("mitigated", [p.mitigated for p in summary.trend], "#16a34a"),
        ]
        out["trend"] = Markup(line_chart("Trend over recent runs", labels, series))  # noqa: S704
    return out


def run_feedback(summary: RunSummary) -> PerformanceFeedback:
    """Performance feedback for the run's stages, shares taken of the run's time so far (start to report)."""
    wall_ms: float | None = None
    if summary.finished_at is not None:
        wall_ms = (as_utc(summary.finished_at) - as_utc(summary.started_at)).total_seconds() * 1000
    return performance_feedback(summary.stages, runs=1, wall_ms=wall_ms)


def _feedback_context(fb: PerformanceFeedback) -> dict[str, Any]:
    """What the template shows of the feedback: plain strings, escaped by the template."""

    def secs(ms: float | None) -> str:
        return "" if ms is None else f"{ms / 1000:.2f}"

    return {
        "suggestions": [truncate(s.message, 2_000)[0] for s in fb.suggestions],
        "slowest": ", ".join(fb.slowest),
        "slowest_label": "Slowest stage" if len(fb.slowest) == 1 else "Slowest stages",
        "flakiest": fb.flakiest_integration or "",
        "share_of": fb.share_of,
        "rows": [
            {
                "name": st.name,
                "count": st.count,
                "total": secs(st.total_ms),
                "total_text": format_duration(st.total_ms),
                "p50": secs(st.p50_ms),
                "max": secs(st.max_ms),
                "share": f"{st.share:.0%}",
                "attempts": st.attempts,
                "retries": st.retries,
                "failures": st.failures,
            }
            for st in fb.stages
        ],
    }


def render(summary: RunSummary, digest: Digest, *, print_variant: bool) -> Iterator[str]:
    """The report page as a stream of HTML chunks (the screen page, or the print variant for the PDF)."""
    sev_counts = summary.by_severity or dict(digest.severity_open)
    risk_counts = summary.by_risk or dict(digest.risk_open)
    items = digest.top()
    text_limit, snippet_limit = (800, 400) if print_variant else (4_000, 2_000)
    stages = [
        {
            "name": s.name,
            "attempts": s.attempts,
            "duration": "" if s.duration_ms is None else f"{s.duration_ms / 1000:.2f}",
            "outcome": s.outcome,
            "failure": truncate(s.failure, 2_000)[0],
        }
        for s in summary.stages
    ]
    context = {
        "print_variant": print_variant,
        "csp": CSP,
        "summary": summary,
        "started": as_utc(summary.started_at).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "finished": (
            as_utc(summary.finished_at).strftime("%Y-%m-%d %H:%M:%S UTC") if summary.finished_at else ""
        ),
        "total": summary.total_findings or digest.total,
        "listed_total": digest.total,
        "shown": len(items),
        "omitted": digest.omitted,
        "cap": digest.cap,
        "open_total": digest.open_total,
        "severity_caption": "By severity" if summary.by_severity else "By severity (open findings)",
        "risk_caption": "By risk level" if summary.by_risk else "By risk level (open findings)",
        "severity_rows": _badge_rows(sev_counts, tuple(s.value for s in SEVERITY_ORDER)),
        "risk_rows": _badge_rows(risk_counts, tuple(r.value for r in RISK_ORDER)),
        "status_rows": sorted(digest.status.items(), key=lambda kv: (-kv[1], kv[0])),
        "age_rows": [(label, n) for (label, _, _), n in zip(AGE_BUCKETS, digest.age, strict=True)],
        "charts": charts(summary, digest),
        "groups": _group(items, text_limit, snippet_limit),
        "stages": stages,
        "feedback": _feedback_context(run_feedback(summary)) if summary.stages else None,
        "colors": SEVERITY_COLORS,
    }
    return environment().get_template("report.html.j2").generate(context)


class HtmlSink:
    """Writes the HTML report: digest while findings stream in, render at finish."""

    def __init__(self, summary: RunSummary, out: BinaryIO, *, cap: int = HTML_CAP) -> None:
        """Prepare a digest keeping up to `cap` findings for the page."""
        self._summary = summary
        self._out = out
        self.digest = new_digest(summary, cap)

    def add(self, item: ReportFinding) -> None:
        """Count and maybe keep one finding."""
        self.digest.add(item)

    def finish(self) -> None:
        """Render the page into the file, chunk by chunk."""
        buf: list[str] = []
        size = 0
        for chunk in render(self._summary, self.digest, print_variant=False):
            buf.append(chunk)
            size += len(chunk)
            if size > 1 << 20:
                self._out.write("".join(buf).encode())
                buf, size = [], 0
        self._out.write("".join(buf).encode())

    def abort(self) -> None:
        """Nothing to release."""


def _no_fetch(url: str, timeout: int = 10, ssl_context: object = None) -> dict[str, Any]:
    """URL fetcher for weasyprint < 68: the page references nothing, so fetch nothing."""
    raise ValueError(f"report rendering fetches no resources (refused {url[:80]!r})")


def _url_fetcher() -> Any:
    """A weasyprint URL fetcher that allows only data: URLs (no file, no network access)."""
    try:
        from weasyprint.urls import URLFetcher  # weasyprint >= 68
    except ImportError:  # pragma: no cover - older weasyprint takes a plain function
        return _no_fetch
    return URLFetcher(allowed_protocols={"data"})


class _MissingGlyphs(logging.Filter):
    """Swallows weasyprint's one-warning-per-character ".notdef glyph" messages, counting them."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0
        self.samples: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if str(record.msg).startswith(".notdef glyph"):
            self.count += 1
            if len(self.samples) < 8 and record.args:
                self.samples.add(str(record.args[0] if isinstance(record.args, tuple) else record.args)[:8])
            return False
        return True


class PdfSink:
    """Writes the PDF report: the print variant of the page (top findings only) through weasyprint."""

    def __init__(self, summary: RunSummary, out: BinaryIO, *, cap: int = PDF_CAP) -> None:
        """Prepare a digest keeping the top `cap` findings."""
        self._summary = summary
        self._out = out
        self.digest = new_digest(summary, cap)

    def add(self, item: ReportFinding) -> None:
        """Count and maybe keep one finding."""
        self.digest.add(item)

    def finish(self) -> None:
        """Render the print variant and lay it out into the PDF (synchronous, CPU-bound)."""
        from weasyprint import HTML  # imported lazily: loading pango costs time

        page = "".join(render(self._summary, self.digest, print_variant=True))
        missing = _MissingGlyphs()
        wp_logger = logging.getLogger("weasyprint")
        wp_logger.addFilter(missing)
        try:
            HTML(string=page, url_fetcher=_url_fetcher()).write_pdf(target=self._out)
        finally:
            wp_logger.removeFilter(missing)
        if missing.count:
            _log.warning(
                "PDF report: %d characters had no font and print as boxes (e.g. %s); "
                "install a font that covers them (Debian: fonts-noto-cjk for Chinese/Japanese/Korean)",
                missing.count, " ".join(sorted(missing.samples)),
            )

    def abort(self) -> None:
        """Nothing to release."""


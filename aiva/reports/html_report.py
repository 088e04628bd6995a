"""HTML report (and its print variant, which weasyprint turns into the PDF).

One pass over the findings feeds a `Digest`: exact counts over every finding (by
severity and risk of open findings, by status and change, age of open findings, summed
risk of open findings per asset), the five riskiest open findings, and the top N
findings by risk kept in a bounded heap. The page shows all findings up to `HTML_CAP`
(5,000), grouped by asset then risk level, and says how many more are in the
JSON/CSV/SARIF reports; the PDF shows the top `PDF_CAP` (200) by risk level then
severity, so it never runs to thousands of pages.

The run's threat intelligence comes with the summary: KEV count, SLA breaches, the
analysis stage's compliance evaluation and attack paths; each has its own section,
which says "not evaluated for this run" when the summary carries nothing for it.
Links between sections are in-page anchors (`#f-<finding id>`) to findings the page
lists.

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
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from aiva.feedback import PerformanceFeedback, format_duration, performance_feedback
from aiva.reports.charts import Bar, HBar, Series, bar_chart, hbar_chart, line_chart
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
TOP_RISKS = 5  # riskiest open findings in the executive summary
TOP_ASSETS = 10  # bars of the top risky assets chart
MAX_ASSETS = 10_000  # assets counted by name; further ones are summed as OTHER_ASSETS
ASSET_LIMIT = 200  # characters of an asset name kept
UNSPECIFIED_ASSET = "(unspecified)"
OTHER_ASSETS = "(other assets)"
SLA_ROWS = 50
EVIDENCE_LINKS = 10  # evidence links per failed control in the report
MAX_PATHS = 20
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
    asset_risk: dict[str, float] = field(default_factory=dict)  # summed risk score of open findings
    asset_open: Counter[str] = field(default_factory=Counter)  # open findings per asset
    _heap: list[tuple[int, int, int, float, int, ReportFinding]] = field(default_factory=list)
    _top_risks: list[tuple[float, int, int, int, ReportFinding]] = field(default_factory=list)
    _seq: Iterator[int] = field(default_factory=itertools.count)

    def add(self, item: ReportFinding) -> None:
        """Count one finding and keep it if it ranks among the top `cap`."""
        self.total += 1
        f = item.finding
        is_open = item.status.is_open
        seq = -next(self._seq)
        self.status[item.status.value] += 1
        self.change[item.change] += 1
        if is_open:
            self.open_total += 1
            self.severity_open[f.severity.value] += 1
            self.risk_open[item.risk_level.value] += 1
            days = (self.reference_time - as_utc(item.first_seen)).days
            self.age[_age_bucket(days)] += 1
            asset = asset_name(f.target)
            if asset not in self.asset_risk and len(self.asset_risk) >= MAX_ASSETS:
                asset = OTHER_ASSETS
            self.asset_risk[asset] = self.asset_risk.get(asset, 0.0) + item.risk_score
            self.asset_open[asset] += 1
            top = (item.risk_score, RISK_RANK[item.risk_level], f.severity.rank, seq, item)
            if len(self._top_risks) < TOP_RISKS:
                heapq.heappush(self._top_risks, top)
            elif top[:4] > self._top_risks[0][:4]:
                heapq.heapreplace(self._top_risks, top)
        if self.cap <= 0:
            return
        rank = (int(is_open), RISK_RANK[item.risk_level], f.severity.rank, item.risk_score, seq)
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

    def top_risks(self) -> list[ReportFinding]:
        """The `TOP_RISKS` open findings with the highest risk score, highest first."""
        return [k[4] for k in sorted(self._top_risks, key=lambda k: k[:4], reverse=True)]

    def top_assets(self, n: int = TOP_ASSETS) -> list[tuple[str, float, int]]:
        """(asset, summed risk score, open findings) of the `n` assets with the most open risk."""
        ranked = sorted(self.asset_risk.items(), key=lambda kv: (-kv[1], kv[0]))[:n]
        return [(name, risk, self.asset_open[name]) for name, risk in ranked]


def asset_name(target: str | None) -> str:
    """The asset a finding is counted and grouped under: its target (shortened), else "(unspecified)"."""
    name = truncate((target or "").strip(), ASSET_LIMIT)[0]
    return name or UNSPECIFIED_ASSET


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
    also_tools: str  # the other tools reporting the same weakness ("grype, snyk"), or empty
    also_rule: str  # the correlation rule that joined them


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
        also_tools=cut(", ".join(item.correlation.also_reported_by)) if item.correlation else "",
        also_rule=item.correlation.rule if item.correlation else "",
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


@dataclass(frozen=True, slots=True)
class AssetRiskGroup:
    """Findings of one risk level on one asset."""

    risk: str
    findings: list[FindingView]


@dataclass(frozen=True, slots=True)
class AssetGroup:
    """Findings of one asset, by risk level; with the asset's open findings and summed open risk."""

    asset: str
    count: int
    open_count: int
    open_risk: str
    risks: list[AssetRiskGroup]


def _group_by_asset(
    items: list[ReportFinding], digest: Digest, text_limit: int, snippet_limit: int
) -> list[AssetGroup]:
    """Findings (in display order) grouped by asset, riskiest asset first, then by risk level."""
    buckets: dict[str, list[ReportFinding]] = {}
    for item in items:
        buckets.setdefault(asset_name(item.finding.target), []).append(item)
    groups: list[AssetGroup] = []
    for asset in sorted(buckets, key=lambda a: (-digest.asset_risk.get(a, 0.0), a)):
        risks = [
            AssetRiskGroup(
                risk.value, [finding_view(i, text_limit=text_limit, snippet_limit=snippet_limit) for i in by_risk]
            )
            for risk, by_risk in itertools.groupby(buckets[asset], key=lambda i: i.risk_level)
        ]
        groups.append(AssetGroup(asset, len(buckets[asset]), digest.asset_open.get(asset, 0),
                                 f"{digest.asset_risk.get(asset, 0.0):,.1f}", risks))
    return groups


# ---- threat intelligence sections: SLA breaches, compliance, attack paths ----------------------------------------


@dataclass(frozen=True, slots=True)
class Shown:
    """A finding the page lists, as other sections link to it (`#f-<id>`)."""

    id: int
    title: str
    severity: str


def shown_findings(items: list[ReportFinding]) -> dict[str, Shown]:
    """Fingerprint -> the listed finding it names (for links from the other sections)."""
    return {i.finding.fingerprint: Shown(i.id, truncate(i.finding.title, 160)[0], i.finding.severity.value)
            for i in items}


def _severity_class(name: str) -> str:
    return name if name in SEVERITY_COLORS else "other"


def _as_dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _as_list(value: object) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else []


def _as_int(value: object) -> int:
    if not isinstance(value, int | float | str):
        return 0
    try:
        return int(value)
    except (ValueError, OverflowError):
        return 0


def _as_float(value: object) -> float:
    if not isinstance(value, int | float | str):
        return 0.0
    try:
        out = float(value)
    except (ValueError, OverflowError):
        return 0.0
    return out if out == out else 0.0  # NaN counts as 0


def _text(value: object, limit: int = 300) -> str:
    return truncate("" if value is None else str(value), limit)[0]


@dataclass(frozen=True, slots=True)
class SlaRow:
    """One SLA breach as the table shows it."""

    severity: str
    severity_class: str
    fingerprint: str
    short: str
    due: str
    overdue_days: int
    anchor: int | None


def sla_rows(summary: RunSummary, shown: Mapping[str, Shown], limit: int = SLA_ROWS) -> list[SlaRow]:
    """The summary's SLA breaches (most overdue first, as given), at most `limit`."""
    rows = []
    for b in summary.sla_breaches[:limit]:
        link = shown.get(b.fingerprint)
        rows.append(SlaRow(
            severity=_text(b.severity, 40), severity_class=_severity_class(b.severity),
            fingerprint=_text(b.fingerprint, 200), short=_text(b.fingerprint, 12),
            due=as_utc(b.due).strftime("%Y-%m-%d"), overdue_days=b.overdue_days,
            anchor=link.id if link else None,
        ))
    return rows


@dataclass(frozen=True, slots=True)
class ControlView:
    """One control of a framework: status, its evidence (open findings' fingerprints) and links to them."""

    id: str
    title: str
    label: str  # the title without a leading repeat of the id ("A03:2021 Injection" -> "Injection")
    passed: bool
    evidence: tuple[str, ...]
    resolved: int
    links: list[Shown]
    unlinked: int  # evidence findings this page does not list (or beyond the links shown)


@dataclass(frozen=True, slots=True)
class FrameworkView:
    """One framework's evaluation, as the reports show it."""

    key: str
    name: str
    sources: list[str]
    controls: list[ControlView]
    open_findings: int
    open_unmapped: int

    @property
    def failed(self) -> list[ControlView]:
        """The controls that fail, in the framework's order."""
        return [c for c in self.controls if not c.passed]

    @property
    def passed(self) -> bool:
        """True when no control fails."""
        return all(c.passed for c in self.controls)


def compliance_views(
    doc: Mapping[str, Any], shown: Mapping[str, Shown] | None = None, *, links: int = EVIDENCE_LINKS
) -> list[FrameworkView]:
    """The frameworks of a compliance evaluation (aiva.compliance.ComplianceReport as JSON), read leniently.

    Each failed control links to up to `links` of its evidence findings that `shown` holds.
    Missing or malformed parts read as empty; nothing here raises on odd input.
    """
    shown = shown or {}
    out: list[FrameworkView] = []
    for key, raw in _as_dict(doc.get("frameworks")).items():
        fw = _as_dict(raw)
        controls: list[ControlView] = []
        for c in map(_as_dict, _as_list(fw.get("controls"))):
            evidence = tuple(str(e) for e in _as_list(c.get("evidence")))
            passed = bool(c.get("passed", not evidence))
            linked: list[Shown] = []
            if not passed:
                for fp in evidence:
                    if len(linked) >= links:
                        break
                    hit = shown.get(fp)
                    if hit is not None:
                        linked.append(hit)
            cid, title = _text(c.get("id"), 80), _text(c.get("title"), 300)
            label = title[len(cid):].lstrip(" :-") if cid and title.startswith(cid) else title
            controls.append(ControlView(
                id=cid, title=title, label=label, passed=passed, evidence=evidence,
                resolved=_as_int(c.get("resolved")), links=linked, unlinked=len(evidence) - len(linked),
            ))
        out.append(FrameworkView(
            key=_text(key, 80), name=_text(fw.get("name") or key, 200),
            sources=[_text(src, 500) for src in _as_list(fw.get("sources"))[:10]], controls=controls,
            open_findings=_as_int(fw.get("open_findings")), open_unmapped=_as_int(fw.get("open_unmapped")),
        ))
    return out


@dataclass(frozen=True, slots=True)
class HopFinding:
    """A finding that makes a hop possible."""

    title: str
    fingerprint: str
    risk_score: str
    kev: bool
    anchor: int | None


@dataclass(frozen=True, slots=True)
class HopView:
    """One hop of an attack path."""

    source: str
    target: str
    kind: str
    probability: str
    via: str
    findings: list[HopFinding]


@dataclass(frozen=True, slots=True)
class PathView:
    """An attack path: the chain of assets from the internet to a crown jewel, and its hops."""

    chain: list[str]
    probability: str
    hops: list[HopView]


def _percent(p: float) -> str:
    p = max(0.0, min(1.0, p))
    return f"{p:.1%}" if p < 0.1 else f"{p:.0%}"


def attack_path_views(summary: RunSummary, shown: Mapping[str, Shown], limit: int = MAX_PATHS) -> list[PathView]:
    """The summary's attack paths (likeliest first, as given), at most `limit`."""
    out = []
    for path in summary.attack_paths[:limit]:
        hops = []
        for h in path.hops[:30]:
            findings = []
            for raw in h.findings[:10]:
                d = _as_dict(raw)
                fp = _text(d.get("fingerprint"), 200)
                link = shown.get(fp)
                findings.append(HopFinding(
                    title=_text(d.get("title") or fp, 300), fingerprint=fp,
                    risk_score=f"{_as_float(d.get('risk_score')):.1f}", kev=d.get("in_kev") is True,
                    anchor=link.id if link else None,
                ))
            hops.append(HopView(
                source=_text(h.source, ASSET_LIMIT) if h.source else "internet", target=_text(h.target, ASSET_LIMIT),
                kind=_text(h.kind, 40), probability=_percent(h.probability), via=_text(h.via, 40), findings=findings,
            ))
        chain = ["internet", *(hop.target for hop in hops)]
        out.append(PathView(chain=chain, probability=_percent(path.probability), hops=hops))
    return out


def _plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n:,} {one if n == 1 else (many or one + 's')}"


def posture(summary: RunSummary, digest: Digest, frameworks: list[FrameworkView]) -> str:
    """A few sentences on the run's risk posture (numbers and fixed words only, no scanner text)."""
    crit, high = digest.risk_open.get("critical", 0), digest.risk_open.get("high", 0)
    if digest.open_total:
        text = f"{_plural(digest.open_total, 'open finding')}: {crit:,} critical-risk, {high:,} high-risk"
    else:
        text = "No open findings"
    text += f", {summary.kev_open:,} on the CISA KEV catalogue" if summary.kev_open else ", none on CISA KEV"
    if summary.sla_breach_count:
        worst = max((b.overdue_days for b in summary.sla_breaches), default=0)
        text += f"; {_plural(summary.sla_breach_count, 'finding')} past their SLA"
        if worst:
            text += f" (the most overdue by {_plural(worst, 'day')})"
    else:
        text += "; no SLA breach recorded"
    text += "."
    extra = []
    if frameworks:
        failing = sum(not fw.passed for fw in frameworks)
        extra.append(f"{failing:,} of {_plural(len(frameworks), 'compliance framework')} failing")
    if summary.attack_paths:
        likeliest = max(p.probability for p in summary.attack_paths)
        extra.append(f"{_plural(len(summary.attack_paths), 'attack path')} to crown jewels, "
                     f"the likeliest {_percent(likeliest)}")
    if extra:
        joined = "; ".join(extra)
        text += f" {joined[0].upper()}{joined[1:]}."
    return text


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
        "assets": Markup(hbar_chart(  # noqa: S704
            f"Top {TOP_ASSETS} risky assets (summed risk score of open findings)",
            [HBar(name, risk, _plural(n, "open finding")) for name, risk, n in digest.top_assets()],
        )),
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
    shown = shown_findings(items)
    frameworks = compliance_views(summary.compliance, shown)
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
        "groups": _group(items, text_limit, snippet_limit) if print_variant else [],
        "asset_groups": [] if print_variant else _group_by_asset(items, digest, text_limit, snippet_limit),
        "anchors": {i.id for i in items},
        "posture": posture(summary, digest, frameworks),
        "top_risks": [finding_view(i, text_limit=text_limit, snippet_limit=0) for i in digest.top_risks()],
        "sla_rows": sla_rows(summary, shown),
        "frameworks": frameworks,
        "paths": attack_path_views(summary, shown),
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


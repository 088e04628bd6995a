"""The reports' threat-intelligence sections and the compliance report format.

Executive summary (posture, KEV and SLA cards, top risks), the top risky assets chart,
findings grouped by asset, SLA breaches, compliance and attack paths: with data, with
none ("not evaluated for this run"), and with hostile scanner text that must stay text
in both the HTML report and the standalone compliance report.
"""

from __future__ import annotations

import re
from datetime import timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from aiva.compliance import ComplianceFinding, evaluate
from aiva.enums import ComplianceFramework, RiskLevel, Severity, VulnerabilityStatus
from aiva.reports import html_report
from aiva.reports.compliance_report import ComplianceSink
from aiva.reports.html_report import HtmlSink, new_digest, render
from aiva.reports.model import AttackPathHop, AttackPathView, ReportFinding, RunSummary, SlaBreach
from aiva.reports.writer import EXTENSIONS, write_reports
from aiva.schemas import CWEReference
from tests.reports import factory as fx
from tests.reports.test_html_xss import _assert_inert, _dump_dom, needs_chromium


def _compliance(items: list[ReportFinding]) -> dict[str, Any]:
    """The analysis stage's evaluation of these findings, as the summary carries it."""
    report = evaluate(ComplianceFinding.from_finding(i.finding, i.status) for i in items)
    return report.model_dump(mode="json")


def _path(web: list[dict[str, Any]], db: list[dict[str, Any]], probability: float = 0.31) -> AttackPathView:
    return AttackPathView(
        entry="web", target="db", probability=probability,
        hops=[
            AttackPathHop(source=None, target="web", kind="network", probability=0.8, via="findings", findings=web),
            AttackPathHop(source="web", target="api", kind="trust", probability=0.9, via="trust"),
            AttackPathHop(source="api", target="db", kind="network", probability=0.43, via="findings", findings=db),
        ],
    )


def _hop_finding(item: ReportFinding, kev: bool = False) -> dict[str, Any]:
    return {"fingerprint": item.finding.fingerprint, "title": item.finding.title, "risk_score": item.risk_score,
            "in_kev": kev}


def rich_findings() -> list[ReportFinding]:
    return [
        fx.finding(1, title="SQL injection in login", cwes=(CWEReference(id=89),), risk_score=9.6,
                   severity=Severity.CRITICAL, target="web"),
        fx.finding(2, title="Reflected XSS in search", risk_score=7.4, target="web"),
        fx.sca_finding(3, title="Prototype pollution in lodash", target="api"),  # risk 9.1
        fx.finding(4, title="Hard-coded password", cwes=(CWEReference(id=798),), risk_score=8.0, target="db"),
        fx.finding(5, title="Old mitigated XSS", risk_score=9.9, target="db", status=VulnerabilityStatus.MITIGATED,
                   change="mitigated"),
        fx.finding(6, title="Missing header", risk_score=2.0, severity=Severity.LOW, cwes=(CWEReference(id=693),)),
        fx.finding(7, title="Path traversal", cwes=(CWEReference(id=22),), risk_score=6.5, target="api"),
    ]


def rich_summary(items: list[ReportFinding]) -> RunSummary:
    return fx.summary(
        kev_open=2,
        sla_breach_count=3,
        sla_breaches=[
            SlaBreach(fingerprint="fp-000001", severity="critical", due=fx.NOW - timedelta(days=40), overdue_days=40),
            SlaBreach(fingerprint="fp-000004", severity="high", due=fx.NOW - timedelta(days=9), overdue_days=9),
            SlaBreach(fingerprint="fp-999999", severity="medium", due=fx.NOW - timedelta(days=2), overdue_days=2),
        ],
        compliance=_compliance(items),
        attack_paths=[_path([_hop_finding(items[0], kev=True), _hop_finding(items[1])], [_hop_finding(items[3])])],
    )


def _page(tmp_path: Path, summary: RunSummary, items: list[ReportFinding]) -> tuple[str, str]:
    paths = write_reports(summary, fx.source(items), tmp_path, ["html", "compliance"])
    return (Path(paths["html"]).read_text(encoding="utf-8"),
            Path(paths["compliance"]).read_text(encoding="utf-8"))


def _section(page: str, name: str) -> str:
    return page.split(f'<section id="{name}">', 1)[1].split("</section>", 1)[0]


def _text(fragment: str) -> str:
    """The fragment's text content, whitespace collapsed."""

    class _T(HTMLParser):
        def __init__(self) -> None:
            super().__init__(convert_charrefs=True)
            self.parts: list[str] = []

        def handle_data(self, data: str) -> None:
            self.parts.append(data)

    p = _T()
    p.feed(fragment)
    return " ".join(" ".join(p.parts).split())


def _anchor_ids(page: str) -> dict[int, str]:
    """Finding id -> title, for every finding the page lists with an anchor."""
    out = {}
    for m in re.finditer(r'<details class="finding[^"]*" id="f-(\d+)">.*?<span class="title" dir="auto">(.*?)</span>',
                         page, flags=re.S):
        out[int(m.group(1))] = m.group(2)
    return out


# ---- with data --------------------------------------------------------------------------------------------------


def test_executive_summary_with_data(tmp_path: Path) -> None:
    items = rich_findings()
    page, _ = _page(tmp_path, rich_summary(items), items)
    summary = _section(page, "summary")
    assert re.search(r'id="kev-card"><span class="n">2</span><span class="l">open on CISA KEV', summary)
    assert re.search(r'id="sla-card"><span class="n">3</span><span class="l">past their SLA', summary)
    posture = _text(summary.split('id="posture">', 1)[1].split("</p>", 1)[0])
    assert "6 open findings: 2 critical-risk, 2 high-risk, 2 on the CISA KEV catalogue" in posture
    assert "3 findings past their SLA (the most overdue by 40 days)" in posture
    assert "of 5 compliance frameworks failing" in posture
    assert "1 attack path to crown jewels, the likeliest 31%" in posture
    top = summary.split('<ol class="top-risks" id="top-risks">', 1)[1].split("</ol>", 1)[0]
    titles = re.findall(r'<a class="title" href="#f-(\d+)" dir="auto">([^<]*)</a>', top)
    # the five riskiest OPEN findings, highest risk first; the mitigated 9.9 is not among them
    assert [int(i) for i, _ in titles] == [1, 3, 4, 2, 7]
    assert "on web" in _text(top) and "on api" in _text(top)


def test_findings_grouped_by_asset_then_risk(tmp_path: Path) -> None:
    items = rich_findings()
    page, _ = _page(tmp_path, rich_summary(items), items)
    findings = _section(page, "findings")
    assets = re.findall(r'<h3 class="asset">Asset: <span dir="auto">([^<]*)</span>', findings)
    # by summed open risk: web 9.6+7.4=17.0, api 9.1+6.5=15.6, db 8.0 (the mitigated one adds nothing), unspecified 2.0
    assert assets == ["web", "api", "db", "(unspecified)"]
    assert "2 listed; 2 open, summed risk 17.0" in findings
    db = findings.split("Asset: <span dir=\"auto\">db</span>", 1)[1].split('<h3 class="asset">', 1)[0]
    risks = re.findall(r'<h4>Risk: <span class="badge sev-(\w+)">', db)
    assert risks == ["critical", "high"]  # the mitigated 9.9 is listed too, by risk level
    assert page.count('<details class="finding') == len(items)
    assert set(_anchor_ids(page)) == {i.id for i in items}
    # the PDF's print variant keeps its top-N by risk level, then severity
    summary = rich_summary(items)
    digest = new_digest(summary, 3)
    for item in items:
        digest.add(item)
    printed = "".join(render(summary, digest, print_variant=True))
    assert '<h3 class="asset">' not in printed and "<h4>Severity: critical" in printed
    assert printed.count('<article class="finding') == 3 and "4 more findings" in printed


def test_sla_section_with_data(tmp_path: Path) -> None:
    items = rich_findings()
    page, _ = _page(tmp_path, rich_summary(items), items)
    sla = _section(page, "sla")
    rows = re.findall(r"<tr><td><span class=\"badge sev-(\w+)\">\w+</span></td><td><code title=\"([^\"]+)\">(.*?)"
                      r"</code></td><td>([\d-]+)</td><td class=\"num\">(\d+)</td></tr>", sla)
    assert [(r[0], r[1], r[3], r[4]) for r in rows] == [
        ("critical", "fp-000001", "2026-10-11", "40"),
        ("high", "fp-000004", "2026-11-11", "9"),
        ("medium", "fp-999999", "2026-11-18", "2"),
    ]
    assert rows[0][2] == '<a href="#f-1">fp-000001</a>'  # listed finding: a link
    assert rows[2][2] == "fp-999999"  # not in the report: no link


def test_sla_table_is_capped() -> None:
    breaches = [SlaBreach(fingerprint=f"fp-{i:06d}", severity="high", due=fx.NOW, overdue_days=100 - i)
                for i in range(80)]
    summary = fx.summary(sla_breaches=breaches, sla_breach_count=123)
    digest = new_digest(summary, 10)
    page = "".join(render(summary, digest, print_variant=False))
    sla = _section(page, "sla")
    assert sla.count("<tr><td>") == 50
    assert "123 open findings are past the SLA due date; the 50 most overdue are listed" in _text(sla)


def test_compliance_section_with_data(tmp_path: Path) -> None:
    items = rich_findings()
    summary = rich_summary(items)
    page, _ = _page(tmp_path, summary, items)
    section = _section(page, "compliance")
    doc = summary.compliance["frameworks"]
    for key, fw in doc.items():
        failed = [c for c in fw["controls"] if not c["passed"]]
        assert re.search(rf'>{re.escape(fw["name"])}</a></td><td><span class="badge (pass|fail)">'
                         rf'{"PASS" if not failed else "FAIL"}</span></td><td class="num">{len(failed)} of '
                         rf'{len(fw["controls"])}</td>', section), key
    owasp = doc["owasp_top10_2021"]
    a03 = next(c for c in owasp["controls"] if c["id"] == "A03:2021")
    assert a03["evidence"] == ["fp-000001", "fp-000002"]
    row = section.split("<b>A03:2021</b>", 1)[1].split("</tr>", 1)[0]
    assert '<td class="num">2</td>' in row
    assert re.findall(r'href="#f-(\d+)"', row) == ["1", "2"]
    assert "SQL injection in login" in row and "Reflected XSS in search" in row
    # every evidence link lands on a finding the page lists
    anchors = _anchor_ids(page)
    assert {int(i) for i in re.findall(r'href="#f-(\d+)"', section)} <= set(anchors)
    # passing controls are not listed in the report section (the compliance report lists them)
    passing = next(c for c in owasp["controls"] if c["passed"])
    assert f"<b>{passing['id']}</b>" not in section
    assert "<b>A03:2021</b> Injection</td>" in section  # the id is not repeated in the title
    # a framework without a failed control says so
    if all(c["passed"] for c in doc["sox"]["controls"]):
        assert "All 3 controls pass" in section


def test_attack_paths_section_with_data(tmp_path: Path) -> None:
    items = rich_findings()
    page, _ = _page(tmp_path, rich_summary(items), items)
    section = _section(page, "attack-paths")
    text = _text(section)
    assert "Path 1: internet → web → api → db 31%" in text
    hops = section.split('<table class="hops">', 1)[1].split("</table>", 1)[0].split("<tr>")[2:]
    assert len(hops) == 3
    assert "internet → web" in _text(hops[0]) and "80%" in hops[0]
    assert '<span class="badge risk">9.6</span> <span class="badge kev">KEV</span> <a href="#f-1" dir="auto">' \
           "SQL injection in login</a>" in hops[0]
    assert '<span class="badge risk">7.4</span> <a href="#f-2"' in hops[0]  # no KEV badge
    assert "trust relationship" in _text(hops[1])
    assert '<a href="#f-4" dir="auto">Hard-coded password</a>' in hops[2]
    assert "KEV" not in hops[2]


def test_attack_path_findings_read_leniently() -> None:
    """Hop findings are plain dicts from the analysis stage: odd values must not break the report."""
    hop = [{"title": None, "fingerprint": "fp-x", "risk_score": "n/a", "in_kev": "yes"}, {}]
    summary = fx.summary(attack_paths=[_path(hop, [{"risk_score": float("nan")}], probability=0.004)])
    page = "".join(render(summary, new_digest(summary, 10), print_variant=False))
    section = _section(page, "attack-paths")
    assert "0.4%" in section and "fp-x" in section
    assert "KEV" not in section  # only a real true counts
    assert section.count('<span class="badge risk">0.0</span>') == 3


# ---- without data -----------------------------------------------------------------------------------------------


def test_sections_without_data(tmp_path: Path) -> None:
    page, compliance = _page(tmp_path, fx.summary(), [])
    assert "not evaluated for this run" in _section(page, "compliance")
    assert "not evaluated for this run" in _section(page, "attack-paths")
    assert "not evaluated for this run" in _section(page, "sla")
    summary = _section(page, "summary")
    assert "No open findings, none on CISA KEV; no SLA breach recorded." in _text(summary)
    assert "No open findings." in summary  # top risks
    assert '<span class="n">0</span><span class="l">open on CISA KEV' in summary
    assert "no data" in page.split("Top 10 risky assets", 1)[1].split("</svg>", 1)[0]
    assert "Compliance was not evaluated for this run." in compliance
    assert 'class="framework"' not in compliance


def test_compliance_section_tolerates_malformed_json() -> None:
    doc = {"frameworks": {"x": {"controls": [{"id": "C1", "evidence": "not-a-list", "passed": False}, "junk"]},
                          "y": "junk"}}
    views = html_report.compliance_views(doc)
    assert [v.key for v in views] == ["x", "y"]
    assert views[0].name == "x" and not views[0].passed and views[0].controls[0].evidence == ()
    assert views[1].controls == [] and views[1].passed
    assert html_report.compliance_views({}) == []


# ---- top risky assets chart --------------------------------------------------------------------------------------


def test_top_assets_chart_sums_open_risk() -> None:
    items = [
        fx.finding(1, target="a", risk_score=5.5),
        fx.finding(2, target="a", risk_score=2.25),
        fx.finding(3, target="b", risk_score=9.0),
        fx.finding(4, target="b", risk_score=9.9, status=VulnerabilityStatus.MITIGATED),  # closed: not counted
        fx.finding(5, target=None, risk_score=1.0),
        fx.finding(6, target="  ", risk_score=0.5),  # blank: unspecified
        fx.finding(7, target="c", risk_score=3.0, status=VulnerabilityStatus.FALSE_POSITIVE),
    ]
    summary = fx.summary()
    digest = new_digest(summary, 100)
    for item in items:
        digest.add(item)
    assert digest.top_assets() == [("b", 9.0, 1), ("a", 7.75, 2), ("(unspecified)", 1.5, 2)]
    svg = str(html_report.charts(summary, digest)["assets"])
    assert re.findall(r"<title>([^<]*)</title></rect>", svg) == [
        "b: 9.0 (1 open finding)", "a: 7.8 (2 open findings)", "(unspecified): 1.5 (2 open findings)",
    ]
    labels = re.findall(r'text-anchor="end" fill="#374151">([^<]*)</text>', svg)
    assert labels == ["b", "a", "(unspecified)"]


def test_top_assets_chart_keeps_ten_and_bounds_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(html_report, "MAX_ASSETS", 15)
    summary = fx.summary()
    digest = new_digest(summary, 0)
    for i in range(40):
        digest.add(fx.finding(i + 1, target=f"asset-{i:02d}", risk_score=1.0 + i / 10))
    digest.add(fx.finding(99, target="asset-00", risk_score=5.0))  # a known asset still adds up
    assert len(digest.asset_risk) == 16  # 15 by name + "(other assets)"
    assert digest.asset_open["(other assets)"] == 25
    assert digest.asset_risk["asset-00"] == pytest.approx(6.0)
    top = digest.top_assets()
    assert len(top) == 10 and top[0][0] == "(other assets)"
    assert top[0][1] == pytest.approx(sum(1.0 + i / 10 for i in range(15, 40)))
    svg = str(html_report.charts(summary, digest)["assets"])
    assert svg.count("<rect ") == 10


def test_long_asset_names_are_cut() -> None:
    summary = fx.summary()
    digest = new_digest(summary, 10)
    digest.add(fx.finding(1, target="x" * 50_000))
    (name, _, _), = digest.top_assets()
    assert len(name) <= 201
    page = "".join(render(summary, digest, print_variant=False))
    assert "x" * 1_001 not in page


# ---- the compliance report format ------------------------------------------------------------------------------


def test_compliance_format_is_registered() -> None:
    from aiva.contracts import REPORT_FORMATS

    assert "compliance" in REPORT_FORMATS and EXTENSIONS["compliance"] == "compliance.html"


def test_compliance_report_lists_each_failed_control_with_evidence(tmp_path: Path) -> None:
    items = rich_findings()
    summary = rich_summary(items)
    # one evidence fingerprint the report's findings do not include
    summary.compliance["frameworks"]["owasp_top10_2021"]["controls"][2]["evidence"].append("fp-gone")
    paths = write_reports(summary, fx.source(items), tmp_path, ["compliance"])
    assert Path(paths["compliance"]).name.endswith(".compliance.html")
    page = Path(paths["compliance"]).read_text(encoding="utf-8")
    titles = {i.finding.fingerprint: i.finding.title for i in items}
    failed_total = 0
    for n, (key, fw) in enumerate(summary.compliance["frameworks"].items(), start=1):
        section = page.split(f'<section class="framework" id="fw-{n}">', 1)[1].split("</section>", 1)[0]
        assert fw["name"] in section, key
        for j, control in enumerate(fw["controls"]):
            status = "PASS" if control["passed"] else "FAIL"
            assert re.search(rf"<tr><td><b>{re.escape(control['id'])}</b></td><td>[^<]*</td><td><span "
                             rf'class="badge \w+">{status}</span>', section), (key, control["id"])
            if control["passed"]:
                assert f'id="c-{n}-{j}"' not in section
                continue
            failed_total += 1
            block = section.split(f'<h3 id="c-{n}-{j}">', 1)[1].split("<h3 ", 1)[0]
            assert control["id"] in block
            listed = [fp for fp in control["evidence"] if fp in titles]
            for fp in listed:
                assert titles[fp] in block and fp in block
            assert block.count("<tr><td><span class=\"badge sev-") == len(listed)
            if "fp-gone" in control["evidence"]:
                assert "1 evidence finding is not among this run's findings" in block
    assert failed_total >= 4


def test_compliance_sink_keeps_only_evidence(tmp_path: Path) -> None:
    items = rich_findings()
    summary = rich_summary(items)
    evidence = {fp for fw in summary.compliance["frameworks"].values() for c in fw["controls"]
                for fp in c["evidence"]}
    with open(tmp_path / "c.html", "wb") as fh:
        sink = ComplianceSink(summary, fh)
        for item in items + [fx.finding(1000 + k, cwes=()) for k in range(200)]:
            sink.add(item)
        assert set(sink.evidence) == evidence and len(sink.evidence) < 10
        sink.finish()


def test_compliance_report_caps_rows_per_control(tmp_path: Path) -> None:
    items = [fx.finding(i, title=f"XSS {i}", risk_score=5.0 + (i % 40) / 10) for i in range(1, 31)]
    summary = fx.summary(compliance=_compliance(items))
    with open(tmp_path / "c.html", "wb") as fh:
        sink = ComplianceSink(summary, fh, rows=7)
        for item in items:
            sink.add(item)
        sink.finish()
    page = (tmp_path / "c.html").read_text(encoding="utf-8")
    owasp = page.split('<section class="framework" id="fw-1">', 1)[1].split("</section>", 1)[0]
    block = owasp.split("A03:2021", 2)[2]
    assert block.count("<tr><td><span class=\"badge sev-") == 7
    assert "23 more evidence findings are in the JSON/CSV reports." in block
    risks = [float(r) for r in re.findall(r'<td class="num">(\d+\.\d)</td>', block)]
    assert risks == sorted(risks, reverse=True)  # riskiest evidence first


# ---- hostile text ------------------------------------------------------------------------------------------------


def hostile() -> tuple[RunSummary, list[ReportFinding]]:
    """Findings whose titles (and assets) carry every payload, each compliance evidence and on an attack path."""
    items = []
    for n, (name, payload) in enumerate(fx.PAYLOADS.items(), start=1):
        items.append(fx.finding(n, title=f"{name} title {payload}", target=f"asset{payload}", risk_score=9.0 + n / 10,
                                cwes=(CWEReference(id=89),), references=("https://ok.example/ref",)))
    hop_findings = [
        {"fingerprint": i.finding.fingerprint, "title": i.finding.title, "risk_score": i.risk_score, "in_kev": True}
        for i in items
    ]
    payload = fx.PAYLOADS["SCRIPT"]
    # attack paths also carry hostile asset names (inventory names) and an unlisted finding's title
    path = AttackPathView(
        entry=f"web{payload}", target=f"db{fx.PAYLOADS['IMG']}", probability=0.5,
        hops=[
            AttackPathHop(source=None, target=f"web{payload}", kind="network", probability=0.9, via="findings",
                          findings=hop_findings[:3]),
            AttackPathHop(source=f"web{payload}", target=f"db{fx.PAYLOADS['IMG']}", kind=f"k{payload}",
                          probability=0.6, via="findings",
                          findings=[*hop_findings[3:], {"fingerprint": f"fp{payload}", "title": f"gone {payload}",
                                                        "risk_score": 5, "in_kev": False}]),
        ],
    )
    compliance = _compliance(items)
    compliance["frameworks"]["owasp_top10_2021"]["controls"][2]["evidence"].append(f"fp{payload}")
    compliance["frameworks"]["owasp_top10_2021"]["controls"][2]["title"] += payload
    summary = fx.summary(
        kev_open=1, sla_breach_count=1,
        sla_breaches=[SlaBreach(fingerprint=f"fp{payload}", severity=f"high{payload}", due=fx.NOW, overdue_days=3)],
        compliance=compliance, attack_paths=[path],
    )
    return summary, items


@pytest.fixture(scope="module")
def hostile_pages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    summary, items = hostile()
    out = tmp_path_factory.mktemp("intel-xss")
    return {fmt: Path(p) for fmt, p in write_reports(summary, fx.source(items), out, ["html", "compliance"]).items()}


def test_hostile_titles_stay_text_in_the_report(hostile_pages: dict[str, Path]) -> None:
    page = hostile_pages["html"].read_text(encoding="utf-8")
    _assert_inert(page)
    # the payload titles are shown, escaped, in the compliance links and the attack path hops
    compliance = _section(page, "compliance")
    paths = _section(page, "attack-paths")
    for section in (compliance, paths):
        assert "SCRIPT title &lt;script&gt;document.title=" in section
    assert "CLOSE title &lt;/code&gt;&lt;/pre&gt;" in _section(page, "summary")  # the riskiest: a top risk
    assert "gone &lt;script&gt;" in paths and "web&lt;script&gt;" in paths
    assert paths.count('<span class="badge kev">KEV</span>') == len(fx.PAYLOADS)
    assert "high&lt;script&gt;" in _section(page, "sla")
    assert "asset&lt;script&gt;" in _section(page, "findings")


def test_hostile_titles_stay_text_in_the_print_variant() -> None:
    summary, items = hostile()
    digest = new_digest(summary, 50)
    for item in items:
        digest.add(item)
    _assert_inert("".join(render(summary, digest, print_variant=True)), expect_links=False)


def test_hostile_titles_stay_text_in_the_compliance_report(hostile_pages: dict[str, Path]) -> None:
    page = hostile_pages["compliance"].read_text(encoding="utf-8")
    _assert_inert(page)
    assert "SCRIPT title &lt;script&gt;document.title=" in page
    assert "Injection&lt;script&gt;" in page


def test_html_sink_stays_bounded_with_intelligence(tmp_path: Path) -> None:
    """The report sections add no per-finding state beyond the digest's cap and the per-asset sums."""
    summary, items = hostile()
    with open(tmp_path / "r.html", "wb") as fh:
        sink = HtmlSink(summary, fh, cap=2)
        for item in items:
            sink.add(item)
        sink.finish()
    page = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert page.count('<details class="finding') == 2
    assert len(sink.digest.top_risks()) == 5 and sink.digest.top_risks()[0].risk_level is RiskLevel.CRITICAL
    # evidence not listed on the page is counted, not linked
    assert "not listed in this page" in _section(page, "compliance")


@needs_chromium
def test_browser_runs_no_payload_in_either_page(hostile_pages: dict[str, Path]) -> None:
    for fmt, path in hostile_pages.items():
        dom = _dump_dom(path)
        assert "PWNED_" not in dom, (fmt, re.findall(r".{80}PWNED_.{40}", dom))
        assert ("Compliance report" if fmt == "compliance" else "Security findings report") in dom


def test_compliance_enum_keys_cover_the_frameworks() -> None:
    """The summary's compliance JSON is keyed by framework value; every one of them renders."""
    views = html_report.compliance_views(_compliance(rich_findings()))
    assert [v.key for v in views] == [f.value for f in ComplianceFramework]
    assert all(v.controls for v in views)

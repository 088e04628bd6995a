"""The HTML report shows hostile scanner text as text: nothing from a finding runs.

Static checks on the page's source, and (when /usr/bin/chromium exists) a real browser
that loads the page, lets scripts and events run, and dumps the DOM: the payloads would
each leave a "PWNED_<name>" marker if any of them executed. The browser check runs on
the page as written (with its Content-Security-Policy) and on a copy with the CSP
removed, so that escaping alone is shown to be enough; a positive control proves the
harness detects a script that does run.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from html.parser import HTMLParser
from pathlib import Path

import pytest

from aiva.enums import Severity
from aiva.reports.html_report import new_digest, render
from aiva.reports.model import ReportFinding, RunSummary, StageTiming
from aiva.reports.writer import write_reports
from aiva.schemas import Component, Endpoint, Location, ToolInfo
from tests.reports import factory as fx

CHROMIUM = "/usr/bin/chromium"


def hostile_findings() -> list[ReportFinding]:
    """Findings carrying a payload in every free-text field the page shows."""
    items = []
    for n, (name, payload) in enumerate(fx.PAYLOADS.items(), start=1):
        items.append(
            fx.finding(
                n,
                title=f"{name} title {payload}",
                description=f"desc {payload}\nsecond line {payload}",
                rule_id=f"rule-{payload}",
                tool=ToolInfo(name=f"tool{payload}", version=payload),
                location=Location(file_path=f"src/{payload}.py", start_line=3, snippet=f"code {payload}"),
                target=f"target{payload}",
                remediation=f"fix {payload}",
                references=(fx.JS_URL, fx.DATA_URL, f"https://ok.example/{payload}", f" JAVASCRIPT:{payload}"),
                tags=(payload,),
            )
        )
        items.append(
            fx.sca_finding(
                100 + n,
                title=f"{name} component {payload}",
                component=Component(purl=f"pkg:npm/x{payload}@1", name=f"comp{payload}", version=f"1{payload}",
                                    fixed_version=f"2{payload}", path=f"lock{payload}"),
                remediation=None,
            )
        )
        items.append(
            fx.dast_finding(
                200 + n,
                title=f"{name} endpoint {payload}",
                endpoint=Endpoint(url=f"javascript:{payload}", host=f"h{payload}", parameter=f"p{payload}"),
            )
        )
    return items


def hostile_summary() -> RunSummary:
    """A summary whose product, run id, stage texts and count keys carry payloads too."""
    payload = fx.PAYLOADS["SCRIPT"]
    return fx.summary(
        product=f"prod{fx.PAYLOADS['IMG']}",
        run_id=f"run{payload}",
        by_severity={"high": 3, f"sev{payload}": 2},
        by_risk={"critical": 1, f"risk{fx.PAYLOADS['SVG']}": 1},
        stages=[StageTiming(name=f"stage{payload}", attempts=1, duration_ms=5.0, outcome=f"ok{payload}",
                            failure=f"boom{fx.PAYLOADS['STYLE']}")],
        trend=fx.trend(3),
    )


@pytest.fixture(scope="module")
def hostile_html(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("xss")
    paths = write_reports(hostile_summary(), fx.source(hostile_findings()), out, ["html"])
    return Path(paths["html"])


class _Tags(HTMLParser):
    """Collects every start tag and its attributes, as a browser's tokenizer would see them."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))


def _assert_inert(page: str, *, expect_links: bool = True) -> None:
    for name, payload in fx.PAYLOADS.items():
        assert payload not in page, f"payload {name} appears unescaped"
    parser = _Tags()
    parser.feed(page)
    parser.close()
    names = [t for t, _ in parser.tags]
    assert "script" not in names, "the page must contain no script element at all"
    assert names.count("style") == 1, "only the report's own style element may exist"
    forbidden = {"img", "iframe", "object", "embed", "link", "base", "form", "input", "textarea", "frame"}
    assert not forbidden.intersection(names), forbidden.intersection(names)
    hrefs = []
    for tag, attrs in parser.tags:
        for attr, value in attrs:
            assert not attr.startswith("on"), f"event handler attribute {attr} on <{tag}>"
            assert attr not in {"src", "srcdoc", "formaction", "xlink:href"}, f"{attr} on <{tag}>"
            if attr == "href":
                hrefs.append(value or "")
            if tag == "meta" and attr == "http-equiv":
                assert (value or "").lower() == "content-security-policy"
    assert hrefs or not expect_links, "http(s) references should still be links"
    # besides http(s) references, only in-page anchors the report makes itself (#f-<id>, #fw-<n>, #c-<n>-<m>)
    assert all(h.startswith(("https://", "http://")) or re.fullmatch(r"#[a-z]+(-\d+)+", h) for h in hrefs), hrefs
    assert "pwned_" not in page.lower(), "a marker may only appear if a payload ran"


def test_payloads_are_escaped_in_html(hostile_html: Path) -> None:
    page = hostile_html.read_text(encoding="utf-8")
    _assert_inert(page)
    # the payloads are shown, as text
    assert "&lt;script&gt;document.title=" in page
    assert "&lt;/style&gt;&lt;style&gt;body{display:none" in page
    assert "javascript:document.body.append(" in page  # shown as text, not as a link


def test_payloads_are_escaped_in_print_variant() -> None:
    summary = hostile_summary()
    digest = new_digest(summary, 500)
    for item in hostile_findings():
        digest.add(item)
    _assert_inert("".join(render(summary, digest, print_variant=True)), expect_links=False)


def test_csp_and_no_external_resources(hostile_html: Path) -> None:
    page = hostile_html.read_text(encoding="utf-8")
    m = re.search(r'<meta http-equiv="Content-Security-Policy" content="([^"]+)">', page)
    assert m is not None
    csp = m.group(1).replace("&#39;", "'")
    assert "default-src 'none'" in csp and "style-src 'unsafe-inline'" in csp and "img-src data:" in csp
    assert '<meta charset="utf-8">' in page
    assert not re.search(r"(src|href)=\"(//|https?://)(?!ok\.example|example\.org)", page)
    assert "@import" not in page and "url(" not in page.split("</style>")[0]


def test_svg_chart_labels_are_escaped(hostile_html: Path) -> None:
    page = hostile_html.read_text(encoding="utf-8")
    svgs = re.findall(r"<svg .*?</svg>", page, flags=re.S)
    assert len(svgs) == 5  # severity, risk, age, top assets, trend
    joined = "".join(svgs)
    assert "sev&lt;script&gt;" in joined
    assert "risk&lt;svg onload=&quot;" in joined  # a hostile count key is a label, as text
    parser = _Tags()
    parser.feed(joined)
    assert {t for t, _ in parser.tags} <= {"svg", "title", "text", "line", "rect", "polyline", "circle"}


# ---- a real browser ---------------------------------------------------------------------------

needs_chromium = pytest.mark.skipif(
    not Path(CHROMIUM).exists(),
    reason="Chromium not installed (Debian package 'chromium'); the browser check is skipped",
)


def _dump_dom(page: Path) -> str:
    with tempfile.TemporaryDirectory(prefix="aiva-chromium-") as profile:
        done = subprocess.run(
            [
                CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-extensions", "--no-first-run", f"--user-data-dir={profile}",
                "--virtual-time-budget=3000", "--dump-dom", page.as_uri(),
            ],
            capture_output=True, text=True, timeout=120, check=False,
        )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "<body" in done.stdout, done.stderr[-2000:]
    return done.stdout


@needs_chromium
def test_browser_control_detects_a_running_script(tmp_path: Path) -> None:
    """Positive control: an actual script does leave its marker in the dumped DOM."""
    page = tmp_path / "control.html"
    page.write_text(
        "<!DOCTYPE html><html><head><title>t</title></head><body>"
        "<img src=x onerror=\"document.body.append('PWNED'+'_'+'CONTROL')\">"
        "<script>document.title='PWNED'+'_'+'TITLE'</script></body></html>",
        encoding="utf-8",
    )
    dom = _dump_dom(page)
    assert "PWNED_CONTROL" in dom and "PWNED_TITLE" in dom


@needs_chromium
def test_browser_runs_no_payload(hostile_html: Path) -> None:
    dom = _dump_dom(hostile_html)
    assert "PWNED_" not in dom, re.findall(r".{80}PWNED_.{40}", dom)
    assert "Security findings report" in dom  # the page did load


@needs_chromium
def test_browser_runs_no_payload_without_csp(hostile_html: Path, tmp_path: Path) -> None:
    """Escaping alone is enough: with the CSP meta removed, still nothing runs."""
    page = hostile_html.read_text(encoding="utf-8")
    stripped = re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", page)
    assert stripped != page
    copy = tmp_path / "no-csp.html"
    copy.write_text(stripped, encoding="utf-8")
    dom = _dump_dom(copy)
    assert "PWNED_" not in dom, re.findall(r".{80}PWNED_.{40}", dom)
    assert dom.lower().count("<style") == 1


@needs_chromium
def test_browser_renders_non_latin_text(tmp_path: Path) -> None:
    items = [
        fx.finding(1, title="跨站脚本漏洞 in 登录页面", description="中文描述"),
        fx.finding(2, title="クロスサイトスクリプティング", description="日本語の説明"),
        fx.finding(3, title="ثغرة حقن SQL", description="وصف عربي", severity=Severity.LOW),
    ]
    paths = write_reports(fx.summary(product="产品 منتج"), fx.source(items), tmp_path, ["html"])
    dom = _dump_dom(Path(paths["html"]))
    for text in ("跨站脚本漏洞", "クロスサイトスクリプティング", "ثغرة حقن SQL", "产品 منتج"):
        assert text in dom


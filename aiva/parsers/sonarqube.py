"""SonarQube issues, in the three shapes teams export them:
- the HTML "SonarQube Vulnerability Report" of the sonar-report tool (soprasteria),
- that tool's JSON twin (`projectName`, `rules`, `issues`, `hotspotKeys`),
- the Web API's issue search (`/api/issues/search`: `paging`, `issues`, `components`)
  and hotspot search (`/api/hotspots/search`: `hotspots`).

Counting: one finding per issue (a rule at a file and line), always. The peer has two
modes: "aggregated" (its default) folds the issues of one rule in one file into one
finding, "detailed" keeps one per issue. AIVA uses the detailed rule in every case:
each issue sits at its own line, is fixed on its own and is tracked by SonarQube under
its own key; folding them would make a fix of one line look like no progress, and a new
instance of the rule in the same file invisible. Grouping for display is a report concern.
Entries identical in every identity field are kept once (the first).

HTML is read with the standard library's html.parser (no lxml, no entity loading):
the table whose header names Rule, Severity, Component and Line lists the issues; the
"Known Security Rules" table gives each rule's description (and its CWE links). A file
that ends before `</html>` is reported as truncated.

Severity table: BLOCKER->critical, CRITICAL->high, MAJOR->medium, MINOR->low, INFO->info;
the newer impact / hotspot words HIGH->high, MEDIUM->medium, LOW->low. An issue the API
lists without a severity takes its highest impact severity.
Confidence: VULNERABILITY->firm, security hotspot (needs review)->tentative, else unknown.
Issues resolved as FALSE-POSITIVE, WONTFIX or ACCEPTED, and hotspots reviewed SAFE or
ACKNOWLEDGED, are kept and marked `suppressed`.

Fingerprint "sonarqube/1": rule key, file path (the API's "project:path" component is
reduced to the path, so the HTML, JSON and API forms agree), line, and the CVE/GHSA ids
named in the message (dependency-check issues sit on the project, not a line: one per
vulnerable dependency).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any, ClassVar

from aiva.enums import Confidence, FindingCategory, Severity
from aiva.errors import ReportParseError
from aiva.fingerprint import fingerprint
from aiva.parsers._sast_helpers import (
    as_dict,
    as_list,
    as_str,
    clip,
    cwe_numbers,
    line_or_none,
    unique,
    vuln_ids_in,
)
from aiva.parsers.base import ParseContext, ReportSource, cwe_refs, severity_from_table, vuln_refs
from aiva.schemas import Finding, Location, ToolInfo

SEVERITY = {
    "blocker": Severity.CRITICAL,
    "critical": Severity.HIGH,
    "high": Severity.HIGH,
    "major": Severity.MEDIUM,
    "medium": Severity.MEDIUM,
    "minor": Severity.LOW,
    "low": Severity.LOW,
    "info": Severity.INFO,
}
SUPPRESSING_RESOLUTIONS = frozenset({"FALSE-POSITIVE", "WONTFIX", "ACCEPTED", "SAFE", "ACKNOWLEDGED"})
_CWE_LINK = re.compile(r"cwe\.mitre\.org/data/definitions/(\d{1,5})", re.IGNORECASE)
_TOOL = ToolInfo(name="sonarqube")
_MAX_RULE_TEXT = 8000


@dataclass
class _Issue:
    """One issue, whatever the input shape."""

    rule: str
    severity: str | None
    path: str | None
    line: int | None
    message: str
    key: str | None
    status: str | None = None
    resolution: str | None = None
    issue_type: str | None = None
    hotspot: bool = False
    end_line: int | None = None
    rule_name: str | None = None
    tags: list[str] = field(default_factory=list)


@dataclass
class _Rule:
    name: str | None
    text: str
    cwes: list[str]


class SonarqubeParser:
    """SonarQube issues: sonar-report HTML/JSON and the Web API's JSON."""

    name: ClassVar[str] = "sonarqube"
    tool_name: ClassVar[str | None] = "sonarqube"
    fingerprint_version: ClassVar[str] = "sonarqube/1"

    def sniff(self, source: ReportSource) -> bool:
        """The HTML report's title, the report JSON's sonar keys, or the API's paging + issues/hotspots."""
        head = source.text_head()
        if head[:1] == "<":
            return "SonarQube Vulnerability Report" in head
        if not head.startswith("{"):
            return False
        if '"sonarComponent"' in head or '"sonarBaseURL"' in head:
            return True
        api = '"paging"' in head or '"effortTotal"' in head
        issues = '"issues"' in head and '"rule"' in head and '"component"' in head
        hotspots = '"hotspots"' in head and '"ruleKey"' in head and '"vulnerabilityProbability"' in head
        return api and (issues or hotspots)

    def parse(self, source: ReportSource, ctx: ParseContext) -> Iterator[Finding]:
        """Yield one finding per issue (the peer's 'detailed' mode)."""
        if source.text_head()[:1] == "<":
            issues, rules, target = _read_html(source, self.name)
        else:
            issues, rules, target = _read_json(source, self.name)
        yield from unique(self._finding(i, rules, ctx.target or target) for i in issues)

    def _finding(self, issue: _Issue, rules: dict[str, _Rule], target: str | None) -> Finding:
        warnings: list[str] = []
        rule = rules.get(issue.rule)
        vulns = sorted(set(vuln_ids_in(issue.message)), key=str.upper)
        rule_name = issue.rule_name or (rule.name if rule else None)
        title = rule_name or issue.message.split("\n", 1)[0] or issue.rule
        description = issue.message
        if rule and rule.text:
            description += f"\n\nRule {issue.rule}:\n{rule.text}"
        confidence = (
            Confidence.TENTATIVE if issue.hotspot
            else Confidence.FIRM if (issue.issue_type or "").upper() == "VULNERABILITY"
            else Confidence.UNKNOWN
        )
        cwes = cwe_numbers([issue.message]) + (rule.cwes if rule else [])
        tags = [t for t in (issue.issue_type, "security-hotspot" if issue.hotspot else None) if t]
        return Finding(
            fingerprint=fingerprint(self.fingerprint_version, issue.rule, issue.path, issue.line, vulns),
            fingerprint_version=self.fingerprint_version,
            format=self.name,
            tool=_TOOL,
            category=FindingCategory.SAST,
            rule_id=issue.rule,
            title=title[:500],
            description=clip(description) or "",
            severity=severity_from_table(issue.severity, SEVERITY, Severity.MEDIUM),
            confidence=confidence,
            cwes=cwe_refs(cwes, warnings),
            vulnerability_ids=vuln_refs(vulns),
            location=Location(
                file_path=issue.path, start_line=issue.line, end_line=issue.end_line or issue.line
            ) if issue.path or issue.line else None,
            target=target,
            raw_id=issue.key,
            suppressed=(issue.resolution or "").upper() in SUPPRESSING_RESOLUTIONS,
            tags=tuple(dict.fromkeys([*tags, *issue.tags]))[:20],
            warnings=tuple(warnings),
        )


# -- JSON ----------------------------------------------------------------------------------------


def _read_json(source: ReportSource, fmt: str) -> tuple[list[_Issue], dict[str, _Rule], str | None]:
    doc = source.load_json(fmt)
    if not isinstance(doc, dict):
        raise ReportParseError(source.path, fmt, "expected a JSON object at the top level")
    raw_issues = doc.get("issues")
    raw_hotspots = doc.get("hotspots")
    if not isinstance(raw_issues, list) and not isinstance(raw_hotspots, list):
        raise ReportParseError(source.path, fmt, "no 'issues' or 'hotspots' array at the top level")
    hotspot_keys = {str(k) for k in as_list(doc.get("hotspotKeys"))}
    paths = {
        str(c.get("key")): as_str(c.get("path"))
        for c in (as_dict(x) for x in as_list(doc.get("components")))
        if c.get("key") is not None
    }
    rules = _json_rules(doc.get("rules"))
    issues: list[_Issue] = []
    for i, raw in enumerate(as_list(raw_issues)):
        issues.append(_json_issue(raw, hotspot_keys, paths, source, fmt, f"issues[{i}]", hotspot=False))
    for i, raw in enumerate(as_list(raw_hotspots)):
        issues.append(_json_issue(raw, hotspot_keys, paths, source, fmt, f"hotspots[{i}]", hotspot=True))
    target = as_str(doc.get("projectName")) or as_str(doc.get("sonarComponent"))
    if target is None:
        projects = {as_str(as_dict(x).get("project")) for x in [*as_list(raw_issues), *as_list(raw_hotspots)]}
        projects.discard(None)
        target = projects.pop() if len(projects) == 1 else None
    return issues, rules, target


def _json_rules(raw: Any) -> dict[str, _Rule]:
    out: dict[str, _Rule] = {}
    items: list[tuple[str, dict[str, Any]]] = []
    if isinstance(raw, dict):  # sonar-report JSON: {key: {name, htmlDesc, severity}}
        items = [(str(k), as_dict(v)) for k, v in raw.items()]
    elif isinstance(raw, list):  # API additionalFields=rules: [{key, name, ...}]
        items = [(str(as_dict(v).get("key")), as_dict(v)) for v in raw if as_dict(v).get("key") is not None]
    for key, r in items:
        html = as_str(r.get("htmlDesc")) or ""
        out[key] = _Rule(
            name=as_str(r.get("name")),
            text=_html_to_text(html)[:_MAX_RULE_TEXT],
            cwes=_CWE_LINK.findall(html),
        )
    return out


def _json_issue(
    raw: Any,
    hotspot_keys: set[str],
    paths: dict[str, str | None],
    source: ReportSource,
    fmt: str,
    where: str,
    *,
    hotspot: bool,
) -> _Issue:
    if not isinstance(raw, dict):
        raise ReportParseError(source.path, fmt, "an issue is not an object", where)
    rule = as_str(raw.get("rule")) or as_str(raw.get("ruleKey"))
    if rule is None:
        raise ReportParseError(source.path, fmt, "an issue has no rule", where)
    key = as_str(raw.get("key"))
    component = as_str(raw.get("component"))
    project = as_str(raw.get("project"))
    path = paths.get(component or "") or component
    if path and project and path == project:
        path = None  # the issue sits on the project itself (e.g. dependency-check)
    elif path and project and path.startswith(project + ":"):
        path = path[len(project) + 1:]
    text_range = as_dict(raw.get("textRange"))
    severity = as_str(raw.get("severity")) or as_str(raw.get("vulnerabilityProbability"))
    if severity is None:
        impacts = [as_str(as_dict(x).get("severity")) for x in as_list(raw.get("impacts"))]
        ranked = [s for s in impacts if s]
        if ranked:
            severity = max(ranked, key=lambda s: severity_from_table(s, SEVERITY).rank)
    is_hotspot = hotspot or (key in hotspot_keys) or str(raw.get("type") or "").upper() == "SECURITY_HOTSPOT"
    return _Issue(
        rule=rule,
        severity=severity,
        path=path,
        line=line_or_none(raw.get("line")) or line_or_none(text_range.get("startLine")),
        end_line=line_or_none(text_range.get("endLine")),
        message=as_str(raw.get("message")) or as_str(raw.get("description")) or rule,
        rule_name=as_str(raw.get("description")),
        key=key,
        status=as_str(raw.get("status")),
        resolution=as_str(raw.get("resolution")),
        issue_type=as_str(raw.get("type")) or ("SECURITY_HOTSPOT" if is_hotspot else None),
        hotspot=is_hotspot,
        tags=[str(t) for t in as_list(raw.get("tags")) if isinstance(t, str)],
    )


# -- HTML ----------------------------------------------------------------------------------------


@dataclass
class _Cell:
    text: list[str] = field(default_factory=list)
    html: list[str] = field(default_factory=list)
    header: bool = False

    @property
    def value(self) -> str:
        return " ".join("".join(self.text).split())


class _TableReader(HTMLParser):
    """Collect every table as rows of cells (text, raw link targets), and the dt/dd pairs."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tables: list[list[list[_Cell]]] = []
        self.open_tables: list[list[list[_Cell]]] = []
        self.cell: _Cell | None = None
        self.skip = 0
        self.definitions: dict[str, str] = {}
        self._dt: list[str] | None = None
        self._dd: list[str] | None = None
        self._last_dt: str | None = None
        self.closed_html = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self.skip += 1
        elif tag == "table":
            self.open_tables.append([])
        elif tag == "tr" and self.open_tables:
            self.open_tables[-1].append([])
        elif tag in ("td", "th") and self.open_tables and self.open_tables[-1]:
            self.cell = _Cell(header=tag == "th")
            self.open_tables[-1][-1].append(self.cell)
        elif tag == "a" and self.cell is not None:
            self.cell.html += [v for k, v in attrs if k == "href" and v]
        elif tag == "dt":
            self._dt = []
        elif tag == "dd":
            self._dd = []
        if self.cell is not None and tag in ("p", "li", "br", "pre", "h2", "h3", "tr"):
            self.cell.text.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self.skip = max(0, self.skip - 1)
        elif tag == "table" and self.open_tables:
            self.tables.append(self.open_tables.pop())
            self.cell = None
        elif tag in ("td", "th"):
            self.cell = None
        elif tag == "dt" and self._dt is not None:
            self._last_dt = " ".join("".join(self._dt).split())
            self._dt = None
        elif tag == "dd" and self._dd is not None:
            if self._last_dt:
                self.definitions[self._last_dt] = " ".join("".join(self._dd).split())
            self._dd = None
        elif tag == "html":
            self.closed_html = True

    def handle_data(self, data: str) -> None:
        if self.skip:
            return
        if self.cell is not None:
            self.cell.text.append(data)
        if self._dt is not None:
            self._dt.append(data)
        if self._dd is not None:
            self._dd.append(data)


def _read_html(source: ReportSource, fmt: str) -> tuple[list[_Issue], dict[str, _Rule], str | None]:
    reader = _TableReader()
    try:
        with source.text_stream() as stream:
            while chunk := stream.read(1 << 16):
                reader.feed(chunk)
            reader.close()
    except (AssertionError, ValueError) as e:  # html.parser asserts on some malformed declarations
        line, col = reader.getpos()
        raise ReportParseError(source.path, fmt, f"malformed HTML: {e}", f"line {line}, column {col}") from e
    if not reader.closed_html or reader.open_tables:
        line, col = reader.getpos()
        raise ReportParseError(
            source.path, fmt, "the HTML report ends early (no closing </table> or </html>)",
            f"line {line}, column {col}",
        )
    issues: list[_Issue] = []
    rules: dict[str, _Rule] = {}
    found_issue_table = False
    for table in reader.tables:
        if not table or not table[0] or not all(c.header for c in table[0]):
            continue
        header = [c.value.lower() for c in table[0]]
        if {"rule", "severity", "component", "line"} <= set(header):
            found_issue_table = True
            columns = {name: header.index(name) for name in header}
            for row in table[1:]:
                issue = _html_issue(row, columns)
                if issue is not None:
                    issues.append(issue)
        elif header[:2] == ["rule", "description"]:
            for row in table[1:]:
                if len(row) >= 2 and row[0].value:
                    text = row[1].value if not row[1].text else _squeeze("".join(row[1].text))
                    links = " ".join(row[1].html) + " " + text
                    rules[row[0].value] = _Rule(
                        name=None, text=text[:_MAX_RULE_TEXT], cwes=_CWE_LINK.findall(links)
                    )
    if not found_issue_table:
        raise ReportParseError(source.path, fmt, "no issue table (Rule, Severity, Component, Line) in HTML")
    target = reader.definitions.get("Project Name") or reader.definitions.get("Application")
    return issues, rules, target


def _html_issue(row: list[_Cell], col: dict[str, int]) -> _Issue | None:
    def get(name: str) -> str | None:
        i = col.get(name)
        return row[i].value or None if i is not None and i < len(row) else None

    rule = get("rule")
    if not rule:
        return None
    message = get("message") or get("description") or rule
    return _Issue(
        rule=rule,
        severity=get("severity"),
        path=get("component"),
        line=line_or_none(get("line")),
        message=message,
        rule_name=get("description"),
        key=get("key"),
        status=get("status"),
    )


def _squeeze(text: str) -> str:
    """Collapse runs of blank space but keep paragraph breaks."""
    lines = [" ".join(line.split()) for line in text.splitlines()]
    out: list[str] = []
    for line in lines:
        if line or (out and out[-1]):
            out.append(line)
    return "\n".join(out).strip()


class _TextOnly(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("p", "li", "br", "pre", "h2", "h3", "ul"):
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def _html_to_text(html: str) -> str:
    if not html:
        return ""
    p = _TextOnly()
    try:
        p.feed(html)
        p.close()
    except (AssertionError, ValueError):  # a malformed rule description: keep what was read
        pass
    return _squeeze("".join(p.parts))


PARSER = SonarqubeParser()
SNIFF_PRIORITY = 60

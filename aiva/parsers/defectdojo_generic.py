"""DefectDojo's "Generic Findings Import" layout, CSV and JSON, so that files made
for DefectDojo (or exported from it) import unchanged. AIVA's own, richer layout is
the `generic` parser (docs/generic-format.md).

- JSON: `{"findings": [...]}` (optionally with `name`, `type` ahead of `findings`);
  finding keys: title, description, severity, mitigation, impact, references, date,
  cve, vulnerability_ids, cwe, cvssv3, cvssv4, file_path, line, component_name,
  component_version, fix_version, endpoints (URL strings or {protocol, host, port,
  path, query}), tags, unique_id_from_tool, vuln_id_from_tool, active, verified,
  false_p, duplicate, is_mitigated, static_finding, dynamic_finding, files.
- CSV: a header row of DefectDojo's column names (Date, Title, CweId, Url, Severity,
  Description, Mitigation, Impact, References, Active, Verified, FalsePositive,
  Duplicate, IsMitigated, MitigatedDate, Vulnerability Id).

Counting: one finding per JSON finding x endpoint (a finding with two endpoints is
two findings: AIVA's Finding has one endpoint, so each location keeps its own
lifecycle), and one per CSV row (DefectDojo merges CSV rows with the same title,
severity and description into one finding; AIVA keeps each row, which has its own URL
and CWE). Items with the same identity (fingerprint) are merged into the first.
Attached files (base64 `files`) are not imported; the finding is tagged `attachments`.
False positives and mitigated findings are kept, `suppressed`, and tagged
`false-positive` / `mitigated`; `duplicate` and inactive ones are tagged.

Severity table: Critical->critical, High->high, Medium->medium, Low->low,
Info/Informational->info; empty or anything else -> info (DefectDojo's own default).
Confidence: verified -> certain, otherwise unknown.
Category: static_finding / dynamic_finding when given (static -> sast, dynamic ->
dast), else sca with a component, sast with a file path, dast with an endpoint, else
other.

Fingerprint "defectdojo_generic/1": `unique_id_from_tool` when given, otherwise
`vuln_id_from_tool` (or, without one, the title), the CWE, file path, line, component
name and version and the sorted vulnerability ids; then the endpoint (host, port, URL
path). Never the description, dates or the active / verified flags.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, ClassVar

from aiva.enums import Confidence, FindingCategory, Severity
from aiva.errors import ReportParseError
from aiva.fingerprint import fingerprint
from aiva.parsers._netutil import (
    as_int,
    as_list,
    as_port,
    as_str,
    clip,
    csv_header,
    endpoint_from_target,
    iter_csv,
    unique,
    url_identity,
)
from aiva.parsers.base import ParseContext, ReportSource, cwe_refs, parse_cvss, severity_from_table, vuln_refs
from aiva.schemas import Component, Endpoint, Finding, Location, ToolInfo

SEVERITY = {
    "critical": Severity.CRITICAL,
    "high": Severity.HIGH,
    "medium": Severity.MEDIUM,
    "low": Severity.LOW,
    "info": Severity.INFO,
    "informational": Severity.INFO,
}
# DefectDojo's documented CSV columns (and the "Vulnerability Id" its samples use).
CSV_COLUMNS = frozenset(
    {
        "Date",
        "Title",
        "CweId",
        "Url",
        "Severity",
        "Description",
        "Mitigation",
        "Impact",
        "References",
        "Active",
        "Verified",
        "FalsePositive",
        "Duplicate",
        "IsMitigated",
        "MitigatedDate",
        "Vulnerability Id",
    }
)
# `{"findings": [` as a top-level key, after at most a few scalar keys (name, type, title, ...).
_JSON_HEAD = re.compile(
    r'^\{\s*(?:"[\w-]{1,40}"\s*:\s*(?:"(?:[^"\\]|\\.){0,500}"|[\w.+-]{1,40})\s*,\s*){0,6}"findings"\s*:\s*\[\s*(?:\{|\])'
)
_URL = re.compile(r"https?://[^\s\"'<>]+")
_TRUE = ("true", "1", "yes")


class DefectDojoGenericParser:
    """DefectDojo's Generic Findings Import (CSV and JSON)."""

    name: ClassVar[str] = "defectdojo_generic"
    tool_name: ClassVar[str | None] = None  # named by the document's type
    fingerprint_version: ClassVar[str] = "defectdojo_generic/1"

    def sniff(self, source: ReportSource) -> bool:
        """JSON with a top-level `findings` array of titled items, or a CSV header of DefectDojo's columns."""
        head = source.text_head()
        if head[:1] == "{":
            m = _JSON_HEAD.match(head)
            if m is None or "aiva-generic/" in head:
                return False
            return '"title"' in head or m.group(0).endswith("]")  # titled findings, or none at all
        parsed = csv_header(source)
        if parsed is None:
            return False
        cols = set(parsed[0])
        return {"Title", "Severity"} <= cols and cols <= CSV_COLUMNS

    def parse(self, source: ReportSource, ctx: ParseContext) -> Iterator[Finding]:
        """Yield one finding per JSON finding x endpoint, or per CSV row; repeats merge into the first."""
        seen: set[str] = set()
        for f in self._items(source, ctx):
            if f.fingerprint not in seen:
                seen.add(f.fingerprint)
                yield f

    def _items(self, source: ReportSource, ctx: ParseContext) -> Iterator[Finding]:
        if source.text_head(1) == "{":
            doc = source.load_json(self.name)
            if not isinstance(doc, dict) or not isinstance(doc.get("findings"), list):
                raise ReportParseError(source.path, self.name, "expected an object with a 'findings' array")
            tool = ToolInfo(name=as_str(doc.get("type")) or "generic")
            for i, item in enumerate(doc["findings"]):
                if not isinstance(item, dict):
                    raise ReportParseError(
                        source.path, self.name, "a finding is not an object", f"findings[{i}]"
                    )
                yield from self._findings(item, tool, source, ctx, f"findings[{i}]")
            return
        parsed = csv_header(source)
        tool = ToolInfo(name="generic")
        for line, row in iter_csv(source, self.name, parsed[1] if parsed else ","):
            if not any(v.strip() for v in row.values()):
                continue
            item = {
                "title": row.get("Title"),
                "description": row.get("Description"),
                "severity": row.get("Severity"),
                "mitigation": row.get("Mitigation"),
                "impact": row.get("Impact"),
                "references": row.get("References"),
                "cwe": row.get("CweId"),
                "cve": row.get("Vulnerability Id"),
                "endpoints": [row["Url"]] if (row.get("Url") or "").strip() else [],
                "active": row.get("Active"),
                "verified": row.get("Verified"),
                "false_p": row.get("FalsePositive"),
                "duplicate": row.get("Duplicate"),
                "is_mitigated": row.get("IsMitigated"),
            }
            yield from self._findings(item, tool, source, ctx, f"line {line}")

    def _findings(
        self, item: dict[str, Any], tool: ToolInfo, source: ReportSource, ctx: ParseContext, pos: str
    ) -> Iterator[Finding]:
        title = as_str(item.get("title"))
        if not title:
            raise ReportParseError(source.path, self.name, "a finding has no title", pos)
        endpoints: list[Endpoint | None] = []
        raw_endpoints = item.get("endpoints")
        for ep in raw_endpoints if isinstance(raw_endpoints, list) else []:
            parsed = _endpoint(ep)
            if parsed is not None:
                endpoints.append(parsed)
        for ep in unique_endpoints(endpoints) or [None]:
            yield self._finding(item, title, tool, ep, ctx)

    def _finding(
        self, item: dict[str, Any], title: str, tool: ToolInfo, endpoint: Endpoint | None, ctx: ParseContext
    ) -> Finding:
        warnings: list[str] = []
        vulns = as_list(item.get("cve"), r"[,;\s]+")
        for v in (
            item.get("vulnerability_ids") or [] if isinstance(item.get("vulnerability_ids"), list) else []
        ):
            vulns += as_list(v.get("vulnerability_id") if isinstance(v, dict) else v)
        cwe = as_str(item.get("cwe"))
        file_path = as_str(item.get("file_path")) or None
        line = as_int(item.get("line"))
        comp_name = as_str(item.get("component_name"))
        comp_version = as_str(item.get("component_version")) or None
        uid = as_str(item.get("unique_id_from_tool"))
        rule = as_str(item.get("vuln_id_from_tool"))
        ep_identity = (
            (endpoint.host, endpoint.port, url_identity(endpoint.url) if endpoint.url else None)
            if endpoint
            else ()
        )
        identity: tuple[Any, ...] = (
            ("uid", uid)
            if uid
            else (
                rule or title,
                cwe,
                file_path,
                line,
                comp_name,
                comp_version,
                sorted(v.upper() for v in vulns),
            )
        )
        tags = [t for t in as_list(item.get("tags"), r"\s*,\s*")]
        flags = {k: as_str(item.get(k)).lower() in _TRUE for k in ("false_p", "is_mitigated", "duplicate")}
        if flags["false_p"]:
            tags.append("false-positive")
        if flags["is_mitigated"]:
            tags.append("mitigated")
        if flags["duplicate"]:
            tags.append("duplicate")
        if as_str(item.get("active")).lower() in ("false", "0", "no"):
            tags.append("inactive")
        if item.get("files"):
            tags.append("attachments")
        component = (
            Component(
                name=comp_name, version=comp_version, fixed_version=as_str(item.get("fix_version")) or None
            )
            if comp_name
            else None
        )
        refs = (
            _URL.findall(as_str(item.get("references")))
            if not isinstance(item.get("references"), list)
            else [r for r in as_list(item.get("references")) if r.startswith(("http://", "https://"))]
        )
        description = "\n\n".join(
            x
            for x in (
                as_str(item.get("description")),
                as_str(item.get("impact")),
                as_str(item.get("steps_to_reproduce")),
            )
            if x
        )
        return Finding(
            fingerprint=fingerprint(self.fingerprint_version, *identity, *ep_identity),
            fingerprint_version=self.fingerprint_version,
            format=self.name,
            tool=tool,
            category=_category(item, component, file_path, endpoint),
            rule_id=rule or (vulns[0] if vulns else None),
            title=title[:500],
            description=clip(description),
            severity=severity_from_table(item.get("severity"), SEVERITY),
            confidence=Confidence.CERTAIN
            if as_str(item.get("verified")).lower() in _TRUE
            else Confidence.UNKNOWN,
            cwes=cwe_refs([cwe] if cwe and cwe != "0" else [], warnings),
            vulnerability_ids=vuln_refs(vulns),
            cvss_v3=parse_cvss(as_str(item.get("cvssv3")) or None, warnings),
            cvss_v4=parse_cvss(as_str(item.get("cvssv4")) or None, warnings),
            component=component,
            location=Location(file_path=file_path, start_line=line if line and line >= 0 else None)
            if file_path or line is not None
            else None,
            endpoint=endpoint,
            target=ctx.target,
            references=tuple(unique(refs))[:50],
            remediation=as_str(item.get("mitigation")) or None,
            raw_id=uid or None,
            suppressed=flags["false_p"] or flags["is_mitigated"],
            tags=tuple(unique(tags))[:30],
            warnings=tuple(warnings),
        )


def unique_endpoints(endpoints: list[Endpoint | None]) -> list[Endpoint | None]:
    """The same endpoint listed twice is one location."""
    out: dict[tuple[Any, ...], Endpoint | None] = {}
    for ep in endpoints:
        if ep is not None:
            out.setdefault((ep.host, ep.port, ep.url), ep)
    return list(out.values())


def _endpoint(value: Any) -> Endpoint | None:
    if isinstance(value, str):
        return endpoint_from_target(value)
    if not isinstance(value, dict):
        return None
    host = as_str(value.get("host"))
    protocol = as_str(value.get("protocol")).lower() or None
    port = as_port(value.get("port"))
    path = as_str(value.get("path"))
    query = as_str(value.get("query"))
    url = None
    if host and (protocol or path):
        url = f"{protocol or 'https'}://{host}{f':{port}' if port else ''}/{path.lstrip('/')}"
        url += f"?{query}" if query else ""
    if not host and not url:
        return None
    return Endpoint(host=host or None, port=port, protocol=protocol, url=url)


def _category(
    item: dict[str, Any], component: Component | None, file_path: str | None, endpoint: Endpoint | None
) -> FindingCategory:
    static = as_str(item.get("static_finding")).lower() in _TRUE
    dynamic = as_str(item.get("dynamic_finding")).lower() in _TRUE
    if static != dynamic:
        return FindingCategory.SAST if static else FindingCategory.DAST
    if component is not None:
        return FindingCategory.SCA
    if file_path:
        return FindingCategory.SAST
    if endpoint is not None:
        return FindingCategory.DAST
    return FindingCategory.OTHER


PARSER = DefectDojoGenericParser()
SNIFF_PRIORITY = 8

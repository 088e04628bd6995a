"""AIVA's own generic layout (docs/generic-format.md): a CSV file or a JSON document
that any tool, script or spreadsheet can produce to feed findings into AIVA.

- CSV: a header row of lower-case column names, all from AIVA's list (`title` and
  `severity` required), then one finding per row.
- JSON: `{"schema": "aiva-generic/1", "tool": ..., "target": ..., "findings": [...]}`;
  each finding takes the CSV column names as keys, and may also nest
  `component`, `location` and `endpoint` objects shaped like AIVA's Finding.

Counting: one finding per row / per `findings` item. An item with the same identity
as an earlier one (see the fingerprint) is the same finding reported twice: the first
is kept, the repeat dropped.

Severity table: critical->critical, high->high, medium/moderate->medium, low->low,
info/informational/none->info; a number 0-10 is read as a CVSS score (>=9 critical,
>=7 high, >=4 medium, >0 low, 0 info). Anything else is a ReportParseError naming
the row: a hand-made file should fail loudly, not import a wrong severity.
Confidence: certain, firm, tentative, unknown (default unknown).
Category: sast, sca, container, secret, iac, dast, network, license, other (default
other; `secret` is implied when a `secret` value is given).
Secrets: a `secret` column / key is never stored: the finding keeps its keyed hash
(`secret_hash`) and a redacted snippet.

Fingerprint "generic/1": the tool name, then the tool's own stable `id` when given;
otherwise `rule_id` (or, without one, the title), file path, start line, component
(purl, else name + version), endpoint (host, port, protocol, URL without query,
parameter) and the sorted vulnerability ids. The target is not part of it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, ClassVar
from urllib.parse import urlsplit

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
    iter_csv,
    unique,
    url_identity,
)
from aiva.parsers.base import ParseContext, ReportSource, cwe_refs, make_purl, parse_cvss, vuln_refs
from aiva.schemas import Component, Endpoint, Finding, Location, ToolInfo
from aiva.secrets import redact, scrub, secret_hash

SCHEMA = "aiva-generic/1"
SEVERITY = {
    "critical": Severity.CRITICAL,
    "high": Severity.HIGH,
    "medium": Severity.MEDIUM,
    "moderate": Severity.MEDIUM,
    "low": Severity.LOW,
    "info": Severity.INFO,
    "informational": Severity.INFO,
    "none": Severity.INFO,
}
CONFIDENCE = {c.value: c for c in Confidence}
CATEGORY = {c.value: c for c in FindingCategory}

# Every column of the CSV layout (and flat key of the JSON layout), in the documented order.
COLUMNS = (
    "title",
    "severity",
    "id",
    "rule_id",
    "description",
    "category",
    "confidence",
    "cwes",
    "vulnerability_ids",
    "cvss_v3",
    "cvss_v4",
    "component_name",
    "component_version",
    "component_purl",
    "component_ecosystem",
    "fixed_version",
    "component_path",
    "file_path",
    "start_line",
    "end_line",
    "snippet",
    "host",
    "port",
    "protocol",
    "url",
    "parameter",
    "target",
    "references",
    "remediation",
    "tags",
    "tool",
    "tool_version",
    "suppressed",
    "secret",
)
_COLUMN_SET = frozenset(COLUMNS)
_LIST_SPLIT = r"[;,\s]+"
_REF_SPLIT = r"[;\s]+"
_SCHEMA_RE = re.compile(r'"schema"\s*:\s*"aiva-generic/\d+"')
_NESTED = {
    "component": {
        "name": "component_name",
        "version": "component_version",
        "purl": "component_purl",
        "ecosystem": "component_ecosystem",
        "fixed_version": "fixed_version",
        "path": "component_path",
    },
    "location": {
        "file_path": "file_path",
        "start_line": "start_line",
        "end_line": "end_line",
        "snippet": "snippet",
    },
    "endpoint": {
        "host": "host",
        "port": "port",
        "protocol": "protocol",
        "url": "url",
        "parameter": "parameter",
    },
}


class GenericParser:
    """AIVA's documented generic CSV / JSON layout."""

    name: ClassVar[str] = "generic"
    tool_name: ClassVar[str | None] = None  # named by a column
    fingerprint_version: ClassVar[str] = "generic/1"

    def sniff(self, source: ReportSource) -> bool:
        """JSON naming `"schema": "aiva-generic/1"`, or a CSV header of AIVA's lower-case columns only."""
        head = source.text_head()
        if head[:1] == "{":
            return bool(_SCHEMA_RE.search(head))
        parsed = csv_header(source)
        if parsed is None:
            return False
        cols = parsed[0]
        return {"title", "severity"} <= set(cols) and all(c in _COLUMN_SET for c in cols)

    def parse(self, source: ReportSource, ctx: ParseContext) -> Iterator[Finding]:
        """Yield one finding per row / item; repeats of the same identity are dropped."""
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
            tool = _tool(doc.get("tool"), None)
            target = as_str(doc.get("target")) or None
            for i, item in enumerate(doc["findings"]):
                if not isinstance(item, dict):
                    raise ReportParseError(
                        source.path, self.name, "a finding is not an object", f"findings[{i}]"
                    )
                yield self._finding(_flatten(item), tool, target, source, ctx, f"findings[{i}]")
            return
        parsed = csv_header(source)
        delimiter = parsed[1] if parsed else ","
        for line, row in iter_csv(source, self.name, delimiter):
            if not any(v.strip() for v in row.values()):
                continue
            yield self._finding(dict(row), _tool(None, None), None, source, ctx, f"line {line}")

    def _finding(
        self,
        item: dict[str, Any],
        default_tool: ToolInfo,
        default_target: str | None,
        source: ReportSource,
        ctx: ParseContext,
        pos: str,
    ) -> Finding:
        warnings: list[str] = []
        title = as_str(item.get("title"))
        if not title:
            raise ReportParseError(source.path, self.name, "a finding has no title", pos)
        severity = _severity(item.get("severity"))
        if severity is None:
            raise ReportParseError(
                source.path,
                self.name,
                f"severity {as_str(item.get('severity'))[:40]!r} is not critical, high, medium, low, info "
                "or a 0-10 score",
                pos,
            )
        tool = _tool(item.get("tool"), item.get("tool_version")) if as_str(item.get("tool")) else default_tool
        secret = as_str(item.get("secret"))
        category = CATEGORY.get(as_str(item.get("category")).lower())
        if category is None:
            if as_str(item.get("category")):
                raise ReportParseError(
                    source.path, self.name, f"unknown category {as_str(item.get('category'))[:40]!r}", pos
                )
            category = FindingCategory.SECRET if secret else FindingCategory.OTHER
        confidence = CONFIDENCE.get(as_str(item.get("confidence")).lower(), Confidence.UNKNOWN)

        component = _component(item, warnings)
        location = _location(item, secret)
        endpoint = _endpoint(item)
        vulns = as_list(item.get("vulnerability_ids"), _LIST_SPLIT)
        rule_id = as_str(item.get("rule_id")) or None
        own_id = as_str(item.get("id"))
        identity: tuple[Any, ...] = (
            ("id", own_id)
            if own_id
            else (
                rule_id or title,
                location.file_path if location else None,
                location.start_line if location else None,
                (component.purl or f"{component.name}@{component.version or ''}") if component else None,
                endpoint.host if endpoint else None,
                endpoint.port if endpoint else None,
                endpoint.protocol if endpoint else None,
                url_identity(endpoint.url) if endpoint and endpoint.url else None,
                endpoint.parameter if endpoint else None,
                sorted(v.upper() for v in vulns),
            )
        )
        vector3 = as_str(item.get("cvss_v3")) or None
        vector4 = as_str(item.get("cvss_v4")) or None
        return Finding(
            fingerprint=fingerprint(self.fingerprint_version, tool.name, *identity),
            fingerprint_version=self.fingerprint_version,
            format=self.name,
            tool=tool,
            category=category,
            rule_id=rule_id,
            title=title[:500],
            description=clip(
                scrub(as_str(item.get("description")), secret) if secret else as_str(item.get("description"))
            ),
            severity=severity,
            confidence=confidence,
            cwes=cwe_refs(as_list(item.get("cwes"), _LIST_SPLIT), warnings),
            vulnerability_ids=vuln_refs(vulns),
            cvss_v3=parse_cvss(vector3, warnings),
            cvss_v4=parse_cvss(vector4, warnings),
            component=component,
            location=location,
            endpoint=endpoint,
            target=ctx.target or as_str(item.get("target")) or default_target,
            references=tuple(unique(as_list(item.get("references"), _REF_SPLIT)))[:50],
            remediation=as_str(item.get("remediation")) or None,
            raw_id=own_id or None,
            suppressed=as_str(item.get("suppressed")).lower() in ("true", "1", "yes"),
            secret_hash=secret_hash(secret, ctx.secret_key) if secret else None,
            tags=tuple(unique(as_list(item.get("tags"), r"[;,]\s*")))[:30],
            warnings=tuple(warnings),
        )


def _flatten(item: dict[str, Any]) -> dict[str, Any]:
    """Nested component / location / endpoint objects and a tool object, as the flat column names."""
    out = {k: v for k, v in item.items() if k not in _NESTED}
    for key, fields in _NESTED.items():
        nested = item.get(key)
        if isinstance(nested, dict):
            for inner, flat in fields.items():
                if nested.get(inner) not in (None, "") and out.get(flat) in (None, ""):
                    out[flat] = nested[inner]
    tool = item.get("tool")
    if isinstance(tool, dict):
        out["tool"] = tool.get("name")
        out.setdefault("tool_version", tool.get("version"))
    return out


def _tool(value: Any, version: Any) -> ToolInfo:
    if isinstance(value, dict):
        return ToolInfo(
            name=as_str(value.get("name")) or "generic", version=as_str(value.get("version")) or None
        )
    return ToolInfo(name=as_str(value) or "generic", version=as_str(version) or None)


def _severity(value: Any) -> Severity | None:
    s = as_str(value).lower()
    if s in SEVERITY:
        return SEVERITY[s]
    try:
        score = float(s)
    except ValueError:
        return None
    return Severity.from_cvss_score(score) if 0.0 <= score <= 10.0 else None


def _component(item: dict[str, Any], warnings: list[str]) -> Component | None:
    name = as_str(item.get("component_name"))
    purl = as_str(item.get("component_purl")) or None
    if not name and not purl:
        return None
    version = as_str(item.get("component_version")) or None
    ecosystem = as_str(item.get("component_ecosystem")) or None
    if purl is None:
        purl = make_purl(ecosystem, name, version, warnings)
    if not name and purl:  # pkg:type/namespace/name@version -> name
        name = purl.split("@", 1)[0].rsplit("/", 1)[-1]
    return Component(
        purl=purl,
        name=name,
        version=version,
        ecosystem=ecosystem,
        fixed_version=as_str(item.get("fixed_version")) or None,
        path=as_str(item.get("component_path")) or None,
    )


def _location(item: dict[str, Any], secret: str) -> Location | None:
    path = as_str(item.get("file_path")) or None
    start = as_int(item.get("start_line"))
    end = as_int(item.get("end_line"))
    snippet = as_str(item.get("snippet")) or None
    if secret:
        snippet = snippet.replace(secret, redact(secret)) if snippet else redact(secret)
    if not (path or start is not None or snippet):
        return None
    return Location(
        file_path=path,
        start_line=start if start is not None and start >= 0 else None,
        end_line=end if end is not None and end >= 0 else None,
        snippet=clip(snippet) if snippet else None,
    )


def _endpoint(item: dict[str, Any]) -> Endpoint | None:
    host = as_str(item.get("host")) or None
    url = as_str(item.get("url")) or None
    port = as_port(item.get("port"))
    protocol = as_str(item.get("protocol")).lower() or None
    parameter = as_str(item.get("parameter")) or None
    if not (host or url or port is not None):
        return None
    if host is None and url and "://" in url:
        try:
            host = urlsplit(url).hostname
        except ValueError:
            host = None
    return Endpoint(host=host, port=port, protocol=protocol, url=url, parameter=parameter)


PARSER = GenericParser()
SNIFF_PRIORITY = 10

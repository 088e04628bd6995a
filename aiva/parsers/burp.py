"""Burp Suite (Pro / Enterprise) XML issue export (`<issues burpVersion=...>`).

The export carries an internal DTD in its DOCTYPE (element and attribute
declarations, no entities); it is accepted. Entity declarations of any kind are
refused by ReportSource.load_xml (UnsafeInputError).

One finding per `<issue>`: Burp already writes one issue per issue type x URL x
insertion point (the bracket in `location`, e.g. "/login.jsp [username parameter]"),
which is exactly one endpoint. (The peer merges all issues of one type into one
finding with many endpoints; AIVA keeps them apart so each can be fixed and closed
on its own.) Two issues with the same identity in one file keep the first.

Severity table: High -> high, Medium -> medium, Low -> low, Information / Info -> info;
"False positive" (a tester's verdict) -> info, `suppressed`, tagged "burp:false-positive".
Confidence: Certain -> certain, Firm -> firm, Tentative -> tentative.
CWE ids come from `vulnerabilityClassifications`. Requests and responses (which can
hold cookies and credentials) are never copied; only the request method is kept, as a tag.
Fingerprint "burp/1": issue type, the issue URL reduced to scheme, host, port, path and
query parameter names (see _web.url_identity), and the insertion point from `location`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import ClassVar
from xml.etree.ElementTree import Element

from aiva.enums import Confidence, FindingCategory, Severity
from aiva.errors import ReportParseError
from aiva.fingerprint import fingerprint
from aiva.parsers._web import endpoint, html_to_text, links, url_identity
from aiva.parsers._xmlutil import clip, strip_namespaces, text
from aiva.parsers.base import ParseContext, ReportSource, cwe_refs, severity_from_table
from aiva.schemas import Finding, ToolInfo

SEVERITY = {
    "high": Severity.HIGH,
    "medium": Severity.MEDIUM,
    "low": Severity.LOW,
    "information": Severity.INFO,
    "info": Severity.INFO,
    "false positive": Severity.INFO,
}
CONFIDENCE = {"certain": Confidence.CERTAIN, "firm": Confidence.FIRM, "tentative": Confidence.TENTATIVE}
_INSERTION_POINT = re.compile(r"\[([^\[\]]{1,500})\]\s*$")
_KIND = re.compile(r"^(?P<name>.+?)\s+(?:parameter|cookie|header|HTTP header|XML element|JSON parameter|"
                   r"attribute)$", re.IGNORECASE)
_CWE = re.compile(r"CWE-(\d{1,5})", re.IGNORECASE)


class BurpParser:
    """Burp Suite's XML issue export."""

    name: ClassVar[str] = "burp"
    tool_name: ClassVar[str | None] = "burp"
    fingerprint_version: ClassVar[str] = "burp/1"

    def sniff(self, source: ReportSource) -> bool:
        """An <issues> root carrying burpVersion."""
        head = source.text_head()
        return head.startswith("<") and "<issues" in head and "burpVersion" in head

    def parse(self, source: ReportSource, ctx: ParseContext) -> Iterator[Finding]:
        """Yield one finding per issue."""
        root = strip_namespaces(source.load_xml(self.name))
        if root.tag != "issues":
            raise ReportParseError(source.path, self.name, f"root is <{root.tag}>, expected <issues>")
        tool = ToolInfo(name="burp", version=root.get("burpVersion") or None)
        seen: set[str] = set()
        for i, issue in enumerate(root.findall("issue")):
            f = self._finding(issue, tool, ctx, f"issue[{i}]")
            if f.fingerprint not in seen:
                seen.add(f.fingerprint)
                yield f

    def _finding(self, issue: Element, tool: ToolInfo, ctx: ParseContext, where: str) -> Finding:
        warnings: list[str] = []
        host = text(issue, "host").rstrip("/")
        path = text(issue, "path")
        location = text(issue, "location")
        itype = text(issue, "type")
        name = text(issue, "name") or f"Burp issue {itype}"
        if not host:
            warnings.append(f"{where}: the issue has no host")
        m = _INSERTION_POINT.search(location)
        insertion = m.group(1).strip() if m else ""
        km = _KIND.match(insertion)
        parameter = km.group("name") if km else (insertion or None)
        url = f"{host}{path}" if host else path
        sev_word = text(issue, "severity").lower()
        false_positive = sev_word == "false positive"
        classifications = text(issue, "vulnerabilityClassifications")
        items = (x.text for x in issue.findall("issueDetailItems/issueDetailItem"))
        detail_items = [html_to_text(t) for t in items if t]
        parts = [html_to_text(text(issue, "issueDetail")), "\n".join(f"- {d}" for d in detail_items),
                 html_to_text(text(issue, "issueBackground"))]
        remediation = "\n\n".join(
            p for p in (html_to_text(text(issue, "remediationDetail")),
                        html_to_text(text(issue, "remediationBackground"))) if p
        )
        tags = []
        methods = [r.get("method") for r in issue.findall("requestresponse/request") if r.get("method")]
        if methods:
            tags.append(f"method:{methods[0]}")
        host_el = issue.find("host")
        ip = host_el.get("ip") if host_el is not None else None
        if ip:
            tags.append(f"ip:{ip}")
        if false_positive:
            tags.append("burp:false-positive")
        return Finding(
            fingerprint=fingerprint(self.fingerprint_version, itype or name, url_identity(url), insertion),
            fingerprint_version=self.fingerprint_version,
            format=self.name,
            tool=tool,
            category=FindingCategory.DAST,
            rule_id=itype or None,
            title=clip(name, 500),
            description=clip("\n\n".join(p for p in parts if p)),
            severity=severity_from_table(sev_word, SEVERITY),
            confidence=CONFIDENCE.get(text(issue, "confidence").lower(), Confidence.UNKNOWN),
            cwes=cwe_refs(_CWE.findall(classifications), warnings),
            endpoint=endpoint(url, parameter) if url else None,
            target=ctx.target or host or None,
            references=tuple(links(text(issue, "references")) + links(classifications))[:50],
            remediation=clip(remediation) or None,
            raw_id=text(issue, "serialNumber") or None,
            suppressed=false_positive,
            tags=tuple(tags),
            warnings=tuple(warnings),
        )


PARSER = BurpParser()
SNIFF_PRIORITY = 70

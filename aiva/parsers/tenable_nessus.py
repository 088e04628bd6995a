"""Tenable Nessus XML (`.nessus`, root `NessusClientData_v2`), including the
Tenable Web App Scanning (WAS) export, which uses the same schema with
`<Report type="was">` and a URL as the host name.

Counting: one finding per ReportItem, that is per host x port x protocol x plugin
(WAS: x the URL the plugin output names). When a file repeats the same plugin on the
same host and port (Nessus does for some version-detection plugins), the first item is
kept and the later items' plugin output is appended to its description.
Informational plugins (severity 0) are findings too, with severity info.

Severity table (the ReportItem's `severity` attribute, Nessus's own scale):
4->critical, 3->high, 2->medium, 1->low, 0->info; when the attribute is missing or
unreadable, `risk_factor`: Critical->critical, High->high, Medium->medium,
Low->low, None/Info->info.
CVSS: `cvss3_vector` (v3) and `cvss4_vector` (v4) are scored; v2 vectors are not kept.
Endpoint: host = the `host-ip` property (else the ReportHost name; a WAS URL gives its
host name), port (0 for host-level plugins), protocol (tcp/udp/icmp).
Target: the ReportHost name, the asset as it was given to the scanner (ctx.target wins).
Category: NETWORK, DAST for WAS reports.

Fingerprint "tenable_nessus/1": endpoint host, port, protocol, plugin id (and, for WAS,
the URL); never the plugin output, dates or scores.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import ClassVar
from xml.etree.ElementTree import Element

from aiva.enums import Confidence, FindingCategory, Severity
from aiva.errors import ReportParseError
from aiva.fingerprint import fingerprint
from aiva.parsers._netutil import (
    as_port,
    clip,
    dedent_text,
    endpoint_from_target,
    scrub_credentials,
    unique,
)
from aiva.parsers.base import ParseContext, ReportSource, cwe_refs, parse_cvss, severity_from_table, vuln_refs
from aiva.schemas import Endpoint, Finding, ToolInfo

NESSUS_SEVERITY = {
    "4": Severity.CRITICAL,
    "3": Severity.HIGH,
    "2": Severity.MEDIUM,
    "1": Severity.LOW,
    "0": Severity.INFO,
}
RISK_FACTOR = {
    "critical": Severity.CRITICAL,
    "high": Severity.HIGH,
    "medium": Severity.MEDIUM,
    "low": Severity.LOW,
    "none": Severity.INFO,
    "info": Severity.INFO,
    "informational": Severity.INFO,
}
_SCAN_INFO_PLUGIN = "19506"
_NESSUS_VERSION = re.compile(r"Nessus version\s*:\s*([\w.\-]+)")
_WAS_URL = re.compile(r"\bURL\s+'(https?://[^'\s]+)'")
_WAS_PARAM = re.compile(r"\belement named\s+'([^']{1,200})'")
_SPLIT_URLS = re.compile(r"\s+")


@dataclass
class _Item:
    """The first ReportItem of an identity, and the outputs of its repeats."""

    host_name: str
    endpoint: Endpoint
    item: Element
    outputs: list[str] = field(default_factory=list)


class TenableNessusParser:
    """Nessus v2 XML (.nessus) and Tenable WAS XML."""

    name: ClassVar[str] = "tenable_nessus"
    tool_name: ClassVar[str | None] = "nessus"
    fingerprint_version: ClassVar[str] = "tenable_nessus/1"

    def sniff(self, source: ReportSource) -> bool:
        """The root element is NessusClientData_v2."""
        head = source.text_head(4096)
        return head.startswith("<") and "<NessusClientData_v2" in head

    def parse(self, source: ReportSource, ctx: ParseContext) -> Iterator[Finding]:
        """Yield one finding per host x port x protocol x plugin."""
        root = source.load_xml(self.name)
        if root.tag != "NessusClientData_v2":
            raise ReportParseError(
                source.path, self.name, f"root element is <{root.tag}>, not <NessusClientData_v2>"
            )
        version: str | None = None
        items: dict[tuple[str, ...], _Item] = {}
        for report in root.iter("Report"):
            is_was = (report.get("type") or "").lower() == "was"
            for h, host in enumerate(report.iter("ReportHost")):
                host_name = (host.get("name") or "").strip()
                props = {
                    (t.get("name") or ""): (t.text or "").strip() for t in host.findall("HostProperties/tag")
                }
                was_host = is_was or props.get("system-type") == "web_application"
                for i, item in enumerate(host.findall("ReportItem")):
                    plugin = (item.get("pluginID") or "").strip()
                    if not plugin:
                        raise ReportParseError(
                            source.path,
                            self.name,
                            "a ReportItem has no pluginID",
                            f"ReportHost {h} ({host_name}), ReportItem {i}",
                        )
                    output = item.findtext("plugin_output") or ""
                    if plugin == _SCAN_INFO_PLUGIN and version is None:
                        m = _NESSUS_VERSION.search(output)
                        version = m.group(1) if m else None
                    endpoint = _endpoint(host_name, props, item, output if was_host else None)
                    key: tuple[str, ...] = (
                        endpoint.host or host_name,
                        str(endpoint.port),
                        endpoint.protocol or "",
                        plugin,
                        (endpoint.url or "") if was_host else "",
                    )
                    entry = items.get(key)
                    if entry is None:
                        items[key] = _Item(host_name, endpoint, item, [output])
                    else:
                        entry.outputs.append(output)
        tool = ToolInfo(name="nessus", version=version)
        for key, entry in items.items():
            yield self._finding(key, entry, tool, ctx)

    def _finding(self, key: tuple[str, ...], entry: _Item, tool: ToolInfo, ctx: ParseContext) -> Finding:
        item = entry.item
        warnings: list[str] = []
        plugin = key[3]
        is_was = bool(key[4]) or entry.host_name.startswith(("http://", "https://"))
        sev_attr = (item.get("severity") or "").strip()
        risk = _text(item, "risk_factor")
        severity = NESSUS_SEVERITY.get(sev_attr) or severity_from_table(risk, RISK_FACTOR)
        name = item.get("pluginName") or _text(item, "plugin_name") or f"Nessus plugin {plugin}"

        outputs = [dedent_text(o) for o in entry.outputs if o and o.strip()]
        s_hash: str | None = None
        shown: list[str] = []
        for o in outputs:
            scrubbed, h = scrub_credentials(o, ctx.secret_key)
            s_hash = s_hash or h
            shown.append(scrubbed)
        description = "\n\n".join(
            x
            for x in (
                _text(item, "synopsis"),
                _text(item, "description"),
                *(f"Plugin output:\n{o}" for o in shown[:20]),
            )
            if x
        )
        xrefs = [x.text.strip() for x in item.findall("xref") if x.text and x.text.strip()]
        cwes = [c.text for c in item.findall("cwe") if c.text] + [
            x.split(":", 1)[1] for x in xrefs if x.upper().startswith("CWE:")
        ]
        cves = [c.text.strip() for c in item.findall("cve") if c.text]
        refs: list[str] = []
        for sa in item.findall("see_also"):
            refs += [
                u for u in _SPLIT_URLS.split((sa.text or "").strip()) if u.startswith(("http://", "https://"))
            ]
        tags = [f"plugin-family:{item.get('pluginFamily')}"] if item.get("pluginFamily") else []
        if _text(item, "exploit_available").lower() == "true":
            tags.append("exploit-available")
        tags += [x for x in xrefs if x.upper().startswith(("OWASP", "IAVA", "IAVB"))][:10]
        if s_hash:
            tags.append("secret")
        return Finding(
            fingerprint=fingerprint(self.fingerprint_version, *key),
            fingerprint_version=self.fingerprint_version,
            format=self.name,
            tool=tool,
            category=FindingCategory.DAST if is_was else FindingCategory.NETWORK,
            rule_id=plugin,
            title=name.strip()[:500],
            description=clip(description),
            severity=severity,
            confidence=Confidence.FIRM,
            cwes=cwe_refs(cwes, warnings),
            vulnerability_ids=vuln_refs(cves),
            cvss_v3=parse_cvss(_text(item, "cvss3_vector") or None, warnings),
            cvss_v4=parse_cvss(_text(item, "cvss4_vector") or None, warnings),
            endpoint=entry.endpoint,
            target=ctx.target or entry.host_name or entry.endpoint.host,
            references=tuple(unique(refs))[:50],
            remediation=_text(item, "solution") or None,
            raw_id=plugin,
            secret_hash=s_hash,
            tags=tuple(unique(tags)),
            warnings=tuple(warnings),
        )


def _text(el: Element, path: str) -> str:
    """An element's text with the pretty-printing indentation of each line removed; "n/a" is ""."""
    value = el.findtext(path)
    if not value:
        return ""
    s = dedent_text(value)
    return "" if s.lower() == "n/a" else s


def _endpoint(host_name: str, props: dict[str, str], item: Element, was_output: str | None) -> Endpoint:
    port = as_port(item.get("port"))
    protocol = (item.get("protocol") or "").strip().lower() or None
    if was_output is not None:
        m = _WAS_URL.search(was_output)
        pm = _WAS_PARAM.search(was_output)
        url = m.group(1) if m else (host_name if "://" in host_name else None)
        ep = endpoint_from_target(
            url or host_name, protocol=protocol, port=port, parameter=pm.group(1) if pm else None
        )
        if ep is not None:
            return ep
    host = props.get("host-ip") or host_name
    if "://" in host:
        ep = endpoint_from_target(host, protocol=protocol, port=port)
        if ep is not None:
            return ep
    return Endpoint(host=host or None, port=port, protocol=protocol)


PARSER = TenableNessusParser()
SNIFF_PRIORITY = 70

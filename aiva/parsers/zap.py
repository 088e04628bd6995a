"""OWASP ZAP reports: the Traditional XML report (`OWASPZAPReport`, with or without
requests and responses) and the Traditional JSON report (`@programName`/`site`), one
parser name `zap` for both (same data, same fingerprints whichever export was used).

Counting: ZAP groups its results per alert type (`alertitem`) with a list of
`instances` (URL, method, parameter, evidence). AIVA keeps ONE finding per alert type
x endpoint, because a finding carries one Endpoint and is fixed (and closed) per page:
the endpoint identity is the method, the URL reduced to scheme, host, port, path and
the sorted NAMES of its query parameters (values dropped: a crawler that picks
`?prodid=18` one run and `?prodid=22` the next must not open a new finding), and the
parameter. Instances that reduce to the same identity are merged into the first
(the other URLs are listed in the description). Old reports with no `<instances>`
(one URL on the alertitem itself) are read as one instance; an alert with no URL at
all gets the site as its endpoint.

Severity table (ZAP riskcode, else the first word of riskdesc):
    3 / High -> high, 2 / Medium -> medium, 1 / Low -> low, 0 / Informational -> info.
Confidence: 4 User Confirmed / 3 High -> certain, 2 Medium -> firm, 1 Low -> tentative,
0 False Positive -> tentative, and the finding is `suppressed` and tagged "zap:false-positive".
Sensitive data: for alerts whose evidence is itself a credential, token or personal
data (plugins 3, 10024, 10025, 10057, 10062, 10097, 10105, 10111, 10112, 10113), the
evidence is redacted, "other info" is withheld and query values in the URL are masked.
Request/response headers and bodies are never copied.
Fingerprint "zap/1": the alert reference (alertRef, else pluginid plus the alert name
for old reports that have no alertRef), method, reduced URL, parameter.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from aiva.enums import Confidence, FindingCategory, Severity
from aiva.errors import ReportParseError
from aiva.fingerprint import fingerprint
from aiva.parsers._web import endpoint, html_to_text, links, url_identity
from aiva.parsers._xmlutil import clip, own_text, strip_namespaces, text
from aiva.parsers.base import ParseContext, ReportSource, cwe_refs
from aiva.schemas import Finding, ToolInfo
from aiva.secrets import redact

RISK = {
    "3": Severity.HIGH, "high": Severity.HIGH,
    "2": Severity.MEDIUM, "medium": Severity.MEDIUM,
    "1": Severity.LOW, "low": Severity.LOW,
    "0": Severity.INFO, "informational": Severity.INFO, "info": Severity.INFO,
}
CONFIDENCE = {
    "4": Confidence.CERTAIN, "3": Confidence.CERTAIN, "2": Confidence.FIRM, "1": Confidence.TENTATIVE,
    "0": Confidence.TENTATIVE,
}
# Alerts whose evidence / other info is the sensitive value itself.
SENSITIVE_PLUGINS = frozenset({"3", "10024", "10025", "10057", "10062", "10097", "10105", "10111", "10112",
                               "10113"})
_MAX_URLS = 20
_ALERT_FIELDS = ("pluginid", "alertRef", "alert", "name", "riskcode", "confidence", "riskdesc", "desc",
                 "solution", "otherinfo", "reference", "cweid", "wascid")
_INSTANCE_FIELDS = ("uri", "method", "param", "attack", "evidence", "otherinfo")


@dataclass
class _Site:
    name: str
    host: str
    port: int | None
    ssl: bool


@dataclass
class _Group:
    """One alert type x endpoint: the first instance and the other URLs merged into it."""

    alert: dict[str, str]
    tags: list[str]
    site: _Site
    instance: dict[str, str]
    other_urls: list[str] = field(default_factory=list)


class ZapParser:
    """OWASP ZAP Traditional XML and Traditional JSON reports."""

    name: ClassVar[str] = "zap"
    tool_name: ClassVar[str | None] = "zap"
    fingerprint_version: ClassVar[str] = "zap/1"

    def sniff(self, source: ReportSource) -> bool:
        """An <OWASPZAPReport> root, or a JSON object with ZAP's `@generated`/`@programName` and `site`."""
        head = source.text_head()
        if head.startswith("<"):
            return "<OWASPZAPReport" in head
        zap_keys = '"@programName"' in head or '"@generated"' in head
        return head.startswith("{") and '"site"' in head and zap_keys

    def parse(self, source: ReportSource, ctx: ParseContext) -> Iterator[Finding]:
        """Yield one finding per alert type x endpoint (method, reduced URL, parameter)."""
        if source.text_head().startswith("<"):
            version, alerts = self._read_xml(source)
        else:
            version, alerts = self._read_json(source)
        tool = ToolInfo(name="zap", version=version or None)
        groups: dict[str, _Group] = {}
        for site, alert, tags, instances in alerts:
            rule_key = _rule_key(alert)
            for inst in instances or [{"uri": site.name}]:
                uri = inst.get("uri") or site.name
                method = (inst.get("method") or "").upper()
                fp = fingerprint(
                    self.fingerprint_version, rule_key, method, url_identity(uri), inst.get("param")
                )
                group = groups.get(fp)
                if group is None:
                    groups[fp] = _Group(alert, tags, site, {**inst, "uri": uri, "method": method})
                elif uri != group.instance["uri"] and uri not in group.other_urls:
                    group.other_urls.append(uri)
        for fp, group in groups.items():
            yield self._finding(fp, group, tool, ctx)

    # ---- readers ----------------------------------------------------------------------------

    def _read_xml(self, source: ReportSource) -> tuple[str, list[tuple[_Site, dict[str, str], list[str],
                                                                         list[dict[str, str]]]]]:
        root = strip_namespaces(source.load_xml(self.name))
        if root.tag != "OWASPZAPReport":
            raise ReportParseError(source.path, self.name, f"root is <{root.tag}>, expected <OWASPZAPReport>")
        out = []
        for site_el in root.findall("site"):
            site = _site(site_el.get("name"), site_el.get("host"), site_el.get("port"), site_el.get("ssl"))
            for item in site_el.iter("alertitem"):
                alert = {k: text(item, k) for k in _ALERT_FIELDS}
                tags = [t for t in (text(t, "tag") or own_text(t) for t in item.findall("tags/tag")) if t]
                inst_els = item.findall("instances/instance")
                if inst_els:
                    instances = [{k: text(i, k) for k in _INSTANCE_FIELDS} for i in inst_els]
                elif text(item, "uri"):  # old reports: one URL on the alertitem itself
                    instances = [{k: text(item, k) for k in _INSTANCE_FIELDS}]
                else:
                    instances = []
                out.append((site, alert, tags, instances))
        return root.get("version") or "", out

    def _read_json(self, source: ReportSource) -> tuple[str, list[tuple[_Site, dict[str, str], list[str],
                                                                          list[dict[str, str]]]]]:
        doc = source.load_json(self.name)
        if not isinstance(doc, dict) or "site" not in doc:
            raise ReportParseError(source.path, self.name, "expected a ZAP JSON report: no 'site'")
        sites = doc["site"] if isinstance(doc["site"], list) else [doc["site"]]
        out = []
        for s, raw_site in enumerate(sites):
            if not isinstance(raw_site, dict):
                raise ReportParseError(source.path, self.name, "a site is not an object", f"site[{s}]")
            site = _site(*(raw_site.get(k) for k in ("@name", "@host", "@port", "@ssl")))
            alerts = raw_site.get("alerts") or []
            if not isinstance(alerts, list):
                raise ReportParseError(source.path, self.name, "'alerts' is not a list", f"site[{s}].alerts")
            for a, raw in enumerate(alerts):
                if not isinstance(raw, dict):
                    raise ReportParseError(source.path, self.name, "an alert is not an object",
                                           f"site[{s}].alerts[{a}]")
                alert = {k: _s(raw.get(k)) for k in _ALERT_FIELDS}
                raw_instances = raw.get("instances")
                instances = [
                    {k: _s(i.get(k)) for k in _INSTANCE_FIELDS}
                    for i in (raw_instances if isinstance(raw_instances, list) else [])
                    if isinstance(i, dict)
                ]
                if not instances and _s(raw.get("uri")):
                    instances = [{k: _s(raw.get(k)) for k in _INSTANCE_FIELDS}]
                out.append((site, alert, _json_tags(raw.get("tags")), instances))
        return _s(doc.get("@version")), out

    # ---- the finding ------------------------------------------------------------------------

    def _finding(self, fp: str, g: _Group, tool: ToolInfo, ctx: ParseContext) -> Finding:
        warnings: list[str] = []
        a, inst, site = g.alert, g.instance, g.site
        plugin = a.get("pluginid") or ""
        sensitive = plugin in SENSITIVE_PLUGINS
        uri = _mask_query(inst["uri"]) if sensitive else inst["uri"]
        evidence = inst.get("evidence") or ""
        other = inst.get("otherinfo") or a.get("otherinfo") or ""
        parts = [html_to_text(a.get("desc"))]
        if inst.get("attack"):
            parts.append(f"Attack: {inst['attack']}")
        if evidence:
            parts.append(f"Evidence: {redact(evidence) if sensitive else evidence[:2000]}")
        if other:
            parts.append("Other info: withheld (may hold a credential or personal data)." if sensitive
                         else f"Other info: {html_to_text(other)}")
        if g.other_urls:
            shown = [_mask_query(u) if sensitive else u for u in g.other_urls[:_MAX_URLS]]
            more = f" (+{len(g.other_urls) - _MAX_URLS} more)" if len(g.other_urls) > _MAX_URLS else ""
            parts.append("Also seen at: " + ", ".join(shown) + more)
        conf_code = a.get("confidence") or ""
        false_positive = conf_code == "0"
        tags = [f"method:{inst['method']}"] if inst.get("method") else []
        wasc = a.get("wascid") or ""
        if wasc and wasc not in ("0", "-1"):
            tags.append(f"WASC-{wasc}")
        tags += g.tags[:20]
        if false_positive:
            tags.append("zap:false-positive")
        cwe = a.get("cweid") or ""
        severity = RISK.get(a.get("riskcode") or "") or RISK.get(
            (a.get("riskdesc") or "").split(" ", 1)[0].lower(), Severity.INFO
        )
        title = a.get("alert") or a.get("name") or f"ZAP alert {plugin}"
        return Finding(
            fingerprint=fp,
            fingerprint_version=self.fingerprint_version,
            format=self.name,
            tool=tool,
            category=FindingCategory.DAST,
            rule_id=a.get("alertRef") or plugin or None,
            title=clip(title, 500),
            description=clip("\n\n".join(p for p in parts if p)),
            severity=severity,
            confidence=CONFIDENCE.get(conf_code, Confidence.UNKNOWN),
            cwes=cwe_refs([cwe] if cwe and cwe not in ("0", "-1") else [], warnings),
            endpoint=endpoint(uri, inst.get("param"), host=site.host or None, port=site.port,
                              protocol="https" if site.ssl else "http"),
            target=ctx.target or site.name or site.host or None,
            references=tuple(links(a.get("reference")))[:50],
            remediation=clip(html_to_text(a.get("solution"))) or None,
            raw_id=a.get("alertRef") or plugin or None,
            suppressed=false_positive,
            tags=tuple(tags),
            warnings=tuple(warnings),
        )


def _s(x: Any) -> str:
    if isinstance(x, str):
        return x.strip()
    if isinstance(x, (int, float)) and not isinstance(x, bool):
        return str(x)
    return ""


def _site(name: Any, host: Any, port: Any, ssl: Any) -> _Site:
    p = _s(port)
    return _Site(
        name=_s(name), host=_s(host),
        port=int(p) if p.isdigit() and int(p) <= 65_535 else None,
        ssl=_s(ssl).lower() == "true" or ssl is True,
    )


def _json_tags(raw: Any) -> list[str]:
    if isinstance(raw, dict):  # {"OWASP_2021_A05": "https://..."}
        return [str(k) for k in raw]
    if isinstance(raw, list):  # [{"tag": "OWASP_2021_A05", "link": "..."}]
        return [t for t in (_s(x.get("tag")) if isinstance(x, dict) else _s(x) for x in raw) if t]
    return []


def _rule_key(alert: dict[str, str]) -> str:
    """alertRef when the report has it; older reports only have pluginid, which some plugins share
    between several alerts, so the alert name is added."""
    if alert.get("alertRef"):
        return alert["alertRef"]
    return f"{alert.get('pluginid') or ''}/{alert.get('alert') or alert.get('name') or ''}"


def _mask_query(url: str) -> str:
    """The URL with every query value replaced (for alerts whose finding IS a value in the URL)."""
    try:
        s = urlsplit(url)
    except ValueError:
        return url
    if not s.query:
        return url
    masked = urlencode([(k, "REDACTED") for k, _ in parse_qsl(s.query, keep_blank_values=True)], safe="")
    return urlunsplit((s.scheme, s.netloc, s.path, masked, ""))


PARSER = ZapParser()
SNIFF_PRIORITY = 70

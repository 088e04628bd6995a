"""Nmap XML output (`nmap -oX`, root `nmaprun`), with the NSE `vulners` script and
scripts built on NSE's `vulns` library (`smb-vuln-*`, `http-vuln-*`, `ssl-*`...).

Counting, per host that is up:
- one finding per open port (host x protocol x port; state "open" only: closed,
  filtered and "open|filtered" ports are not findings). Other scripts' output is
  kept in that finding's description;
- `vulners`: one finding per CVE per host:port. Vulners lists exploit modules next to
  the CVE they exploit (for example 19 Metasploit modules, one per distribution, for
  CVE-2019-6111): entries whose id names a CVE are folded into that CVE's finding
  (references, tag `exploit`); entries that name no CVE (EDB-ID:..., PACKETSTORM:...)
  are one finding each;
- `vulns` library scripts: one finding per reported vulnerability whose state is
  VULNERABLE / LIKELY VULNERABLE (NOT VULNERABLE is skipped), on the port or, for
  host scripts, on the host.
A host listed twice (merged scans) gives its findings once: the first is kept.

Severity table: open ports are info. Vulners entries: their CVSS score through the
CVSS rating (>=9 critical, >=7 high, >=4 medium, >0 low, 0 info; a CVE's own score
wins over its exploits'). `vulns` library: its `risk_factor` (High->high,
Medium->medium, Low->low), else the CVSS score it gives, else medium.

Endpoint: host = the IPv4 address (else IPv6, else the first host name), port,
protocol (tcp/udp/sctp). Target: the host name the user gave nmap, else the address.

Fingerprint "nmap/1": kind (port / vulners / vulns), host address, protocol, port,
and the CVE / vulners id / script id + vulnerability key; never script output,
service banners or timestamps.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, ClassVar
from xml.etree.ElementTree import Element

from aiva.enums import Confidence, FindingCategory, Severity
from aiva.errors import ReportParseError
from aiva.fingerprint import fingerprint
from aiva.parsers._netutil import as_port, clip, unique
from aiva.parsers.base import ParseContext, ReportSource, parse_cvss, severity_from_table, vuln_refs
from aiva.schemas import Component, Endpoint, Finding, ToolInfo

RISK_FACTOR = {
    "critical": Severity.CRITICAL,
    "high": Severity.HIGH,
    "medium": Severity.MEDIUM,
    "low": Severity.LOW,
}
_CVE = re.compile(r"CVE-\d{4}-\d{4,}", re.IGNORECASE)
_VULNERS_LINE = re.compile(
    r"^\s*(?P<id>\S+)\s+(?P<cvss>\d+(?:\.\d+)?)\s+(?P<url>https?://\S+)(?P<exploit>\s+\*EXPLOIT\*)?"
)
_SKIP_OUTPUT = frozenset({"fingerprint-strings"})  # service probe dumps: noise in a description
_MAX_SCRIPT_OUTPUT = 4000


class NmapParser:
    """Nmap's XML output."""

    name: ClassVar[str] = "nmap"
    tool_name: ClassVar[str | None] = "nmap"
    fingerprint_version: ClassVar[str] = "nmap/1"

    def sniff(self, source: ReportSource) -> bool:
        """The root element is nmaprun."""
        head = source.text_head(8192)
        return head.startswith("<") and "<nmaprun" in head

    def parse(self, source: ReportSource, ctx: ParseContext) -> Iterator[Finding]:
        """Yield open ports and the vulnerabilities NSE scripts report on them."""
        root = source.load_xml(self.name)
        if root.tag != "nmaprun":
            raise ReportParseError(source.path, self.name, f"root element is <{root.tag}>, not <nmaprun>")
        tool = ToolInfo(name="nmap", version=root.get("version") or None)
        seen: set[str] = set()
        for h, host in enumerate(root.findall("host")):
            status = host.find("status")
            if status is not None and status.get("state") not in (None, "up"):
                continue
            hc = _HostContext(host, ctx, tool)
            if not hc.address:
                raise ReportParseError(source.path, self.name, "a host has no address", f"host {h}")
            for p, port in enumerate(host.findall("ports/port")):
                state = port.find("state")
                if state is None or state.get("state") != "open":
                    continue
                portid = as_port(port.get("portid"))
                if portid is None:
                    raise ReportParseError(
                        source.path,
                        self.name,
                        f"unreadable portid {port.get('portid')!r}",
                        f"host {h}, port {p}",
                    )
                for f in self._port(hc, port, portid):
                    if f.fingerprint not in seen:
                        seen.add(f.fingerprint)
                        yield f
            for script in host.findall("hostscript/script"):
                for f in self._vulns(hc, script, None, None, None):
                    if f.fingerprint not in seen:
                        seen.add(f.fingerprint)
                        yield f

    # ------------------------------------------------------------------ ports

    def _port(self, hc: _HostContext, port: Element, portid: int) -> Iterator[Finding]:
        proto = (port.get("protocol") or "tcp").lower()
        svc = port.find("service")
        service = svc.attrib if svc is not None else {}
        cpes = [c.text.strip() for c in (svc.findall("cpe") if svc is not None else []) if c.text]
        product = service.get("product")
        component = Component(name=product, version=service.get("version") or None) if product else None
        endpoint = Endpoint(host=hc.address, port=portid, protocol=proto)
        notes: list[str] = []
        vuln_findings: list[Finding] = []
        for script in port.findall("script"):
            sid = script.get("id") or ""
            if sid == "vulners":
                vuln_findings += self._vulners(hc, script, endpoint, component)
                continue
            found = list(self._vulns(hc, script, endpoint, component, portid))
            vuln_findings += found
            if not found and sid not in _SKIP_OUTPUT and (script.get("output") or "").strip():
                notes.append(f"{sid}:\n{(script.get('output') or '').strip()[:_MAX_SCRIPT_OUTPUT]}")
        label = " ".join(x for x in (product, service.get("version"), service.get("extrainfo")) if x)
        svc_name = service.get("name") or "unknown"
        title = f"Open port {portid}/{proto}: {svc_name}" + (f" ({label})" if label else "")
        details = [
            f"Port {portid}/{proto} is open on {hc.label}.",
            f"Service: {svc_name}"
            + (f", {label}" if label else "")
            + (f" (tunnel {service['tunnel']})" if service.get("tunnel") else "")
            + (
                f", detected by {service.get('method')} (confidence {service.get('conf')}/10)"
                if service
                else ""
            ),
            *(f"CPE: {c}" for c in cpes),
            *notes,
        ]
        yield Finding(
            fingerprint=fingerprint(self.fingerprint_version, "port", hc.address, proto, portid),
            fingerprint_version=self.fingerprint_version,
            format=self.name,
            tool=hc.tool,
            category=FindingCategory.NETWORK,
            rule_id="open-port",
            title=title[:500],
            description=clip("\n".join(details)),
            severity=Severity.INFO,
            confidence=Confidence.CERTAIN
            if (port.find("state") is not None and _reason_sure(port))
            else Confidence.FIRM,
            component=component,
            endpoint=endpoint,
            target=hc.target,
            tags=tuple(unique(["open-port", f"service:{svc_name}", *cpes]))[:20],
        )
        yield from vuln_findings

    # ------------------------------------------------------------------ vulners

    def _vulners(
        self, hc: _HostContext, script: Element, endpoint: Endpoint, component: Component | None
    ) -> list[Finding]:
        entries = _vulners_entries(script)
        groups: dict[str, list[dict[str, Any]]] = {}
        singles: list[dict[str, Any]] = []
        for e in entries:
            m = _CVE.search(e["id"])
            if m:
                groups.setdefault(m.group(0).upper(), []).append(e)
            else:
                singles.append(e)
        out: list[Finding] = []
        where = f"{hc.label} port {endpoint.port}/{endpoint.protocol}"
        what = f"{component.name} {component.version or ''}".strip() if component else "the service"
        for cve, group in groups.items():
            own = [e for e in group if e["id"].upper() == cve]
            score = max((e["cvss"] for e in (own or group)), default=0.0)
            exploits = [e for e in group if e["exploit"]]
            refs = [e["url"] for e in own] + [e["url"] for e in exploits]
            desc = [f"Vulners reports {cve} (CVSS {score}) for {what} on {where}."]
            if exploits:
                desc.append("Known exploits: " + ", ".join(e["id"] for e in exploits[:50]))
            out.append(
                Finding(
                    fingerprint=fingerprint(
                        self.fingerprint_version, "vulners", hc.address, endpoint.protocol, endpoint.port, cve
                    ),
                    fingerprint_version=self.fingerprint_version,
                    format=self.name,
                    tool=hc.tool,
                    category=FindingCategory.NETWORK,
                    rule_id=cve,
                    title=f"{cve} in {what}"[:500],
                    description=clip("\n".join(desc)),
                    severity=Severity.from_cvss_score(score),
                    confidence=Confidence.TENTATIVE,  # matched on the service banner's version, not tested
                    vulnerability_ids=vuln_refs([cve]),
                    component=component,
                    endpoint=endpoint,
                    target=hc.target,
                    references=tuple(unique(refs))[:50],
                    raw_id=cve,
                    tags=tuple(["vulners", *(["exploit"] if exploits else [])]),
                )
            )
        for e in singles:
            kind = f"{e['type']} exploit" if e["exploit"] else e["type"] or "vulners entry"
            out.append(
                Finding(
                    fingerprint=fingerprint(
                        self.fingerprint_version,
                        "vulners",
                        hc.address,
                        endpoint.protocol,
                        endpoint.port,
                        e["id"],
                    ),
                    fingerprint_version=self.fingerprint_version,
                    format=self.name,
                    tool=hc.tool,
                    category=FindingCategory.NETWORK,
                    rule_id=e["id"],
                    title=f"{e['id']} ({kind}) for {what}"[:500],
                    description=f"Vulners lists {e['id']} ({kind}, CVSS {e['cvss']}) for {what} on {where}.",
                    severity=Severity.from_cvss_score(e["cvss"]),
                    confidence=Confidence.TENTATIVE,
                    component=component,
                    endpoint=endpoint,
                    target=hc.target,
                    references=(e["url"],) if e["url"] else (),
                    raw_id=e["id"],
                    tags=tuple(["vulners", *(["exploit"] if e["exploit"] else [])]),
                )
            )
        return out

    # ------------------------------------------------------------------ vulns library

    def _vulns(
        self,
        hc: _HostContext,
        script: Element,
        endpoint: Endpoint | None,
        component: Component | None,
        portid: int | None,
    ) -> Iterator[Finding]:
        sid = script.get("id") or "script"
        endpoint = endpoint or Endpoint(host=hc.address)
        tables = [t for t in script.findall("table") if _elem(t, "state")]
        if not tables:
            output = script.get("output") or ""
            # Old nmap versions give only text: "State: VULNERABLE".
            if re.search(r"State:\s*(?:LIKELY\s+)?VULNERABLE", output):
                yield self._vuln_finding(
                    hc,
                    sid,
                    sid,
                    {"state": "VULNERABLE", "title": sid},
                    output,
                    endpoint,
                    component,
                    _CVE.findall(output),
                    [],
                )
            return
        for t in tables:
            state = _elem(t, "state").upper()
            if "NOT VULNERABLE" in state or "VULNERABLE" not in state:
                continue
            key = t.get("key") or _elem(t, "title") or sid
            info = {k: _elem(t, k) for k in ("title", "state", "risk_factor", "disclosure")}
            ids = [e.text or "" for e in t.findall("table[@key='ids']/elem")]
            desc = "\n".join((e.text or "").strip() for e in t.findall("table[@key='description']/elem"))
            refs = [(e.text or "").strip() for e in t.findall("table[@key='refs']/elem")]
            scores = {(e.get("key") or ""): (e.text or "") for e in t.findall("table[@key='scores']/elem")}
            info["cvss"] = first_score(scores)
            cves = [m.upper() for i in [key, *ids] for m in _CVE.findall(i)]
            yield self._vuln_finding(hc, sid, key, info, desc, endpoint, component, cves, refs)

    def _vuln_finding(
        self,
        hc: _HostContext,
        sid: str,
        key: str,
        info: dict[str, str],
        desc: str,
        endpoint: Endpoint,
        component: Component | None,
        cves: list[str],
        refs: list[str],
    ) -> Finding:
        warnings: list[str] = []
        state = info.get("state", "").upper()
        risk = info.get("risk_factor")
        cvss = info.get("cvss") or ""
        if risk and risk.strip().lower() in RISK_FACTOR:
            severity = severity_from_table(risk, RISK_FACTOR)
        elif cvss.replace(".", "", 1).isdigit():
            severity = Severity.from_cvss_score(float(cvss))
        else:
            severity = Severity.MEDIUM
        vector = cvss if cvss.startswith("CVSS:") else None
        return Finding(
            fingerprint=fingerprint(
                self.fingerprint_version, "vulns", hc.address, endpoint.protocol, endpoint.port, sid, key
            ),
            fingerprint_version=self.fingerprint_version,
            format=self.name,
            tool=hc.tool,
            category=FindingCategory.NETWORK,
            rule_id=f"{sid}:{key}" if key != sid else sid,
            title=(info.get("title") or key)[:500],
            description=clip("\n\n".join(x for x in (f"{sid} on {hc.label}: {state}", desc) if x)),
            severity=severity,
            confidence=Confidence.TENTATIVE
            if "LIKELY" in state
            else (Confidence.CERTAIN if "EXPLOITABLE" in state else Confidence.FIRM),
            vulnerability_ids=vuln_refs(unique(cves)),
            cvss_v3=parse_cvss(vector, warnings),
            component=component,
            endpoint=endpoint,
            target=hc.target,
            references=tuple(r for r in unique(refs) if r.startswith(("http://", "https://")))[:50],
            raw_id=key,
            tags=("nse", sid),
            warnings=tuple(warnings),
        )


class _HostContext:
    """A host's address, names and target, read once."""

    def __init__(self, host: Element, ctx: ParseContext, tool: ToolInfo) -> None:
        addrs = {(a.get("addrtype") or ""): (a.get("addr") or "") for a in host.findall("address")}
        names = [(n.get("name") or "", n.get("type") or "") for n in host.findall("hostnames/hostname")]
        user = [n for n, t in names if t == "user" and n]
        self.address = addrs.get("ipv4") or addrs.get("ipv6") or next((n for n, _ in names if n), "")
        self.names = unique(n for n, _ in names)
        self.label = self.address + (f" ({', '.join(self.names)})" if self.names else "")
        self.target = ctx.target or (user[0] if user else self.address) or None
        self.tool = tool


def _elem(t: Element, key: str) -> str:
    for e in t.findall("elem"):
        if e.get("key") == key:
            return (e.text or "").strip()
    return ""


def first_score(scores: dict[str, str]) -> str:
    """The vulns library's scores table: a CVSSv3 vector or score is preferred over CVSSv2."""
    for k in ("CVSSv3", "CVSSv3.1", "CVSS3", "CVSSv2", "CVSS"):
        if scores.get(k):
            return scores[k].strip()
    return ""


def _reason_sure(port: Element) -> bool:
    state = port.find("state")
    return state is not None and state.get("reason") in ("syn-ack", "conn-accepted")


def _vulners_entries(script: Element) -> list[dict[str, Any]]:
    """The vulners script's entries, from its structured tables (nmap >= 7.8) or its text output."""
    out: list[dict[str, Any]] = []
    for t in script.iter("table"):
        elems = {(e.get("key") or ""): (e.text or "").strip() for e in t.findall("elem")}
        if not elems.get("id"):
            continue
        typ = elems.get("type", "")
        try:
            cvss = float(elems.get("cvss") or 0)
        except ValueError:
            cvss = 0.0
        out.append(
            {
                "id": elems["id"],
                "type": typ,
                "cvss": cvss,
                "exploit": elems.get("is_exploit", "").lower() == "true",
                "url": f"https://vulners.com/{typ}/{elems['id']}" if typ else "",
            }
        )
    if out:
        return out
    for line in (script.get("output") or "").splitlines():
        m = _VULNERS_LINE.match(line)
        if m:
            url = m.group("url")
            parts = url.split("/")
            out.append(
                {
                    "id": m.group("id"),
                    "type": parts[3] if len(parts) > 4 else "",
                    "cvss": float(m.group("cvss")),
                    "exploit": bool(m.group("exploit")),
                    "url": url,
                }
            )
    return out


PARSER = NmapParser()
SNIFF_PRIORITY = 70

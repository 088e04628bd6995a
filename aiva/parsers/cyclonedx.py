"""CycloneDX BOM with vulnerabilities (JSON and XML, spec 1.2 to 1.6), including VEX.

Three shapes are read:
- spec 1.4+ (JSON or XML): a top-level `vulnerabilities` list, each naming the
  components it `affects` by bom-ref;
- spec 1.2/1.3 XML with the vulnerability extension 1.0 (`v:vulnerabilities` inside a
  `<component>`, as grype 0.1x wrote it);
- a plain SBOM without vulnerabilities, which yields no finding.

One finding per vulnerability x affected component (each `affects` target). A target
whose bom-ref is not in the BOM (a VEX document describing another BOM) still
yields a finding, with the component read from the ref (a purl) when possible. If
the same vulnerability affects the same component twice, the first is kept.

VEX (`analysis.state`): not_affected, false_positive, resolved and
resolved_with_pedigree findings ARE emitted and counted, but marked `suppressed`
and tagged "vex:<state>" (plus "vex-justification:<...>" and "vex-response:<...>");
the analysis detail goes into the description. exploitable and in_triage stay
open and are tagged too. A target whose every listed version has status
`unaffected` is treated the same way (suppressed, tagged "vex:unaffected").
Keeping them lets a later scan see the decision and keeps the fingerprint stable
when the state changes.

Severity table (CycloneDX's severity enum): critical -> critical, high -> high,
medium -> medium, low -> low, info / none -> info; unknown is ignored.
The rating used: the one whose source is the vulnerability's own source, else the
first rating with a severity, else the CVSS v3/v4 score of a rating, else info.
CVSS: ratings with method CVSSv3 / CVSSv31 / CVSSv4 (prefix added when missing),
preferring the vulnerability's own source, then NVD, then any.
Fingerprint "cyclonedx/1": vulnerability id and the affected component's identity
(its purl, else name@version, else the bom-ref).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar
from xml.etree.ElementTree import Element

from packageurl import PackageURL

from aiva.enums import Confidence, FindingCategory, Severity
from aiva.errors import ReportParseError
from aiva.fingerprint import fingerprint
from aiva.parsers._xmlutil import clip, own_text, strip_namespaces, text
from aiva.parsers.base import (
    ParseContext,
    ReportSource,
    cwe_refs,
    parse_cvss,
    vuln_refs,
)
from aiva.schemas import Component, CvssScore, Finding, ToolInfo

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
VEX_SUPPRESSED = frozenset({"not_affected", "false_positive", "resolved", "resolved_with_pedigree"})
_CVSS_PREFIX = {"cvssv3": "CVSS:3.0/", "cvssv31": "CVSS:3.1/", "cvssv4": "CVSS:4.0/"}
_OS_PURL_TYPES = frozenset({"deb", "rpm", "apk", "alpm", "ebuild"})
_WELL_KNOWN_ID = re.compile(r"^(?:CVE-\d{4}-\d{4,}|GHSA(?:-[0-9a-z]{4}){3})$", re.IGNORECASE)


@dataclass
class _Rating:
    source: str = ""
    score: float | None = None
    severity: str = ""
    method: str = ""
    vector: str = ""


@dataclass
class _Vuln:
    """One vulnerability, read from JSON or XML into the same shape."""

    id: str
    source: str = ""
    source_url: str = ""
    ratings: list[_Rating] = field(default_factory=list)
    cwes: list[Any] = field(default_factory=list)
    aliases: list[str] = field(default_factory=list)
    description: str = ""
    detail: str = ""
    recommendation: str = ""
    advisories: list[str] = field(default_factory=list)
    state: str = ""
    justification: str = ""
    responses: list[str] = field(default_factory=list)
    analysis_detail: str = ""
    # (bom-ref, version statuses) per affected target
    affects: list[tuple[str, list[str]]] = field(default_factory=list)
    tool: ToolInfo | None = None  # the vulnerability's own `tools`, used when the BOM names none


@dataclass
class _Bom:
    tool: ToolInfo
    target: str | None
    container: bool
    components: dict[str, Component]


class CycloneDXParser:
    """CycloneDX BOM / VEX (JSON or XML)."""

    name: ClassVar[str] = "cyclonedx"
    tool_name: ClassVar[str | None] = None  # named by the BOM's tool
    fingerprint_version: ClassVar[str] = "cyclonedx/1"

    def sniff(self, source: ReportSource) -> bool:
        """JSON with bomFormat CycloneDX, or an XML <bom> in a cyclonedx.org namespace."""
        head = source.text_head()
        if head.startswith("{"):
            return '"bomFormat"' in head and "CycloneDX" in head
        return head.startswith("<") and "<bom" in head and "cyclonedx.org/schema/bom" in head

    def parse(self, source: ReportSource, ctx: ParseContext) -> Iterator[Finding]:
        """Yield one finding per vulnerability x affected component."""
        if source.text_head().startswith("<"):
            bom, vulns = self._read_xml(source, ctx)
        else:
            bom, vulns = self._read_json(source, ctx)
        seen: set[str] = set()
        for vuln, comp_ref, component in vulns:
            f = self._finding(vuln, comp_ref, component, bom)
            if f.fingerprint not in seen:
                seen.add(f.fingerprint)
                yield f

    # ---- JSON -------------------------------------------------------------------------------

    def _read_json(
        self, source: ReportSource, ctx: ParseContext
    ) -> tuple[_Bom, list[tuple[_Vuln, str, Component | None]]]:
        doc = source.load_json(self.name)
        if not isinstance(doc, dict) or doc.get("bomFormat") != "CycloneDX":
            raise ReportParseError(source.path, self.name, "not a CycloneDX BOM: no bomFormat 'CycloneDX'")
        meta = _d(doc.get("metadata"))
        components: dict[str, Component] = {}
        main = _d(meta.get("component"))
        for c in _walk_json_components([main, *_l(doc.get("components"))]):
            ref = c.get("bom-ref")
            if isinstance(ref, str) and ref:
                components.setdefault(ref, _json_component(c))
        bom = _Bom(
            tool=_json_tool(meta.get("tools")),
            target=ctx.target or _s(main.get("name")) or None,
            container=_s(main.get("type")) == "container",
            components=components,
        )
        out: list[tuple[_Vuln, str, Component | None]] = []
        for i, raw in enumerate(_l(doc.get("vulnerabilities"))):
            if not isinstance(raw, dict):
                raise ReportParseError(source.path, self.name, "a vulnerability is not an object",
                                       f"vulnerabilities[{i}]")
            v = _json_vuln(raw)
            if not v.affects:
                out.append((v, "", None))
            for ref, _ in v.affects:
                out.append((v, ref, components.get(ref)))
        return bom, out

    # ---- XML --------------------------------------------------------------------------------

    def _read_xml(
        self, source: ReportSource, ctx: ParseContext
    ) -> tuple[_Bom, list[tuple[_Vuln, str, Component | None]]]:
        root = strip_namespaces(source.load_xml(self.name))
        if root.tag != "bom":
            raise ReportParseError(source.path, self.name, f"root element is <{root.tag}>, expected <bom>")
        meta = root.find("metadata")
        main = meta.find("component") if meta is not None else None
        tool_el = None
        if meta is not None:
            tool_el = meta.find("tools/tool")
            if tool_el is None:
                tool_el = meta.find("tools/components/component")
        tool = ToolInfo(name=text(tool_el, "name") or "cyclonedx", version=text(tool_el, "version") or None)
        components: dict[str, Component] = {}
        out: list[tuple[_Vuln, str, Component | None]] = []
        roots = [e for e in (main, root.find("components")) if e is not None]
        for holder in roots:
            for c in holder.iter("component"):  # itself first when it is a component, then nested ones
                comp = _xml_component(c)
                ref = c.get("bom-ref") or ""
                if ref:
                    components.setdefault(ref, comp)
                ext = c.find("vulnerabilities")  # vulnerability extension 1.0, inside the component
                if ext is not None:
                    for ve in ext.findall("vulnerability"):
                        out.append((_xml_vuln(ve), ref, comp))
        bom = _Bom(
            tool=tool,
            target=ctx.target or text(main, "name") or None,
            container=main is not None and main.get("type") == "container",
            components=components,
        )
        top = root.find("vulnerabilities")
        for ve in top.findall("vulnerability") if top is not None else []:
            v = _xml_vuln(ve)
            if not v.affects:
                out.append((v, "", None))
            for ref, _ in v.affects:
                out.append((v, ref, components.get(ref)))
        return bom, out

    # ---- the finding ------------------------------------------------------------------------

    def _finding(self, v: _Vuln, ref: str, component: Component | None, bom: _Bom) -> Finding:
        warnings: list[str] = []
        if component is None and ref:
            component = _component_from_ref(ref)
        identity = (component.purl or f"{component.name}@{component.version or ''}") if component else ref
        statuses = next((s for r, s in v.affects if r == ref), [])
        state = v.state.lower()
        unaffected = bool(statuses) and all(s.lower() == "unaffected" for s in statuses)
        suppressed = state in VEX_SUPPRESSED or unaffected
        tags: list[str] = []
        if state:
            tags.append(f"vex:{state}")
        elif unaffected:
            tags.append("vex:unaffected")
        if v.justification:
            tags.append(f"vex-justification:{v.justification}")
        tags += [f"vex-response:{r}" for r in v.responses]
        cvss_v3, cvss_v4 = _cvss(v, warnings)
        severity = _severity(v, cvss_v3 or cvss_v4)
        parts = [v.description, v.detail if v.detail != v.description else ""]
        if state:
            parts.append(f"VEX analysis: {state}" + (f" ({v.justification})" if v.justification else "")
                         + (f": {v.analysis_detail}" if v.analysis_detail else ""))
        if component is not None:
            who = f"{component.name}@{component.version}" if component.version else component.name
        else:
            who = ref or "unknown component"
        os_pkg = bool(component and component.ecosystem in _OS_PURL_TYPES)
        shown_id = v.id
        if not _WELL_KNOWN_ID.match(v.id):
            known = next((a for a in v.aliases if _WELL_KNOWN_ID.match(a)), None)
            shown_id = f"{known} ({v.id})" if known and v.id else (known or v.id)
        tool = v.tool if v.tool is not None and bom.tool.name == "cyclonedx" else bom.tool
        return Finding(
            fingerprint=fingerprint(self.fingerprint_version, v.id, identity),
            fingerprint_version=self.fingerprint_version,
            format=self.name,
            tool=tool,
            category=FindingCategory.CONTAINER if bom.container and os_pkg else FindingCategory.SCA,
            rule_id=v.id or None,
            title=clip(f"{shown_id or 'Vulnerability'} in {who}", 500),
            description=clip("\n\n".join(p for p in parts if p)),
            severity=severity,
            confidence=Confidence.FIRM,
            cwes=cwe_refs(v.cwes, warnings),
            vulnerability_ids=vuln_refs([v.id, *v.aliases]),
            cvss_v3=cvss_v3,
            cvss_v4=cvss_v4,
            component=component,
            target=bom.target,
            references=tuple(dict.fromkeys(u for u in (v.source_url, *v.advisories) if u))[:50],
            remediation=clip(v.recommendation) or None,
            raw_id=v.id or None,
            suppressed=suppressed,
            tags=tuple(tags),
            warnings=tuple(warnings),
        )


# ---- JSON readers ---------------------------------------------------------------------------


def _d(x: Any) -> dict[str, Any]:
    return x if isinstance(x, dict) else {}


def _l(x: Any) -> list[Any]:
    return x if isinstance(x, list) else []


def _s(x: Any) -> str:
    return x.strip() if isinstance(x, str) else (str(x) if isinstance(x, (int, float)) else "")


def _walk_json_components(items: list[Any]) -> Iterator[dict[str, Any]]:
    stack = list(reversed(items))
    while stack:
        c = stack.pop()
        if isinstance(c, dict):
            yield c
            stack.extend(reversed(_l(c.get("components"))))


def _json_component(c: dict[str, Any]) -> Component:
    return _make_component(_s(c.get("purl")), _s(c.get("group")), _s(c.get("name")), _s(c.get("version")))


def _json_tool(tools: Any) -> ToolInfo:
    if isinstance(tools, dict):  # spec 1.5+: {"components": [...], "services": [...]}
        tools = [*_l(tools.get("components")), *_l(tools.get("services"))]
    for t in _l(tools):
        if isinstance(t, dict) and _s(t.get("name")):
            return ToolInfo(name=_s(t.get("name")), version=_s(t.get("version")) or None)
    return ToolInfo(name="cyclonedx")


def _json_vuln(raw: dict[str, Any]) -> _Vuln:
    src = _d(raw.get("source"))
    analysis = _d(raw.get("analysis"))
    v = _Vuln(
        id=_s(raw.get("id")),
        source=_s(src.get("name")),
        source_url=_s(src.get("url")),
        cwes=[c for c in _l(raw.get("cwes")) if isinstance(c, (int, str))],
        aliases=[_s(_d(r).get("id")) for r in _l(raw.get("references"))],
        description=_s(raw.get("description")),
        detail=_s(raw.get("detail")),
        recommendation=_s(raw.get("recommendation")),
        advisories=[_s(_d(a).get("url")) for a in _l(raw.get("advisories"))],
        state=_s(analysis.get("state")),
        justification=_s(analysis.get("justification")),
        responses=[_s(r) for r in _l(analysis.get("response")) if _s(r)],
        analysis_detail=_s(analysis.get("detail")),
    )
    if raw.get("tools"):
        tool = _json_tool(raw.get("tools"))
        v.tool = tool if tool.name != "cyclonedx" else None
    for r in _l(raw.get("ratings")):
        r = _d(r)
        score = r.get("score")
        v.ratings.append(_Rating(
            source=_s(_d(r.get("source")).get("name")),
            score=float(score) if isinstance(score, (int, float)) else None,
            severity=_s(r.get("severity")),
            method=_s(r.get("method")),
            vector=_s(r.get("vector")),
        ))
    for a in _l(raw.get("affects")):
        a = _d(a)
        raw_ref = a.get("ref")
        ref = raw_ref.strip() if isinstance(raw_ref, str) else ""
        if ref:
            statuses = [_s(_d(x).get("status")) for x in _l(a.get("versions"))]
            v.affects.append((ref, [s for s in statuses if s]))
    return v


# ---- XML readers ----------------------------------------------------------------------------


def _xml_component(c: Element) -> Component:
    return _make_component(text(c, "purl"), text(c, "group"), text(c, "name"), text(c, "version"))


def _xml_vuln(ve: Element) -> _Vuln:
    src = ve.find("source")
    v = _Vuln(
        id=text(ve, "id"),
        source=(src.get("name") or text(src, "name")) if src is not None else "",
        source_url=text(src, "url"),
        cwes=[own_text(c) for c in ve.iter("cwe") if own_text(c)],
        aliases=[text(r, "id") for r in ve.findall("references/reference")],
        description=text(ve, "description"),
        detail=text(ve, "detail"),
        recommendation=text(ve, "recommendation"),
        # extension 1.0: <advisory>url</advisory>; spec 1.4+: <advisory><url>...</url></advisory>
        advisories=[text(a, "url") or own_text(a) for a in ve.findall("advisories/advisory")],
        state=text(ve, "analysis/state"),
        justification=text(ve, "analysis/justification"),
        responses=[own_text(r) for r in ve.findall("analysis/responses/response") if own_text(r)],
        analysis_detail=text(ve, "analysis/detail"),
    )
    for r in ve.findall("ratings/rating"):
        score_text = text(r, "score/base") or text(r, "score")  # extension 1.0 nests <base>
        try:
            score = float(score_text) if score_text else None
        except ValueError:
            score = None
        rsrc = r.find("source")
        v.ratings.append(_Rating(
            source=(rsrc.get("name") or text(rsrc, "name")) if rsrc is not None else "",
            score=score,
            severity=text(r, "severity"),
            method=text(r, "method"),
            vector=text(r, "vector"),
        ))
    for t in ve.findall("affects/target"):
        ref = text(t, "ref")
        if ref:
            statuses = [text(x, "status") for x in t.findall("versions/version")]
            v.affects.append((ref, [s for s in statuses if s]))
    return v


# ---- shared -------------------------------------------------------------------------------


def _make_component(purl: str, group: str, name: str, version: str) -> Component:
    ecosystem = None
    if purl:
        try:
            ecosystem = PackageURL.from_string(purl).type
        except ValueError:
            purl = ""
    full = f"{group}:{name}" if group and ecosystem == "maven" else (f"{group}/{name}" if group else name)
    return Component(purl=purl or None, name=full or purl or "unknown", version=version or None,
                     ecosystem=ecosystem)


def _component_from_ref(ref: str) -> Component:
    """A component for a ref that is not in this BOM: a purl when it is one, else the ref itself."""
    bare = ref.split("#", 1)[1] if ref.startswith("urn:cdx:") and "#" in ref else ref
    if bare.startswith("pkg:"):
        try:
            p = PackageURL.from_string(bare)
            name = f"{p.namespace}/{p.name}" if p.namespace else p.name
            return Component(purl=bare, name=name, version=p.version, ecosystem=p.type)
        except ValueError:
            pass
    return Component(name=bare or "unknown")


def _severity(v: _Vuln, score: CvssScore | None) -> Severity:
    own = [r for r in v.ratings if v.source and r.source.lower() == v.source.lower()]
    for r in [*own, *v.ratings]:
        word = r.severity.lower()
        if word in SEVERITY:
            return SEVERITY[word]
    if score is not None:
        return Severity.from_cvss_score(score.base_score)
    for r in v.ratings:
        if r.score is not None and r.method.lower() in _CVSS_PREFIX:
            return Severity.from_cvss_score(r.score)
    return Severity.INFO


def _cvss(v: _Vuln, warnings: list[str]) -> tuple[CvssScore | None, CvssScore | None]:
    def rank(r: _Rating) -> int:
        if v.source and r.source.lower() == v.source.lower():
            return 0
        return 1 if r.source.lower() == "nvd" else 2

    v3: CvssScore | None = None
    v4: CvssScore | None = None
    for r in sorted(v.ratings, key=rank):
        method = r.method.lower()
        if method not in _CVSS_PREFIX or not r.vector:
            continue
        vector = r.vector if r.vector.startswith("CVSS:") else _CVSS_PREFIX[method] + r.vector
        if method == "cvssv4" and v4 is None:
            v4 = parse_cvss(vector, warnings)
        elif method != "cvssv4" and v3 is None:
            v3 = parse_cvss(vector, warnings)
    return v3, v4


PARSER = CycloneDXParser()
SNIFF_PRIORITY = 70

"""OWASP Dependency-Check XML report (`--format XML`; schema versions 1.x to 4.x).

One finding per vulnerability x dependency: every `<vulnerability>` and every
`<suppressedVulnerability>` under a `<dependency>`. Suppressed entries (a suppression
file matched them) are kept, marked `suppressed` and tagged "suppressed", so a
suppression can be audited and a later un-suppression keeps the same fingerprint.
`<relatedDependencies>` (the same jar found at other paths, which Dependency-Check
folds into one dependency) are listed in the description, not counted separately.
If one dependency lists the same vulnerability name twice (e.g. from NVD and OSS
Index), the first is kept.

Severity table (the `<severity>` word; when absent, cvssV3 baseSeverity, then
cvssV2 severity, then the CVSS v3 base score):
    CRITICAL -> critical, HIGH -> high, MEDIUM / MODERATE -> medium, LOW -> low,
    INFO / INFORMATIONAL / NONE / UNKNOWN -> info.
CVSS v3: the vector is rebuilt from the `<cvssV3>` metrics (NETWORK -> AV:N, ...)
and scored by the `cvss` library; a `CVSS:4.0/` vector in `<cvssV4>` is read as is.
Confidence: NVD (CPE-matched) entries take the best CPE identifier confidence
(HIGHEST/HIGH -> firm, MEDIUM/LOW -> tentative); package-matched sources (OSS Index,
npm, RetireJS) are firm.
Fingerprint "dependency_check/1": dependency file path, dependency file name, and the
vulnerability name (CVE or advisory id).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import ClassVar
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
    make_purl,
    parse_cvss,
    severity_from_table,
    vuln_refs,
)
from aiva.schemas import Component, Finding, Location, ToolInfo

SEVERITY = {
    "critical": Severity.CRITICAL,
    "high": Severity.HIGH,
    "medium": Severity.MEDIUM,
    "moderate": Severity.MEDIUM,
    "low": Severity.LOW,
    "info": Severity.INFO,
    "informational": Severity.INFO,
    "none": Severity.INFO,
    "unknown": Severity.INFO,
}
_V3_METRICS = (
    ("attackVector", "AV"), ("attackComplexity", "AC"), ("privilegesRequired", "PR"),
    ("userInteraction", "UI"), ("scope", "S"), ("confidentialityImpact", "C"),
    ("integrityImpact", "I"), ("availabilityImpact", "A"),
)
_V3_WORDS = {
    "NETWORK": "N", "ADJACENT_NETWORK": "A", "ADJACENT": "A", "LOCAL": "L", "PHYSICAL": "P",
    "LOW": "L", "HIGH": "H", "NONE": "N", "REQUIRED": "R", "UNCHANGED": "U", "CHANGED": "C",
}
_CONFIDENCE = {"HIGHEST": Confidence.FIRM, "HIGH": Confidence.FIRM, "MEDIUM": Confidence.TENTATIVE,
               "LOW": Confidence.TENTATIVE}
_CWE = re.compile(r"(?<![A-Za-z-])CWE-(\d{1,5})", re.IGNORECASE)
_ADVISORY_ID = re.compile(r"^(?=.*[A-Za-z])[A-Za-z0-9][A-Za-z0-9._:-]{0,100}$")
_MAX_RELATED = 20
_WRAP = re.compile(r"[ \t]*\n[ \t]*(?=\S)")


class DependencyCheckParser:
    """OWASP Dependency-Check's XML report."""

    name: ClassVar[str] = "dependency_check"
    tool_name: ClassVar[str | None] = "dependency-check"
    fingerprint_version: ClassVar[str] = "dependency_check/1"

    def sniff(self, source: ReportSource) -> bool:
        """An `<analysis>` root in Dependency-Check's namespace (or with its projectInfo/dependencies)."""
        head = source.text_head()
        if not head.startswith("<") or "<analysis" not in head:
            return False
        low = head.lower()
        return "dependencycheck" in low or "dependency-check" in low or (
            "<projectInfo" in head and "<dependencies" in head)

    def parse(self, source: ReportSource, ctx: ParseContext) -> Iterator[Finding]:
        """Yield one finding per (suppressed) vulnerability of every dependency."""
        root = strip_namespaces(source.load_xml(self.name))
        if root.tag != "analysis":
            raise ReportParseError(source.path, self.name, f"root is <{root.tag}>, expected <analysis>")
        engine = text(root, "scanInfo/engineVersion") or None
        tool = ToolInfo(name="dependency-check", version=engine)
        target = ctx.target or text(root, "projectInfo/name") or None
        seen: set[str] = set()
        deps = root.find("dependencies")
        for i, dep in enumerate(deps.findall("dependency") if deps is not None else []):
            vulns = dep.find("vulnerabilities")
            if vulns is None:
                continue
            for v in vulns:
                if v.tag not in ("vulnerability", "suppressedVulnerability"):
                    continue
                finding = self._finding(dep, v, tool, target, f"dependencies/dependency[{i}]")
                if finding.fingerprint not in seen:
                    seen.add(finding.fingerprint)
                    yield finding

    def _finding(self, dep: Element, v: Element, tool: ToolInfo, target: str | None, where: str) -> Finding:
        warnings: list[str] = []
        file_name = text(dep, "fileName")
        file_path = text(dep, "filePath")
        vname = text(v, "name")
        if not vname:
            warnings.append(f"{where}: a vulnerability without a name")
        suppressed = v.tag == "suppressedVulnerability"
        component = _component(dep, file_name, file_path, warnings)
        vector3 = _cvss3_vector(v.find("cvssV3"))
        cvss_v3 = parse_cvss(vector3, warnings)
        cvss_v4 = parse_cvss(_cvss4_vector(v.find("cvssV4")), warnings)
        severity = _severity(v, cvss_v3.base_score if cvss_v3 else None)
        cwe_texts = [own_text(c) for c in v.iter("cwe")]
        cwes = cwe_refs([m.group(1) for t in cwe_texts for m in _CWE.finditer(t)], warnings)
        source_name = v.get("source") or ""
        references = tuple(
            dict.fromkeys(u for u in (text(r, "url") for r in v.iter("reference")) if u)
        )[:50]
        related = [text(r, "filePath") or text(r, "fileName") for r in dep.iter("relatedDependency")]
        description = _unwrap(text(v, "description"))
        notes = _unwrap(text(v, "notes"))
        parts = [description]
        if notes:
            parts.append(f"Suppression notes: {notes}")
        if related:
            shown = [r for r in related if r][:_MAX_RELATED]
            more = f" (+{len(related) - len(shown)} more)" if len(related) > len(shown) else ""
            parts.append("Also found at: " + ", ".join(shown) + more)
        who = f"{component.name}@{component.version}" if component.version else (file_name or component.name)
        tags = ["suppressed"] if suppressed else []
        if source_name:
            tags.append(f"source:{source_name}")
        return Finding(
            fingerprint=fingerprint(self.fingerprint_version, file_path, file_name, vname),
            fingerprint_version=self.fingerprint_version,
            format=self.name,
            tool=tool,
            category=FindingCategory.SCA,
            rule_id=vname or None,
            title=clip(f"{vname or 'Vulnerability'} in {who}", 500),
            description=clip("\n\n".join(p for p in parts if p)),
            severity=severity,
            confidence=_confidence(dep, source_name),
            cwes=cwes,
            vulnerability_ids=vuln_refs([vname] if _ADVISORY_ID.match(vname) and not vname.upper().startswith(
                "CWE-") else []),
            cvss_v3=cvss_v3,
            cvss_v4=cvss_v4,
            component=component,
            location=Location(file_path=file_path or file_name or None),
            target=target,
            references=references,
            raw_id=vname or None,
            suppressed=suppressed,
            tags=tuple(tags),
            warnings=tuple(warnings),
        )


def _unwrap(value: str) -> str:
    """Undo the report's hard wrapping (newline + indentation inside one paragraph)."""
    return _WRAP.sub(" ", value)


def _component(dep: Element, file_name: str, file_path: str, warnings: list[str]) -> Component:
    """The dependency as a component: its package URL when Dependency-Check found one."""
    purl: str | None = None
    own = dep.findall("identifiers")  # not relatedDependencies' packages
    for pkg in (p for ids in own for p in ids.iter("package")):
        pid = text(pkg, "id")
        if pid.startswith("pkg:"):
            purl = pid
            break
    if purl is None:
        for ident in (i for ids in own for i in ids.iter("identifier")):
            if (ident.get("type") or "").lower() == "maven":
                gav = text(ident, "name").split(":")
                if len(gav) >= 3:
                    purl = make_purl("maven", f"{gav[0]}:{gav[1]}", gav[2], warnings)
                    break
    if purl:
        try:
            p = PackageURL.from_string(purl)
            name = f"{p.namespace}:{p.name}" if p.type == "maven" and p.namespace else (
                f"{p.namespace}/{p.name}" if p.namespace else p.name)
            return Component(purl=purl, name=name, version=p.version, ecosystem=p.type,
                             path=file_path or None)
        except ValueError as e:
            warnings.append(f"unreadable package URL {purl[:120]!r}: {e}")
    return Component(name=file_name or file_path or "unknown", path=file_path or None)


def _cvss3_vector(el: Element | None) -> str | None:
    """A CVSS v3 vector from Dependency-Check's metric elements (full words or letters)."""
    if el is None:
        return None
    for child in el:
        t = own_text(child)
        if t.startswith("CVSS:3"):
            return t
    parts = []
    for tag, key in _V3_METRICS:
        word = text(el, tag).upper()
        if not word:
            return None
        parts.append(f"{key}:{_V3_WORDS.get(word, word[:1])}")
    version = text(el, "version") or "3.1"
    return f"CVSS:{'3.0' if version.startswith('3.0') else '3.1'}/" + "/".join(parts)


def _cvss4_vector(el: Element | None) -> str | None:
    if el is None:
        return None
    for child in el.iter():
        t = own_text(child)
        if t.startswith("CVSS:4.0/"):
            return t
    return None


def _severity(v: Element, v3_score: float | None) -> Severity:
    for word in (text(v, "severity"), text(v, "cvssV3/baseSeverity"), text(v, "cvssV2/severity")):
        if word and word.lower() in SEVERITY and word.lower() != "unknown":
            return severity_from_table(word, SEVERITY)
    if v3_score is not None:
        return Severity.from_cvss_score(v3_score)
    return Severity.INFO


def _confidence(dep: Element, source_name: str) -> Confidence:
    if source_name.upper() != "NVD":
        return Confidence.FIRM
    best = Confidence.UNKNOWN
    for ids in dep.findall("identifiers"):
        cpes = [*ids.iter("vulnerabilityIds"),
                *(i for i in ids.iter("identifier") if (i.get("type") or "").lower() == "cpe")]
        for el in cpes:
            c = _CONFIDENCE.get((el.get("confidence") or "").upper())
            if c is Confidence.FIRM:
                return c
            if c is not None:
                best = c
    return best


PARSER = DependencyCheckParser()
SNIFF_PRIORITY = 70

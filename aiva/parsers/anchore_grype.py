"""Anchore Grype JSON (`grype <target> -o json`), old (`cvssV3`/`fixedInVersion`) and current schemas.

One finding per match: vulnerability x package (type, name, version) x the package's
first location. A match that the report repeats identically (same fingerprint) is
kept once, the first time. `ignoredMatches` (suppressed by an ignore rule or VEX)
are kept and marked `suppressed`.

Severity table (Grype's words, case-insensitive): Critical->critical, High->high,
Medium->medium, Low->low, Negligible->info, Unknown->info. A match without a
severity takes its related (NVD/GHSA) record's word, then its CVSS v3 base score.
CVSS: the first v3 (and v4) vector of the match's own record, then of related records.
Category: container for distro packages (deb, rpm, apk, alpm, portage), SCA otherwise.
Fingerprint "anchore_grype/1": vulnerability id, artifact type, name, version and the
artifact's first location path (a second copy of a jar elsewhere is a second finding).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

import ijson

from aiva.enums import Confidence, FindingCategory, Severity
from aiva.errors import ReportParseError
from aiva.fingerprint import fingerprint
from aiva.parsers._sca import as_dict, as_list, as_str, nearest_fix, str_list
from aiva.parsers.base import (
    ParseContext,
    ReportSource,
    first,
    make_purl,
    parse_cvss,
    severity_from_table,
    vuln_refs,
)
from aiva.schemas import Component, CvssScore, Finding, Location, ToolInfo

SEVERITY = {
    "critical": Severity.CRITICAL,
    "high": Severity.HIGH,
    "medium": Severity.MEDIUM,
    "low": Severity.LOW,
    "negligible": Severity.INFO,
    "unknown": Severity.INFO,
}
STREAM_ABOVE_BYTES = 64 * 1024 * 1024
# Grype artifact types -> ecosystem words make_purl knows (only used when the artifact has no purl).
_ECOSYSTEM = {
    "java-archive": "maven",
    "jenkins-plugin": "maven",
    "go-module": "golang",
    "rust-crate": "cargo",
    "php-composer": "composer",
    "dotnet": "nuget",
    "python": "pypi",
    "gem": "gem",
    "npm": "npm",
    "deb": "deb",
    "rpm": "rpm",
    "apk": "apk",
    "hex": "hex",
    "dart-pub": "pub",
    "pod": "cocoapods",
    "conan": "conan",
    "swift": "swift",
}
_OS_TYPES = frozenset({"deb", "rpm", "apk", "alpm", "portage", "nix"})


class AnchoreGrypeParser:
    """Grype's JSON output."""

    name: ClassVar[str] = "anchore_grype"
    tool_name: ClassVar[str | None] = "grype"
    fingerprint_version: ClassVar[str] = "anchore_grype/1"

    def sniff(self, source: ReportSource) -> bool:
        """A JSON object with `matches` of `vulnerability` + `artifact` (or a grype descriptor)."""
        head = source.text_head()
        if not head.startswith("{") or '"matches"' not in head:
            return False
        return (
            ('"artifact"' in head and '"vulnerability"' in head)
            or '"name": "grype"' in head
            or ('"name":"grype"' in head)
        )

    def coverage(self, source: ReportSource) -> tuple[str | None, str | None]:
        """(target, tool) the report covers: source.target and the descriptor (from at most 64 MiB)."""
        if source.size > STREAM_ABOVE_BYTES:
            return None, self.tool_name
        doc = source.load_json(self.name)
        if not isinstance(doc, dict):
            return None, self.tool_name
        return _target(doc.get("source")), _tool(doc.get("descriptor")).name

    def parse(self, source: ReportSource, ctx: ParseContext) -> Iterator[Finding]:
        """Yield one finding per distinct match (and per ignored match, suppressed)."""
        if source.size > STREAM_ABOVE_BYTES:
            yield from self._parse_streaming(source, ctx)
            return
        doc = source.load_json(self.name)
        if not isinstance(doc, dict) or not isinstance(doc.get("matches", []), list):
            raise ReportParseError(
                source.path, self.name, "expected a Grype report: an object with a 'matches' list"
            )
        tool = _tool(doc.get("descriptor"))
        target = ctx.target or _target(doc.get("source"))
        seen: set[str] = set()
        for key, suppressed in (("matches", False), ("ignoredMatches", True)):
            for i, match in enumerate(as_list(doc.get(key))):
                f = self._checked(source, match, f"{key}[{i}]", tool, target, suppressed)
                if f.fingerprint not in seen:
                    seen.add(f.fingerprint)
                    yield f

    def _parse_streaming(self, source: ReportSource, ctx: ParseContext) -> Iterator[Finding]:
        try:
            with source.open() as f:
                descriptor = next(iter(ijson.items(f, "descriptor")), None)
            with source.open() as f:
                src = next(iter(ijson.items(f, "source")), None)
            tool = _tool(descriptor)
            target = ctx.target or _target(src)
            seen: set[str] = set()
            for key, suppressed in (("matches", False), ("ignoredMatches", True)):
                with source.open() as f:
                    for i, match in enumerate(ijson.items(f, f"{key}.item", use_float=True)):
                        finding = self._checked(source, match, f"{key}[{i}]", tool, target, suppressed)
                        if finding.fingerprint not in seen:
                            seen.add(finding.fingerprint)
                            yield finding
        except ijson.JSONError as e:
            raise ReportParseError(source.path, self.name, f"invalid JSON: {e}") from e

    def _checked(
        self,
        source: ReportSource,
        match: Any,
        where: str,
        tool: ToolInfo,
        target: str | None,
        suppressed: bool,
    ) -> Finding:
        if not isinstance(match, dict) or not isinstance(match.get("vulnerability"), dict):
            raise ReportParseError(
                source.path, self.name, "a match is not an object with a vulnerability", where
            )
        return self._finding(match, tool, target, suppressed)

    def _finding(
        self, match: dict[str, Any], tool: ToolInfo, target: str | None, suppressed: bool
    ) -> Finding:
        warnings: list[str] = []
        vuln = as_dict(match.get("vulnerability"))
        related = [as_dict(r) for r in as_list(match.get("relatedVulnerabilities"))]
        art = as_dict(match.get("artifact"))
        vid = as_str(vuln.get("id"))
        name = as_str(art.get("name"))
        version = as_str(art.get("version")) or None
        atype = as_str(art.get("type")).lower()
        locations = [as_dict(loc) for loc in as_list(art.get("locations"))]
        path = as_str(locations[0].get("path")) if locations else ""
        purl = as_str(art.get("purl")) or make_purl(_ECOSYSTEM.get(atype, atype), name, version, warnings)

        fix = as_dict(vuln.get("fix"))
        fix_state = as_str(fix.get("state")).lower()
        fix_versions = str_list(fix.get("versions")) or str_list(vuln.get("fixedInVersion"))
        fixed = nearest_fix(version, fix_versions) if fix_state not in ("wont-fix", "not-fixed") else None

        cvss_v3, cvss_v4 = _cvss([vuln, *related], warnings)
        severity = _severity(vuln, related, cvss_v3)
        description = as_str(first(vuln.get("description"), *(r.get("description") for r in related)))
        refs = [as_str(vuln.get("dataSource"))]
        refs += str_list(vuln.get("urls")) + str_list(vuln.get("links"))
        for r in related:
            refs += [as_str(r.get("dataSource")), *str_list(r.get("urls"))]
        tags = [f"fix:{fix_state}"] if fix_state else []
        return Finding(
            fingerprint=fingerprint(self.fingerprint_version, vid, atype, name, version, path),
            fingerprint_version=self.fingerprint_version,
            format=self.name,
            tool=tool,
            category=FindingCategory.CONTAINER if atype in _OS_TYPES else FindingCategory.SCA,
            rule_id=vid or None,
            title=f"{vid or 'Vulnerability'} in {name or 'unknown package'} {version or ''}".strip(),
            description=description,
            severity=severity,
            confidence=_confidence(match.get("matchDetails")),
            vulnerability_ids=vuln_refs([vid, *(as_str(r.get("id")) for r in related)]),
            cvss_v3=cvss_v3,
            cvss_v4=cvss_v4,
            component=Component(
                purl=purl,
                name=name or "unknown",
                version=version,
                ecosystem=atype or None,
                fixed_version=fixed,
                path=path or None,
            ),
            location=Location(file_path=path) if path else None,
            target=target,
            references=tuple(dict.fromkeys(r for r in refs if r))[:50],
            remediation=_remediation(name, fixed, fix_state),
            raw_id=vid or None,
            suppressed=suppressed,
            tags=tuple(tags),
            warnings=tuple(warnings),
        )


def _tool(descriptor: Any) -> ToolInfo:
    d = as_dict(descriptor)
    return ToolInfo(name=as_str(d.get("name")) or "grype", version=as_str(d.get("version")) or None)


def _target(src: Any) -> str | None:
    s = as_dict(src)
    t = s.get("target")
    if isinstance(t, dict):
        return as_str(first(t.get("userInput"), t.get("imageID"))) or None
    text = as_str(t).strip('"')
    return text or None


def _cvss(records: list[dict[str, Any]], warnings: list[str]) -> tuple[CvssScore | None, CvssScore | None]:
    v3: str | None = None
    v4: str | None = None
    for rec in records:
        entries = [as_dict(c) for c in as_list(rec.get("cvss"))]
        legacy = as_dict(rec.get("cvssV3"))
        if legacy:
            entries.append({"version": "3", "vector": legacy.get("vector")})
        for c in entries:
            vector = as_str(c.get("vector"))
            if not vector:
                continue
            if v4 is None and vector.startswith("CVSS:4.0/"):
                v4 = vector
            elif v3 is None and (vector.startswith("CVSS:3") or as_str(c.get("version")).startswith("3")):
                v3 = vector
    return parse_cvss(v3, warnings), parse_cvss(v4, warnings)


def _severity(vuln: dict[str, Any], related: list[dict[str, Any]], cvss_v3: CvssScore | None) -> Severity:
    for rec in (vuln, *related):
        word = as_str(rec.get("severity")).lower()
        if word in SEVERITY and word != "unknown":
            return SEVERITY[word]
    if cvss_v3 is not None:
        return Severity.from_cvss_score(cvss_v3.base_score)
    return severity_from_table(vuln.get("severity"), SEVERITY)


def _confidence(details: Any) -> Confidence:
    items = details if isinstance(details, list) else [details]
    kinds = {as_str(as_dict(d).get("type")).lower() for d in items}
    if kinds and kinds <= {"cpe-match"}:
        return Confidence.TENTATIVE
    return Confidence.FIRM


def _remediation(name: str, fixed: str | None, state: str) -> str | None:
    if fixed:
        return f"Upgrade {name} to {fixed}"
    if state == "wont-fix":
        return "The distribution will not fix this vulnerability; consider another package or a mitigation."
    if state == "not-fixed":
        return "No fixed version is available yet."
    return None


PARSER = AnchoreGrypeParser()
SNIFF_PRIORITY = 65

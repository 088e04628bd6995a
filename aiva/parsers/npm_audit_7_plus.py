"""npm audit JSON, npm 7 and later (`npm audit --json` with `auditReportVersion: 2`).

`vulnerabilities` is keyed by package name. A package's `via` list holds advisory
objects (the package itself is vulnerable) and/or names of other packages (it is
affected only because it depends on them; those are listed under their own key).

Counting: one finding per package x advisory object in its `via`. Entries whose `via`
names only other packages are not findings of their own: the vulnerable dependency's
finding already carries the fix (`fixAvailable` names the top-level package to upgrade).
An entry with no advisory object and no package reference at all gives one finding
from the entry itself.

Severity table (npm's words): critical->critical, high->high, moderate->medium,
low->low, info->info (the advisory's own severity; the entry's when it has none).
npm 7+ reports no installed version: the component carries the vulnerable range as
the advisory states it, and the node_modules path.
Fingerprint "npm_audit_7_plus/1": package name and advisory id (GHSA id from the
advisory URL, else npm's numeric `source`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, ClassVar

from aiva.enums import Confidence, FindingCategory, Severity
from aiva.errors import ReportParseError
from aiva.fingerprint import fingerprint
from aiva.parsers._sca import as_dict, as_list, as_str, ids_in_text, str_list
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
    "moderate": Severity.MEDIUM,
    "medium": Severity.MEDIUM,
    "low": Severity.LOW,
    "info": Severity.INFO,
}
_AUDIT_V2 = re.compile(r'"auditReportVersion"\s*:\s*\d')
_TOOL = ToolInfo(name="npm audit")


class NpmAudit7PlusParser:
    """npm 7+ `npm audit --json` (audit report version 2)."""

    name: ClassVar[str] = "npm_audit_7_plus"
    tool_name: ClassVar[str | None] = "npm audit"
    fingerprint_version: ClassVar[str] = "npm_audit_7_plus/1"

    def sniff(self, source: ReportSource) -> bool:
        """A JSON object with auditReportVersion and a `vulnerabilities` object."""
        head = source.text_head()
        return head.startswith("{") and bool(_AUDIT_V2.search(head)) and '"vulnerabilities"' in head

    def parse(self, source: ReportSource, ctx: ParseContext) -> Iterator[Finding]:
        """Yield one finding per vulnerable package and advisory."""
        doc = source.load_json(self.name)
        if not isinstance(doc, dict) or not isinstance(doc.get("vulnerabilities", {}), dict):
            raise ReportParseError(
                source.path, self.name, "expected an npm 7+ audit report with a 'vulnerabilities' object"
            )
        seen: set[str] = set()
        for key, entry in (doc.get("vulnerabilities") or {}).items():
            if not isinstance(entry, dict):
                raise ReportParseError(
                    source.path, self.name, "a vulnerability entry is not an object", f"vulnerabilities.{key}"
                )
            via = as_list(entry.get("via"))
            advisories = [v for v in via if isinstance(v, dict)]
            if not advisories and any(isinstance(v, str) and v for v in via):
                continue  # affected only through dependencies, which have their own entries
            for adv in advisories or [{}]:
                f = self._finding(str(key), entry, adv, ctx)
                if f.fingerprint not in seen:
                    seen.add(f.fingerprint)
                    yield f

    def _finding(self, key: str, entry: dict[str, Any], adv: dict[str, Any], ctx: ParseContext) -> Finding:
        warnings: list[str] = []
        pkg = as_str(adv.get("name")) or as_str(entry.get("name")) or key
        url = as_str(adv.get("url"))
        ghsa = next((i for i in ids_in_text(url) if i.upper().startswith("GHSA")), "")
        source_id = as_str(adv.get("source"))
        advisory_id = ghsa or source_id
        vulnerable_range = as_str(adv.get("range")) or as_str(entry.get("range"))
        nodes = str_list(entry.get("nodes"))
        fix = entry.get("fixAvailable")
        fixed, remediation = _fix(pkg, fix)
        cvss = as_dict(adv.get("cvss"))
        title = as_str(adv.get("title")) or f"{pkg} is vulnerable ({vulnerable_range or 'unknown range'})"
        description = "\n\n".join(
            x
            for x in (
                title,
                f"Vulnerable versions of {pkg}: {vulnerable_range}" if vulnerable_range else "",
                "Installed at: " + ", ".join(nodes[:20]) if nodes else "",
                "Affects: " + ", ".join(str_list(entry.get("effects"))[:20]) if entry.get("effects") else "",
            )
            if x
        )
        tags = ["direct" if entry.get("isDirect") is True else "transitive"]
        if isinstance(fix, dict) and fix.get("isSemVerMajor") is True:
            tags.append("fix:semver-major")
        return Finding(
            fingerprint=fingerprint(self.fingerprint_version, pkg, advisory_id),
            fingerprint_version=self.fingerprint_version,
            format=self.name,
            tool=_TOOL,
            category=FindingCategory.SCA,
            rule_id=advisory_id or None,
            title=title if pkg.lower() in title.lower() else f"{title} ({pkg})",
            description=description,
            severity=severity_from_table(adv.get("severity") or entry.get("severity"), SEVERITY),
            confidence=Confidence.FIRM,
            cwes=cwe_refs(str_list(adv.get("cwe")), warnings),
            vulnerability_ids=vuln_refs([ghsa]),
            cvss_v3=parse_cvss(as_str(cvss.get("vectorString")) or None, warnings),
            component=Component(
                purl=make_purl("npm", pkg, None, warnings),
                name=pkg or "unknown",
                version=None,
                ecosystem="npm",
                fixed_version=fixed,
                path=nodes[0] if nodes else None,
            ),
            location=Location(file_path=nodes[0]) if nodes else None,
            target=ctx.target,
            references=(url,) if url else (),
            remediation=remediation,
            raw_id=source_id or None,
            tags=tuple(tags),
            warnings=tuple(warnings),
        )


def _fix(pkg: str, fix: Any) -> tuple[str | None, str | None]:
    """(fixed version of this package when npm names one, remediation text)."""
    if isinstance(fix, dict):
        name = as_str(fix.get("name"))
        version = as_str(fix.get("version"))
        major = " (a semver-major change)" if fix.get("isSemVerMajor") is True else ""
        if name == pkg:
            return version or None, f"Upgrade {pkg} to {version}{major}"
        return None, f"Upgrade {name} to {version}{major}; it brings a fixed {pkg}" if name else None
    if fix is True:
        return None, "Run `npm audit fix`"
    if fix is False:
        return None, "No fix is available yet"
    return None, None


PARSER = NpmAudit7PlusParser()
SNIFF_PRIORITY = 65

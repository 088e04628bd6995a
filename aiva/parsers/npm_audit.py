"""npm audit JSON, npm 6 and earlier (`npm audit --json`: `actions`, `advisories`, `muted`, `metadata`).

npm 7+ (`auditReportVersion: 2`) is a different report: see npm_audit_7_plus.

Counting: one finding per advisory x installed version of the module (an advisory's
`findings` list each installed version with the dependency paths that pull it in; the
paths of one version are merged into that finding).

Severity table (npm's words): critical->critical, high->high, moderate->medium,
low->low, info->info.
CWE: `cwe` is "CWE-79", a JSON-encoded list ('["CWE-918","CWE-1333"]') or null.
Fixed version: `patched_versions` when it is a plain lower bound (">=1.10.2" gives 1.10.2);
the full range stays in the remediation text.
Fingerprint "npm_audit/1": module name, installed version, advisory id (the GHSA id when
the advisory has one, else npm's numeric advisory id).
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
    first,
    make_purl,
    parse_cvss,
    severity_from_table,
    vuln_refs,
)
from aiva.schemas import Component, Finding, ToolInfo

SEVERITY = {
    "critical": Severity.CRITICAL,
    "high": Severity.HIGH,
    "moderate": Severity.MEDIUM,
    "medium": Severity.MEDIUM,
    "low": Severity.LOW,
    "info": Severity.INFO,
}
_ADVISORIES = re.compile(r'"advisories"\s*:\s*\{')
_AUDIT_V2 = re.compile(r'"auditReportVersion"\s*:')
_CWE = re.compile(r"CWE-\d{1,5}", re.IGNORECASE)
_LOWER_BOUND = re.compile(r"^>=\s*([0-9][^\s<>=|]*)$")
_URL = re.compile(r"https?://[^\s)\]>\"']+")
_TOOL = ToolInfo(name="npm audit")


class NpmAuditParser:
    """npm 6 `npm audit --json`."""

    name: ClassVar[str] = "npm_audit"
    tool_name: ClassVar[str | None] = "npm audit"
    fingerprint_version: ClassVar[str] = "npm_audit/1"

    def sniff(self, source: ReportSource) -> bool:
        """An `advisories` object with npm's `actions`/`muted` keys, and no auditReportVersion."""
        head = source.text_head()
        if not head.startswith("{") or _AUDIT_V2.search(head):
            return False
        return bool(_ADVISORIES.search(head)) and ('"actions"' in head or '"muted"' in head)

    def parse(self, source: ReportSource, ctx: ParseContext) -> Iterator[Finding]:
        """Yield one finding per advisory and installed version."""
        doc = source.load_json(self.name)
        if not isinstance(doc, dict) or not isinstance(doc.get("advisories", {}), dict):
            raise ReportParseError(
                source.path, self.name, "expected an npm 6 audit report with an 'advisories' object"
            )
        if "auditReportVersion" in doc:
            raise ReportParseError(
                source.path, self.name, "this is an npm 7+ report (auditReportVersion): use npm_audit_7_plus"
            )
        seen: set[str] = set()
        for key, adv in (doc.get("advisories") or {}).items():
            if not isinstance(adv, dict):
                raise ReportParseError(
                    source.path, self.name, "an advisory is not an object", f"advisories.{key}"
                )
            for f in self._advisory(adv, str(key), ctx):
                if f.fingerprint not in seen:
                    seen.add(f.fingerprint)
                    yield f

    def _advisory(self, adv: dict[str, Any], key: str, ctx: ParseContext) -> Iterator[Finding]:
        versions: dict[str, list[str]] = {}
        dev_only: dict[str, bool] = {}
        for item in as_list(adv.get("findings")):
            d = as_dict(item)
            version = as_str(d.get("version"))
            versions.setdefault(version, []).extend(str_list(d.get("paths")))
            dev_only[version] = dev_only.get(version, True) and d.get("dev") is True
        if not versions:
            versions[""] = []
        for version, paths in versions.items():
            dev = dev_only.get(version, False)
            yield self._finding(adv, key, version, list(dict.fromkeys(paths)), dev, ctx)

    def _finding(
        self, adv: dict[str, Any], key: str, version: str, paths: list[str], dev: bool, ctx: ParseContext
    ) -> Finding:
        warnings: list[str] = []
        module = as_str(adv.get("module_name"))
        npm_id = as_str(first(adv.get("id"), key))
        url = as_str(adv.get("url"))
        ghsa = as_str(adv.get("github_advisory_id")) or next(
            (i for i in ids_in_text(url) if i.upper().startswith("GHSA")), ""
        )
        advisory_id = ghsa or npm_id
        patched = as_str(adv.get("patched_versions"))
        m = _LOWER_BOUND.match(patched)
        fixed = m.group(1) if m else None
        cwe_field = adv.get("cwe")
        cwe_values = _CWE.findall(cwe_field) if isinstance(cwe_field, str) else str_list(cwe_field)
        refs_text = as_str(adv.get("references"))
        references = [url, *_URL.findall(refs_text)]
        cvss = as_dict(adv.get("cvss"))
        overview = as_str(adv.get("overview"))
        vulnerable = as_str(adv.get("vulnerable_versions"))
        description = "\n\n".join(
            x
            for x in (
                overview,
                f"Vulnerable versions: {vulnerable}" if vulnerable else "",
                f"Patched versions: {patched}" if patched else "",
                "Dependency paths:\n" + "\n".join(paths[:50]) if paths else "",
            )
            if x
        )
        title = as_str(adv.get("title")) or f"{advisory_id} in {module}"
        return Finding(
            fingerprint=fingerprint(self.fingerprint_version, module, version, advisory_id),
            fingerprint_version=self.fingerprint_version,
            format=self.name,
            tool=_TOOL,
            category=FindingCategory.SCA,
            rule_id=advisory_id or None,
            title=f"{title} ({module} {version})".strip() if module else title,
            description=description,
            severity=severity_from_table(adv.get("severity"), SEVERITY),
            confidence=Confidence.FIRM,
            cwes=cwe_refs(cwe_values, warnings),
            vulnerability_ids=vuln_refs([*str_list(adv.get("cves")), ghsa]),
            cvss_v3=parse_cvss(as_str(cvss.get("vectorString")) or None, warnings),
            component=Component(
                purl=make_purl("npm", module, version or None, warnings),
                name=module or "unknown",
                version=version or None,
                ecosystem="npm",
                fixed_version=fixed,
                path=paths[0] if paths else None,
            ),
            target=ctx.target,
            references=tuple(dict.fromkeys(r for r in references if r))[:50],
            remediation=as_str(adv.get("recommendation"))
            or (f"Upgrade {module} to {patched}" if patched else None),
            raw_id=npm_id or None,
            tags=("dev",) if dev else (),
            warnings=tuple(warnings),
        )


PARSER = NpmAuditParser()
SNIFF_PRIORITY = 65

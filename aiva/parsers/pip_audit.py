"""pip-audit JSON (`pip-audit -f json`): the current `{"dependencies": [...], "fixes": [...]}`
form and the older bare list of dependencies.

Counting: one finding per vulnerability id x dependency (name, version). Skipped
dependencies (`skip_reason`) are not findings. An empty array is an empty report.

Severity: pip-audit reports none. Every finding is a published advisory (PYSEC, GHSA,
OSV) against the installed version, so AIVA rates it medium and tags it
`severity:unrated`; the risk stage re-rates it from CVE intelligence when it can.
Fixed version: the lowest of `fix_versions` above the installed version (pip-audit lists
the fixed release of every branch, e.g. 2.2.25, 3.1.14 and 3.2.10 for Django 3.2.9).
Fingerprint "pip_audit/1": PEP 503 normalised package name, installed version, vulnerability id.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, ClassVar

from aiva.enums import Confidence, FindingCategory, Severity
from aiva.errors import ReportParseError
from aiva.fingerprint import fingerprint
from aiva.parsers._sca import as_str, nearest_fix, pypi_name, str_list
from aiva.parsers.base import ParseContext, ReportSource, make_purl, vuln_refs
from aiva.schemas import Component, Finding, ToolInfo

DEFAULT_SEVERITY = Severity.MEDIUM
_EMPTY_ARRAY = re.compile(r"^\[\s*\]\s*$")
_TOOL = ToolInfo(name="pip-audit")


class PipAuditParser:
    """pip-audit's JSON output."""

    name: ClassVar[str] = "pip_audit"
    tool_name: ClassVar[str | None] = "pip-audit"
    fingerprint_version: ClassVar[str] = "pip_audit/1"

    def sniff(self, source: ReportSource) -> bool:
        """Dependencies with `vulns`/`skip_reason` (a list or under `dependencies`), or an empty array."""
        head = source.text_head()
        if _EMPTY_ARRAY.match(head) and source.size < 64:
            return True
        if head[:1] not in ("{", "[") or '"name"' not in head:
            return False
        if '"vulns"' not in head and '"skip_reason"' not in head:
            return False
        return head.startswith("[") or bool(re.match(r'^\{\s*"(dependencies|fixes)"\s*:', head))

    def parse(self, source: ReportSource, ctx: ParseContext) -> Iterator[Finding]:
        """Yield one finding per vulnerability of every audited dependency."""
        doc = source.load_json(self.name)
        deps = doc.get("dependencies", []) if isinstance(doc, dict) else doc
        if not isinstance(deps, list):
            raise ReportParseError(source.path, self.name, "expected a list of dependencies")
        seen: set[str] = set()
        for i, dep in enumerate(deps):
            if not isinstance(dep, dict):
                raise ReportParseError(
                    source.path, self.name, "a dependency is not an object", f"dependencies[{i}]"
                )
            vulns = dep.get("vulns")
            if vulns is not None and not isinstance(vulns, list):
                raise ReportParseError(source.path, self.name, "'vulns' is not a list", f"dependencies[{i}]")
            for j, v in enumerate(vulns or []):
                if not isinstance(v, dict):
                    raise ReportParseError(
                        source.path, self.name, "a vuln is not an object", f"dependencies[{i}].vulns[{j}]"
                    )
                f = self._finding(dep, v, ctx)
                if f.fingerprint not in seen:
                    seen.add(f.fingerprint)
                    yield f

    def _finding(self, dep: dict[str, Any], v: dict[str, Any], ctx: ParseContext) -> Finding:
        warnings: list[str] = []
        name = as_str(dep.get("name"))
        version = as_str(dep.get("version")) or None
        vid = as_str(v.get("id"))
        aliases = str_list(v.get("aliases"))
        fixes = str_list(v.get("fix_versions"))
        fixed = nearest_fix(version, fixes)
        description = as_str(v.get("description"))
        ids = [vid, *aliases]
        return Finding(
            fingerprint=fingerprint(self.fingerprint_version, pypi_name(name), version, vid),
            fingerprint_version=self.fingerprint_version,
            format=self.name,
            tool=_TOOL,
            category=FindingCategory.SCA,
            rule_id=vid or None,
            title=f"{vid} in {name} {version or ''}".strip(),
            description=description,
            severity=DEFAULT_SEVERITY,
            confidence=Confidence.FIRM,
            vulnerability_ids=vuln_refs(ids),
            component=Component(
                purl=make_purl("pypi", pypi_name(name), version, warnings),
                name=name or "unknown",
                version=version,
                ecosystem="pypi",
                fixed_version=fixed,
            ),
            target=ctx.target,
            references=tuple(_advisory_url(i) for i in ids if _advisory_url(i)),
            remediation=f"Upgrade {name} to {fixed}" if fixed else "No fixed version is known yet.",
            raw_id=vid or None,
            tags=("severity:unrated",),
            warnings=tuple(warnings),
        )


def _advisory_url(vid: str) -> str:
    """The public page of an advisory id pip-audit reports (PYSEC and GHSA live on osv.dev / GitHub)."""
    if vid.upper().startswith("GHSA-"):
        return f"https://github.com/advisories/{vid}"
    if vid.upper().startswith(("PYSEC-", "OSV-")):
        return f"https://osv.dev/vulnerability/{vid}"
    return ""


PARSER = PipAuditParser()
SNIFF_PRIORITY = 55

"""Semgrep JSON: the CLI's `semgrep --json` output and the Semgrep AppSec Platform's
supply-chain API listing (`{"vulns": [...]}`, from /deployments/<slug>/ssc-vulns).

Counting:
- CLI: one finding per entry of `results` (a rule match at a place). A report that
  lists the very same match twice (same rule, file, start line and column) yields
  one finding: the first is kept, the repeats are dropped.
- Supply-chain API: one finding per entry of `vulns` (an advisory matched against one
  dependency of one repository). Entries of different repositories are different
  assets and are never merged.

Severity table (Semgrep's words): ERROR->high, WARNING->medium, INFO->low,
INVENTORY/EXPERIMENT->info; the newer words CRITICAL->critical, HIGH->high,
MEDIUM->medium, LOW->low. For supply-chain entries the advisory's severity (same words).
Confidence: metadata.confidence HIGH->certain, MEDIUM->firm, LOW->tentative.
`nosemgrep`-ignored results (`is_ignored`) and supply-chain entries triaged IGNORED are
kept and marked `suppressed`; the triage status is kept as a tag (`triage:closed`).

Fingerprint "semgrep/1":
- CLI: "code", rule id (check_id), file path, start line, start column.
- API: "sca", repository name, advisory rule id, dependency name, dependency version,
  manifest path, manifest line.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, ClassVar

from aiva.enums import Confidence, FindingCategory, Severity
from aiva.errors import ReportParseError
from aiva.fingerprint import fingerprint
from aiva.parsers._sast_helpers import (
    CONFIDENCE_WORDS,
    as_dict,
    as_int,
    as_list,
    as_str,
    clip,
    cwe_numbers,
    entry_errors,
    first_sentence,
    line_or_none,
    unique,
    vuln_ids_in,
)
from aiva.parsers.base import (
    ParseContext,
    ReportSource,
    cwe_refs,
    make_purl,
    severity_from_table,
    vuln_refs,
)
from aiva.schemas import Component, Finding, Location, ToolInfo

SEVERITY = {
    "critical": Severity.CRITICAL,
    "error": Severity.HIGH,
    "high": Severity.HIGH,
    "warning": Severity.MEDIUM,
    "medium": Severity.MEDIUM,
    "info": Severity.LOW,
    "low": Severity.LOW,
    "inventory": Severity.INFO,
    "experiment": Severity.INFO,
}
# Manifest file names -> ecosystem, for supply-chain entries whose advisory names several ecosystems.
_MANIFEST_ECOSYSTEMS = {
    "requirements": "pypi", "pipfile": "pypi", "poetry.lock": "pypi", "setup.py": "pypi",
    "package-lock.json": "npm", "package.json": "npm", "yarn.lock": "npm", "pnpm-lock.yaml": "npm",
    "pom.xml": "maven", "build.gradle": "maven", "gradle.lockfile": "maven",
    "gemfile": "gem", "go.mod": "golang", "go.sum": "golang", "cargo.lock": "cargo",
    "composer.lock": "composer", "packages.lock.json": "nuget",
}
_NO_SNIPPET = {"requires login", ""}


class SemgrepParser:
    """Semgrep's JSON output (CLI results and the supply-chain vulns API)."""

    name: ClassVar[str] = "semgrep"
    tool_name: ClassVar[str | None] = "semgrep"
    fingerprint_version: ClassVar[str] = "semgrep/1"

    def sniff(self, source: ReportSource) -> bool:
        """CLI output has results with check_id and extra; the API listing has vulns with an advisory."""
        head = source.text_head()
        if not head.startswith("{"):
            return False
        if '"results"' in head and '"check_id"' in head and '"extra"' in head:
            return True
        api_keys = '"exposureType"' in head or '"groupKey"' in head
        return '"vulns"' in head and '"advisory"' in head and api_keys

    def parse(self, source: ReportSource, ctx: ParseContext) -> Iterator[Finding]:
        """Yield one finding per CLI result or per supply-chain vuln."""
        doc = source.load_json(self.name)
        if not isinstance(doc, dict):
            raise ReportParseError(source.path, self.name, "expected a JSON object at the top level")
        if isinstance(doc.get("results"), list):
            tool = ToolInfo(name="semgrep", version=as_str(doc.get("version")))
            yield from unique(self._cli(doc["results"], tool, source, ctx))
        elif isinstance(doc.get("vulns"), list):
            yield from unique(self._sca(doc["vulns"], source, ctx))
        else:
            raise ReportParseError(source.path, self.name, "no 'results' or 'vulns' array at the top level")

    # -- CLI -------------------------------------------------------------------------------------

    def _cli(
        self, results: list[Any], tool: ToolInfo, source: ReportSource, ctx: ParseContext
    ) -> Iterator[Finding]:
        for i, r in enumerate(results):
            if not isinstance(r, dict):
                raise ReportParseError(source.path, self.name, "a result is not an object", f"results[{i}]")
            check_id = as_str(r.get("check_id"))
            path = as_str(r.get("path"))
            if check_id is None:
                raise ReportParseError(source.path, self.name, "a result has no check_id", f"results[{i}]")
            with entry_errors(source.path, self.name, f"results[{i}]"):
                finding = self._cli_finding(r, check_id, path, tool, ctx)
            yield finding

    def _cli_finding(
        self, r: dict[str, Any], check_id: str, path: str | None, tool: ToolInfo, ctx: ParseContext
    ) -> Finding:
        warnings: list[str] = []
        start, end = as_dict(r.get("start")), as_dict(r.get("end"))
        extra = as_dict(r.get("extra"))
        meta = as_dict(extra.get("metadata"))
        line, col = line_or_none(start.get("line")), as_int(start.get("col"))
        message = as_str(extra.get("message")) or ""
        sca = as_dict(extra.get("sca_info"))
        dep = as_dict(as_dict(sca.get("dependency_match")).get("found_dependency"))
        component = None
        if dep.get("package"):
            name, version = str(dep["package"]), as_str(dep.get("version"))
            eco = as_str(dep.get("ecosystem"))
            component = Component(
                purl=make_purl(eco, name, version, warnings), name=name, version=version, ecosystem=eco
            )
        vuln_ids = [as_str(meta.get("sca-vuln-database-identifier")), *vuln_ids_in(message)]
        snippet = as_str(extra.get("lines"))
        references = _strings(meta.get("references")) + _strings(meta.get("source-rule-url"))
        references += _strings(meta.get("source"))
        return Finding(
            fingerprint=fingerprint(self.fingerprint_version, "code", check_id, path, line, col),
            fingerprint_version=self.fingerprint_version,
            format=self.name,
            tool=tool,
            category=FindingCategory.SCA if component else FindingCategory.SAST,
            rule_id=check_id,
            title=clip(as_str(meta.get("shortDescription")), 500) or first_sentence(message) or check_id,
            description=clip(message) or "",
            severity=severity_from_table(extra.get("severity"), SEVERITY, Severity.MEDIUM),
            confidence=CONFIDENCE_WORDS.get(str(meta.get("confidence") or "").lower(), Confidence.UNKNOWN),
            cwes=cwe_refs(cwe_numbers(_strings(meta.get("cwe"))), warnings),
            vulnerability_ids=vuln_refs(vuln_ids),
            component=component,
            location=Location(
                file_path=path,
                start_line=line,
                end_line=line_or_none(end.get("line")),
                snippet=clip(snippet) if snippet and snippet not in _NO_SNIPPET else None,
            ),
            target=ctx.target,
            references=tuple(dict.fromkeys(references))[:50],
            remediation=clip(as_str(extra.get("fix"))),
            raw_id=as_str(extra.get("fingerprint")) if extra.get("fingerprint") != "requires login" else None,
            suppressed=extra.get("is_ignored") is True,
            tags=tuple(_strings(meta.get("owasp")))[:20],
            warnings=tuple(warnings),
        )

    # -- supply-chain API ------------------------------------------------------------------------

    def _sca(self, vulns: list[Any], source: ReportSource, ctx: ParseContext) -> Iterator[Finding]:
        for i, v in enumerate(vulns):
            if not isinstance(v, dict):
                raise ReportParseError(source.path, self.name, "a vuln is not an object", f"vulns[{i}]")
            with entry_errors(source.path, self.name, f"vulns[{i}]"):
                finding = self._sca_finding(v, ctx)
            yield finding

    def _sca_finding(self, v: dict[str, Any], ctx: ParseContext) -> Finding:
        warnings: list[str] = []
        adv = as_dict(v.get("advisory"))
        refs = as_dict(adv.get("references"))
        dep = as_dict(v.get("matchedDependency"))
        loc = as_dict(v.get("dependencyFileLocation"))
        rule = as_str(adv.get("ruleId"))
        name, version = as_str(dep.get("name")), as_str(dep.get("versionSpecifier"))
        path, line = as_str(loc.get("path")), line_or_none(loc.get("startLine"))
        repo = as_str(v.get("repositoryName"))
        eco = _sca_ecosystem(adv, name, path)
        fixed = as_str(as_dict(v.get("closestSafeDependency")).get("versionSpecifier"))
        triage = as_str(as_dict(v.get("triage")).get("status"))
        title = as_str(v.get("title")) or as_str(adv.get("title")) or f"{rule} in {name}"
        description = as_str(adv.get("description")) or ""
        reachable = as_str(adv.get("reachableIf"))
        if reachable:
            description += f"\n\nReachable if: {reachable}"
        return Finding(
            fingerprint=fingerprint(self.fingerprint_version, "sca", repo, rule, name, version, path, line),
            fingerprint_version=self.fingerprint_version,
            format=self.name,
            tool=ToolInfo(name="semgrep"),
            category=FindingCategory.SCA,
            rule_id=rule,
            title=clip(title, 500) or "Semgrep supply-chain finding",
            description=clip(description.strip()) or "",
            severity=severity_from_table(adv.get("severity"), SEVERITY, Severity.MEDIUM),
            confidence=Confidence.FIRM if v.get("exposureType") == "REACHABLE" else Confidence.TENTATIVE,
            cwes=cwe_refs(cwe_numbers(as_list(refs.get("cweIds"))), warnings),
            vulnerability_ids=vuln_refs(
                [*(str(c) for c in as_list(refs.get("cveIds"))), *vuln_ids_in(*_strings(refs.get("urls")))]
            ),
            component=Component(
                purl=make_purl(eco, name, version, warnings),
                name=name or "unknown",
                version=version,
                ecosystem=eco,
                fixed_version=fixed,
                path=path,
            ),
            location=Location(file_path=path, start_line=line),
            target=ctx.target or repo,
            references=tuple(_strings(refs.get("urls")))[:50],
            remediation=f"Upgrade {name} to {fixed}" if fixed and name else None,
            raw_id=as_str(v.get("groupKey")),
            suppressed=(triage or "").upper() == "IGNORED",
            tags=tuple(
                t for t in (
                    f"exposure:{str(v.get('exposureType')).lower()}" if v.get("exposureType") else None,
                    f"transitivity:{str(v.get('transitivity')).lower()}" if v.get("transitivity") else None,
                    f"triage:{triage.lower()}" if triage else None,
                ) if t
            ),
            warnings=tuple(warnings),
        )


def _strings(value: Any) -> list[str]:
    """A string or a list of strings as a list (other types dropped)."""
    if isinstance(value, str):
        return [value] if value.strip() else []
    return [str(x) for x in as_list(value) if isinstance(x, (str, int)) and str(x).strip()]


def _sca_ecosystem(adv: dict[str, Any], name: str | None, path: str | None) -> str | None:
    """The matched package's ecosystem: the rule's depends-on list, else the manifest, else the advisory."""
    rule_text = adv.get("ruleText")
    if name and isinstance(rule_text, str):
        try:
            rule = json.loads(rule_text)
        except ValueError:
            rule = None
        depends = as_dict(as_dict(rule).get("r2c-internal-project-depends-on"))
        for entry in [*as_list(depends.get("depends-on-either")), depends]:
            entry = as_dict(entry)
            if entry.get("package") == name and as_str(entry.get("namespace")):
                return as_str(entry.get("namespace"))
    if path:
        base = path.rsplit("/", 1)[-1].lower()
        for key, eco in _MANIFEST_ECOSYSTEMS.items():
            if base.startswith(key):
                return eco
    return as_str(adv.get("ecosystem"))


PARSER = SemgrepParser()
SNIFF_PRIORITY = 70

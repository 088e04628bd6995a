"""GitLab SAST report (gl-sast-report.json, security report schema 2.x to 15.x), the
common output of GitLab's SAST analyzers (semgrep, bandit, eslint, spotbugs/find-sec-bugs,
njsscan, ...). Secret-detection reports share the schema and are read too (category
secret, the extracted secret redacted); dependency, container and DAST reports are not
claimed.

Counting: one finding per entry of `vulnerabilities` (one rule at one file and line).
GitLab's deprecated `cve` field is NOT an identity: it is "file:hash-of-the-code:rule",
and analyzers that cannot hash the code put the hash of the empty string there, so
hundreds of different lines of one file share it. Entries identical in every identity
field (report written twice) are kept once (the first).

Severity table (GitLab's words): Critical->critical, High->high, Medium->medium,
Low->low, Info->info, Unknown->info. Confidence: Confirmed->certain, High->firm,
Medium->firm, Low->tentative, Experimental->tentative, Unknown/Ignore->unknown.
CWE and CVE ids from `identifiers` of type cwe / cve.

Fingerprint "gitlab_sast/1": primary identifier (the first one: type and value, e.g.
bandit_test_id B501), file, start line.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

from aiva.enums import Confidence, FindingCategory, Severity
from aiva.errors import ReportParseError
from aiva.fingerprint import fingerprint
from aiva.parsers._sast_helpers import (
    as_dict,
    as_list,
    as_str,
    clip,
    cwe_numbers,
    entry_errors,
    line_or_none,
    redacted,
    scrub_all,
    unique,
)
from aiva.parsers.base import ParseContext, ReportSource, cwe_refs, severity_from_table, vuln_refs
from aiva.schemas import Finding, Location, ToolInfo
from aiva.secrets import secret_hash

SEVERITY = {
    "critical": Severity.CRITICAL,
    "high": Severity.HIGH,
    "medium": Severity.MEDIUM,
    "low": Severity.LOW,
    "info": Severity.INFO,
    "unknown": Severity.INFO,
}
CONFIDENCE = {
    "confirmed": Confidence.CERTAIN,
    "high": Confidence.FIRM,
    "medium": Confidence.FIRM,
    "low": Confidence.TENTATIVE,
    "experimental": Confidence.TENTATIVE,
}
_OTHER_REPORT_TYPES = ('"dependency_scanning"', '"container_scanning"', '"dast"', '"cluster_image_scanning"')


class GitlabSastParser:
    """GitLab's SAST (and secret-detection) security report."""

    name: ClassVar[str] = "gitlab_sast"
    tool_name: ClassVar[str | None] = None  # named by the document's scanner
    fingerprint_version: ClassVar[str] = "gitlab_sast/1"

    def sniff(self, source: ReportSource) -> bool:
        """A JSON object with vulnerabilities and GitLab's remediations / identifiers+location keys."""
        head = source.text_head()
        if not head.startswith("{") or '"vulnerabilities"' not in head:
            return False
        if any(f'"type": {t}' in head or f'"type":{t}' in head for t in _OTHER_REPORT_TYPES):
            return False
        if '"dependency_files"' in head:
            return False
        if '"remediations"' in head and '"version"' in head:
            return True
        located = '"start_line"' in head or '"file"' in head
        return '"identifiers"' in head and '"location"' in head and located

    def parse(self, source: ReportSource, ctx: ParseContext) -> Iterator[Finding]:
        """Yield one finding per vulnerability entry."""
        doc = source.load_json(self.name)
        if not isinstance(doc, dict) or not isinstance(doc.get("vulnerabilities"), list):
            raise ReportParseError(source.path, self.name, "expected an object with a vulnerabilities array")
        scan = as_dict(doc.get("scan"))
        scanner = as_dict(scan.get("scanner"))
        report_type = as_str(scan.get("type"))
        default_tool = ToolInfo(
            name=as_str(scanner.get("name")) or as_str(scanner.get("id")) or "gitlab-sast",
            version=as_str(scanner.get("version")),
        )
        yield from unique(self._vulns(doc["vulnerabilities"], default_tool, report_type, source, ctx))

    def _vulns(
        self,
        vulns: list[Any],
        default_tool: ToolInfo,
        report_type: str | None,
        source: ReportSource,
        ctx: ParseContext,
    ) -> Iterator[Finding]:
        for i, v in enumerate(vulns):
            if not isinstance(v, dict):
                raise ReportParseError(
                    source.path, self.name, "a vulnerability is not an object", f"vulnerabilities[{i}]"
                )
            with entry_errors(source.path, self.name, f"vulnerabilities[{i}]"):
                finding = self._finding(v, default_tool, report_type, ctx)
            yield finding

    def _finding(
        self, v: dict[str, Any], default_tool: ToolInfo, report_type: str | None, ctx: ParseContext
    ) -> Finding:
        warnings: list[str] = []
        loc = as_dict(v.get("location"))
        path, line = as_str(loc.get("file")), line_or_none(loc.get("start_line"))
        ids = [as_dict(x) for x in as_list(v.get("identifiers"))]
        primary = ids[0] if ids else {}
        ptype, pvalue = as_str(primary.get("type")), as_str(primary.get("value"))
        cwe_ids = [x for x in ids if str(x.get("type") or "").lower() == "cwe"]
        cwes = [n for x in cwe_ids for n in (x.get("value"), x.get("name"))]
        cves = [as_str(x.get("value")) for x in ids if str(x.get("type") or "").lower() in ("cve", "ghsa")]
        scanner = as_dict(v.get("scanner"))
        scanner_name = as_str(scanner.get("name")) or as_str(scanner.get("id"))
        tool = ToolInfo(name=scanner_name, version=default_tool.version) if scanner_name else default_tool
        category_word = (as_str(v.get("category")) or report_type or "sast").lower()
        is_secret = category_word == "secret_detection"
        secret = as_str(v.get("raw_source_code_extract")) if is_secret else None
        secrets = [secret] if secret else []
        title = as_str(v.get("name")) or as_str(v.get("message")) or as_str(primary.get("name")) or pvalue
        description = as_str(v.get("description")) or as_str(v.get("message")) or ""
        method = ".".join(x for x in (as_str(loc.get("class")), as_str(loc.get("method"))) if x)
        if method:
            description += f"\n\nIn {method}"
        references = [as_str(x.get("url")) for x in ids] + [
            as_str(as_dict(x).get("url")) for x in as_list(v.get("links"))
        ]
        return Finding(
            fingerprint=fingerprint(self.fingerprint_version, ptype, pvalue, path, line),
            fingerprint_version=self.fingerprint_version,
            format=self.name,
            tool=tool,
            category=FindingCategory.SECRET if is_secret else FindingCategory.SAST,
            rule_id=pvalue,
            title=clip(scrub_all(title, secrets), 500) or "GitLab SAST finding",
            description=clip(scrub_all(description.strip(), secrets)) or "",
            severity=severity_from_table(v.get("severity"), SEVERITY),
            confidence=CONFIDENCE.get(str(v.get("confidence") or "").lower(), Confidence.UNKNOWN),
            cwes=cwe_refs(cwe_numbers(cwes), warnings),
            vulnerability_ids=vuln_refs(cves),
            location=Location(
                file_path=path,
                start_line=line,
                end_line=line_or_none(loc.get("end_line")),
                snippet=redacted(secret) if secret else None,
            ),
            target=ctx.target,
            references=tuple(dict.fromkeys(r for r in references if r))[:50],
            remediation=clip(scrub_all(as_str(v.get("solution")), secrets)),
            raw_id=as_str(v.get("id")),
            secret_hash=secret_hash(secret, ctx.secret_key) if secret else None,
            tags=tuple(x for x in (ptype, "secret" if is_secret else None) if x),
            warnings=tuple(warnings),
        )


PARSER = GitlabSastParser()
SNIFF_PRIORITY = 55

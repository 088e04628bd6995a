"""Checkov JSON (`checkov -o json`): one report object per framework (check_type), or a
list of them when several frameworks ran, or a bare summary when nothing was scanned.

Counting: one finding per entry of `results.failed_checks` (a policy that failed on a
resource). Passed checks are not findings. Skipped checks (suppressed in the scanned
code with a `checkov:skip` comment, or by `--skip-check`) are not findings either: the
suppression is a decision already recorded in the code, and accepted risk is tracked by
AIVA's own workflow. For Checkov's SCA frameworks (`sca_package`, `sca_image`) each
failed check is one vulnerability of one package.

Severity table (Checkov's `severity`, filled only with a Prisma Cloud / Bridgecrew key):
CRITICAL->critical, HIGH->high, MEDIUM->medium, LOW->low, INFO->info. Open-source runs
carry no severity: such a failed check is medium (a failed security policy, unrated).
Confidence firm. Category iac (secret for the `secrets` framework, sca for `sca_*`).
The `secrets` framework's code_block is not kept (Checkov masks it, but it is still the
line that held a credential).

Fingerprint "checkov/1": check_type, check id, file path, resource, and for SCA
checks the vulnerability id, package name and version. A failed check listed twice with
the same identity is kept once (the first).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

from aiva.enums import Confidence, FindingCategory, Severity
from aiva.errors import ReportParseError
from aiva.fingerprint import fingerprint
from aiva.parsers._sast_helpers import (
    as_dict,
    as_int,
    as_list,
    as_str,
    clip,
    entry_errors,
    line_or_none,
    unique,
)
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
}
SNIPPET_LINES = 40


class CheckovParser:
    """Checkov's JSON report."""

    name: ClassVar[str] = "checkov"
    tool_name: ClassVar[str | None] = "checkov"
    fingerprint_version: ClassVar[str] = "checkov/1"

    def sniff(self, source: ReportSource) -> bool:
        """A check_type with results (failed/passed checks), or Checkov's bare summary."""
        head = source.text_head()
        if head[:1] not in ("{", "["):
            return False
        if '"check_type"' in head and ('"failed_checks"' in head or '"passed_checks"' in head):
            return True
        return head.startswith("{") and '"checkov_version"' in head and '"failed"' in head

    def parse(self, source: ReportSource, ctx: ParseContext) -> Iterator[Finding]:
        """Yield one finding per failed check of every framework report."""
        yield from unique(self._reports(source, ctx))

    def _reports(self, source: ReportSource, ctx: ParseContext) -> Iterator[Finding]:
        doc = source.load_json(self.name)
        reports = doc if isinstance(doc, list) else [doc]
        for r, report in enumerate(reports):
            if not isinstance(report, dict):
                raise ReportParseError(source.path, self.name, "a report is not an object", f"[{r}]")
            if "results" not in report:
                if "checkov_version" in report or "check_type" in report or "failed" in report:
                    continue  # a bare summary: nothing was scanned or nothing failed
                raise ReportParseError(source.path, self.name, "no 'results' in the report", f"[{r}]")
            results = report.get("results")
            if not isinstance(results, dict):
                raise ReportParseError(source.path, self.name, "'results' is not an object", f"[{r}].results")
            check_type = as_str(report.get("check_type")) or "unknown"
            version = as_str(as_dict(report.get("summary")).get("checkov_version"))
            tool = ToolInfo(name="checkov", version=version)
            failed = results.get("failed_checks") or []
            if not isinstance(failed, list):
                raise ReportParseError(
                    source.path, self.name, "'failed_checks' is not an array", f"[{r}].results.failed_checks"
                )
            for i, check in enumerate(failed):
                if not isinstance(check, dict) or as_str(check.get("check_id")) is None:
                    raise ReportParseError(
                        source.path, self.name, "a failed check is not an object with a check_id",
                        f"[{r}].results.failed_checks[{i}]",
                    )
                with entry_errors(source.path, self.name, f"[{r}].results.failed_checks[{i}]"):
                    finding = self._finding(check, check_type, tool, ctx)
                yield finding

    def _finding(self, c: dict[str, Any], check_type: str, tool: ToolInfo, ctx: ParseContext) -> Finding:
        warnings: list[str] = []
        check_id = str(as_str(c.get("check_id")))
        path = as_str(c.get("file_path")) or as_str(c.get("repo_file_path"))
        resource = as_str(c.get("resource"))
        rng = [as_int(x) for x in as_list(c.get("file_line_range"))]
        start = line_or_none(rng[0]) if rng else None
        end = line_or_none(rng[-1]) if rng else None
        vuln = as_dict(c.get("vulnerability_details"))
        vid = as_str(vuln.get("id"))
        pkg, version = as_str(vuln.get("package_name")), as_str(vuln.get("package_version"))
        sca = check_type.startswith("sca") or bool(vuln)
        category = (
            FindingCategory.SECRET if check_type == "secrets"
            else FindingCategory.SCA if sca
            else FindingCategory.IAC
        )
        identity: tuple[Any, ...] = (check_type, check_id, path, resource)
        if sca:
            identity += (vid, pkg, version)
        severity_word = c.get("severity") or vuln.get("severity")
        guideline = as_str(c.get("guideline"))
        name = as_str(c.get("check_name")) or check_id
        description = as_str(c.get("description")) or name
        if resource:
            description += f"\n\nResource: {resource}"
        evaluated = [str(k) for k in as_list(as_dict(c.get("check_result")).get("evaluated_keys"))]
        if evaluated:
            description += f"\nEvaluated keys: {', '.join(evaluated[:20])}"
        component = None
        if pkg:
            eco = as_str(vuln.get("package_type")) or as_str(vuln.get("ecosystem"))
            component = Component(
                purl=make_purl(eco, pkg, version, warnings), name=pkg, version=version, ecosystem=eco,
                fixed_version=as_str(vuln.get("fixed_version")) or as_str(vuln.get("lowest_fixed_version")),
            )
        return Finding(
            fingerprint=fingerprint(self.fingerprint_version, *identity),
            fingerprint_version=self.fingerprint_version,
            format=self.name,
            tool=tool,
            category=category,
            rule_id=check_id,
            title=clip(f"{name} ({vid})" if vid else name, 500) or check_id,
            description=clip(description) or "",
            severity=severity_from_table(severity_word, SEVERITY, Severity.MEDIUM),
            confidence=Confidence.FIRM,
            cwes=cwe_refs([x for x in as_list(c.get("cwe")) if isinstance(x, (str, int))], warnings),
            vulnerability_ids=vuln_refs([vid]),
            cvss_v3=parse_cvss(as_str(vuln.get("vector")), warnings) if sca else None,
            component=component,
            location=Location(
                file_path=path,
                start_line=start,
                end_line=end,
                snippet=None if check_type == "secrets" else clip(_snippet(c.get("code_block"))),
            ),
            target=ctx.target,
            references=tuple(x for x in (guideline, as_str(vuln.get("link"))) if x),
            remediation=f"See {guideline}" if guideline else None,
            raw_id=as_str(c.get("bc_check_id")),
            tags=tuple(x for x in (check_type, as_str(c.get("bc_category"))) if x),
            warnings=tuple(warnings),
        )


def _snippet(code_block: Any) -> str | None:
    """Checkov's code_block ([[line, text], ...]) as text, the first SNIPPET_LINES lines."""
    lines: list[str] = []
    for item in as_list(code_block)[:SNIPPET_LINES]:
        if isinstance(item, list) and len(item) == 2 and isinstance(item[1], str):
            lines.append(item[1].rstrip("\n"))
    return "\n".join(lines) or None


PARSER = CheckovParser()
SNIFF_PRIORITY = 65

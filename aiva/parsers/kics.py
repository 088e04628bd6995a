"""KICS JSON (`kics scan --report-formats json`, results.json): Checkmarx's IaC scanner.

Counting: one finding per entry of `queries[].files[]` (one query result at one place).
Several entries may share the query, file, line, search key and even KICS's own
`similarity_id` and still be different problems: the RBAC wildcard query reports
`rules[0].apiGroups`, `rules[0].verbs` and `rules[1].verbs` of one Role as separate
entries whose only difference is the attribute path inside `expected_value` /
`actual_value`. So the fingerprint includes `expected_value` (a text KICS renders from
the query and the failing attribute path, the same on every run on the same code).
Entries identical in all identity fields are one report written twice: the first is
kept.

Severity table (KICS's words): CRITICAL->critical, HIGH->high, MEDIUM->medium,
LOW->low, INFO->info, TRACE->info. Confidence firm. Category iac; secret for queries of
KICS's "Secret Management" category (the matched value is then not kept).

Fingerprint "kics/1": query id, file name, line, search key, search value, expected value.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

from aiva.enums import Confidence, FindingCategory, Severity
from aiva.errors import ReportParseError
from aiva.fingerprint import fingerprint
from aiva.parsers._sast_helpers import (
    as_str,
    clip,
    cwe_numbers,
    entry_errors,
    line_or_none,
    unique,
)
from aiva.parsers.base import ParseContext, ReportSource, cwe_refs, severity_from_table
from aiva.schemas import Finding, Location, ToolInfo

SEVERITY = {
    "critical": Severity.CRITICAL,
    "high": Severity.HIGH,
    "medium": Severity.MEDIUM,
    "low": Severity.LOW,
    "info": Severity.INFO,
    "trace": Severity.INFO,
}
_SECRET_CATEGORY = "secret management"  # noqa: S105 - a KICS category name, not a password


class KicsParser:
    """KICS' JSON results."""

    name: ClassVar[str] = "kics"
    tool_name: ClassVar[str | None] = "kics"
    fingerprint_version: ClassVar[str] = "kics/1"

    def sniff(self, source: ReportSource) -> bool:
        """A JSON object with KICS' queries list and its scan counters."""
        head = source.text_head()
        if not head.startswith("{") or '"queries"' not in head:
            return False
        return '"query_id"' in head or '"kics_version"' in head or '"queries_total"' in head

    def parse(self, source: ReportSource, ctx: ParseContext) -> Iterator[Finding]:
        """Yield one finding per query result (queries[].files[])."""
        doc = source.load_json(self.name)
        if not isinstance(doc, dict) or not isinstance(doc.get("queries", []), list):
            raise ReportParseError(source.path, self.name, "expected an object with a 'queries' array")
        tool = ToolInfo(name="kics", version=as_str(doc.get("kics_version")))
        yield from unique(self._queries(doc.get("queries") or [], tool, source, ctx))

    def _queries(
        self, queries: list[Any], tool: ToolInfo, source: ReportSource, ctx: ParseContext
    ) -> Iterator[Finding]:
        for q, query in enumerate(queries):
            if not isinstance(query, dict):
                raise ReportParseError(source.path, self.name, "a query is not an object", f"queries[{q}]")
            files = query.get("files") or []
            if not isinstance(files, list):
                raise ReportParseError(source.path, self.name, "'files' is no array", f"queries[{q}].files")
            for i, hit in enumerate(files):
                if not isinstance(hit, dict):
                    raise ReportParseError(
                        source.path, self.name, "a query result is not an object", f"queries[{q}].files[{i}]"
                    )
                with entry_errors(source.path, self.name, f"queries[{q}].files[{i}]"):
                    finding = self._finding(query, hit, tool, ctx)
                yield finding

    def _finding(self, q: dict[str, Any], f: dict[str, Any], tool: ToolInfo, ctx: ParseContext) -> Finding:
        warnings: list[str] = []
        query_id = as_str(q.get("query_id"))
        query_name = as_str(q.get("query_name")) or query_id or "KICS query"
        category = as_str(q.get("category"))
        secret = (category or "").lower() == _SECRET_CATEGORY
        path, line = as_str(f.get("file_name")), line_or_none(f.get("line"))
        search_key, search_value = as_str(f.get("search_key")), as_str(f.get("search_value"))
        expected, actual = as_str(f.get("expected_value")), as_str(f.get("actual_value"))
        parts = [as_str(q.get("description")) or query_name]
        if expected:
            parts.append(f"Expected: {expected}")
        if actual and not secret:
            parts.append(f"Actual: {actual}")
        if search_key:
            parts.append(f"Search key: {search_key}")
        resource = as_str(f.get("resource_name"))
        if resource:
            parts.append(f"Resource: {as_str(f.get('resource_type')) or ''} {resource}".strip())
        platform = as_str(q.get("platform"))
        return Finding(
            fingerprint=fingerprint(
                self.fingerprint_version, query_id, path, line, search_key, search_value, expected
            ),
            fingerprint_version=self.fingerprint_version,
            format=self.name,
            tool=tool,
            category=FindingCategory.SECRET if secret else FindingCategory.IAC,
            rule_id=query_id,
            title=clip(query_name, 500) or "KICS query",
            description=clip("\n".join(parts)) or "",
            severity=severity_from_table(q.get("severity"), SEVERITY, Severity.MEDIUM),
            confidence=Confidence.FIRM,
            cwes=cwe_refs(cwe_numbers([q.get("cwe")]), warnings),
            location=Location(file_path=path, start_line=line, end_line=line),
            target=ctx.target,
            references=tuple(x for x in (as_str(q.get("query_url")),) if x),
            remediation=clip(as_str(f.get("remediation"))) if not secret else None,
            raw_id=as_str(f.get("similarity_id")),
            tags=tuple(x for x in (platform, category, as_str(f.get("issue_type"))) if x),
            warnings=tuple(warnings),
        )


PARSER = KicsParser()
SNIFF_PRIORITY = 70

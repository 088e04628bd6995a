"""Bandit JSON (`bandit -f json`), the Python AST security linter.

One finding per entry of `results` (a test id at a file and line). Bandit 1.7.3+ also
writes `col_offset`; when present it tells two hits of the same test on one line apart.
Without it, two entries with the same test id, file and line are the same report
written twice (older Bandit emits nested string concatenations on one line twice):
the first is kept and the repeats are dropped.

Severity table (Bandit's `issue_severity`): HIGH->high, MEDIUM->medium, LOW->low,
UNDEFINED->info. Confidence (`issue_confidence`): HIGH->certain, MEDIUM->firm,
LOW->tentative, UNDEFINED->unknown. CWE from `issue_cwe.id` (Bandit 1.7.5+).
Windows path separators in `filename` are normalised to "/".

Hard-coded passwords (B105/B106/B107) quote the password: it is redacted from the text and the
snippet, and only its keyed hash is kept (`secret_hash`).

Fingerprint "bandit/1": test id, file path (normalised), line number, column offset
(when given).
"""

from __future__ import annotations

import re
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
    entry_errors,
    first_sentence,
    line_or_none,
    unique,
)
from aiva.parsers.base import ParseContext, ReportSource, cwe_refs, severity_from_table
from aiva.schemas import Finding, Location, ToolInfo
from aiva.secrets import scrub, secret_hash

SEVERITY = {
    "high": Severity.HIGH,
    "medium": Severity.MEDIUM,
    "low": Severity.LOW,
    "undefined": Severity.INFO,
}
_TOOL = ToolInfo(name="bandit")


class BanditParser:
    """Bandit's JSON report."""

    name: ClassVar[str] = "bandit"
    tool_name: ClassVar[str | None] = "bandit"
    fingerprint_version: ClassVar[str] = "bandit/1"

    def sniff(self, source: ReportSource) -> bool:
        """A JSON object with Bandit's result keys, or its metrics totals (which may come first)."""
        head = source.text_head()
        if not head.startswith("{"):
            return False
        if '"results"' in head and '"test_id"' in head and '"issue_severity"' in head:
            return True
        return '"metrics"' in head and '"_totals"' in head and '"CONFIDENCE.HIGH"' in head

    def parse(self, source: ReportSource, ctx: ParseContext) -> Iterator[Finding]:
        """Yield one finding per result."""
        doc = source.load_json(self.name)
        if not isinstance(doc, dict) or not isinstance(doc.get("results", []), list):
            raise ReportParseError(source.path, self.name, "expected an object with a 'results' array")
        yield from unique(self._results(doc.get("results") or [], source, ctx))

    def _results(self, results: list[Any], source: ReportSource, ctx: ParseContext) -> Iterator[Finding]:
        for i, r in enumerate(results):
            if not isinstance(r, dict):
                raise ReportParseError(source.path, self.name, "a result is not an object", f"results[{i}]")
            test_id = as_str(r.get("test_id"))
            if test_id is None:
                raise ReportParseError(source.path, self.name, "a result has no test_id", f"results[{i}]")
            with entry_errors(source.path, self.name, f"results[{i}]"):
                finding = self._finding(r, test_id, ctx)
            yield finding

    def _finding(self, r: dict[str, Any], test_id: str, ctx: ParseContext) -> Finding:
        warnings: list[str] = []
        raw_path = as_str(r.get("filename"))
        path = raw_path.replace("\\", "/") if raw_path else None
        line = line_or_none(r.get("line_number"))
        col = as_int(r.get("col_offset"))
        line_range = [n for n in (as_int(x) for x in as_list(r.get("line_range"))) if n]
        text = as_str(r.get("issue_text")) or ""
        code = as_str(r.get("code"))
        secret = _hardcoded_secret(test_id, text)
        if secret:  # never keep a found password in clear: redact it everywhere, keep a keyed hash
            text, code = scrub(text, secret), scrub(code, secret) if code else code
        test_name = as_str(r.get("test_name"))
        cwe = as_dict(r.get("issue_cwe")).get("id")
        return Finding(
            fingerprint=fingerprint(self.fingerprint_version, test_id, path, line, col),
            fingerprint_version=self.fingerprint_version,
            format=self.name,
            tool=_TOOL,
            category=FindingCategory.SAST,
            rule_id=test_id,
            title=f"{test_id} {test_name}: {first_sentence(text, 160)}" if test_name and text else (
                first_sentence(text) or test_id
            ),
            description=clip(text) or "",
            severity=severity_from_table(r.get("issue_severity"), SEVERITY),
            confidence=CONFIDENCE_WORDS.get(str(r.get("issue_confidence") or "").lower(), Confidence.UNKNOWN),
            cwes=cwe_refs([cwe] if isinstance(cwe, (int, str)) and cwe not in (0, "0") else [], warnings),
            location=Location(
                file_path=path,
                start_line=line,
                end_line=max(line_range) if line_range else line,
                snippet=clip(code),
            ),
            target=ctx.target,
            references=tuple(x for x in (as_str(r.get("more_info")),) if x),
            secret_hash=secret_hash(secret, ctx.secret_key) if secret else None,
            tags=tuple(x for x in (test_name, "secret" if secret else None) if x),
            warnings=tuple(warnings),
        )


# B105/B106/B107 (hard-coded password string / argument / default) quote the password in issue_text.
_SECRET_TESTS = frozenset({"B105", "B106", "B107"})
_QUOTED = re.compile(r"Possible hardcoded password: '(.*)'\s*$", re.DOTALL)


def _hardcoded_secret(test_id: str, text: str) -> str | None:
    """The password a hard-coded-password result quotes, if any."""
    if test_id not in _SECRET_TESTS:
        return None
    m = _QUOTED.search(text)
    return m.group(1) if m and m.group(1) else None


PARSER = BanditParser()
SNIFF_PRIORITY = 70

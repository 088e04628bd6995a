"""Gitleaks JSON reports (`gitleaks detect --report-format json`): v8 (`RuleID`,
`Secret`, `StartLine`, ...), v7 and older (`rule`, `offender`, `lineNumber`, ...). A
report with no leaks may be the bare JSON `null` (gitleaks 7) or `[]`.

Counting: one finding per secret PLACE, i.e. per rule x file x line. Gitleaks scans the
git history and reports a leak once per commit whose diff contains it, so the same line
of the same file shows up for a feature commit and again for its merge commit. Those
entries are one exposure (one secret to rotate, one line to clean up): they become one
finding; the first entry is kept and every commit is listed, sorted, in the
description. The commit is provenance, not identity (a rebase rewrites it).

Severity: Gitleaks has none; every leak is high (a credential in source is a real
exposure until proven otherwise). Confidence firm. CWE-798.

Secrets: the matched secret (`Secret` / `offender`) is never kept in clear. The snippet
is the matched text with the secret replaced by its redacted form, and `secret_hash`
is the keyed hash (aiva.secrets). A report written with `--redact` (secret "REDACTED")
has nothing to hash.

Fingerprint "gitleaks/1": rule id, file path, start line (None when the report has no
line numbers, as gitleaks 6 and older).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

from aiva.enums import Confidence, FindingCategory, Severity
from aiva.errors import ReportParseError
from aiva.fingerprint import fingerprint
from aiva.parsers._sast_helpers import (
    as_list,
    as_str,
    clip,
    entry_errors,
    line_or_none,
    redacted,
    scrub_all,
)
from aiva.parsers.base import ParseContext, ReportSource, cwe_refs
from aiva.schemas import Finding, Location, ToolInfo
from aiva.secrets import secret_hash

_TOOL = ToolInfo(name="gitleaks")
_REDACTED_MARKERS = frozenset({"REDACTED", ""})


@dataclass
class _Leak:
    """One report entry, normalised across gitleaks versions."""

    rule: str
    label: str
    file: str | None
    line: int | None
    end_line: int | None
    secret: str | None
    context: str | None
    commit: str | None
    tags: list[str]
    raw_id: str | None
    target: str | None
    commits: set[str] = field(default_factory=set)


class GitleaksParser:
    """Gitleaks' JSON report (v8 and legacy)."""

    name: ClassVar[str] = "gitleaks"
    tool_name: ClassVar[str | None] = "gitleaks"
    fingerprint_version: ClassVar[str] = "gitleaks/1"

    def sniff(self, source: ReportSource) -> bool:
        """A JSON array of leaks (v8 RuleID+Secret/Match, legacy rule+offender), or the bare `null`."""
        head = source.text_head()
        if head.strip() == "null":
            return True
        if not head.startswith("["):
            return False
        if '"RuleID"' in head and ('"Secret"' in head or '"Match"' in head):
            return True
        return '"offender"' in head and '"rule"' in head

    def parse(self, source: ReportSource, ctx: ParseContext) -> Iterator[Finding]:
        """Yield one finding per rule x file x line (commits merged)."""
        doc = source.load_json(self.name)
        if doc is None:
            return
        if not isinstance(doc, list):
            raise ReportParseError(source.path, self.name, "expected a JSON array of leaks (or null)")
        places: dict[tuple[str, str | None, int | None], _Leak] = {}
        for i, entry in enumerate(doc):
            if not isinstance(entry, dict):
                raise ReportParseError(source.path, self.name, "a leak is not an object", f"[{i}]")
            leak = _leak(entry)
            if leak is None:
                raise ReportParseError(source.path, self.name, "a leak has no rule id", f"[{i}]")
            kept = places.setdefault((leak.rule, leak.file, leak.line), leak)
            if leak.commit:
                kept.commits.add(leak.commit)
        for leak in places.values():
            with entry_errors(source.path, self.name, f"rule {leak.rule!r} in {leak.file!r}"):
                finding = self._finding(leak, ctx)
            yield finding

    def _finding(self, leak: _Leak, ctx: ParseContext) -> Finding:
        secret = leak.secret
        where = f"{leak.file or 'an unknown file'}" + (f" line {leak.line}" if leak.line else "")
        lines = [f"{leak.label} found in {where}."]
        if leak.commits:
            commits = sorted(leak.commits)
            lines.append(f"Seen in {len(commits)} commit(s): {', '.join(commits[:20])}")
        if leak.tags:
            lines.append(f"Tags: {', '.join(leak.tags)}")
        snippet = scrub_all(leak.context, [secret] if secret else []) if leak.context else redacted(secret)
        return Finding(
            fingerprint=fingerprint(self.fingerprint_version, leak.rule, leak.file, leak.line),
            fingerprint_version=self.fingerprint_version,
            format=self.name,
            tool=_TOOL,
            category=FindingCategory.SECRET,
            rule_id=leak.rule,
            title=clip(leak.label if leak.label == leak.rule else f"{leak.label} ({leak.rule})", 500)
            or leak.rule,
            description=scrub_all("\n".join(lines), [secret] if secret else []) or "",
            severity=Severity.HIGH,
            confidence=Confidence.FIRM,
            cwes=cwe_refs([798], []),
            location=Location(
                file_path=leak.file,
                start_line=leak.line,
                end_line=leak.end_line or leak.line,
                snippet=clip(snippet),
            ),
            target=ctx.target or leak.target,
            raw_id=leak.raw_id,
            secret_hash=secret_hash(secret, ctx.secret_key) if secret else None,
            tags=tuple(dict.fromkeys(["secret", *leak.tags]))[:20],
        )


def _leak(e: dict[str, Any]) -> _Leak | None:
    """Normalise one entry; None when it names no rule."""
    if "RuleID" in e or "Secret" in e or "StartLine" in e:  # gitleaks 8
        rule = as_str(e.get("RuleID"))
        if rule is None:
            return None
        secret = as_str(e.get("Secret")) or as_str(e.get("Match"))
        tags = [str(t) for t in as_list(e.get("Tags")) if isinstance(t, str) and t.strip()]
        return _Leak(
            rule=rule,
            label=as_str(e.get("Description")) or rule,
            file=as_str(e.get("File")),
            line=line_or_none(e.get("StartLine")),
            end_line=line_or_none(e.get("EndLine")),
            secret=None if secret in _REDACTED_MARKERS else secret,
            context=as_str(e.get("Line")) or as_str(e.get("Match")),
            commit=as_str(e.get("Commit")),
            tags=tags,
            raw_id=as_str(e.get("Fingerprint")),
            target=None,
        )
    rule = as_str(e.get("rule"))
    if rule is None:
        return None
    offender = as_str(e.get("offender"))
    raw_tags = e.get("tags")
    tags = [t.strip() for t in raw_tags.split(",") if t.strip()] if isinstance(raw_tags, str) else []
    return _Leak(
        rule=rule,
        label=rule,
        file=as_str(e.get("file")),
        line=line_or_none(e.get("lineNumber")),
        end_line=None,
        secret=None if offender in _REDACTED_MARKERS else offender,
        context=as_str(e.get("line")),
        commit=as_str(e.get("commit")),
        tags=tags,
        raw_id=None,
        target=as_str(e.get("repoURL")),
    )


PARSER = GitleaksParser()
SNIFF_PRIORITY = 60

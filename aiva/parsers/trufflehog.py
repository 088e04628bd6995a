"""TruffleHog JSON Lines: v3 (`trufflehog git ... --json`: SourceMetadata, DetectorName,
Verified, Raw) and v2 (`trufflehog --json`: path, reason, stringsFound, commitHash).

Counting: one finding per secret PLACE. Both versions walk the git history and report a
secret again for every commit whose diff shows it (a feature commit and its merge, or
each later edit of the same file); the commit is provenance, not identity.
- v3: one finding per detector x source asset (repository, bucket, image) x file x line.
  Repeats (other commits, or the very same line printed twice) are merged into the
  first entry; the commits are listed, sorted, in the description.
- v2: v2 gives no line numbers, so one finding per reason (rule) x file; the strings
  found and the commits of every merged entry are counted in the description.

Severity (TruffleHog has none): a v3 secret the detector VERIFIED against its service
is critical (a live credential), an unverified one high; v2 regex matches high, v2
"High Entropy" matches medium. Confidence: verified->certain, unverified->tentative,
v2 regex->firm, v2 entropy->tentative. CWE-798.

Secrets: v3's `Raw`/`RawV2` (base64 when written by Go's []byte marshalling; decoded
here) and v2's `stringsFound` are never kept in clear: the snippet is the redacted
form, the keyed hash goes to `secret_hash`, and every text field is scrubbed of them.
`Redacted` is not used as such, because for some detectors (AWS key ids) it is the raw
value; `diff` and `printDiff` (whole diffs with the secret) are dropped.

Fingerprint "trufflehog/1":
- v3: "v3", detector name, source kind, asset, file (or link), line.
- v2: "v2", reason, file path.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

from aiva.enums import Confidence, FindingCategory, Severity
from aiva.errors import ReportParseError
from aiva.fingerprint import fingerprint
from aiva.parsers._sast_helpers import (
    as_dict,
    as_list,
    as_str,
    clip,
    decode_b64_secret,
    entry_errors,
    line_or_none,
    redacted,
    scrub_all,
)
from aiva.parsers.base import ParseContext, ReportSource, cwe_refs
from aiva.schemas import Finding, Location, ToolInfo
from aiva.secrets import secret_hash

_TOOL = ToolInfo(name="trufflehog")
_ASSET_KEYS = ("repository", "bucket", "image", "project", "workspace", "channel", "link")


@dataclass
class _Secret:
    """One report line, normalised."""

    key: tuple[Any, ...]
    version: str
    rule: str
    file: str | None
    line: int | None
    asset: str | None
    secrets: list[str]
    verified: bool | None
    commits: set[str] = field(default_factory=set)
    extra: dict[str, str] = field(default_factory=dict)
    strings: set[str] = field(default_factory=set)
    source_name: str | None = None


class TrufflehogParser:
    """TruffleHog's JSON Lines output (v2 and v3)."""

    name: ClassVar[str] = "trufflehog"
    tool_name: ClassVar[str | None] = "trufflehog"
    fingerprint_version: ClassVar[str] = "trufflehog/1"

    def sniff(self, source: ReportSource) -> bool:
        """The first line is a v3 object (SourceMetadata, DetectorName) or a v2 one (commitHash, branch)."""
        head = source.text_head()
        if not head.startswith("{"):
            return False
        if '"SourceMetadata"' in head and '"DetectorName"' in head:
            return True
        v2_body = '"stringsFound"' in head or '"diff"' in head
        return '"commitHash"' in head and '"branch"' in head and v2_body

    def parse(self, source: ReportSource, ctx: ParseContext) -> Iterator[Finding]:
        """Yield one finding per secret place (commits merged)."""
        places: dict[tuple[Any, ...], _Secret] = {}
        for n, obj in enumerate(source.iter_json_lines(self.name), 1):
            if not isinstance(obj, dict):
                raise ReportParseError(source.path, self.name, "a line is not a JSON object", f"record {n}")
            item = _v3(obj) if "SourceMetadata" in obj or "DetectorName" in obj else _v2(obj)
            if item is None:
                raise ReportParseError(
                    source.path, self.name, "a record names no detector (v3) or reason (v2)", f"record {n}"
                )
            kept = places.setdefault(item.key, item)
            if kept is not item:
                kept.commits |= item.commits
                kept.strings |= item.strings
        for item in places.values():
            with entry_errors(source.path, self.name, f"detector {item.rule!r} in {item.file!r}"):
                finding = self._finding(item, ctx)
            yield finding

    def _finding(self, s: _Secret, ctx: ParseContext) -> Finding:
        secret = s.secrets[0] if s.secrets else None
        where = f"{s.file or 'an unknown file'}" + (f" line {s.line}" if s.line else "")
        lines = [f"{s.rule}: secret found in {where}" + (f" ({s.asset})" if s.asset else "") + "."]
        if s.verified is not None:
            lines.append("Verified: the credential was accepted by its service." if s.verified
                         else "Not verified against its service.")
        if s.version == "v2" and len(s.strings) > 1:
            lines.append(f"{len(s.strings)} distinct matching strings in this file (redacted).")
        if s.commits:
            commits = sorted(s.commits)
            lines.append(f"Seen in {len(commits)} commit(s): {', '.join(commits[:20])}")
        for k, v in sorted(s.extra.items()):
            lines.append(f"{k}: {v}")
        entropy = s.version == "v2" and "entropy" in s.rule.lower()
        if s.verified:
            severity, confidence = Severity.CRITICAL, Confidence.CERTAIN
        elif s.version == "v3":
            severity, confidence = Severity.HIGH, Confidence.TENTATIVE
        elif entropy:
            severity, confidence = Severity.MEDIUM, Confidence.TENTATIVE
        else:
            severity, confidence = Severity.HIGH, Confidence.FIRM
        everything = [*s.secrets, *s.strings]
        return Finding(
            fingerprint=fingerprint(self.fingerprint_version, *s.key),
            fingerprint_version=self.fingerprint_version,
            format=self.name,
            tool=_TOOL,
            category=FindingCategory.SECRET,
            rule_id=s.rule,
            title=clip(f"{s.rule} secret" if "secret" not in s.rule.lower() else s.rule, 500) or "Secret",
            description=clip(scrub_all("\n".join(lines), everything)) or "",
            severity=severity,
            confidence=confidence,
            cwes=cwe_refs([798], []),
            location=Location(file_path=s.file, start_line=s.line, end_line=s.line, snippet=redacted(secret)),
            target=ctx.target or (s.asset if s.version == "v3" else None),
            secret_hash=secret_hash(secret, ctx.secret_key) if secret else None,
            tags=tuple(t for t in ("secret", "verified" if s.verified else None, s.source_name) if t),
        )


def _v3(obj: dict[str, Any]) -> _Secret | None:
    detector = as_str(obj.get("DetectorName")) or as_str(obj.get("DetectorType"))
    if detector is None:
        return None
    data = as_dict(as_dict(obj.get("SourceMetadata")).get("Data"))
    kind = next(iter(data), None) if len(data) == 1 else None
    meta = as_dict(data.get(kind)) if kind else {}
    file = as_str(meta.get("file")) or as_str(meta.get("path"))
    line = line_or_none(meta.get("line"))
    asset = next((as_str(meta.get(k)) for k in _ASSET_KEYS if as_str(meta.get(k))), None)
    secrets: list[str] = []
    for key in ("Raw", "RawV2"):
        value = as_str(obj.get(key))
        if value:
            decoded = decode_b64_secret(value)
            secrets += [decoded, value] if decoded else [value]
    extra = {
        str(k): str(v)[:200]
        for k, v in as_dict(obj.get("ExtraData")).items()
        if isinstance(v, (str, int, float)) and not isinstance(v, bool)
    }
    verified = obj.get("Verified")
    commit = as_str(meta.get("commit"))
    return _Secret(
        key=("v3", detector, kind, asset, file or as_str(meta.get("link")), line),
        version="v3",
        rule=detector,
        file=file,
        line=line,
        asset=asset,
        secrets=secrets,
        verified=verified if isinstance(verified, bool) else None,
        commits={commit} if commit else set(),
        extra=extra,
        source_name=as_str(obj.get("SourceName")),
    )


def _v2(obj: dict[str, Any]) -> _Secret | None:
    reason = as_str(obj.get("reason"))
    if reason is None:
        return None
    path = as_str(obj.get("path"))
    strings = [s for s in (as_str(x) for x in as_list(obj.get("stringsFound"))) if s]
    commit = as_str(obj.get("commitHash"))
    return _Secret(
        key=("v2", reason, path),
        version="v2",
        rule=reason,
        file=path,
        line=None,
        asset=None,
        secrets=strings[:1],
        verified=None,
        commits={commit} if commit else set(),
        strings=set(strings),
    )


PARSER = TrufflehogParser()
SNIFF_PRIORITY = 60

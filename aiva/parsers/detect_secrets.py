"""detect-secrets JSON (`detect-secrets scan` output, the same document as a
`.secrets.baseline`, full or `--slim`): a `results` map of file -> list of potential
secrets, each with `type` (the plugin's secret type, e.g. "AWS Access Key"),
`filename`, `line_number`, `hashed_secret` (SHA-1 of the secret) and `is_verified`;
an audited baseline adds `is_secret` (true / false) to the entries a person reviewed.

Counting: one finding per entry, i.e. per secret type x file x secret (detect-secrets
itself reports a secret once per file, at its first line). An entry repeated with the
same identity is kept once (the first).

Severity table (detect-secrets has none; by what the detector matched):
- verified (`is_verified` true: the service accepted the secret) -> critical;
- a detector for a specific credential format (AWS Access Key, Private Key, GitHub
  Token, Slack Token, Stripe Access Key, JSON Web Token, Basic Auth Credentials, ... every
  type not listed below) -> high;
- heuristic detectors: Secret Keyword, Base64 High Entropy String, Hex High Entropy
  String -> medium;
- Public IP (ipv4) (an address, not a credential) -> low.
Confidence: audited `is_secret` true or verified -> certain; a format detector -> firm;
heuristic detectors and Public IP -> tentative. An entry audited `is_secret` false (a
person marked it a false positive) is kept and marked `suppressed`. CWE-798 (CWE-200 for
Public IP).

Secrets: the report never holds a secret in clear, only `hashed_secret`, an unkeyed SHA-1
of it. That SHA-1 is the match key, but it is not stored as such either: for a weak
keyword password it can be reversed with a dictionary. `secret_hash` is AIVA's keyed hash
(aiva.secrets, the deployment's key) of "detect-secrets:sha1:" + hashed_secret: the same
secret seen again by detect-secrets (in another file, another run) gets the same value;
it cannot match another tool's secret_hash (theirs is of the clear value). No snippet:
the report has no line content.

Fingerprint "detect_secrets/1": secret type, file path, and that keyed hash. The line
is not identity (editing the lines above a secret moves it; it is the same exposure),
which is also detect-secrets' own notion of "the same secret". Consequence: changing
AIVA_SECRET_HASH_KEY changes these fingerprints (the findings are then seen as new).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

from aiva.enums import Confidence, FindingCategory, Severity
from aiva.errors import ReportParseError
from aiva.fingerprint import fingerprint
from aiva.parsers._sast_helpers import as_str, entry_errors, line_or_none, unique
from aiva.parsers.base import ParseContext, ReportSource, cwe_refs
from aiva.schemas import Finding, Location, ToolInfo
from aiva.secrets import secret_hash

HEURISTIC_TYPES = frozenset({"secret keyword", "base64 high entropy string", "hex high entropy string"})
NOT_A_CREDENTIAL_TYPES = frozenset({"public ip (ipv4)"})
_HASH_PREFIX = "detect-secrets:sha1:"


class DetectSecretsParser:
    """detect-secrets' scan output / baseline."""

    name: ClassVar[str] = "detect_secrets"
    tool_name: ClassVar[str | None] = "detect-secrets"
    fingerprint_version: ClassVar[str] = "detect_secrets/1"

    def sniff(self, source: ReportSource) -> bool:
        """A JSON object with a results map and detect-secrets' plugins_used list (or hashed_secret entries)."""
        head = source.text_head()
        if not head.startswith("{") or '"results"' not in head:
            return False
        return '"plugins_used"' in head or ('"hashed_secret"' in head and '"line_number"' in head)

    def parse(self, source: ReportSource, ctx: ParseContext) -> Iterator[Finding]:
        """Yield one finding per potential secret."""
        doc = source.load_json(self.name)
        if not isinstance(doc, dict) or not isinstance(doc.get("results"), dict):
            raise ReportParseError(source.path, self.name, "expected an object with a 'results' map")
        tool = ToolInfo(name="detect-secrets", version=as_str(doc.get("version")))
        yield from unique(self._results(doc["results"], tool, source, ctx))

    def _results(
        self, results: dict[str, Any], tool: ToolInfo, source: ReportSource, ctx: ParseContext
    ) -> Iterator[Finding]:
        for file_key, entries in results.items():
            if not isinstance(entries, list):
                raise ReportParseError(
                    source.path, self.name, "a file's entry is not an array", f"results[{file_key!r}]"
                )
            for i, e in enumerate(entries):
                where = f"results[{file_key!r}][{i}]"
                if not isinstance(e, dict):
                    raise ReportParseError(source.path, self.name, "a secret is not an object", where)
                if as_str(e.get("type")) is None or as_str(e.get("hashed_secret")) is None:
                    raise ReportParseError(source.path, self.name, "a secret has no type or hashed_secret", where)
                with entry_errors(source.path, self.name, where):
                    finding = self._finding(e, file_key, tool, ctx)
                yield finding

    def _finding(self, e: dict[str, Any], file_key: str, tool: ToolInfo, ctx: ParseContext) -> Finding:
        kind = str(as_str(e.get("type")))
        hashed = str(as_str(e.get("hashed_secret"))).lower()
        path = (as_str(e.get("filename")) or as_str(file_key) or "").replace("\\", "/") or None
        line = line_or_none(e.get("line_number"))
        verified = e.get("is_verified") is True
        audited = e.get("is_secret")
        severity, confidence = _rating(kind, verified, audited is True)
        match_key = secret_hash(_HASH_PREFIX + hashed, ctx.secret_key)
        where = f"{path or 'an unknown file'}" + (f" line {line}" if line else "")
        lines = [f"detect-secrets found a {kind} in {where}."]
        if verified:
            lines.append("The secret was verified: the service accepted it.")
        if audited is True:
            lines.append("An audit of the baseline confirmed it is a real secret.")
        elif audited is False:
            lines.append("An audit of the baseline marked it a false positive.")
        lines.append("The report holds only a hash of the secret, never its value.")
        tags = ["secret", *(["verified"] if verified else []), *(["audited"] if isinstance(audited, bool) else [])]
        not_credential = kind.lower() in NOT_A_CREDENTIAL_TYPES
        return Finding(
            fingerprint=fingerprint(self.fingerprint_version, kind, path, match_key),
            fingerprint_version=self.fingerprint_version,
            format=self.name,
            tool=tool,
            category=FindingCategory.SECRET,
            rule_id=kind,
            title=f"{kind} in {path}" if path else kind,
            description=" ".join(lines),
            severity=severity,
            confidence=confidence,
            cwes=cwe_refs([200 if not_credential else 798], []),
            location=Location(file_path=path, start_line=line, end_line=line),
            target=ctx.target,
            remediation=None if not_credential else (
                "Revoke and rotate the secret, remove it from the code and from the repository history, "
                "and load it from the environment or a secret store."
            ),
            suppressed=audited is False,
            secret_hash=None if not_credential else match_key,
            tags=tuple(tags),
        )


def _rating(kind: str, verified: bool, confirmed: bool) -> tuple[Severity, Confidence]:
    """Severity and confidence of one secret type (the module docstring's table)."""
    k = kind.lower()
    if verified:
        return Severity.CRITICAL, Confidence.CERTAIN
    if k in NOT_A_CREDENTIAL_TYPES:
        return Severity.LOW, Confidence.CERTAIN if confirmed else Confidence.TENTATIVE
    if k in HEURISTIC_TYPES:
        return Severity.MEDIUM, Confidence.CERTAIN if confirmed else Confidence.TENTATIVE
    return Severity.HIGH, Confidence.CERTAIN if confirmed else Confidence.FIRM


PARSER = DetectSecretsParser()
SNIFF_PRIORITY = 70

"""SARIF 2.1.0 export, shaped for GitHub code scanning.

One run whose tool is "AIVA"; one rule per distinct (scanner, rule) pair; one result per
finding with exactly one location, and `partialFingerprints["aivaFingerprint/v1"]` set to
the finding's stable fingerprint so GitHub tracks the alert across uploads.

Locations. GitHub requires `physicalLocation.artifactLocation.uri` on every result and
rejects URIs with schemes it does not know (`pkg:`, `https:`), so every result gets a
physical location with a relative (or `file://`) URI:
- code findings: the file path (relative to `%SRCROOT%`), with a region when lines are known;
- component findings without a file: the component's path (manifest, lockfile or path in
  the image), else the scan target; the package URL goes into a logical location
  (kind "module");
- endpoint findings: the URL's host and path as a relative path; the full URL goes into
  a logical location (kind "resource") and the result's properties.

What is exported. By default only open findings (new, active, reopened): code
scanning closes an alert whose result is absent from the next upload, and it does not
honour SARIF `suppressions`, so mitigated findings and human decisions (false positive,
risk accepted, out of scope) are left out. `include_closed=True` exports them too: mitigated
ones with `baselineState: "absent"`, human decisions with an external, accepted
suppression. GitHub also caps an upload (25,000 results per run, 10 MB gzipped);
a larger export is valid SARIF but GitHub keeps only part of it.

The results are streamed to an anonymous spool file while the rules are collected,
then the document is assembled: one pass over the findings, memory bounded by the
number of distinct rules.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from dataclasses import dataclass, field
from typing import IO, Any, BinaryIO
from urllib.parse import quote, urlsplit

import orjson

from aiva.enums import Confidence, FindingCategory, Severity, VulnerabilityStatus
from aiva.reports.common import as_utc, endpoint_text, rule_key, truncate
from aiva.reports.guidance import remediation_for
from aiva.reports.model import ReportFinding, RunSummary
from aiva.schemas import Finding

SARIF_SCHEMA_URI = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
FINGERPRINT_KEY = "aivaFingerprint/v1"
TOOL_NAME = "AIVA"
SRCROOT = "%SRCROOT%"

LEVELS: dict[Severity, str] = {
    Severity.CRITICAL: "error",
    Severity.HIGH: "error",
    Severity.MEDIUM: "warning",
    Severity.LOW: "note",
    Severity.INFO: "note",
}
# GitHub maps security-severity > 9.0 critical, 7.0-8.9 high, 4.0-6.9 medium, 0.1-3.9 low.
SEVERITY_SCORES: dict[Severity, float] = {
    Severity.CRITICAL: 9.5,
    Severity.HIGH: 8.0,
    Severity.MEDIUM: 5.5,
    Severity.LOW: 2.0,
    Severity.INFO: 0.0,
}
PRECISION: dict[Confidence, str] = {
    Confidence.CERTAIN: "very-high",
    Confidence.FIRM: "high",
    Confidence.TENTATIVE: "low",
    Confidence.UNKNOWN: "medium",
}
BASELINE: dict[str, str] = {"new": "new", "reopened": "new", "unchanged": "unchanged", "mitigated": "absent"}
_MAX_TAGS = 20  # GitHub's limit per rule
_WINDOWS_ABS = re.compile(r"^[A-Za-z]:/")


def _aiva_version() -> str:
    try:
        from importlib.metadata import version

        return version("aiva")
    except Exception:  # not installed as a distribution (e.g. run from a checkout)
        return "0.1.0"


@dataclass
class _Rule:
    sarif_id: str
    tool: str
    key: str
    title: str
    description: str
    help_text: str
    category: FindingCategory
    confidence: Confidence
    severity: Severity
    cvss: float | None
    cwes: set[int] = field(default_factory=set)

    def merge(self, f: Finding) -> None:
        if f.severity.rank > self.severity.rank:
            self.severity = f.severity
        score = f.cvss_score
        if score is not None and (self.cvss is None or score > self.cvss):
            self.cvss = score
        self.cwes.update(c.id for c in f.cwes)

    def descriptor(self) -> dict[str, Any]:
        score = self.cvss if self.cvss is not None else SEVERITY_SCORES[self.severity]
        tags: list[str] = []
        if self.category is not FindingCategory.LICENSE:
            tags.append("security")
        tags.append(self.category.value)
        tags.extend(f"external/cwe/cwe-{c:03d}" for c in sorted(self.cwes))
        tags.extend(f"CWE-{c}" for c in sorted(self.cwes))
        return {
            "id": self.sarif_id,
            "name": self.key,
            "shortDescription": {"text": self.title},
            "fullDescription": {"text": self.description},
            "help": {"text": self.help_text},
            "defaultConfiguration": {"level": LEVELS[self.severity]},
            "properties": {
                "security-severity": f"{score:.1f}",
                "precision": PRECISION[self.confidence],
                "problem.severity": {"error": "error", "warning": "warning"}.get(
                    LEVELS[self.severity], "recommendation"
                ),
                "tags": tags[:_MAX_TAGS],
                "tool": self.tool,
            },
        }


def _uri_from_path(path: str) -> tuple[str, str | None] | None:
    """A (uri, uriBaseId) for a file path: repository-relative paths get %SRCROOT%,
    absolute ones become file:// URIs. None for an empty path."""
    p = path.strip().replace("\\", "/")
    if p.startswith("file://"):
        return p, None
    if _WINDOWS_ABS.match(p):
        return "file:///" + quote(p, safe="/:"), None
    if p.startswith("/"):
        return "file://" + quote(p, safe="/"), None
    while p.startswith("./"):
        p = p[2:]
    p = p.lstrip("/")
    return (quote(p, safe="/"), SRCROOT) if p else None


def _relative_from_url(url: str) -> str | None:
    """A URL turned into a relative path (host, "_port", path) that code scanning accepts."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if not parts.netloc and not parts.path:
        return None
    host = parts.hostname or ""
    try:
        port = parts.port
    except ValueError:
        port = None
    if port is not None:
        host += f"_{port}"
    rel = (host + "/" + parts.path.lstrip("/")).strip("/")
    return quote(rel, safe="/") or None


def _uri_from_target(target: str) -> tuple[str, str | None] | None:
    if "://" in target:
        rel = _relative_from_url(target)
        return (rel, None) if rel else None
    return _uri_from_path(target)


def location_of(finding: Finding) -> dict[str, Any]:
    """The one SARIF location of a finding (see the module docstring for the rules)."""
    loc = finding.location
    if loc is not None and loc.file_path:
        uri = _uri_from_path(loc.file_path)
        if uri is not None:
            artifact: dict[str, Any] = {"uri": uri[0]}
            if uri[1]:
                artifact["uriBaseId"] = uri[1]
            physical: dict[str, Any] = {"artifactLocation": artifact}
            if loc.start_line:
                region: dict[str, Any] = {"startLine": loc.start_line}
                if loc.end_line and loc.end_line >= loc.start_line:
                    region["endLine"] = loc.end_line
                if loc.snippet:
                    region["snippet"] = {"text": truncate(loc.snippet, 2_000)[0]}
                physical["region"] = region
            return {"physicalLocation": physical}

    logical: dict[str, Any] | None = None
    uri = None
    comp = finding.component
    ep = finding.endpoint
    if comp is not None:
        name = comp.purl or (f"{comp.name}@{comp.version}" if comp.version else comp.name)
        logical = {"fullyQualifiedName": name, "name": comp.name, "kind": "module"}
        if comp.path:
            uri = _uri_from_path(comp.path)
    elif ep is not None:
        text = endpoint_text(finding) or ""
        logical = {"fullyQualifiedName": ep.url or text, "name": text, "kind": "resource"}
        if ep.url:
            rel = _relative_from_url(ep.url)
            uri = (rel, None) if rel else None
        elif ep.host:
            host = ep.host + (f"_{ep.port}" if ep.port is not None else "")
            uri = (quote(host, safe=""), None)
    if uri is None and finding.target:
        uri = _uri_from_target(finding.target)
    if uri is None:
        uri = (f"aiva/{finding.category.value}", None)
    artifact = {"uri": uri[0]}
    if uri[1]:
        artifact["uriBaseId"] = uri[1]
    out: dict[str, Any] = {"physicalLocation": {"artifactLocation": artifact}}
    if logical is not None:
        out["logicalLocations"] = [logical]
    return out


def _message(finding: Finding) -> str:
    text = finding.title
    comp = finding.component
    if comp is not None:
        detail = comp.name + (f" {comp.version}" if comp.version else "")
        if comp.fixed_version:
            detail += f", fixed in {comp.fixed_version}"
        text += f" ({detail})"
    ep = endpoint_text(finding)
    if ep and finding.location is None:
        text += f" at {ep}"
    return truncate(text, 1_000)[0]


def _help_text(finding: Finding) -> str:
    guidance, generic = remediation_for(finding)
    lines = [("Guidance: " if generic else "Remediation: ") + truncate(guidance, 4_000)[0]]
    refs = [r for r in finding.references[:10]]
    if refs:
        lines.append("References:")
        lines.extend(f"- {r}" for r in refs)
    return "\n".join(lines)


class SarifSink:
    """Builds the SARIF log: rules collected in memory, results spooled to a temp file."""

    def __init__(self, summary: RunSummary, out: BinaryIO, *, include_closed: bool = False) -> None:
        """Prepare an empty log for `summary`'s run; nothing is written to `out` until finish."""
        self._summary = summary
        self._out = out
        self._include_closed = include_closed
        self._rules: dict[tuple[str, str], _Rule] = {}
        self._rule_index: dict[tuple[str, str], int] = {}
        self._spool: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 - closed in finish/abort
        self._count = 0

    def _rule_for(self, f: Finding) -> tuple[str, int]:
        key = (f.tool.name, rule_key(f))
        rule = self._rules.get(key)
        if rule is None:
            title, _ = truncate(f.title, 200)
            rule = _Rule(
                sarif_id=f"{key[0]}/{key[1]}",
                tool=key[0],
                key=key[1],
                title=title,
                description=truncate(f.description or f.title, 1_000)[0],
                help_text=_help_text(f),
                category=f.category,
                confidence=f.confidence,
                severity=f.severity,
                cvss=f.cvss_score,
                cwes={c.id for c in f.cwes},
            )
            self._rules[key] = rule
            self._rule_index[key] = len(self._rule_index)
        else:
            rule.merge(f)
        return rule.sarif_id, self._rule_index[key]

    def add(self, item: ReportFinding) -> None:
        """Spool the finding's result (skipping closed findings unless include_closed)."""
        if not item.status.is_open and not self._include_closed:
            return
        f = item.finding
        rule_id, rule_index = self._rule_for(f)
        result: dict[str, Any] = {
            "ruleId": rule_id,
            "ruleIndex": rule_index,
            "level": LEVELS[f.severity],
            "message": {"text": _message(f)},
            "locations": [location_of(f)],
            "partialFingerprints": {FINGERPRINT_KEY: f.fingerprint},
        }
        baseline = BASELINE.get(item.change)
        if item.status is VulnerabilityStatus.MITIGATED:
            baseline = "absent"
        if baseline:
            result["baselineState"] = baseline
        if item.status.is_human_decision:
            result["suppressions"] = [
                {"kind": "external", "status": "accepted", "justification": item.status.value}
            ]
        props: dict[str, Any] = {
            "findingId": item.id,
            "status": item.status.value,
            "change": item.change,
            "severity": f.severity.value,
            "riskScore": item.risk_score,
            "riskLevel": item.risk_level.value,
            "tool": f.tool.name,
            "firstSeen": as_utc(item.first_seen).isoformat(),
            "lastSeen": as_utc(item.last_seen).isoformat(),
            "occurrences": item.occurrences,
        }
        if f.cvss_score is not None:
            props["cvssScore"] = f.cvss_score
        if f.vulnerability_ids:
            props["vulnerabilityIds"] = [v.id for v in f.vulnerability_ids]
        if f.cwes:
            props["cwes"] = [str(c) for c in f.cwes]
        if f.component is not None:
            if f.component.purl:
                props["purl"] = f.component.purl
            if f.component.fixed_version:
                props["fixedVersion"] = f.component.fixed_version
        if f.endpoint is not None and f.endpoint.url:
            props["url"] = f.endpoint.url
        if item.correlation is not None:  # the cross-tool issue: the other tools reporting the same weakness
            props["correlationGroup"] = item.correlation.group
            props["correlationRule"] = item.correlation.rule
            props["alsoReportedBy"] = list(item.correlation.also_reported_by)
        result["properties"] = props
        self._spool.write(b",\n" if self._count else b"\n")
        self._spool.write(orjson.dumps(result))
        self._count += 1

    def finish(self) -> None:
        """Write the log: header and rules, then the spooled results; close the spool."""
        s = self._summary
        invocation: dict[str, Any] = {
            "executionSuccessful": True,
            "startTimeUtc": as_utc(s.started_at).isoformat().replace("+00:00", "Z"),
        }
        if s.finished_at is not None:
            invocation["endTimeUtc"] = as_utc(s.finished_at).isoformat().replace("+00:00", "Z")
        run: dict[str, Any] = {
            "tool": {
                "driver": {
                    "name": TOOL_NAME,
                    "fullName": "AIVA security findings hub",
                    "version": _aiva_version(),
                    "rules": [r.descriptor() for r in self._rules.values()],
                }
            },
            "automationDetails": {"id": f"aiva/{s.product}/{s.run_id}"},
            "invocations": [invocation],
            "columnKind": "unicodeCodePoints",
            "properties": {"product": s.product, "runId": s.run_id, "results": self._count},
        }
        head = orjson.dumps({"$schema": SARIF_SCHEMA_URI, "version": "2.1.0", "runs": [run]})
        # splice the results array into the run object: `...}]}` -> `...,"results":[...]}]}`
        assert head.endswith(b"}]}")
        out = self._out
        out.write(head[:-3])
        out.write(b',"results":[')
        self._spool.seek(0)
        shutil.copyfileobj(self._spool, out, 1 << 20)
        out.write(b"\n]}]}\n")
        self._spool.close()

    def abort(self) -> None:
        """Close (and so delete) the spool file."""
        self._spool.close()

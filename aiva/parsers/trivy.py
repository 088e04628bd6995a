"""Trivy JSON (schema 2, the legacy list form, and `trivy k8s` cluster reports).

One finding per vulnerability x target x package, plus one per failed
misconfiguration, per secret and per license entry.

Misconfigurations: only Status FAIL is a finding (an entry without Status, as older
Trivy writes, counts as FAIL). PASS and EXCEPTION entries, which Trivy lists only with
--include-non-failures (EXCEPTION = waived by a Rego exception policy), are not findings;
the per-result MisconfSummary counters are not findings either.
Secrets: `secret_hash` is set only when Trivy gives the secret in clear (`Secret`); by
default Trivy masks it (Match "GITHUB_PAT=*****"), and a hash of the masked text would
make different secrets look identical. The clear secret is scrubbed from every text.
An entry repeated with the same identity (below) is kept once (the first). A field of
the wrong type raises ReportParseError naming the Results entry.

Severity table (Trivy's own words): CRITICAL->critical, HIGH->high, MEDIUM->medium,
LOW->low, UNKNOWN->info.
Fingerprint "trivy/1": kind, target (Result.Target), package name, installed version,
package path, and the vulnerability / check / rule / license id (plus the line for secrets).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

import ijson

from aiva.enums import Confidence, FindingCategory, Severity
from aiva.errors import ReportParseError
from aiva.fingerprint import fingerprint
from aiva.parsers._sast_helpers import entry_errors, unique
from aiva.parsers.base import (
    ParseContext,
    ReportSource,
    cwe_refs,
    first,
    make_purl,
    parse_cvss,
    severity_from_table,
    vuln_refs,
)
from aiva.schemas import Component, Finding, Location, ToolInfo
from aiva.secrets import redact, scrub, secret_hash

SEVERITY = {
    "critical": Severity.CRITICAL,
    "high": Severity.HIGH,
    "medium": Severity.MEDIUM,
    "low": Severity.LOW,
    "unknown": Severity.INFO,
}
# Above this size the report is streamed one Result at a time instead of loaded whole.
STREAM_ABOVE_BYTES = 64 * 1024 * 1024
_CVSS_SOURCES = ("nvd", "ghsa", "redhat")
_TOOL = ToolInfo(name="trivy")


class TrivyParser:
    """Trivy's JSON output."""

    name: ClassVar[str] = "trivy"
    fingerprint_version: ClassVar[str] = "trivy/1"

    def sniff(self, source: ReportSource) -> bool:
        """Schema 2: SchemaVersion + Results; legacy: a list of Target/Vulnerabilities; k8s: ClusterName."""
        head = source.text_head()
        if head.startswith("{"):
            if '"SchemaVersion"' in head and '"Results"' in head and '"ArtifactName"' in head:
                return True
            return '"ClusterName"' in head and '"Results"' in head and '"Target"' in head
        legacy_keys = '"Vulnerabilities"' in head or '"Type"' in head
        return head.startswith("[") and '"Target"' in head and legacy_keys

    def parse(self, source: ReportSource, ctx: ParseContext) -> Iterator[Finding]:
        """Yield one finding per vulnerability, failed misconfiguration, secret and license."""
        yield from unique(self._parse(source, ctx))

    def _parse(self, source: ReportSource, ctx: ParseContext) -> Iterator[Finding]:
        if source.size > STREAM_ABOVE_BYTES and source.text_head().startswith("{"):
            yield from self._parse_streaming(source, ctx)
            return
        doc = source.load_json(self.name)
        if isinstance(doc, list):  # legacy: a bare list of results
            yield from self._results(doc, ctx.target, source, ctx)
        elif isinstance(doc, dict) and "ClusterName" in doc:
            yield from self._cluster(doc, source, ctx)
        elif isinstance(doc, dict) and isinstance(doc.get("Results", []), list):
            artifact = ctx.target or doc.get("ArtifactName")
            yield from self._results(doc.get("Results") or [], artifact, source, ctx)
        else:
            raise ReportParseError(source.path, self.name, "expected a Trivy report with a Results list")

    def _parse_streaming(self, source: ReportSource, ctx: ParseContext) -> Iterator[Finding]:
        artifact = ctx.target
        if artifact is None:
            with source.open() as f:
                for name in ijson.items(f, "ArtifactName"):
                    artifact = name
                    break
        try:
            with source.open() as f:
                for n, result in enumerate(ijson.items(f, "Results.item", use_float=True)):
                    yield from self._results([result], artifact, source, ctx, first_index=n)
        except ijson.JSONError as e:
            raise ReportParseError(source.path, self.name, f"invalid JSON: {e}") from e

    def _cluster(self, doc: dict[str, Any], source: ReportSource, ctx: ParseContext) -> Iterator[Finding]:
        cluster = ctx.target or doc.get("ClusterName")
        for section in ("Vulnerabilities", "Misconfigurations", "Resources"):
            resources = doc.get(section) or []
            for r, resource in enumerate(resources if isinstance(resources, list) else [resources]):
                if not isinstance(resource, dict) or not isinstance(resource.get("Results") or [], list):
                    raise ReportParseError(
                        source.path, self.name, "a resource is not an object with Results", f"{section}[{r}]"
                    )
                workload = "/".join(str(resource.get(k) or "") for k in ("Namespace", "Kind", "Name"))
                yield from self._results(resource.get("Results") or [], cluster, source, ctx, prefix=workload)

    def _results(
        self,
        results: list[Any],
        artifact: str | None,
        source: ReportSource,
        ctx: ParseContext,
        prefix: str = "",
        first_index: int = 0,
    ) -> Iterator[Finding]:
        for i, result in enumerate(results, first_index):
            if not isinstance(result, dict):
                raise ReportParseError(source.path, self.name, "a result is not an object", f"Results[{i}]")
            with entry_errors(source.path, self.name, f"Results[{i}]"):
                findings = list(self._result(result, artifact, ctx, prefix))
            yield from findings

    def _result(
        self, result: dict[str, Any], artifact: str | None, ctx: ParseContext, prefix: str
    ) -> Iterator[Finding]:
        target = str(result.get("Target") or "")
        if prefix:
            target = f"{prefix}:{target}"
        rtype = result.get("Type")
        for v in result.get("Vulnerabilities") or []:
            yield self._vulnerability(v, target, rtype, artifact)
        for m in result.get("Misconfigurations") or []:
            if str(m.get("Status") or "FAIL").upper() == "FAIL":
                yield self._misconfiguration(m, target, artifact)
        for s in result.get("Secrets") or []:
            yield self._secret(s, target, artifact, ctx)
        for lic in result.get("Licenses") or []:
            yield self._license(lic, target, artifact)

    def _vulnerability(self, v: dict[str, Any], target: str, rtype: Any, artifact: str | None) -> Finding:
        warnings: list[str] = []
        vid = str(v.get("VulnerabilityID") or "")
        pkg = str(v.get("PkgName") or "")
        version = v.get("InstalledVersion")
        cvss_map = v.get("CVSS") or {}
        vector = None
        for src in (v.get("SeveritySource"), *_CVSS_SOURCES, *cvss_map.keys()):
            entry = cvss_map.get(src) if src else None
            if isinstance(entry, dict) and entry.get("V3Vector"):
                vector = entry["V3Vector"]
                break
        purl = (v.get("PkgIdentifier") or {}).get("PURL") or make_purl(
            str(rtype) if rtype else None, pkg, version, warnings
        )
        title = first(v.get("Title"), f"{vid} in {pkg} {version or ''}".strip())
        aliases = [vid, *(r.rsplit("/", 1)[-1] for r in (v.get("References") or []) if "/GHSA-" in r)]
        return Finding(
            fingerprint=fingerprint(
                self.fingerprint_version, "vuln", target, pkg, version, v.get("PkgPath"), vid
            ),
            fingerprint_version=self.fingerprint_version,
            format=self.name,
            tool=_TOOL,
            category=FindingCategory.CONTAINER if rtype and _is_os(rtype) else FindingCategory.SCA,
            rule_id=vid or None,
            title=title,
            description=v.get("Description") or "",
            severity=severity_from_table(v.get("Severity"), SEVERITY),
            confidence=Confidence.FIRM,
            cwes=cwe_refs(v.get("CweIDs") or [], warnings),
            vulnerability_ids=vuln_refs(aliases),
            cvss_v3=parse_cvss(vector, warnings),
            component=Component(
                purl=purl,
                name=pkg or "unknown",
                version=version,
                ecosystem=str(rtype) if rtype else None,
                fixed_version=v.get("FixedVersion") or None,
                path=v.get("PkgPath"),
            ),
            location=Location(file_path=target or None),
            target=artifact,
            references=tuple(v.get("References") or ())[:50],
            remediation=f"Upgrade {pkg} to {v['FixedVersion']}" if v.get("FixedVersion") else None,
            raw_id=vid or None,
            tags=tuple(t for t in (v.get("Status"),) if t),
            warnings=tuple(warnings),
        )

    def _misconfiguration(self, m: dict[str, Any], target: str, artifact: str | None) -> Finding:
        check = str(first(m.get("AVDID"), m.get("ID")) or "")
        code = (m.get("CauseMetadata") or {})
        line = code.get("StartLine")
        return Finding(
            fingerprint=fingerprint(
                self.fingerprint_version, "misconfig", target, check, code.get("Resource")
            ),
            fingerprint_version=self.fingerprint_version,
            format=self.name,
            tool=_TOOL,
            category=FindingCategory.IAC,
            rule_id=check or None,
            title=str(first(m.get("Title"), check, "Trivy misconfiguration")),
            description="\n\n".join(x for x in (m.get("Description"), m.get("Message")) if x),
            severity=severity_from_table(m.get("Severity"), SEVERITY),
            confidence=Confidence.FIRM,
            location=Location(file_path=target or None, start_line=line, end_line=code.get("EndLine")),
            target=artifact,
            references=tuple(m.get("References") or ()),
            remediation=m.get("Resolution"),
            raw_id=check or None,
        )

    def _secret(self, s: dict[str, Any], target: str, artifact: str | None, ctx: ParseContext) -> Finding:
        match = str(s.get("Match") or "")
        raw_secret = s.get("Secret")
        # Only a clear secret is hashed: Trivy masks by default ("GITHUB_PAT=*****"), and the hash of a
        # masked line would make two different secrets look like the same one.
        secret = raw_secret.strip() if isinstance(raw_secret, str) and raw_secret.strip().strip("*") else ""
        rule = str(s.get("RuleID") or "")
        return Finding(
            fingerprint=fingerprint(self.fingerprint_version, "secret", target, rule, s.get("StartLine")),
            fingerprint_version=self.fingerprint_version,
            format=self.name,
            tool=_TOOL,
            category=FindingCategory.SECRET,
            rule_id=rule or None,
            title=str(first(s.get("Title"), rule, "Secret")),
            description=scrub(f"Secret found: {match}", secret) if secret else f"Secret found: {match}",
            severity=severity_from_table(s.get("Severity"), SEVERITY),
            confidence=Confidence.FIRM,
            cwes=cwe_refs([798], []),
            location=Location(
                file_path=target or None,
                start_line=s.get("StartLine"),
                end_line=s.get("EndLine"),
                snippet=(scrub(match, secret) if match else redact(secret)) if secret else match or None,
            ),
            target=artifact,
            raw_id=rule or None,
            secret_hash=secret_hash(secret, ctx.secret_key) if secret else None,
            tags=("secret",),
        )

    def _license(self, lic: dict[str, Any], target: str, artifact: str | None) -> Finding:
        pkg = str(lic.get("PkgName") or "")
        name = str(lic.get("Name") or "")
        return Finding(
            fingerprint=fingerprint(
                self.fingerprint_version, "license", target, pkg, lic.get("FilePath"), name
            ),
            fingerprint_version=self.fingerprint_version,
            format=self.name,
            tool=_TOOL,
            category=FindingCategory.LICENSE,
            rule_id=f"license:{name}" if name else None,
            title=(
                f"License {name} ({lic.get('Category') or 'unknown category'})"
                f" in {pkg or lic.get('FilePath')}"
            ),
            description=f"{pkg} is licensed under {name}; category {lic.get('Category')}.",
            severity=severity_from_table(lic.get("Severity"), SEVERITY),
            confidence=Confidence.FIRM,
            component=Component(name=pkg or "unknown") if pkg else None,
            location=Location(file_path=lic.get("FilePath") or target or None),
            target=artifact,
            references=tuple(x for x in (lic.get("Link"),) if x),
            tags=("license",),
        )


def _is_os(rtype: object) -> bool:
    return str(rtype).lower() in {
        "alpine", "debian", "ubuntu", "redhat", "centos", "rocky", "alma", "amazon", "oracle", "suse",
        "photon", "wolfi", "chainguard", "cbl-mariner", "azurelinux", "opensuse.leap", "sles",
    }


PARSER = TrivyParser()
SNIFF_PRIORITY = 50

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

A report above STREAM_ABOVE_BYTES is streamed (base.JsonStream): a Result's lists are decoded a
batch at a time, so memory stays bounded however many findings one Result holds. Trivy writes
ArtifactName before Results, and Target and Type before a Result's lists; a report that does
not (a list before the keys it needs, or Misconfigurations before Vulnerabilities) is still
read the same, that list being kept aside (or read again) until the Result ends. A `trivy k8s`
cluster report is loaded whole. The walk yields its lists as Pieces (`stream_units`), which
`piece_findings` turns into findings here or in another process (aiva.parsers.parallel).
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache
from typing import Any, ClassVar

from aiva.enums import Confidence, FindingCategory, Severity
from aiva.errors import ReportParseError
from aiva.fingerprint import fingerprint
from aiva.parsers._jsonstream import Piece
from aiva.parsers._sast_helpers import entry_errors, unique
from aiva.parsers.base import (
    JsonStream,
    ParseContext,
    ReportSource,
    cwe_refs,
    first,
    make_purl,
    parse_cvss,
    severity_from_table,
    vuln_ref_one,
    vuln_refs,
)
from aiva.schemas import Component, Finding, Location, ToolInfo, new_component, new_finding
from aiva.secrets import redact, scrub, secret_hash

SEVERITY = {
    "critical": Severity.CRITICAL,
    "high": Severity.HIGH,
    "medium": Severity.MEDIUM,
    "low": Severity.LOW,
    "unknown": Severity.INFO,
}
# Trivy's own words, as it writes them: severity_from_table's answer without its normalising.
_SEVERITY_OF = {word.upper(): sev for word, sev in SEVERITY.items()}
# Above this size the report is streamed (a batch of entries at a time) instead of loaded whole: a loaded
# report holds about 5 times its size in memory, and the garbage collector walks all of it again and again.
STREAM_ABOVE_BYTES = 16 * 1024 * 1024
_CVSS_SOURCES = ("nvd", "ghsa", "redhat")
_TOOL = ToolInfo(name="trivy")
# The fields a vulnerability's finding sets (the others keep their defaults).
_VULN_FIELDS = (
    "fingerprint", "fingerprint_version", "format", "tool", "category", "rule_id", "title", "description",
    "severity", "confidence", "cwes", "vulnerability_ids", "cvss_v3", "component", "location", "target",
    "references", "remediation", "raw_id", "tags", "warnings",
)
_FIRM = Confidence.FIRM  # a module global: an enum member looked up on its class costs ~1k instructions
# A Result's lists, in the order their findings are produced.
_KINDS = ("Vulnerabilities", "Misconfigurations", "Secrets", "Licenses")
# Streaming: elements of a list met before the keys it needs, kept decoded (above this: read again).
DEFER_IN_MEMORY = 10_000
_EMPTY: tuple[Any, ...] = (None, "", [], {})


class TrivyParser:
    """Trivy's JSON output."""

    name: ClassVar[str] = "trivy"
    tool_name: ClassVar[str | None] = "trivy"
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
        """Yield one finding per vulnerability, failed misconfiguration, secret and license (lazily)."""
        return unique(self._parse(source, ctx))

    def _parse(self, source: ReportSource, ctx: ParseContext) -> Iterator[Finding]:
        units = self.stream_units(source, ctx)
        if units is None:
            yield from self._parse_loaded(source, ctx)
            return
        for unit in units:
            if isinstance(unit, Piece):
                yield from self.piece_findings(unit.spec, unit.first, unit.items, source.path, ctx)
            else:
                yield unit

    def stream_units(self, source: ReportSource, ctx: ParseContext) -> Iterator[Piece | Finding] | None:
        """For a report streamed (above STREAM_ABOVE_BYTES): its lists as Pieces, in report order,
        and the findings made on the way (lists kept aside, a cluster report); None when it is loaded.

        Not deduplicated: `parse` (and the parallel ingest) keep the first of each fingerprint.
        """
        if source.size > STREAM_ABOVE_BYTES and source.text_head()[:1] in ("{", "["):
            return self._stream_units(source, ctx)
        return None

    def piece_findings(
        self, spec: Any, first: int, items: list[Any], path: str, ctx: ParseContext
    ) -> list[Finding]:
        """The findings of one Piece (in this process or another); a bad entry is a ReportParseError."""
        kind, target, rtype, artifact, where = spec
        return self._batch(kind, items, target, rtype, artifact, path, ctx, where)

    def coverage(self, source: ReportSource) -> tuple[str | None, str | None]:
        """(target, tool) the report covers: its ArtifactName (a large report is walked, not loaded:
        `--list-all-pkgs` makes reports with no finding large)."""
        name: Any = None
        if source.size > STREAM_ABOVE_BYTES:
            with source.open() as f:
                js = JsonStream(f, source.path, self.name)
                if js.peek() == "{":
                    for key in js.object_items():
                        if key == "ArtifactName":
                            name = js.value()
                            break
                        js.skip_value()
        else:
            doc = source.load_json(self.name)
            name = doc.get("ArtifactName") if isinstance(doc, dict) else None
        return (name if isinstance(name, str) and name.strip() else None), self.tool_name

    def _parse_loaded(self, source: ReportSource, ctx: ParseContext) -> Iterator[Finding]:
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

    def _stream_units(self, source: ReportSource, ctx: ParseContext) -> Iterator[Piece | Finding]:
        with source.open() as f:
            js = JsonStream(f, source.path, self.name)
            if js.peek() == "[":  # legacy: a bare list of results
                yield from self._stream_results(js, ctx.target, source, ctx)
                return
            artifact = ctx.target or None
            known = bool(ctx.target)  # is the artifact known (ArtifactName met, or absent)?
            results_at: int | None = None
            streamed = False
            for key in js.object_items():
                if key == "ClusterName" and not streamed and results_at is None:
                    break  # a cluster report: loaded whole, below
                if key == "ArtifactName":
                    name = js.value()
                    if not ctx.target:
                        artifact, known = name, True
                elif key == "Results":
                    if js.peek() != "[":
                        raise ReportParseError(source.path, self.name, "expected a Trivy report with a Results list")
                    if not known and not js.may_contain_key("ArtifactName"):
                        known = True
                    if known:
                        streamed = True
                        yield from self._stream_results(js, artifact, source, ctx)
                    else:  # ArtifactName comes after Results: read them once it is known
                        results_at = js.tell()
                        js.skip_value()
                else:
                    js.skip_value()
            else:
                if results_at is not None:
                    js.seek(results_at)
                    yield from self._stream_results(js, artifact, source, ctx)
                return
        yield from self._parse_loaded(source, ctx)

    def _stream_results(
        self, js: JsonStream, artifact: str | None, source: ReportSource, ctx: ParseContext
    ) -> Iterator[Piece | Finding]:
        for i in js.array_items():
            where = f"Results[{i}]"
            if js.peek() != "{":
                raise ReportParseError(source.path, self.name, "a result is not an object", where)
            yield from self._stream_result(js, artifact, source, ctx, where)

    def _stream_result(
        self, js: JsonStream, artifact: str | None, source: ReportSource, ctx: ParseContext, where: str
    ) -> Iterator[Piece | Finding]:
        """One Result, its lists cut into Pieces, in the order of a loaded report."""
        raw_target: Any = None
        rtype: Any = None
        seen: set[str] = set()
        done: set[str] = set()
        pending: dict[str, tuple[bool, Any]] = {}  # kind -> (True, file offset) or (False, the list)
        for key in js.object_items():
            if key == "Target":
                raw_target = js.value()
                seen.add(key)
            elif key == "Type":
                rtype = js.value()
                seen.add(key)
            elif key in _KINDS:
                if js.peek() != "[":  # null, or a wrong type: fails as it does in a loaded report
                    pending[key] = (False, js.value())
                    continue
                ready = (
                    "Target" in seen
                    and ("Type" in seen or key != "Vulnerabilities")
                    and all(k in done for k in _KINDS[: _KINDS.index(key)])
                )
                if ready:
                    spec = (key, str(raw_target or ""), rtype, artifact, where)
                    for raw, items in js.array_pieces():
                        yield Piece(spec, 0, raw, items)
                    done.add(key)
                else:
                    pending[key] = _set_aside(js)
            else:
                js.skip_value()
        target = str(raw_target or "")
        for key in _KINDS:
            if key not in pending:
                continue
            is_offset, value = pending[key]
            if not is_offset:
                yield from self._batch(key, value or [], target, rtype, artifact, source.path, ctx, where)
                continue
            back = js.tell()
            js.seek(value)
            spec = (key, target, rtype, artifact, where)
            for raw, items in js.array_pieces():
                yield Piece(spec, 0, raw, items)
            js.seek(back)

    def _batch(
        self, kind: str, items: Any, target: str, rtype: Any, artifact: str | None,
        path: str, ctx: ParseContext, where: str,
    ) -> list[Finding]:
        with entry_errors(path, self.name, where):
            return self._findings(kind, items, target, rtype, artifact, ctx)

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
        for kind in _KINDS:
            yield from self._findings(kind, result.get(kind) or [], target, rtype, artifact, ctx)

    def _findings(
        self, kind: str, items: Any, target: str, rtype: Any, artifact: str | None, ctx: ParseContext
    ) -> list[Finding]:
        if kind == "Vulnerabilities":
            # What the Result decides, worked out once for all its vulnerabilities.
            ecosystem = str(rtype) if rtype else None
            category = FindingCategory.CONTAINER if rtype and _is_os(rtype) else FindingCategory.SCA
            # The fields every finding of the Result shares; each copy (cheaper than a dict display of
            # all the fields) has the rest overwritten.
            shared: dict[str, Any] = dict.fromkeys(_VULN_FIELDS)
            shared.update({
                "fingerprint_version": self.fingerprint_version, "format": self.name, "tool": _TOOL,
                "category": category, "confidence": _FIRM, "location": _location(target), "target": artifact,
            })
            vulnerability = self._vulnerability
            return [vulnerability(v, target, ecosystem, shared) for v in items]
        if kind == "Misconfigurations":
            return [
                self._misconfiguration(m, target, artifact)
                for m in items if str(m.get("Status") or "FAIL").upper() == "FAIL"
            ]
        if kind == "Secrets":
            return [self._secret(s, target, artifact, ctx) for s in items]
        return [self._license(lic, target, artifact) for lic in items]

    def _vulnerability(self, v: dict[str, Any], target: str, ecosystem: str | None, shared: dict[str, Any]) -> Finding:
        # The hot path of a large report (once per vulnerability): validated from a copy of the shared
        # fields (new_finding), not through Finding(**kw) (callgrind, 100k report: 154k -> 133k
        # instructions per finding).
        warnings: list[str] = []
        get = v.get
        vid = str(get("VulnerabilityID") or "")
        pkg = str(get("PkgName") or "")
        version = get("InstalledVersion")
        pkg_path = get("PkgPath")
        cvss_map = get("CVSS") or {}
        vector = None
        source = get("SeveritySource")
        entry = cvss_map.get(source) if source and type(cvss_map) is dict else None
        if isinstance(entry, dict) and entry.get("V3Vector"):  # the common case: the first one tried below
            vector = entry["V3Vector"]
        else:
            for src in (source, *_CVSS_SOURCES, *cvss_map.keys()):
                entry = cvss_map.get(src) if src else None
                if isinstance(entry, dict) and entry.get("V3Vector"):
                    vector = entry["V3Vector"]
                    break
        purl = (get("PkgIdentifier") or {}).get("PURL") or _purl(ecosystem, pkg, version, warnings)
        title = get("Title")
        if title in _EMPTY:  # first(Title, "<id> in <pkg> <version>")
            title = f"{vid} in {pkg} {version or ''}".strip() or None
        refs = get("References") or ()
        ghsa = [r.rsplit("/", 1)[-1] for r in refs if "/GHSA-" in r] if refs else None
        fixed = get("FixedVersion")
        status = get("Status")
        raw_severity = get("Severity")
        severity = _SEVERITY_OF.get(raw_severity) if type(raw_severity) is str else None
        if severity is None:
            severity = severity_from_table(raw_severity, SEVERITY)
        values = shared.copy()
        values["fingerprint"] = fingerprint(self.fingerprint_version, "vuln", target, pkg, version, pkg_path, vid)
        values["rule_id"] = values["raw_id"] = vid or None
        values["title"] = title
        values["description"] = get("Description") or ""
        values["severity"] = severity
        values["cwes"] = cwe_refs(get("CweIDs") or [], warnings)
        values["vulnerability_ids"] = vuln_refs([vid, *ghsa]) if ghsa else vuln_ref_one(vid)
        values["cvss_v3"] = parse_cvss(vector, warnings)
        values["component"] = _component(purl, pkg or "unknown", version, ecosystem, fixed or None, pkg_path)
        values["references"] = tuple(refs)[:50]
        values["remediation"] = f"Upgrade {pkg} to {fixed}" if fixed else None
        values["tags"] = (status,) if status else ()
        values["warnings"] = tuple(warnings)
        return new_finding(values)

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


_OS_TYPES = frozenset({
    "alpine", "debian", "ubuntu", "redhat", "centos", "rocky", "alma", "amazon", "oracle", "suse",
    "photon", "wolfi", "chainguard", "cbl-mariner", "azurelinux", "opensuse.leap", "sles",
})


def _is_os(rtype: object) -> bool:
    return str(rtype).lower() in _OS_TYPES


def _component(
    purl: Any, name: str, version: Any, ecosystem: str | None, fixed: Any, path: Any
) -> Component:
    """A validated Component; the same package recurs across a report, so it is built once."""
    try:
        return _component_cached(purl, name, version, ecosystem, fixed, path)
    except TypeError:  # an unhashable (wrong-typed) value: validated, and rejected, uncached
        return _new_component(purl, name, version, ecosystem, fixed, path)


def _new_component(
    purl: Any, name: str, version: Any, ecosystem: str | None, fixed: Any, path: Any
) -> Component:
    return new_component(
        {"purl": purl, "name": name, "version": version, "ecosystem": ecosystem, "fixed_version": fixed, "path": path}
    )


@lru_cache(maxsize=65_536)
def _purl_cached(ecosystem: str | None, name: str, version: str | None) -> tuple[str | None, tuple[str, ...]]:
    warnings: list[str] = []
    return make_purl(ecosystem, name, version, warnings), tuple(warnings)


def _purl(ecosystem: str | None, name: str, version: Any, warnings: list[str]) -> str | None:
    """make_purl, once per package of a report (the same package recurs across it)."""
    if version is None or type(version) is str:
        purl, warned = _purl_cached(ecosystem, name, version)
        warnings.extend(warned)
        return purl
    return make_purl(ecosystem, name, version, warnings)


# typed: 1, 1.0 and True are distinct keys (pydantic treats them differently).
_component_cached = lru_cache(maxsize=32_768, typed=True)(_new_component)


@lru_cache(maxsize=4_096)
def _location(target: str) -> Location:
    return Location(file_path=target or None)


def _set_aside(js: JsonStream) -> tuple[bool, Any]:
    """Pass over a list that cannot be read yet: keep it if small, else remember where it starts."""
    start = js.tell()
    kept: list[Any] | None = []
    for batch in js.array_batches():
        if kept is not None:
            kept.extend(batch)
            if len(kept) > DEFER_IN_MEMORY:
                kept = None
    return (False, kept) if kept is not None else (True, start)


PARSER = TrivyParser()
SNIFF_PRIORITY = 50

"""OSV-Scanner JSON (`osv-scanner --format json`): results per source (lockfile, SBOM,
git repository, image), packages, their OSV vulnerability records and alias groups.

Counting: one finding per alias group x package x source. OSV-Scanner itself groups
records that are aliases of one another (the GHSA and the PYSEC record of one CVE)
in `groups`; AIVA keeps one finding per group, merging the records' ids, references
and CWEs. Without `groups` (older versions) every record is its own group. An empty
file (OSV-Scanner writes nothing when asked to skip an empty result) has no findings.

Severity, first available: the group's `max_severity` (a CVSS base score); the GitHub
advisory word in a record's `database_specific.severity` (CRITICAL->critical,
HIGH->high, MODERATE/MEDIUM->medium, LOW->low); the CVSS v3/v4 base score of a record's
`severity` vectors; a distro's `ecosystem_specific.severity` word (same table,
negligible/unimportant->info). With none of these, medium, tagged `severity:unrated`.
Fixed version: from the record's `affected` ranges for this package, the `fixed` event
of the range that contains the installed version.
Fingerprint "osv_scanner/1": source path, ecosystem, package name, version (or commit),
and the group's key: its lowest CVE alias, else its lowest GHSA id, else its lowest id.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

from aiva.enums import Confidence, FindingCategory, Severity
from aiva.errors import ReportParseError
from aiva.fingerprint import fingerprint
from aiva.parsers._sca import as_dict, as_list, as_str, nearest_fix, pypi_name, str_list, version_lt
from aiva.parsers.base import (
    ParseContext,
    ReportSource,
    cwe_refs,
    make_purl,
    parse_cvss,
    vuln_refs,
)
from aiva.schemas import Component, CvssScore, Finding, Location, ToolInfo

SEVERITY = {
    "critical": Severity.CRITICAL,
    "high": Severity.HIGH,
    "important": Severity.HIGH,
    "moderate": Severity.MEDIUM,
    "medium": Severity.MEDIUM,
    "low": Severity.LOW,
    "negligible": Severity.INFO,
    "unimportant": Severity.INFO,
}
DEFAULT_SEVERITY = Severity.MEDIUM
_DISTROS = frozenset(
    {
        "debian",
        "ubuntu",
        "alpine",
        "rocky linux",
        "almalinux",
        "red hat",
        "suse",
        "opensuse",
        "photon os",
        "wolfi",
        "chainguard",
        "mageia",
        "openeuler",
        "azure linux",
    }
)
_TOOL = ToolInfo(name="osv-scanner")


class OsvScannerParser:
    """OSV-Scanner's JSON output."""

    name: ClassVar[str] = "osv_scanner"
    tool_name: ClassVar[str | None] = "osv-scanner"
    fingerprint_version: ClassVar[str] = "osv_scanner/1"

    def sniff(self, source: ReportSource) -> bool:
        """A JSON object with `results` whose items have a `source` and `packages`."""
        head = source.text_head()
        if not head.startswith("{") or '"results"' not in head:
            return False
        return ('"packages"' in head and '"source"' in head) or '"experimental_config"' in head

    def parse(self, source: ReportSource, ctx: ParseContext) -> Iterator[Finding]:
        """Yield one finding per alias group of every package of every source."""
        if source.size == 0 or not source.head(4096).strip():
            return
        doc = source.load_json(self.name)
        if not isinstance(doc, dict) or not isinstance(doc.get("results", []), list):
            raise ReportParseError(
                source.path, self.name, "expected an OSV-Scanner report with a 'results' list"
            )
        seen: set[str] = set()
        for r, result in enumerate(doc.get("results") or []):
            if not isinstance(result, dict):
                raise ReportParseError(source.path, self.name, "a result is not an object", f"results[{r}]")
            src = as_dict(result.get("source"))
            for p, pkg in enumerate(as_list(result.get("packages"))):
                if not isinstance(pkg, dict):
                    raise ReportParseError(
                        source.path, self.name, "a package is not an object", f"results[{r}].packages[{p}]"
                    )
                for f in self._package(pkg, src, ctx):
                    if f.fingerprint not in seen:
                        seen.add(f.fingerprint)
                        yield f

    def _package(self, pkg: dict[str, Any], src: dict[str, Any], ctx: ParseContext) -> Iterator[Finding]:
        records = {as_str(v.get("id")): v for v in (as_dict(x) for x in as_list(pkg.get("vulnerabilities")))}
        grouped: set[str] = set()
        groups: list[tuple[list[str], dict[str, Any]]] = []
        for g in (as_dict(x) for x in as_list(pkg.get("groups"))):
            ids = [i for i in str_list(g.get("ids")) if i in records and i not in grouped]
            if ids:
                grouped.update(ids)
                groups.append((ids, g))
        for vid in records:
            if vid not in grouped:
                groups.append(([vid], {}))
        for ids, group in groups:
            yield self._finding(pkg, src, [records[i] for i in ids], group, ctx)

    def _finding(
        self,
        pkg: dict[str, Any],
        src: dict[str, Any],
        recs: list[dict[str, Any]],
        group: dict[str, Any],
        ctx: ParseContext,
    ) -> Finding:
        warnings: list[str] = []
        p = as_dict(pkg.get("package"))
        name = as_str(p.get("name"))
        commit = as_str(p.get("commit"))
        version = as_str(p.get("version")) or None
        ecosystem = as_str(p.get("ecosystem"))
        eco_base = ecosystem.split(":", 1)[0].strip().lower()
        recs = sorted(
            recs,
            key=lambda v: (
                not _has_rating(v),
                not as_str(v.get("id")).upper().startswith("GHSA"),
                as_str(v.get("id")),
            ),
        )
        primary = recs[0]
        pid = as_str(primary.get("id"))
        ids = [as_str(v.get("id")) for v in recs]
        all_ids = list(
            dict.fromkeys(
                [
                    *ids,
                    *str_list(group.get("aliases")),
                    *(a for v in recs for a in str_list(v.get("aliases"))),
                ]
            )
        )
        key = _group_key(ids, all_ids)
        cvss_v3, cvss_v4 = _cvss(recs, warnings)
        severity, rated = _severity(recs, group, cvss_v3, cvss_v4)
        fixed = _fixed(recs, name, eco_base, version)
        cwes = [c for v in recs for c in str_list(as_dict(v.get("database_specific")).get("cwe_ids"))]
        refs = [as_str(as_dict(r).get("url")) for v in recs for r in as_list(v.get("references"))]
        path = as_str(src.get("path"))
        summary = as_str(primary.get("summary"))
        label = name or (f"git commit {commit[:12]}" if commit else "unknown package")
        tags = [f"source:{as_str(src.get('type'))}"] if src.get("type") else []
        tags += [f"group:{g}" for g in str_list(pkg.get("dependency_groups"))]
        if not rated:
            tags.append("severity:unrated")
        return Finding(
            fingerprint=fingerprint(self.fingerprint_version, path, ecosystem, name, version or commit, key),
            fingerprint_version=self.fingerprint_version,
            format=self.name,
            tool=_TOOL,
            category=FindingCategory.CONTAINER if eco_base in _DISTROS else FindingCategory.SCA,
            rule_id=pid or None,
            title=summary or f"{pid} in {label} {version or ''}".strip(),
            description=as_str(primary.get("details")) or summary,
            severity=severity,
            confidence=Confidence.FIRM,
            cwes=cwe_refs(cwes, warnings),
            vulnerability_ids=vuln_refs(all_ids),
            cvss_v3=cvss_v3,
            cvss_v4=cvss_v4,
            component=Component(
                purl=make_purl(eco_base, pypi_name(name) if eco_base == "pypi" else name, version, warnings),
                name=name or label,
                version=version or commit or None,
                ecosystem=ecosystem or None,
                fixed_version=fixed,
            ),
            location=Location(file_path=path) if path else None,
            target=ctx.target,
            references=tuple(dict.fromkeys(r for r in refs if r))[:50],
            remediation=f"Upgrade {name} to {fixed}" if fixed and name else None,
            raw_id=pid or None,
            tags=tuple(tags),
            warnings=tuple(warnings),
        )


def _has_rating(v: dict[str, Any]) -> bool:
    return bool(as_dict(v.get("database_specific")).get("severity") or as_list(v.get("severity")))


def _group_key(ids: list[str], all_ids: list[str]) -> str:
    cves = sorted(i.upper() for i in all_ids if i.upper().startswith("CVE-"))
    if cves:
        return cves[0]
    ghsas = sorted(i for i in ids if i.upper().startswith("GHSA-"))
    return ghsas[0] if ghsas else sorted(ids)[0]


def _cvss(recs: list[dict[str, Any]], warnings: list[str]) -> tuple[CvssScore | None, CvssScore | None]:
    v3: str | None = None
    v4: str | None = None
    for v in recs:
        for s in (as_dict(x) for x in as_list(v.get("severity"))):
            kind, score = as_str(s.get("type")).upper(), as_str(s.get("score"))
            if kind == "CVSS_V3" and v3 is None and score:
                v3 = score
            elif kind == "CVSS_V4" and v4 is None and score:
                v4 = score
    return parse_cvss(v3, warnings), parse_cvss(v4, warnings)


def _severity(
    recs: list[dict[str, Any]], group: dict[str, Any], v3: CvssScore | None, v4: CvssScore | None
) -> tuple[Severity, bool]:
    try:
        max_sev = float(as_str(group.get("max_severity")))
    except ValueError:
        max_sev = -1.0
    if max_sev >= 0.0:
        return Severity.from_cvss_score(max_sev), True
    words = [as_str(as_dict(v.get("database_specific")).get("severity")).lower() for v in recs]
    rated = [SEVERITY[w] for w in words if w in SEVERITY]
    if rated:
        return max(rated, key=lambda s: s.rank), True
    scores = [s.base_score for s in (v3, v4) if s is not None]
    if scores:
        return Severity.from_cvss_score(max(scores)), True
    eco_words = [
        as_str(as_dict(a.get("ecosystem_specific")).get("severity")).lower()
        for v in recs
        for a in (as_dict(x) for x in as_list(v.get("affected")))
    ]
    rated = [SEVERITY[w] for w in eco_words if w in SEVERITY]
    if rated:
        return max(rated, key=lambda s: s.rank), True
    return DEFAULT_SEVERITY, False


def _same_package(affected: dict[str, Any], name: str, eco_base: str) -> bool:
    p = as_dict(affected.get("package"))
    other = as_str(p.get("name"))
    if eco_base == "pypi":
        return pypi_name(other) == pypi_name(name)
    return other.lower() == name.lower()


def _fixed(recs: list[dict[str, Any]], name: str, eco_base: str, version: str | None) -> str | None:
    containing: list[str] = []
    every: list[str] = []
    for v in recs:
        for a in (as_dict(x) for x in as_list(v.get("affected"))):
            if name and not _same_package(a, name, eco_base):
                continue
            for rng in (as_dict(x) for x in as_list(a.get("ranges"))):
                if as_str(rng.get("type")).upper() == "GIT":
                    continue
                introduced = "0"
                for ev in (as_dict(x) for x in as_list(rng.get("events"))):
                    if "introduced" in ev:
                        introduced = as_str(ev.get("introduced")) or "0"
                    elif "fixed" in ev:
                        fix = as_str(ev.get("fixed"))
                        if not fix:
                            continue
                        every.append(fix)
                        if (
                            version
                            and (introduced == "0" or not version_lt(version, introduced))
                            and version_lt(version, fix)
                        ):
                            containing.append(fix)
    if containing:
        return nearest_fix(version, containing)
    return nearest_fix(version, every) if every and version else None


PARSER = OsvScannerParser()
SNIFF_PRIORITY = 60

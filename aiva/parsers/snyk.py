"""Snyk CLI JSON (`snyk test --json`, `--all-projects` arrays, `snyk container test --json`).

(`snyk code test --json` writes SARIF, which the sarif parser reads.)

Snyk lists a vulnerability once per dependency PATH (`from`): the same advisory in
the same package version reached through three parents is three entries. AIVA
keeps ONE finding per project x advisory id x package x installed version, and
lists the dependency paths (and their upgrade paths) in the description and the
remediation. The paths are not identity: they carry the versions of intermediate
packages, which change whenever an unrelated parent is upgraded, so a per-path
fingerprint would churn across re-scans. This is what Snyk itself calls unique
issues (`uniqueCount`), split further when one advisory hits two versions.
`snyk container` reports carry the image's OS packages plus `applications`
(language projects found in the image): both are read. Issues in
`filtered.ignore` (ignored by a Snyk policy) are emitted too, `suppressed` and
tagged "snyk:ignored". License issues (`type: license`) become LICENSE findings.
An error document (`{"ok": false, "error": ...}`) raises ReportParseError; in an
`--all-projects` array, error entries of projects that could not be tested are
skipped when other projects were tested.

Severity table (`severityWithCritical` when present, else `severity`):
    critical -> critical, high -> high, medium -> medium, low -> low.
CVSS v3: the `CVSSv3` vector, else the NVD one in `cvssDetails`.
Fingerprint "snyk/1": project (projectName and target file), issue id, package
name, installed version.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

from packageurl import PackageURL

from aiva.enums import Confidence, FindingCategory, Severity
from aiva.errors import ReportParseError
from aiva.fingerprint import fingerprint
from aiva.parsers._xmlutil import clip
from aiva.parsers.base import (
    PURL_TYPES,
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
    "low": Severity.LOW,
}
_OS_TYPES = frozenset({"deb", "apk", "rpm"})
# Snyk package-manager words that base.PURL_TYPES does not know.
_PM_ALIASES = {"gomodules": "golang", "golangdep": "golang", "govendor": "golang", "sbt": "maven",
               "paket": "nuget", "npm-lock": "npm"}
_MAX_PATHS = 20
_TOOL = ToolInfo(name="snyk")


@dataclass
class _Project:
    name: str
    target_file: str
    package_manager: str
    container: bool
    target: str | None


@dataclass
class _Issue:
    """One advisory x package x version, with every path Snyk reported for it."""

    vuln: dict[str, Any]
    project: _Project
    ignored: bool
    paths: list[list[str]] = field(default_factory=list)
    upgrades: list[str] = field(default_factory=list)
    binaries: list[str] = field(default_factory=list)


class SnykParser:
    """Snyk Open Source / Container JSON."""

    name: ClassVar[str] = "snyk"
    tool_name: ClassVar[str | None] = "snyk"
    fingerprint_version: ClassVar[str] = "snyk/1"

    def sniff(self, source: ReportSource) -> bool:
        """A JSON object or array with `vulnerabilities` and Snyk's own keys."""
        head = source.text_head()
        if head[:1] not in ("{", "[") or '"vulnerabilities"' not in head or '"bomFormat"' in head:
            return False
        return any(
            k in head
            for k in ('"isUpgradable"', '"upgradePath"', '"licensesPolicy"', "Snyk (https://snyk.io)",
                      '"severityWithCritical"', '"uniqueCount"', '"filesystemPolicy"', '"ignoreSettings"')
        ) or ('"packageManager"' in head and '"SNYK-' in head)

    def parse(self, source: ReportSource, ctx: ParseContext) -> Iterator[Finding]:
        """Yield one finding per project x issue id x package x version."""
        doc = source.load_json(self.name)
        docs = doc if isinstance(doc, list) else [doc]
        issues: dict[str, _Issue] = {}
        errors: list[tuple[str, str]] = []
        for i, project in enumerate(docs):
            where = f"[{i}]" if isinstance(doc, list) else "$"
            if not isinstance(project, dict):
                raise ReportParseError(source.path, self.name, "a project is not an object", where)
            if project.get("error") and "vulnerabilities" not in project:
                errors.append((where, _s(project.get("error"))[:500]))
                continue
            self._project(project, ctx, issues, source, where, is_app=False)
            for j, app in enumerate(project.get("applications") or []):
                if isinstance(app, dict):
                    self._project(app, ctx, issues, source, f"{where}.applications[{j}]", is_app=True,
                                  image_target=_image(project))
        if errors and len(errors) == len(docs):
            where, message = errors[0]
            raise ReportParseError(source.path, self.name, f"Snyk reported an error: {message}", where)
        for fp, issue in issues.items():
            yield self._finding(fp, issue)

    def _project(
        self,
        project: dict[str, Any],
        ctx: ParseContext,
        issues: dict[str, _Issue],
        source: ReportSource,
        where: str,
        is_app: bool,
        image_target: str | None = None,
    ) -> None:
        name = _s(project.get("projectName"))
        is_image = "docker" in project and not is_app
        proj = _Project(
            name=name,
            target_file=_s(project.get("displayTargetFile")) or _s(project.get("targetFile")),
            package_manager=_s(project.get("packageManager")),
            container=is_image,
            target=ctx.target or image_target or (_image(project) if is_image else name) or None,
        )
        vulns = project.get("vulnerabilities")
        if vulns is not None and not isinstance(vulns, list):
            raise ReportParseError(source.path, self.name, "'vulnerabilities' is not a list", where)
        filtered = project.get("filtered")
        ignored = _list(filtered.get("ignore")) if isinstance(filtered, dict) else []
        for kind, items in (("vulnerabilities", vulns or []), ("filtered.ignore", ignored or [])):
            for k, v in enumerate(items):
                if not isinstance(v, dict):
                    raise ReportParseError(source.path, self.name, "an issue is not an object",
                                           f"{where}.{kind}[{k}]")
                pkg = _s(v.get("packageName")) or _s(v.get("name"))
                fp = fingerprint(self.fingerprint_version, proj.name, proj.target_file, _s(v.get("id")), pkg,
                                 _s(v.get("version")))
                issue = issues.get(fp)
                if issue is None:
                    issue = issues[fp] = _Issue(v, proj, ignored=kind != "vulnerabilities")
                path = [_s(p) for p in _list(v.get("from")) if _s(p)]
                if path and path not in issue.paths:
                    issue.paths.append(path)
                upgrade = [_s(u) for u in _list(v.get("upgradePath")) if isinstance(u, str) and _s(u)]
                if upgrade and upgrade[0] not in issue.upgrades:
                    issue.upgrades.append(upgrade[0])
                binary = _s(v.get("name"))
                if binary and binary != pkg and binary not in issue.binaries:
                    issue.binaries.append(binary)

    def _finding(self, fp: str, issue: _Issue) -> Finding:
        v, proj = issue.vuln, issue.project
        warnings: list[str] = []
        vid = _s(v.get("id"))
        pkg = _s(v.get("packageName")) or _s(v.get("name")) or "unknown"
        version = _s(v.get("version")) or None
        pm = _s(v.get("packageManager")) or proj.package_manager
        purl, ecosystem = _purl(pm, pkg, version, warnings)
        is_license = _s(v.get("type")) == "license"
        raw_idents = v.get("identifiers")
        idents: dict[str, Any] = raw_idents if isinstance(raw_idents, dict) else {}
        aliases = [vid] if not is_license else []
        for key in ("CVE", "GHSA"):
            aliases += [_s(x) for x in _list(idents.get(key))]
        vector = _s(v.get("CVSSv3")) or next(
            (_s(d.get("cvssV3Vector")) for d in _list(v.get("cvssDetails"))
             if isinstance(d, dict) and _s(d.get("assigner")).upper() == "NVD" and d.get("cvssV3Vector")),
            "",
        )
        fixed = [_s(x) for x in _list(v.get("fixedIn")) if _s(x)]
        fixed_version = _s(v.get("nearestFixedInVersion")) or (", ".join(fixed) if fixed else None)
        desc = [_s(v.get("description"))]
        if issue.paths:
            shown = [" > ".join(p) for p in issue.paths[:_MAX_PATHS]]
            more = f"\n(+{len(issue.paths) - _MAX_PATHS} more paths)" if len(issue.paths) > _MAX_PATHS else ""
            desc.append("Introduced through:\n" + "\n".join(f"- {p}" for p in shown) + more)
        if issue.binaries:
            desc.append("Binary packages: " + ", ".join(issue.binaries[:_MAX_PATHS]))
        if is_license:
            remediation = None
        elif issue.upgrades:
            remediation = "Upgrade to " + ", ".join(issue.upgrades[:_MAX_PATHS])
            if fixed_version:
                remediation += f" (fixed in {pkg} {fixed_version})"
        elif fixed_version:
            remediation = f"Upgrade {pkg} to {fixed_version}"
        else:
            remediation = None
        title = _s(v.get("title")) or vid or "Snyk issue"
        tags = []
        if issue.ignored:
            tags.append("snyk:ignored")
        exploit = _s(v.get("exploit"))
        if exploit and exploit != "Not Defined":
            tags.append(f"exploit:{exploit.lower().replace(' ', '-')}")
        if v.get("isUpgradable") is True:
            tags.append("upgradable")
        if v.get("isPatchable") is True:
            tags.append("patchable")
        category = (
            FindingCategory.LICENSE if is_license
            else FindingCategory.CONTAINER if proj.container and ecosystem in _OS_TYPES
            else FindingCategory.SCA
        )
        return Finding(
            fingerprint=fp,
            fingerprint_version=self.fingerprint_version,
            format=self.name,
            tool=_TOOL,
            category=category,
            rule_id=vid or None,
            title=clip(f"{title} in {pkg}@{version}" if version else f"{title} in {pkg}", 500),
            description=clip("\n\n".join(d for d in desc if d)),
            severity=severity_from_table(
                _s(v.get("severityWithCritical")) or _s(v.get("severity")), SEVERITY, Severity.INFO
            ),
            confidence=Confidence.FIRM,
            cwes=cwe_refs(_list(idents.get("CWE")), warnings),
            vulnerability_ids=vuln_refs(aliases),
            cvss_v3=parse_cvss(vector or None, warnings),
            component=Component(purl=purl, name=pkg, version=version, ecosystem=ecosystem or pm or None,
                                fixed_version=fixed_version),
            location=Location(file_path=proj.target_file) if proj.target_file else None,
            target=proj.target,
            references=tuple(dict.fromkeys(
                u for u in (_s(r.get("url")) for r in _list(v.get("references")) if isinstance(r, dict)) if u
            ))[:50],
            remediation=clip(remediation) if remediation else None,
            raw_id=vid or None,
            suppressed=issue.ignored,
            tags=tuple(tags),
            warnings=tuple(warnings),
        )


def _s(x: Any) -> str:
    if isinstance(x, str):
        return x.strip()
    if isinstance(x, (int, float)) and not isinstance(x, bool):
        return str(x)
    return ""


def _list(x: Any) -> list[Any]:
    return x if isinstance(x, list) else []


def _image(project: dict[str, Any]) -> str | None:
    """The image a container project scanned: "docker-image|repo/name" becomes "repo/name"."""
    name = _s(project.get("projectName"))
    if name.startswith("docker-image|"):
        return name.split("|", 1)[1]
    return name or _s(project.get("path")) or None


def _purl(pm: str, pkg: str, version: str | None, warnings: list[str]) -> tuple[str | None, str | None]:
    """(purl, purl type); OS package managers look like "debian:11" and get the distro as namespace."""
    if ":" in pm:
        distro, _, release = pm.partition(":")
        ptype = PURL_TYPES.get(distro.lower())
        if ptype in _OS_TYPES:
            try:
                purl = PackageURL(type=ptype, namespace=distro.lower(), name=pkg, version=version,
                                  qualifiers={"distro": f"{distro.lower()}-{release}"} if release else None)
                return purl.to_string(), ptype
            except ValueError as e:
                warnings.append(f"cannot build a purl for {pkg!r}: {e}")
                return None, ptype
        pm = distro
    pm = _PM_ALIASES.get(pm.lower(), pm)
    ptype = PURL_TYPES.get(pm.lower()) if pm else None
    return make_purl(pm or None, pkg, version, warnings), ptype


PARSER = SnykParser()
SNIFF_PRIORITY = 60

"""Trivy Operator custom resources as JSON (`kubectl get vulnerabilityreports -o json` and friends).

Accepted shapes: one resource; a JSON array of resources; a Kubernetes `List`
(`items`); or an object keyed by CRD name (`vulnerabilityreports.aquasecurity.github.io`:
[resources]). Kinds read: VulnerabilityReport (and Cluster/Image variants),
ConfigAuditReport, RbacAssessmentReport, InfraAssessmentReport (and Cluster variants),
ExposedSecretReport and ClusterComplianceReport. SBOM reports carry no findings.

Counting: one finding per vulnerability x workload container x package; one per failed
check (`success: false`) x workload; one per exposed secret; for a compliance report,
one per failed check x control x Kubernetes resource from `status.detailReport`
(identical entries, which the operator repeats once per container, are kept once),
or, for a summary-only report, one per control with `totalFail > 0`.

Severity table (Trivy's words): CRITICAL->critical, HIGH->high, MEDIUM->medium,
LOW->low, UNKNOWN->info, NONE->info.
Fingerprint "trivy_operator/1": the kind of entry, the workload (namespace, kind, name
from the trivy-operator.resource.* labels, else metadata), the container, and
- vulnerability: image repository, package, installed version, package path, vulnerability id;
- check: report kind, check id, check scope;
- secret: image repository, file, rule id and the (masked) matched line;
- compliance: compliance id, control id, check id, resource.
Secrets: Trivy masks the matched value; an unmasked match is redacted and only its
keyed hash is kept.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, ClassVar

from aiva.enums import Confidence, FindingCategory, Severity
from aiva.errors import ReportParseError
from aiva.fingerprint import fingerprint
from aiva.parsers._sca import as_dict, as_list, as_str, ids_in_text, str_list
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
from aiva.secrets import redact, secret_hash

SEVERITY = {
    "critical": Severity.CRITICAL,
    "high": Severity.HIGH,
    "medium": Severity.MEDIUM,
    "low": Severity.LOW,
    "unknown": Severity.INFO,
    "none": Severity.INFO,
}
_API = re.compile(r'"apiVersion"\s*:\s*"aquasecurity\.github\.io/')
_CRD_KEY = re.compile(r'"[a-z]+\.aquasecurity\.github\.io"\s*:')
_MASKED = re.compile(r"\*{4,}")
_CVSS_SOURCES = ("nvd", "ghsa", "redhat")
_OS_CLASSES = frozenset({"os-pkgs"})
_OS_FAMILIES = frozenset(
    {
        "alpine",
        "debian",
        "ubuntu",
        "redhat",
        "centos",
        "rocky",
        "alma",
        "amazon",
        "oracle",
        "suse",
        "photon",
        "wolfi",
        "chainguard",
        "cbl-mariner",
        "azurelinux",
        "opensuse.leap",
        "sles",
    }
)


class TrivyOperatorParser:
    """Trivy Operator's Kubernetes report resources."""

    name: ClassVar[str] = "trivy_operator"
    tool_name: ClassVar[str | None] = None  # named by the report's scanner
    fingerprint_version: ClassVar[str] = "trivy_operator/1"

    def sniff(self, source: ReportSource) -> bool:
        """JSON whose resources have apiVersion aquasecurity.github.io/..., or keys named after its CRDs."""
        head = source.text_head()
        if head[:1] not in ("{", "["):
            return False
        return bool(_API.search(head) or _CRD_KEY.search(head))

    def parse(self, source: ReportSource, ctx: ParseContext) -> Iterator[Finding]:
        """Yield the findings of every report resource in the file."""
        doc = source.load_json(self.name)
        seen: set[str] = set()
        for where, obj in _resources(doc, source, self.name):
            for f in self._resource(obj, where, source, ctx):
                if f.fingerprint not in seen:
                    seen.add(f.fingerprint)
                    yield f

    def _resource(
        self, obj: dict[str, Any], where: str, source: ReportSource, ctx: ParseContext
    ) -> Iterator[Finding]:
        kind = as_str(obj.get("kind"))
        report = obj.get("report")
        if report is not None and not isinstance(report, dict):
            raise ReportParseError(source.path, self.name, "'report' is not an object", where)
        rep = as_dict(report)
        res = _Resource(obj, rep, kind)
        for i, v in enumerate(as_list(rep.get("vulnerabilities"))):
            if not isinstance(v, dict):
                raise ReportParseError(
                    source.path,
                    self.name,
                    "a vulnerability is not an object",
                    f"{where}.vulnerabilities[{i}]",
                )
            yield self._vulnerability(v, res, ctx)
        for i, c in enumerate(as_list(rep.get("checks"))):
            if not isinstance(c, dict):
                raise ReportParseError(
                    source.path, self.name, "a check is not an object", f"{where}.checks[{i}]"
                )
            if c.get("success") is not True:
                yield self._check(c, res, ctx)
        for i, s in enumerate(as_list(rep.get("secrets"))):
            if not isinstance(s, dict):
                raise ReportParseError(
                    source.path, self.name, "a secret is not an object", f"{where}.secrets[{i}]"
                )
            yield self._secret(s, res, ctx)
        status = as_dict(obj.get("status"))
        if "Compliance" in kind or "detailReport" in status or "summaryReport" in status:
            yield from self._compliance(obj, res, ctx)

    def _vulnerability(self, v: dict[str, Any], res: _Resource, ctx: ParseContext) -> Finding:
        warnings: list[str] = []
        vid = as_str(v.get("vulnerabilityID"))
        pkg = as_str(v.get("resource"))
        version = as_str(v.get("installedVersion")) or None
        pkg_path = as_str(first(v.get("packagePath"), v.get("target")))
        ptype = as_str(v.get("packageType")) or (
            res.os_family if as_str(v.get("class")) in _OS_CLASSES else ""
        )
        purl = as_str(v.get("packagePURL")) or make_purl(ptype or None, pkg, version, warnings)
        cvss_map = as_dict(v.get("cvss"))
        vector = None
        for src in (as_str(v.get("cvsssource")), *_CVSS_SOURCES, *cvss_map.keys()):
            entry = as_dict(cvss_map.get(src)) if src else {}
            if entry.get("V3Vector"):
                vector = as_str(entry.get("V3Vector"))
                break
        links = [as_str(v.get("primaryLink")), *str_list(v.get("links"))]
        aliases = [vid, *(i for link in links for i in ids_in_text(link) if i.upper().startswith("GHSA"))]
        fixed = as_str(v.get("fixedVersion")) or None
        cls = as_str(v.get("class"))
        is_lang = cls == "lang-pkgs" or (
            bool(ptype) and ptype.lower() not in _OS_FAMILIES and cls not in _OS_CLASSES
        )
        return Finding(
            fingerprint=fingerprint(
                self.fingerprint_version,
                "vuln",
                res.workload,
                res.container,
                res.repository,
                pkg,
                version,
                pkg_path,
                vid,
            ),
            fingerprint_version=self.fingerprint_version,
            format=self.name,
            tool=res.tool,
            category=FindingCategory.SCA if is_lang else FindingCategory.CONTAINER,
            rule_id=vid or None,
            title=as_str(first(v.get("title"), f"{vid} in {pkg} {version or ''}".strip())),
            description=as_str(v.get("description")),
            severity=severity_from_table(v.get("severity"), SEVERITY),
            confidence=Confidence.FIRM,
            cwes=cwe_refs(str_list(v.get("cweIDs")), warnings),
            vulnerability_ids=vuln_refs(aliases),
            cvss_v3=parse_cvss(vector, warnings),
            component=Component(
                purl=purl,
                name=pkg or "unknown",
                version=version,
                ecosystem=ptype or None,
                fixed_version=fixed,
                path=pkg_path or None,
            ),
            location=Location(file_path=pkg_path) if pkg_path else None,
            target=ctx.target or res.image or res.workload or None,
            references=tuple(dict.fromkeys(x for x in links if x))[:50],
            remediation=f"Upgrade {pkg} to {fixed}" if fixed else None,
            raw_id=vid or None,
            tags=res.tags,
            warnings=tuple(warnings),
        )

    def _check(self, c: dict[str, Any], res: _Resource, ctx: ParseContext) -> Finding:
        check = as_str(c.get("checkID"))
        scope = as_dict(c.get("scope"))
        messages = str_list(c.get("messages"))
        return Finding(
            fingerprint=fingerprint(
                self.fingerprint_version,
                "check",
                res.kind,
                res.workload,
                res.container,
                check,
                as_str(scope.get("type")),
                as_str(scope.get("value")),
            ),
            fingerprint_version=self.fingerprint_version,
            format=self.name,
            tool=res.tool,
            category=FindingCategory.IAC,
            rule_id=check or None,
            title=as_str(first(c.get("title"), check)) or "Trivy Operator check",
            description="\n\n".join(x for x in (as_str(c.get("description")), *messages) if x),
            severity=severity_from_table(c.get("severity"), SEVERITY),
            confidence=Confidence.FIRM,
            target=ctx.target or res.workload or None,
            remediation=as_str(c.get("remediation")) or None,
            raw_id=check or None,
            tags=tuple(t for t in (*res.tags, as_str(c.get("category"))) if t),
        )

    def _secret(self, s: dict[str, Any], res: _Resource, ctx: ParseContext) -> Finding:
        rule = as_str(s.get("ruleID"))
        file = as_str(s.get("target"))
        match = as_str(s.get("match"))
        masked = bool(_MASKED.search(match)) or not match
        shown = match if masked else redact(match)
        category = as_str(s.get("category"))
        return Finding(
            fingerprint=fingerprint(
                self.fingerprint_version,
                "secret",
                res.workload,
                res.container,
                res.repository,
                file,
                rule,
                shown,
            ),
            fingerprint_version=self.fingerprint_version,
            format=self.name,
            tool=res.tool,
            category=FindingCategory.SECRET,
            rule_id=rule or None,
            title=as_str(first(s.get("title"), rule)) or "Exposed secret",
            description=f"{category or 'A'} secret exposed in {file or 'the image'}: {shown}".strip(),
            severity=severity_from_table(s.get("severity"), SEVERITY),
            confidence=Confidence.FIRM,
            cwes=cwe_refs([798], []),
            location=Location(file_path=file or None, snippet=shown or None),
            target=ctx.target or res.image or res.workload or None,
            raw_id=rule or None,
            secret_hash=None if masked else secret_hash(match, ctx.secret_key),
            tags=(*res.tags, "secret"),
        )

    def _compliance(self, obj: dict[str, Any], res: _Resource, ctx: ParseContext) -> Iterator[Finding]:
        status = as_dict(obj.get("status"))
        spec = as_dict(as_dict(obj.get("spec")).get("compliance"))
        detail = as_dict(status.get("detailReport"))
        comp_id = as_str(first(detail.get("id"), spec.get("id"), as_dict(obj.get("metadata")).get("name")))
        comp_title = as_str(first(detail.get("title"), spec.get("title"), comp_id))
        controls = {as_str(c.get("id")): c for c in (as_dict(x) for x in as_list(spec.get("controls")))}
        results = as_list(detail.get("results"))
        if results:
            for r in (as_dict(x) for x in results):
                for c in (as_dict(x) for x in as_list(r.get("checks"))):
                    if c.get("success") is True:
                        continue
                    yield self._compliance_check(c, r, comp_id, comp_title, res, ctx)
            return
        for c in (as_dict(x) for x in as_list(as_dict(status.get("summaryReport")).get("controlCheck"))):
            fails = c.get("totalFail")
            if not isinstance(fails, int) or fails <= 0:
                continue
            control_id = as_str(c.get("id"))
            control = as_dict(controls.get(control_id))
            name = as_str(first(c.get("name"), control.get("name"), control_id))
            yield Finding(
                fingerprint=fingerprint(self.fingerprint_version, "compliance-control", comp_id, control_id),
                fingerprint_version=self.fingerprint_version,
                format=self.name,
                tool=res.tool,
                category=FindingCategory.IAC,
                rule_id=control_id or None,
                title=f"{comp_title} {control_id}: {name}".strip(),
                description="\n\n".join(
                    x
                    for x in (
                        as_str(control.get("description")),
                        f"{fails} failed check(s) for this control.",
                    )
                    if x
                ),
                severity=severity_from_table(first(c.get("severity"), control.get("severity")), SEVERITY),
                confidence=Confidence.FIRM,
                target=ctx.target,
                raw_id=control_id or None,
                tags=(f"compliance:{comp_id}", f"control:{control_id}"),
            )

    def _compliance_check(
        self,
        c: dict[str, Any],
        control: dict[str, Any],
        comp_id: str,
        comp_title: str,
        res: _Resource,
        ctx: ParseContext,
    ) -> Finding:
        control_id = as_str(control.get("id"))
        check = as_str(c.get("checkID"))
        resource = as_str(c.get("target"))
        messages = str_list(c.get("messages"))
        title = as_str(first(c.get("title"), control.get("name"), check))
        return Finding(
            fingerprint=fingerprint(
                self.fingerprint_version, "compliance", comp_id, control_id, check, resource
            ),
            fingerprint_version=self.fingerprint_version,
            format=self.name,
            tool=res.tool,
            category=FindingCategory.IAC,
            rule_id=check or control_id or None,
            title=f"{comp_title} {control_id}: {title}".strip(),
            description="\n\n".join(
                x for x in (as_str(control.get("name")), as_str(c.get("description")), *messages) if x
            ),
            severity=severity_from_table(first(c.get("severity"), control.get("severity")), SEVERITY),
            confidence=Confidence.FIRM,
            location=Location(file_path=resource) if resource else None,
            target=ctx.target,
            remediation=as_str(c.get("remediation")) or None,
            raw_id=check or None,
            tags=(f"compliance:{comp_id}", f"control:{control_id}"),
        )


class _Resource:
    """What every finding of one report resource shares: workload, container, image, tool."""

    def __init__(self, obj: dict[str, Any], rep: dict[str, Any], kind: str) -> None:
        meta = as_dict(obj.get("metadata"))
        labels = as_dict(meta.get("labels"))
        ns = as_str(first(labels.get("trivy-operator.resource.namespace"), meta.get("namespace")))
        rkind = as_str(labels.get("trivy-operator.resource.kind"))
        rname = as_str(labels.get("trivy-operator.resource.name"))
        if rkind and rname:
            self.workload = "/".join(x for x in (ns, rkind, rname) if x)
        else:
            self.workload = "/".join(x for x in (ns, as_str(meta.get("name"))) if x)
        self.container = as_str(labels.get("trivy-operator.container.name"))
        self.kind = kind
        artifact = as_dict(rep.get("artifact"))
        registry = as_str(as_dict(rep.get("registry")).get("server"))
        repo = as_str(artifact.get("repository"))
        self.repository = "/".join(x for x in (registry, repo) if x)
        image = self.repository
        if image and as_str(artifact.get("tag")):
            image += ":" + as_str(artifact.get("tag"))
        elif image and as_str(artifact.get("digest")):
            image += "@" + as_str(artifact.get("digest"))
        self.image = image
        self.os_family = as_str(as_dict(rep.get("os")).get("family"))
        scanner = as_dict(rep.get("scanner"))
        self.tool = ToolInfo(
            name=(as_str(scanner.get("name")) or "trivy").lower(),
            version=as_str(scanner.get("version")) or None,
        )
        self.tags: tuple[str, ...] = tuple(
            t
            for t in (
                "trivy-operator",
                f"kind:{kind}" if kind else "",
                f"container:{self.container}" if self.container else "",
            )
            if t
        )


def _resources(doc: Any, source: ReportSource, fmt: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every report resource in the document, with a position for error messages."""
    if isinstance(doc, list):
        for i, item in enumerate(doc):
            if not isinstance(item, dict):
                raise ReportParseError(source.path, fmt, "an array item is not an object", f"[{i}]")
            yield from ((f"[{i}]{w}", o) for w, o in _resources(item, source, fmt))
        return
    if not isinstance(doc, dict):
        raise ReportParseError(
            source.path, fmt, "expected a JSON object or array of Trivy Operator resources"
        )
    if isinstance(doc.get("items"), list) and "report" not in doc:
        for i, item in enumerate(doc["items"]):
            if not isinstance(item, dict):
                raise ReportParseError(source.path, fmt, "a List item is not an object", f"items[{i}]")
            yield f"items[{i}]", item
        return
    if "kind" in doc or "report" in doc:
        yield "", doc
        return
    crd_keys = [k for k in doc if k.endswith(".aquasecurity.github.io")]
    if not crd_keys:
        raise ReportParseError(source.path, fmt, "no Trivy Operator resource (kind/report) found")
    for key in crd_keys:
        value = doc[key]
        items = value.get("items") if isinstance(value, dict) else value
        if not isinstance(items, list):
            raise ReportParseError(source.path, fmt, "a CRD entry is not a list of resources", key)
        for i, item in enumerate(items):
            if not isinstance(item, dict):
                raise ReportParseError(source.path, fmt, "a resource is not an object", f"{key}[{i}]")
            yield f"{key}[{i}]", item


PARSER = TrivyOperatorParser()
SNIFF_PRIORITY = 70

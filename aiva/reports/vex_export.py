"""CycloneDX 1.5 VEX export: AIVA's triage decisions on known vulnerabilities in components.

One JSON document (`bomFormat: CycloneDX`, `specVersion: 1.5`) with

- `serialNumber`: `urn:uuid:<uuid5 of the run id>`, so re-rendering a run's report gives
  the same document; `version` 1;
- `metadata`: timestamp (the run's end, else its start), the tool (AIVA) and the product
  as the described component;
- `components`: one per distinct package URL, `bom-ref` = the purl;
- `vulnerabilities`: one per (vulnerability id, purl) pair, with `affects` pointing at
  that component, and AIVA's state of the findings as the `analysis`.

What goes in. Only findings that carry a component purl AND at least one vulnerability
id (CVE, GHSA, or another advisory id such as an OSV id): VEX speaks about known
vulnerabilities in identified components. SAST, DAST, secret, IaC and licence findings
have no such pair and are left out (a finding of any category that has both is kept).
A finding with several ids (a CVE and its GHSA alias) yields one entry per id; each
entry lists the other ids as `references`.

Analysis states (AIVA status -> CycloneDX `analysis`):

    new            -> in_triage
    active         -> exploitable        (+ response ["update"] when a fixed version is known)
    reopened       -> exploitable        (+ response ["update"] when a fixed version is known)
    mitigated      -> resolved
    false_positive -> false_positive
    risk_accepted  -> exploitable, response ["will_not_fix"], detail "risk accepted"
    out_of_scope   -> not_affected, detail says it is out of scope (no justification:
                      none of CycloneDX's justifications states "out of scope" truthfully)

When several findings fall on one (id, purl) pair with different statuses (say, two
image layers or two scanners), the most pressing one decides: active/reopened, then
new, then risk_accepted, out_of_scope, false_positive, and mitigated last; the detail
then lists the breakdown ("3 findings: 2 active, 1 false_positive").

Memory and streaming. Findings arrive one at a time and are not kept; what is kept is
one small merged record per distinct (id, purl) pair and one per distinct purl (the
pairs have to be grouped before they can be written, so memory grows with the number
of distinct pairs, not with the number of findings). `finish` writes the document
sorted by id then purl, so the same findings give byte-identical output.
"""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, BinaryIO

import orjson
from packageurl import PackageURL

from aiva.enums import RiskLevel, Severity, VulnerabilityStatus
from aiva.reports.common import RISK_RANK, as_utc, truncate
from aiva.reports.model import ReportFinding, RunSummary
from aiva.reports.sarif_export import _aiva_version
from aiva.schemas import CVEReference, Finding

SPEC_VERSION = "1.5"
SCHEMA_URI = "http://cyclonedx.org/schema/bom-1.5.schema.json"
SERIAL_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://aiva.invalid/cyclonedx-vex")
MAX_ADVISORIES = 50
MAX_REMEDIATIONS = 5
MAX_FINDING_IDS = 100
MAX_TEXT = 10_000
_KEEP = 200  # upper bound on any per-pair set while collecting

# status -> (state, response, detail); see the module docstring
ANALYSIS: dict[VulnerabilityStatus, tuple[str, tuple[str, ...], str]] = {
    VulnerabilityStatus.NEW: ("in_triage", (), "new in this product; awaiting triage in AIVA"),
    VulnerabilityStatus.ACTIVE: ("exploitable", (), "open in AIVA: detected again by the latest scan"),
    VulnerabilityStatus.REOPENED: ("exploitable", (), "open in AIVA: detected again after it was mitigated"),
    VulnerabilityStatus.MITIGATED: ("resolved", (), "no longer detected by the latest scan (mitigated in AIVA)"),
    VulnerabilityStatus.FALSE_POSITIVE: ("false_positive", (), "marked false positive in AIVA triage"),
    VulnerabilityStatus.RISK_ACCEPTED: ("exploitable", ("will_not_fix",), "risk accepted"),
    VulnerabilityStatus.OUT_OF_SCOPE: (
        "not_affected", (), "out of scope for this product (AIVA triage decision)"),
}
# which status decides when a pair's findings disagree: first in this order wins
PRECEDENCE: tuple[VulnerabilityStatus, ...] = (
    VulnerabilityStatus.ACTIVE,
    VulnerabilityStatus.REOPENED,
    VulnerabilityStatus.NEW,
    VulnerabilityStatus.RISK_ACCEPTED,
    VulnerabilityStatus.OUT_OF_SCOPE,
    VulnerabilityStatus.FALSE_POSITIVE,
    VulnerabilityStatus.MITIGATED,
)
CVSS_METHODS: dict[str, str] = {"2.0": "CVSSv2", "3.0": "CVSSv3", "3.1": "CVSSv31", "4.0": "CVSSv4"}
_METHOD_ORDER = {"CVSSv4": 0, "CVSSv31": 1, "CVSSv3": 2, "CVSSv2": 3}
# advisory id prefixes that OSV.dev serves (besides CVE and GHSA)
OSV_PREFIXES: tuple[str, ...] = (
    "PYSEC-", "RUSTSEC-", "GO-", "OSV-", "GSD-", "MAL-", "RSEC-", "PSF-", "BIT-", "CURL-", "UVI-",
    "DSA-", "DLA-", "USN-", "ALSA-", "ALBA-", "RLSA-", "SUSE-", "openSUSE-",
)
_CONTAINER_PURL_TYPES = frozenset({"oci", "docker"})


def serial_number(run_id: str) -> str:
    """The document's serial number: a urn:uuid derived from the run id (uuid5), stable across re-renders."""
    return f"urn:uuid:{uuid.uuid5(SERIAL_NAMESPACE, run_id)}"


def vulnerability_source(ref: CVEReference) -> dict[str, str] | None:
    """Who publishes an id: NVD for CVEs, GitHub for GHSAs, OSV for OSV-served ids; None otherwise."""
    if ref.kind == "cve":
        return {"name": "NVD", "url": f"https://nvd.nist.gov/vuln/detail/{ref.id}"}
    if ref.kind == "ghsa":
        return {"name": "GitHub", "url": f"https://github.com/advisories/{ref.id}"}
    if ref.id.startswith(OSV_PREFIXES):
        return {"name": "OSV", "url": f"https://osv.dev/vulnerability/{ref.id}"}
    return None


def analysis_for(statuses: Counter[VulnerabilityStatus], *, fix_known: bool) -> dict[str, Any]:
    """The CycloneDX `analysis` for a pair's findings (status counts); see the module docstring."""
    deciding = next((s for s in PRECEDENCE if statuses.get(s)), VulnerabilityStatus.NEW)
    state, response, detail = ANALYSIS[deciding]
    if state == "exploitable" and not response and fix_known:
        response = ("update",)
    if len([s for s in statuses if statuses[s]]) > 1:
        total = sum(statuses.values())
        parts = ", ".join(f"{statuses[s]} {s.value}" for s in PRECEDENCE if statuses.get(s))
        detail = f"{detail} ({total} findings: {parts})"
    out: dict[str, Any] = {"state": state}
    if response:
        out["response"] = list(response)
    out["detail"] = detail
    return out


def _is_url(text: str) -> bool:
    return text.lower().startswith(("https://", "http://"))


def _cvss_severity(score: float) -> str:
    return "none" if score <= 0.0 else Severity.from_cvss_score(score).value


def _utc_text(value: datetime) -> str:
    return as_utc(value).isoformat().replace("+00:00", "Z")


@dataclass
class _Pair:
    """What is known about one vulnerability id in one component, merged over its findings."""

    ref: CVEReference
    purl: str
    aliases: set[tuple[str, str]] = field(default_factory=set)  # (id, kind)
    cvss: dict[tuple[str, str], float] = field(default_factory=dict)  # (method, vector) -> score
    scanner_severity: dict[str, Severity] = field(default_factory=dict)  # tool -> worst severity
    risk_score: float = 0.0
    risk_level: str = "none"
    cwes: set[int] = field(default_factory=set)
    description: str = ""
    names: set[str] = field(default_factory=set)
    versions: set[str] = field(default_factory=set)
    fixed: set[str] = field(default_factory=set)
    remediations: set[str] = field(default_factory=set)
    advisories: set[str] = field(default_factory=set)
    statuses: Counter[VulnerabilityStatus] = field(default_factory=Counter)
    finding_ids: set[int] = field(default_factory=set)
    first_seen: str = ""
    last_seen: str = ""

    def merge(self, item: ReportFinding) -> None:
        f = item.finding
        comp = f.component
        assert comp is not None
        self.statuses[item.status] += 1
        if len(self.finding_ids) < _KEEP:
            self.finding_ids.add(item.id)
        first, last = _utc_text(item.first_seen), _utc_text(item.last_seen)
        self.first_seen = min(self.first_seen, first) if self.first_seen else first
        self.last_seen = max(self.last_seen, last)
        for other in f.vulnerability_ids:
            if other.id != self.ref.id and len(self.aliases) < _KEEP:
                self.aliases.add((other.id, other.kind))
        for score in (f.cvss_v3, f.cvss_v4):
            if score is not None:
                key = (CVSS_METHODS.get(score.version, "other"), score.vector)
                self.cvss[key] = max(self.cvss.get(key, 0.0), score.base_score)
        worst = self.scanner_severity.get(f.tool.name)
        if worst is None or f.severity.rank > worst.rank:
            self.scanner_severity[f.tool.name] = f.severity
        risk = (item.risk_score, RISK_RANK[item.risk_level])
        if risk > (self.risk_score, RISK_RANK[RiskLevel(self.risk_level)]):
            self.risk_score, self.risk_level = item.risk_score, item.risk_level.value
        self.cwes.update(c.id for c in f.cwes if c.id >= 1)
        text = truncate(f.description or f.title, MAX_TEXT)[0]
        # the longest description wins (ties: the smaller text), so input order does not matter
        if (len(text), self.description) > (len(self.description), text):
            self.description = text
        self.names.add(comp.name)
        if comp.version:
            self.versions.add(comp.version)
        if comp.fixed_version:
            self.fixed.add(comp.fixed_version)
        if f.remediation and len(self.remediations) < _KEEP:
            self.remediations.add(truncate(f.remediation, 2_000)[0])
        for url in f.references:
            if _is_url(url) and len(self.advisories) < _KEEP:
                self.advisories.add(url)

    def recommendation(self) -> str | None:
        parts: list[str] = []
        if self.fixed:
            name = min(self.names) if self.names else self.purl
            current = f" {', '.join(sorted(self.versions))}" if self.versions else ""
            fixed = sorted(self.fixed)
            target = fixed[0] if len(fixed) == 1 else "one of " + ", ".join(fixed)
            parts.append(f"Upgrade {name}{current} to {target} or later.")
        parts.extend(sorted(self.remediations)[:MAX_REMEDIATIONS])
        return " ".join(parts) if parts else None

    def ratings(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for (method, vector), score in sorted(self.cvss.items(), key=lambda kv: (_METHOD_ORDER.get(kv[0][0], 9),
                                                                                 kv[0][1])):
            out.append({"score": score, "severity": _cvss_severity(score), "method": method, "vector": vector})
        out.append({"source": {"name": "AIVA"}, "score": self.risk_score, "severity": self.risk_level,
                    "method": "other", "justification": "AIVA contextual risk score (0 to 10)"})
        for tool, sev in sorted(self.scanner_severity.items()):
            out.append({"source": {"name": tool}, "severity": sev.value, "method": "other",
                        "justification": f"severity reported by {tool}"})
        return out

    def document(self) -> dict[str, Any]:
        v: dict[str, Any] = {"id": self.ref.id}
        source = vulnerability_source(self.ref)
        if source:
            v["source"] = source
        refs = []
        for alias, kind in sorted(self.aliases):
            alias_source = vulnerability_source(CVEReference(id=alias, kind=kind))
            if alias_source:  # a reference needs a source
                refs.append({"id": alias, "source": alias_source})
        if refs:
            v["references"] = refs
        v["ratings"] = self.ratings()
        if self.cwes:
            v["cwes"] = sorted(self.cwes)
        if self.description:
            v["description"] = self.description
        rec = self.recommendation()
        if rec:
            v["recommendation"] = rec
        if self.advisories:
            v["advisories"] = [{"url": u} for u in sorted(self.advisories)[:MAX_ADVISORIES]]
        v["analysis"] = analysis_for(self.statuses, fix_known=bool(self.fixed))
        affects: dict[str, Any] = {"ref": self.purl}
        if self.versions:
            affects["versions"] = [{"version": ver[:1024], "status": "affected"} for ver in sorted(self.versions)]
        v["affects"] = [affects]
        ids = sorted(self.finding_ids)
        v["properties"] = [
            {"name": "aiva:status", "value": ",".join(f"{s.value}={self.statuses[s]}"
                                                      for s in PRECEDENCE if self.statuses.get(s))},
            {"name": "aiva:findingIds", "value": ",".join(str(i) for i in ids[:MAX_FINDING_IDS])},
            {"name": "aiva:firstSeen", "value": self.first_seen},
            {"name": "aiva:lastSeen", "value": self.last_seen},
        ]
        return v


def component_for(purl: str, finding: Finding) -> dict[str, Any]:
    """The CycloneDX component for a purl (name, group and version read from the purl when it parses)."""
    comp = finding.component
    name = comp.name if comp is not None else purl
    group: str | None = None
    version = comp.version if comp is not None else None
    ctype = "library"
    try:
        parsed = PackageURL.from_string(purl)
    except ValueError:
        parsed = None
    if parsed is not None:
        name = parsed.name or name
        group = parsed.namespace or None
        version = parsed.version or version
        if parsed.type in _CONTAINER_PURL_TYPES:
            ctype = "container"
    out: dict[str, Any] = {"type": ctype, "bom-ref": purl}
    if group:
        out["group"] = group
    out["name"] = name or purl
    if version:
        out["version"] = version
    out["purl"] = purl
    return out


def is_vex_material(item: ReportFinding) -> bool:
    """Whether a finding belongs in the VEX: it names a component purl and at least one vulnerability id."""
    f = item.finding
    return f.component is not None and bool(f.component.purl) and bool(f.vulnerability_ids)


class VexSink:
    """Collects (vulnerability id, purl) pairs as findings stream in; writes the VEX document at finish."""

    def __init__(self, summary: RunSummary, out: BinaryIO) -> None:
        """Prepare an empty VEX for `summary`'s run; nothing is written to `out` until finish."""
        self._summary = summary
        self._out = out
        self._pairs: dict[tuple[str, str], _Pair] = {}
        self._components: dict[str, dict[str, Any]] = {}
        self.skipped = 0  # findings that are not VEX material

    def add(self, item: ReportFinding) -> None:
        """Merge the finding into its (id, purl) pairs; skip findings without a purl or a vulnerability id."""
        if not is_vex_material(item):
            self.skipped += 1
            return
        f = item.finding
        assert f.component is not None and f.component.purl
        purl = f.component.purl
        if purl not in self._components:
            self._components[purl] = component_for(purl, f)
        for ref in f.vulnerability_ids:
            key = (ref.id, purl)
            pair = self._pairs.get(key)
            if pair is None:
                pair = self._pairs[key] = _Pair(ref=ref, purl=purl)
            pair.merge(item)

    def _head(self) -> dict[str, Any]:
        s = self._summary
        product: dict[str, Any] = {"type": "application", "bom-ref": f"aiva-product:{s.product}", "name": s.product}
        return {
            "$schema": SCHEMA_URI,
            "bomFormat": "CycloneDX",
            "specVersion": SPEC_VERSION,
            "serialNumber": serial_number(s.run_id),
            "version": 1,
            "metadata": {
                "timestamp": _utc_text(s.finished_at or s.started_at),
                "tools": {"components": [{"type": "application", "name": "AIVA", "version": _aiva_version()}]},
                "component": product,
                "properties": [{"name": "aiva:runId", "value": s.run_id},
                               {"name": "aiva:product", "value": s.product}],
            },
            "components": [self._components[p] for p in sorted(self._components)],
        }

    def finish(self) -> None:
        """Write the document: head and components, then one vulnerability per (id, purl), sorted."""
        out = self._out
        head = orjson.dumps(self._head())
        assert head.endswith(b"}")
        out.write(head[:-1])
        out.write(b',"vulnerabilities":[')
        for n, key in enumerate(sorted(self._pairs)):
            out.write(b",\n" if n else b"\n")
            out.write(orjson.dumps(self._pairs[key].document()))
        out.write(b"\n]}\n")
        self._pairs.clear()

    def abort(self) -> None:
        """Drop what was collected."""
        self._pairs.clear()
        self._components.clear()

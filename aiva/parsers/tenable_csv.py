"""Tenable CSV exports: the Nessus / Tenable.sc / Tenable.io "vulnerabilities" CSV
(columns `Plugin ID, CVE, CVSS, Risk, Host, Protocol, Port, Name, ...`, with or
without the extended columns `IP Address, FQDN, Severity, CVSS3 Vector, ...`) and the
Tenable Vulnerability Management export (`asset.*`, `definition.*` columns, comma- or
semicolon-separated).

Counting: one finding per host x port x protocol x plugin. The Nessus CSV repeats a
row for every CVE of a plugin: those rows are merged into one finding carrying all
the CVEs. Rows that are exactly the same thing again (same identity) are merged into
the first, their plugin output appended. Blank rows (no plugin id and no name) are
skipped, and so are rows whose vulnerability state is FIXED (the weakness is gone;
AIVA's lifecycle marks the finding mitigated when it is missing from a new import).

Severity table: a `Severity` / `severity` column (Nessus's 0-4 scale: 4->critical,
3->high, 2->medium, 1->low, 0->info; or the words Critical/High/Medium/Low/Info)
wins; else `Risk` / `Risk Factor` / `definition.severity`: Critical->critical,
High->high, Medium->medium, Low->low, None/Info->info.
CVSS: the v3 vector (`CVSS3 Vector`, `definition.cvss3.base_vector`; a bare
"AV:N/..." vector is read as v3.1) and a v4 vector when present.
Endpoint: host = the IP address column when there is one, else `Host`
(the name the scanner was given); port; protocol (lower-cased).
Target: the `Host` / asset name as given to the scanner (ctx.target wins).

Fingerprint "tenable_csv/1": endpoint host, port, protocol, plugin id.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import ClassVar

from aiva.enums import Confidence, FindingCategory, Severity
from aiva.fingerprint import fingerprint
from aiva.parsers._netutil import (
    as_port,
    clip,
    csv_header,
    cve_ids,
    first_value,
    iter_csv,
    scrub_credentials,
    unique,
)
from aiva.parsers.base import ParseContext, ReportSource, cwe_refs, parse_cvss, severity_from_table, vuln_refs
from aiva.schemas import Endpoint, Finding, ToolInfo

SEVERITY = {
    "4": Severity.CRITICAL,
    "3": Severity.HIGH,
    "2": Severity.MEDIUM,
    "1": Severity.LOW,
    "0": Severity.INFO,
    "critical": Severity.CRITICAL,
    "high": Severity.HIGH,
    "medium": Severity.MEDIUM,
    "low": Severity.LOW,
    "none": Severity.INFO,
    "info": Severity.INFO,
    "informational": Severity.INFO,
}
_URL = re.compile(r"https?://[^\s,;]+")
_TOOL = ToolInfo(name="nessus")

# Column names per layout: the first non-empty one wins.
_CLASSIC = {
    "plugin": ("Plugin ID", "Plugin"),
    "name": ("Name", "Plugin Name"),
    "host_ip": ("IP Address", "IP"),
    "host": ("Host", "DNS Name", "FQDN", "NetBIOS", "NetBios"),
    "port": ("Port",),
    "protocol": ("Protocol",),
    "severity": ("Severity",),
    "risk": ("Risk", "Risk Factor"),
    "cve": ("CVE",),
    "cvss3": ("CVSS3 Vector", "CVSS V3 Vector", "CVSS v3 Vector"),
    "cvss4": ("CVSS4 Vector", "CVSS V4 Vector"),
    "synopsis": ("Synopsis",),
    "description": ("Description",),
    "solution": ("Solution",),
    "see_also": ("See Also",),
    "output": ("Plugin Output",),
    "cwe": ("CWE",),
    "family": ("Plugin Family", "Family"),
    "state": ("Vulnerability State", "State"),
}
_VM = {
    "plugin": ("definition.id",),
    "name": ("definition.name",),
    "host_ip": ("asset.display_ipv4_address", "asset.ipv4_addresses", "asset.display_ipv6_address"),
    "host": ("asset.name", "asset.display_fqdn", "asset.host_name", "asset.netbios_name", "asset.id"),
    "port": ("port",),
    "protocol": ("protocol",),
    "severity": ("severity",),
    "risk": ("definition.severity",),
    "cve": ("definition.cve",),
    "cvss3": ("definition.cvss3.base_vector",),
    "cvss4": ("definition.cvss4.base_vector",),
    "synopsis": ("definition.synopsis",),
    # Some exports leave the description column's header empty (between definition.cwe and
    # definition.exploitability_ease): the blank-named column is read as the description.
    "description": ("definition.description", ""),
    "solution": ("definition.solution",),
    "see_also": ("definition.see_also",),
    "output": ("output",),
    "cwe": ("definition.cwe",),
    "family": ("definition.family",),
    "state": ("state",),
}


@dataclass
class _Group:
    line: int
    row: dict[str, str]
    cves: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)


class TenableCsvParser:
    """Nessus / Tenable CSV exports."""

    name: ClassVar[str] = "tenable_csv"
    tool_name: ClassVar[str | None] = "nessus"
    fingerprint_version: ClassVar[str] = "tenable_csv/1"

    def sniff(self, source: ReportSource) -> bool:
        """A header naming a plugin and a host (`Plugin ID` + `Host`), or `definition.id` + `asset.*`."""
        parsed = csv_header(source)
        if parsed is None:
            return False
        cols = set(parsed[0])
        if (
            cols & {"Plugin ID", "Plugin"}
            and cols & {"Host", "IP Address", "DNS Name"}
            and cols & {"Risk", "Severity", "Name", "Plugin Name"}
        ):
            return True
        return "definition.id" in cols and any(c.startswith("asset.") for c in cols)

    def parse(self, source: ReportSource, ctx: ParseContext) -> Iterator[Finding]:
        """Yield one finding per host x port x protocol x plugin (CVE rows merged)."""
        parsed = csv_header(source)
        delimiter = parsed[1] if parsed else ","
        cols = _VM if parsed and "definition.id" in parsed[0] else _CLASSIC
        groups: dict[tuple[str, str, str, str], _Group] = {}
        for line, row in iter_csv(source, self.name, delimiter):
            plugin = _get(row, cols, "plugin")
            if not plugin and not _get(row, cols, "name"):
                continue  # blank row (exports end with some)
            if _get(row, cols, "state").lower() == "fixed":
                continue  # gone from the asset: the lifecycle marks it mitigated
            host = _get(row, cols, "host_ip") or _get(row, cols, "host")
            port = as_port(_get(row, cols, "port"))
            protocol = _get(row, cols, "protocol").lower()
            key = (host, str(port), protocol, plugin or _get(row, cols, "name"))
            g = groups.get(key)
            if g is None:
                g = groups[key] = _Group(line, row)
            g.cves += cve_ids(_get(row, cols, "cve"))
            out = _get(row, cols, "output")
            if out and out not in g.outputs:
                g.outputs.append(out)
        for key, g in groups.items():
            yield self._finding(key, g, cols, ctx)

    def _finding(
        self, key: tuple[str, ...], g: _Group, cols: dict[str, tuple[str, ...]], ctx: ParseContext
    ) -> Finding:
        row = g.row
        warnings: list[str] = []
        host, port_s, protocol, plugin = key
        sev = _get(row, cols, "severity")
        severity = (
            severity_from_table(sev, SEVERITY)
            if sev.strip().lower() in SEVERITY
            else severity_from_table(_get(row, cols, "risk"), SEVERITY)
        )
        s_hash: str | None = None
        shown: list[str] = []
        for o in g.outputs[:20]:
            scrubbed, h = scrub_credentials(o, ctx.secret_key)
            s_hash = s_hash or h
            shown.append(scrubbed)
        description = "\n\n".join(
            x
            for x in (
                _get(row, cols, "synopsis"),
                _get(row, cols, "description"),
                *(f"Plugin output:\n{o}" for o in shown),
            )
            if x
        )
        tags = []
        if _get(row, cols, "family"):
            tags.append(f"plugin-family:{_get(row, cols, 'family')}")
        if _get(row, cols, "state"):
            tags.append(f"state:{_get(row, cols, 'state').lower()}")
        if s_hash:
            tags.append("secret")
        solution = _get(row, cols, "solution")
        name = _get(row, cols, "name") or f"Nessus plugin {plugin}"
        return Finding(
            fingerprint=fingerprint(self.fingerprint_version, *key),
            fingerprint_version=self.fingerprint_version,
            format=self.name,
            tool=_TOOL,
            category=FindingCategory.NETWORK,
            rule_id=plugin or None,
            title=name[:500],
            description=clip(description),
            severity=severity,
            confidence=Confidence.FIRM,
            cwes=cwe_refs(re.split(r"[,;\s]+", _get(row, cols, "cwe")), warnings),
            vulnerability_ids=vuln_refs(unique(g.cves)),
            cvss_v3=parse_cvss(_get(row, cols, "cvss3") or None, warnings),
            cvss_v4=parse_cvss(_get(row, cols, "cvss4") or None, warnings),
            endpoint=Endpoint(host=host or None, port=as_port(port_s), protocol=protocol or None),
            target=ctx.target or _get(row, cols, "host") or host or None,
            references=tuple(unique(_URL.findall(_get(row, cols, "see_also"))))[:50],
            remediation=None if solution.lower() in ("", "n/a") else solution,
            raw_id=plugin or None,
            secret_hash=s_hash,
            tags=tuple(tags),
            warnings=tuple(warnings),
        )


def _get(row: dict[str, str], cols: dict[str, tuple[str, ...]], field_name: str) -> str:
    return first_value(row, *cols[field_name])


PARSER = TenableCsvParser()
SNIFF_PRIORITY = 60

"""The compliance data tables (aiva/data/*.csv, *.json), read once on first use and validated.

- `owasp_top10_2021.csv`: CWE -> OWASP Top 10:2021 category (OWASP's "List of Mapped CWEs");
- `cwe_top25_2024.csv`: the 2024 CWE Top 25 with ranks (MITRE);
- `compliance_controls.json`: PCI DSS 4.0, SOX ITGC and GDPR controls with AIVA's rules.
"""

from __future__ import annotations

import csv
import io
import json
from functools import cache
from importlib import resources
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from aiva.enums import ComplianceFramework, FindingCategory, Severity
from aiva.errors import ConfigError

OWASP_CSV = "owasp_top10_2021.csv"
TOP25_CSV = "cwe_top25_2024.csv"
CONTROLS_JSON = "compliance_controls.json"
OWASP_SOURCES = (
    "OWASP Top 10:2021, 'List of Mapped CWEs' of each category - https://owasp.org/Top10/ (CC BY-SA 4.0)",
    "A06:2021 also maps open SCA/container findings that carry a vulnerability id (AIVA rule: OWASP lists "
    "only CWE-937/1035/1104 for it, which scanners rarely report)",
)
TOP25_SOURCES = ("2024 CWE Top 25 Most Dangerous Software Weaknesses - "
                 "https://cwe.mitre.org/top25/archive/2024/2024_cwe_top25.html",)


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Rule(_Frozen):
    """Which findings map to a control: every condition given must hold."""

    cwes: frozenset[int] = frozenset()
    categories: frozenset[FindingCategory] = frozenset()
    min_severity: Severity | None = None
    require_vuln_id: bool = False

    @model_validator(mode="after")
    def _not_empty(self) -> Rule:
        if not (self.cwes or self.categories or self.min_severity or self.require_vuln_id):
            raise ValueError("a rule needs at least one condition (cwes, categories, min_severity, require_vuln_id)")
        return self


class Control(_Frozen):
    """One requirement of a framework and the rules that map findings to it."""

    id: str = Field(min_length=1)
    title: str = Field(min_length=1)
    rules: tuple[Rule, ...] = Field(min_length=1)


class Framework(_Frozen):
    """A framework's controls and where they come from."""

    framework: ComplianceFramework
    name: str
    sources: tuple[str, ...]
    controls: tuple[Control, ...]


def frameworks() -> dict[ComplianceFramework, Framework]:
    """Every framework AIVA evaluates, by enum value."""
    return dict(_load_all())


def framework(which: ComplianceFramework) -> Framework:
    """One framework's controls."""
    return _load_all()[which]


@cache
def _load_all() -> dict[ComplianceFramework, Framework]:
    out = {ComplianceFramework.OWASP_TOP10_2021: _owasp(), ComplianceFramework.CWE_TOP25: _top25()}
    doc = json.loads(_read(CONTROLS_JSON))
    for key, body in doc["frameworks"].items():
        try:
            fw = Framework(framework=ComplianceFramework(key), **body)
        except (ValueError, ValidationError) as e:
            raise ConfigError(f"aiva/data/{CONTROLS_JSON}: framework {key!r} is invalid: {e}") from e
        out[fw.framework] = fw
    missing = set(ComplianceFramework) - set(out)
    if missing:
        raise ConfigError(f"aiva/data: no table for {', '.join(sorted(m.value for m in missing))}")
    return out


def _owasp() -> Framework:
    by_cat: dict[str, tuple[str, set[int]]] = {}
    for row in _csv_rows(OWASP_CSV, ("cwe", "category", "category_name")):
        name, cwes = by_cat.setdefault(row["category"], (row["category_name"], set()))
        cwes.add(int(row["cwe"]))
    controls = []
    for cat in sorted(by_cat):
        name, cwes = by_cat[cat]
        rules = [Rule(cwes=frozenset(cwes))]
        if cat.startswith("A06"):
            rules.append(Rule(categories=frozenset({FindingCategory.SCA, FindingCategory.CONTAINER}),
                              require_vuln_id=True))
        controls.append(Control(id=cat, title=f"{cat} {name}", rules=tuple(rules)))
    return Framework(framework=ComplianceFramework.OWASP_TOP10_2021, name="OWASP Top 10:2021",
                     sources=OWASP_SOURCES, controls=tuple(controls))


def _top25() -> Framework:
    rows = sorted(_csv_rows(TOP25_CSV, ("rank", "cwe", "name")), key=lambda r: int(r["rank"]))
    controls = tuple(
        Control(id=f"CWE-{r['cwe']}", title=f"#{r['rank']} CWE-{r['cwe']} {r['name']}",
                rules=(Rule(cwes=frozenset({int(r["cwe"])})),))
        for r in rows
    )
    return Framework(framework=ComplianceFramework.CWE_TOP25, name="2024 CWE Top 25", sources=TOP25_SOURCES,
                     controls=controls)


def _csv_rows(name: str, columns: tuple[str, ...]) -> list[dict[str, Any]]:
    text = "".join(line for line in io.StringIO(_read(name)) if not line.startswith("#"))
    reader = csv.DictReader(io.StringIO(text))
    if tuple(reader.fieldnames or ()) != columns:
        raise ConfigError(f"aiva/data/{name}: expected columns {','.join(columns)}, got {reader.fieldnames}")
    return list(reader)


def _read(name: str) -> str:
    return (resources.files("aiva") / "data" / name).read_text(encoding="utf-8")

"""Attack paths (pure, networkx): the easiest ways from the internet to the crown jewels.

An inventory (YAML or JSON) lists assets (type, criticality, internet-facing, crown
jewel) and directed edges `from -> to`: an attacker holding `from` can reach `to`
over the network (`network`) or is trusted by it (`trust`: credentials, tokens,
push rights, "runs this image").

Each hop's probability is the chance of compromising its target:

    p(finding) = max(0.8 * (risk_score / 10) ** 2, EPSS, 0.9 if in KEV), kept in [0.01, 0.95]
    p(hop)     = max(best p(finding) on the target, 0.9 for a trust edge, 0.05 otherwise)

Squaring the risk score keeps low-risk findings (a missing header) from counting
as a way in: risk 10 gives 0.8, risk 8 gives 0.51, risk 5 gives 0.2, risk 2 gives
0.03, under the floor. The 0.05 floor stands for what no scanner reports (weak passwords, zero-days), so
an unscanned asset is a hard hop, not a wall. A hop costs -ln p(hop); a path's
cost is the sum, its probability the product. Paths run from a virtual `internet`
node through internet-facing assets to a crown jewel and are returned cheapest
first (Yen's k shortest simple paths). A path that crosses another crown jewel
before its end is skipped: the shorter path to that jewel is already listed.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import Enum
from itertools import islice, pairwise
from pathlib import Path
from typing import Any

import networkx as nx
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from aiva.enums import AssetType, BusinessCriticality
from aiva.errors import ReportParseError

FMT = "inventory"
INTERNET = "(internet)"
_SINK = "(crown jewels)"
FINDING_WEIGHT = 0.8
KEV_PROBABILITY = 0.9
TRUST_PROBABILITY = 0.9
BASELINE_PROBABILITY = 0.05
P_MIN, P_MAX = 0.01, 0.95
MAX_HOP_FINDINGS = 5


class EdgeKind(str, Enum):
    """How an attacker on `from` gets at `to`."""

    NETWORK = "network"
    TRUST = "trust"


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True, str_strip_whitespace=True)


class InventoryAsset(_Model):
    """An asset of the inventory; `name` is the asset name findings are stored under."""

    name: str = Field(min_length=1, max_length=500)
    type: AssetType = AssetType.OTHER
    criticality: BusinessCriticality = BusinessCriticality.MEDIUM
    internet_facing: bool = False
    crown_jewel: bool = False
    description: str = ""


class InventoryEdge(_Model):
    """A directed edge: holding `source` lets an attacker reach `target`."""

    source: str = Field(alias="from", min_length=1)
    target: str = Field(alias="to", min_length=1)
    kind: EdgeKind = EdgeKind.NETWORK
    note: str = ""


class _Problem(ValueError):
    def __init__(self, position: str, reason: str) -> None:
        super().__init__(f"{position}: {reason}")
        self.position = position
        self.reason = reason


class Inventory(_Model):
    """Assets and the edges between them; names are unique and every edge names known assets."""

    assets: tuple[InventoryAsset, ...] = Field(min_length=1)
    edges: tuple[InventoryEdge, ...] = ()

    @model_validator(mode="after")
    def _references(self) -> Inventory:
        seen: set[str] = set()
        for i, a in enumerate(self.assets):
            if a.name in seen:
                raise _Problem(f"assets[{i}]", f"duplicate asset name {a.name!r}")
            seen.add(a.name)
        for i, e in enumerate(self.edges):
            for end, name in (("from", e.source), ("to", e.target)):
                if name not in seen:
                    raise _Problem(f"edges[{i}].{end}", f"unknown asset {name!r}")
            if e.source == e.target:
                raise _Problem(f"edges[{i}]", f"edge from {e.source!r} to itself")
        return self

    def asset(self, name: str) -> InventoryAsset:
        """The asset called `name` (KeyError when absent)."""
        for a in self.assets:
            if a.name == name:
                return a
        raise KeyError(name)


@dataclass(frozen=True)
class AssetFinding:
    """What path scoring needs of a finding on an asset (from the store or a parser + aiva.risk)."""

    fingerprint: str
    title: str = ""
    risk_score: float = 0.0
    in_kev: bool = False
    epss: float | None = None


@dataclass(frozen=True)
class Hop:
    """One step of a path: reaching `target` from `source` (None: from the internet)."""

    source: str | None
    target: str
    kind: EdgeKind
    probability: float
    findings: tuple[AssetFinding, ...]

    @property
    def via(self) -> str:
        """What makes the hop possible: 'findings', 'trust' or 'baseline'."""
        if self.findings:
            return "findings"
        return "trust" if self.kind is EdgeKind.TRUST else "baseline"


@dataclass(frozen=True)
class AttackPath:
    """A path from the internet to a crown jewel, with its probability and cost (-ln probability)."""

    hops: tuple[Hop, ...]
    probability: float
    cost: float

    @property
    def entry(self) -> str:
        """The internet-facing asset the path starts from."""
        return self.hops[0].target

    @property
    def target(self) -> str:
        """The crown jewel the path reaches."""
        return self.hops[-1].target

    @property
    def assets(self) -> tuple[str, ...]:
        """The assets along the path, entry first."""
        return tuple(h.target for h in self.hops)


def load_inventory(path: str | Path) -> Inventory:
    """Read an inventory from YAML or JSON; errors name the file and the bad entry."""
    p = str(path)
    try:
        text = Path(p).read_text(encoding="utf-8")
    except OSError as e:
        raise ReportParseError(p, FMT, f"cannot read file: {e.strerror}") from e
    except UnicodeDecodeError as e:
        raise ReportParseError(p, FMT, "not UTF-8 text", f"byte {e.start}") from e
    doc = _parse_text(p, text)
    return parse_inventory(doc, p)


def parse_inventory(doc: Any, path: str = "<inventory>") -> Inventory:
    """Validate an already-loaded inventory document (a mapping with `assets` and `edges`)."""
    if not isinstance(doc, dict):
        raise ReportParseError(path, FMT, f"expected a mapping with 'assets' and 'edges', got {type(doc).__name__}")
    try:
        return Inventory.model_validate(doc)
    except ValidationError as e:
        err = e.errors()[0]
        cause = (err.get("ctx") or {}).get("error")
        if isinstance(cause, _Problem):
            raise ReportParseError(path, FMT, cause.reason, _named(doc, cause.position)) from e
        loc = "".join(f"[{x}]" if isinstance(x, int) else f".{x}" for x in err["loc"]).lstrip(".")
        raise ReportParseError(path, FMT, err["msg"], _named(doc, loc or "$")) from e


def hop_probability(findings: Iterable[AssetFinding], kind: EdgeKind = EdgeKind.NETWORK) -> float:
    """Chance of compromising an asset over an edge of `kind`, given the findings on it."""
    floor = TRUST_PROBABILITY if kind is EdgeKind.TRUST else BASELINE_PROBABILITY
    return max([floor, *(finding_probability(f) for f in findings)])


def finding_probability(f: AssetFinding) -> float:
    """Chance that this finding gets an attacker into its asset (see the module docstring)."""
    p = (max(0.0, min(10.0, f.risk_score)) / 10.0) ** 2 * FINDING_WEIGHT
    if f.epss is not None:
        p = max(p, f.epss)
    if f.in_kev:
        p = max(p, KEV_PROBABILITY)
    return max(P_MIN, min(P_MAX, p))


def build_graph(inventory: Inventory, findings: Mapping[str, Iterable[AssetFinding]]) -> nx.DiGraph:
    """The weighted graph: internet -> internet-facing assets -> ... -> crown jewels -> sink.

    Findings on assets the inventory does not list are ignored.
    """
    by_asset = {name: tuple(fs) for name, fs in findings.items()}
    g = nx.DiGraph()
    g.add_node(INTERNET)
    for a in inventory.assets:
        g.add_node(a.name)
    for a in sorted(inventory.assets, key=lambda x: x.name):
        if a.internet_facing:
            _add_hop(g, INTERNET, a.name, EdgeKind.NETWORK, by_asset.get(a.name, ()))
        if a.crown_jewel:
            g.add_edge(a.name, _SINK, cost=0.0)
    for e in sorted(inventory.edges, key=lambda x: (x.source, x.target, x.kind.value)):
        _add_hop(g, e.source, e.target, e.kind, by_asset.get(e.target, ()))
    return g


def attack_paths(
    inventory: Inventory, findings: Mapping[str, Iterable[AssetFinding]], k: int = 5
) -> list[AttackPath]:
    """The k most likely paths from the internet to any crown jewel, most likely first."""
    if k <= 0:
        return []
    g = build_graph(inventory, findings)
    if not g.has_node(_SINK) or not any(a.internet_facing for a in inventory.assets):
        return []
    jewels = {a.name for a in inventory.assets if a.crown_jewel}
    out: list[AttackPath] = []
    try:
        candidates = nx.shortest_simple_paths(g, INTERNET, _SINK, weight="cost")
        for nodes in islice(candidates, k * 50):
            inner = nodes[1:-2]  # assets before the final crown jewel
            if jewels.intersection(inner):
                continue
            out.append(_path(g, nodes[:-1]))
            if len(out) == k:
                break
    except nx.NetworkXNoPath:
        pass
    return out


def _add_hop(g: nx.DiGraph, source: str, target: str, kind: EdgeKind, findings: tuple[AssetFinding, ...]) -> None:
    p = hop_probability(findings, kind)
    if g.has_edge(source, target) and g.edges[source, target]["probability"] >= p:
        return  # keep the easier of two edges between the same assets
    floor = hop_probability((), kind)
    enabling = sorted((f for f in findings if finding_probability(f) > floor),
                      key=lambda f: (-finding_probability(f), f.fingerprint))[:MAX_HOP_FINDINGS]
    g.add_edge(source, target, kind=kind, probability=p, cost=-math.log(p), findings=tuple(enabling))


def _path(g: nx.DiGraph, nodes: list[str]) -> AttackPath:
    hops = []
    for src, dst in pairwise(nodes):
        d = g.edges[src, dst]
        hops.append(Hop(None if src == INTERNET else src, dst, d["kind"], d["probability"], d["findings"]))
    cost = sum(-math.log(h.probability) for h in hops)
    return AttackPath(tuple(hops), math.exp(-cost), cost)


def _parse_text(path: str, text: str) -> Any:
    if path.lower().endswith(".json"):
        try:
            return json.loads(text)
        except json.JSONDecodeError as e:
            raise ReportParseError(path, FMT, f"not valid JSON: {e.msg}", f"line {e.lineno} column {e.colno}") from e
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1} column {mark.column + 1}" if mark is not None else None
        problem = getattr(e, "problem", None) or str(e)
        raise ReportParseError(path, FMT, f"not valid YAML: {problem}", where) from e


def _named(doc: dict[str, Any], position: str) -> str:
    """Add the entry's name to a position such as 'assets[3].criticality' when the entry has one."""
    for key, label in (("assets", "name"), ("edges", None)):
        prefix = f"{key}["
        if position.startswith(prefix):
            try:
                idx = int(position[len(prefix):position.index("]")])
                entry = doc[key][idx]
            except (ValueError, IndexError, KeyError, TypeError):
                return position
            if not isinstance(entry, dict):
                return position
            if label and isinstance(entry.get(label), str):
                return f"{position} (asset {entry[label]!r})"
            if label is None and isinstance(entry.get("from"), str) and isinstance(entry.get("to"), str):
                return f"{position} ({entry['from']} -> {entry['to']})"
    return position

"""Cross-tool correlation (pure): group findings from different tools about the same weakness.

Rules (a pair joins when any rule holds; groups are the transitive closure):

- SCA / container (the finding has a component and advisory ids): a shared advisory
  id (a finding's ids are aliases: CVE, GHSA, OSV, vendor ids) + the same component
  (package URL without version, qualifiers or subpath; name + ecosystem when there is
  no purl) + the same target (image names normalised: docker.io/library, :latest);
- SAST (file + line + CWE): a shared CWE (close variants folded: CWE-80 is CWE-79)
  + the same file (one path may be a suffix of the other: tools use different roots)
  + lines within +-N (default 3). Two findings of ONE tool on different lines never
  end up in one group: they are two weaknesses the tool told apart;
- DAST (endpoint URL): the same normalised URL (scheme, host, default port, path;
  query and fragment dropped) + the same parameter + a shared CWE;
- secrets: the same secret hash in the same file;
- network: a shared advisory id on the same host and port.

Every source (tool, fingerprint) is kept in its group. Deterministic: the same
findings, in any order, give the same groups.
"""

from __future__ import annotations

import hashlib
import posixpath
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple
from urllib.parse import unquote, urlsplit

from packageurl import PackageURL

from aiva.enums import FindingCategory
from aiva.schemas import Component, Finding

RULE_SCA = "vuln+component+target"
RULE_SAST = "cwe+file+line"
RULE_DAST = "url+parameter+cwe"
RULE_SECRET = "secret+file"  # noqa: S105 - a rule name, not a secret
RULE_NETWORK = "vuln+host+port"
RULE_SINGLE = "single"
DEFAULT_LINE_WINDOW = 3

# CWE variants that scanners report for the same weakness, folded onto one id.
CWE_FAMILY = {
    80: 79, 83: 79, 87: 79,                # XSS variants
    77: 78, 88: 78,                        # command / argument injection
    564: 89,                               # SQL injection: Hibernate
    23: 22, 35: 22, 36: 22, 73: 22,        # path traversal variants
    95: 94,                                # eval injection
    259: 798, 321: 798,                    # hard-coded password / key
    326: 327, 328: 327,                    # weak crypto
    776: 611,                              # XXE / entity expansion
    1333: 400,                             # ReDoS
}
ECOSYSTEM_PURL_TYPE = {
    "pypi": "pypi", "pip": "pypi", "python": "pypi", "python-pkg": "pypi", "poetry": "pypi", "pipenv": "pypi",
    "npm": "npm", "node": "npm", "node-pkg": "npm", "nodejs": "npm", "yarn": "npm", "pnpm": "npm",
    "javascript": "npm",
    "maven": "maven", "java": "maven", "jar": "maven", "java-archive": "maven", "gradle": "maven",
    "go": "golang", "golang": "golang", "gomod": "golang", "go-module": "golang", "gobinary": "golang",
    "cargo": "cargo", "rust": "cargo", "crates.io": "cargo", "rust-crate": "cargo",
    "composer": "composer", "packagist": "composer", "php": "composer", "php-composer": "composer",
    "gem": "gem", "rubygems": "gem", "ruby": "gem", "bundler": "gem", "gemspec": "gem",
    "nuget": "nuget", ".net": "nuget", "dotnet": "nuget", "dotnet-core": "nuget",
    "deb": "deb", "debian": "deb", "ubuntu": "deb", "dpkg": "deb",
    "apk": "apk", "alpine": "apk", "wolfi": "apk", "chainguard": "apk",
    "rpm": "rpm", "redhat": "rpm", "centos": "rpm", "rocky": "rpm", "alma": "rpm", "amazon": "rpm",
    "fedora": "rpm", "oracle": "rpm", "suse": "rpm", "opensuse": "rpm",
    "hex": "hex", "erlang": "hex", "pub": "pub", "dart": "pub", "swift": "swift", "cocoapods": "cocoapods",
    "conan": "conan", "hackage": "hackage", "cran": "cran",
}
_OS_TYPES = frozenset({"deb", "apk", "rpm", "alpm"})
_SPLIT_NAME_TYPES = frozenset({"npm", "golang", "composer", "github"})
_DISTRO_SUFFIX = re.compile(r"\s*\([^()]*\)\s*$")
_DEFAULT_PORTS = {"http": 80, "https": 443}
_SCA_CATEGORIES = frozenset({FindingCategory.SCA, FindingCategory.CONTAINER, FindingCategory.LICENSE})
_NOT_SAST = frozenset({FindingCategory.SCA, FindingCategory.CONTAINER, FindingCategory.DAST,
                       FindingCategory.NETWORK, FindingCategory.LICENSE})


class Source(NamedTuple):
    """One finding in a group: which tool reported it, and its fingerprint (ordered by both)."""

    tool: str
    fingerprint: str


@dataclass(frozen=True)
class CorrelationGroup:
    """Findings about one weakness; `rule` names the rule(s) that joined them ('single' when alone)."""

    id: str
    rule: str
    sources: tuple[Source, ...]

    @property
    def tools(self) -> tuple[str, ...]:
        """The distinct tools in the group, sorted."""
        return tuple(sorted({s.tool for s in self.sources}))

    @property
    def fingerprints(self) -> tuple[str, ...]:
        """The fingerprints in the group, sorted."""
        return tuple(sorted({s.fingerprint for s in self.sources}))


def correlate(findings: Iterable[Finding], *, line_window: int = DEFAULT_LINE_WINDOW) -> list[CorrelationGroup]:
    """Group the findings; every finding is in exactly one group (alone when nothing matches)."""
    items = _unique(findings)
    uf = _UnionFind(len(items))
    blocks: dict[tuple[str, ...], list[int]] = defaultdict(list)
    sast: dict[tuple[int, str], list[int]] = defaultdict(list)
    for i, f in enumerate(items):
        for key in _keys(f):
            blocks[key].append(i)
        for block in _sast_blocks(f):
            sast[block].append(i)
    for key in sorted(blocks):
        members = blocks[key]
        for j in members[1:]:
            uf.union(members[0], j, key[0])
    lines = [_sast_site(f) for f in items]
    for block in sorted(sast):
        members = sast[block]
        for x, a in enumerate(members):
            for b in members[x + 1:]:
                if _sast_pair(lines[a], lines[b], line_window) and _sast_mergeable(uf, items, lines, a, b):
                    uf.union(a, b, RULE_SAST)
    groups: dict[int, list[int]] = defaultdict(list)
    for i in range(len(items)):
        groups[uf.find(i)].append(i)
    out = []
    for root, members in groups.items():
        sources = tuple(sorted(Source(items[i].tool.name, items[i].fingerprint) for i in members))
        rule = "+".join(sorted(uf.rules[root])) if len(members) > 1 else RULE_SINGLE
        digest = hashlib.sha256("\x1f".join(s.fingerprint for s in sources).encode()).hexdigest()[:16]
        out.append(CorrelationGroup(id=digest, rule=rule, sources=sources))
    out.sort(key=lambda g: g.sources[0])
    return out


def same_weakness(a: Finding, b: Finding, *, line_window: int = DEFAULT_LINE_WINDOW) -> str | None:
    """The rule that joins two findings, or None when they are about different weaknesses."""
    groups = correlate([a, b], line_window=line_window)
    return groups[0].rule if len(groups) == 1 and len(groups[0].sources) == 2 else None


def component_key(c: Component) -> str | None:
    """A component's identity without version: 'type/namespace/name' from its purl, else name + ecosystem."""
    if c.purl:
        key = _purl_key(c.purl)
        if key is not None:
            return key
    if not c.name:
        return None
    eco = (c.ecosystem or "").strip().lower()
    ptype = ECOSYSTEM_PURL_TYPE.get(eco, eco)
    name = c.name.strip()
    namespace: str | None = None
    if ptype == "maven" and ":" in name:
        namespace, name = name.split(":", 1)
    elif ptype in _SPLIT_NAME_TYPES and "/" in name:
        namespace, name = name.rsplit("/", 1)
    return _component(ptype, namespace, name)


@lru_cache(maxsize=65_536)
def _purl_key(purl: str) -> str | None:
    # Cached: a product has far fewer packages than findings (one per advisory per package).
    try:
        p = PackageURL.from_string(purl)
    except ValueError:
        return None
    return _component(p.type, p.namespace, p.name)


def normalize_url(url: str) -> str | None:
    """scheme://host[:port]/path, lower-cased scheme and host, default port, dot segments, query dropped."""
    raw = url.strip()
    if not raw:
        return None
    if "://" not in raw:
        raw = "http://" + raw
    try:
        parts = urlsplit(raw)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower().rstrip(".")
    if not host:
        return None
    netloc = host if port is None or port == _DEFAULT_PORTS.get(scheme) else f"{host}:{port}"
    path = unquote(parts.path) or "/"
    path = re.sub(r"/{2,}", "/", path)
    path = posixpath.normpath(path) if path != "/" else "/"
    if not path.startswith("/"):
        path = "/" + path
    return f"{scheme}://{netloc}{path}"


def normalize_target(target: str | None, category: FindingCategory) -> str:
    """A scan target for comparison: image references canonicalised for containers, case-folded otherwise."""
    if not target:
        return ""
    t = _DISTRO_SUFFIX.sub("", target.strip()).lower()
    if category is FindingCategory.CONTAINER:
        for prefix in ("docker.io/library/", "index.docker.io/library/", "docker.io/", "index.docker.io/"):
            if t.startswith(prefix):
                t = t[len(prefix):]
                break
        last = t.rsplit("/", 1)[-1]
        if ":" not in last and "@" not in last:
            t += ":latest"
    return t.rstrip("/")


def normalize_path(path: str) -> str:
    """A file path for comparison: forward slashes, no scheme, './' or leading '/', case-folded."""
    p = path.strip().replace("\\", "/")
    if p.lower().startswith("file://"):
        p = p[7:]
    p = re.sub(r"/{2,}", "/", p)
    p = posixpath.normpath(p) if p else p
    return p.lstrip("/").removeprefix("./").lower()


# -- keys ---------------------------------------------------------------------------------------


def _unique(findings: Iterable[Finding]) -> list[Finding]:
    seen: dict[tuple[str, str], Finding] = {}
    for f in findings:
        seen.setdefault((f.tool.name, f.fingerprint), f)
    return [seen[k] for k in sorted(seen)]


def _ids(f: Finding) -> set[str]:
    return {v.id.upper() for v in f.vulnerability_ids}


def _cwes(f: Finding) -> set[int]:
    return {CWE_FAMILY.get(c.id, c.id) for c in f.cwes if c.id > 0}


def _keys(f: Finding) -> list[tuple[str, ...]]:
    keys: list[tuple[str, ...]] = []
    ids = _ids(f)
    if f.component is not None and ids and (f.category in _SCA_CATEGORIES or f.location is None
                                            or f.location.start_line is None):
        comp = component_key(f.component)
        if comp:
            target = normalize_target(f.target, f.category)
            keys.extend((RULE_SCA, vid, comp, target) for vid in sorted(ids))
    ep = f.endpoint
    if ep is not None and f.category in (FindingCategory.DAST, FindingCategory.OTHER):
        url = normalize_url(ep.url) if ep.url else _endpoint_url(f)
        if url:
            param = unquote(ep.parameter or "").strip().lower()
            keys.extend((RULE_DAST, url, param, str(cwe)) for cwe in sorted(_cwes(f)))
    if ep is not None and ep.host and ids and f.category in (FindingCategory.NETWORK, FindingCategory.DAST):
        host_port = f"{ep.host.strip().lower()}:{ep.port if ep.port is not None else ''}"
        keys.extend((RULE_NETWORK, vid, host_port) for vid in sorted(ids))
    if f.secret_hash and f.location is not None and f.location.file_path:
        keys.append((RULE_SECRET, f.secret_hash, normalize_path(f.location.file_path)))
    return keys


def _endpoint_url(f: Finding) -> str | None:
    ep = f.endpoint
    if ep is None or not ep.host:
        return None
    scheme = (ep.protocol or "http").lower()
    port = f":{ep.port}" if ep.port is not None else ""
    return normalize_url(f"{scheme}://{ep.host}{port}/")


@dataclass(frozen=True)
class _Site:
    tool: str
    path: str
    line: int
    cwes: frozenset[int]


def _sast_site(f: Finding) -> _Site | None:
    loc = f.location
    if (f.category in _NOT_SAST or f.secret_hash or loc is None or not loc.file_path or loc.start_line is None):
        return None
    cwes = frozenset(_cwes(f))
    if not cwes:
        return None
    return _Site(f.tool.name, normalize_path(loc.file_path), loc.start_line, cwes)


def _sast_blocks(f: Finding) -> list[tuple[int, str]]:
    site = _sast_site(f)
    if site is None:
        return []
    base = site.path.rsplit("/", 1)[-1]
    return [(cwe, base) for cwe in sorted(site.cwes)]


def _sast_pair(a: _Site | None, b: _Site | None, window: int) -> bool:
    if a is None or b is None or a.cwes.isdisjoint(b.cwes) or abs(a.line - b.line) > window:
        return False
    if a.tool == b.tool and a.line != b.line:
        return False
    return a.path == b.path or a.path.endswith("/" + b.path) or b.path.endswith("/" + a.path)


def _sast_mergeable(uf: _UnionFind, items: list[Finding], sites: list[_Site | None], a: int, b: int) -> bool:
    """No tool may end up with two different lines in one group (two weaknesses it told apart)."""
    ra, rb = uf.find(a), uf.find(b)
    if ra == rb:
        return True
    lines_a: dict[str, set[int]] = defaultdict(set)
    for i in uf.members(ra):
        s = sites[i]
        if s is not None:
            lines_a[s.tool].add(s.line)
    for i in uf.members(rb):
        s = sites[i]
        if s is not None and s.tool in lines_a and lines_a[s.tool] != {s.line}:
            return False
    return True


def _component(ptype: str, namespace: str | None, name: str) -> str:
    t = ptype.strip().lower()
    n = name.strip().lower()
    ns = (namespace or "").strip().lower().strip("/")
    if t == "pypi":
        n = re.sub(r"[-_.]+", "-", n)
    if t in _OS_TYPES:
        ns = ""
    return f"{t}/{ns}/{n}" if ns else f"{t}/{n}"


class _UnionFind:
    def __init__(self, n: int) -> None:
        self.parent = list(range(n))
        self.rules: dict[int, set[str]] = defaultdict(set)
        self._members: dict[int, list[int]] = {i: [i] for i in range(n)}

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def members(self, root: int) -> list[int]:
        return self._members[root]

    def union(self, a: int, b: int, rule: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            self.rules[ra].add(rule)
            return
        if len(self._members[ra]) < len(self._members[rb]):
            ra, rb = rb, ra
        self.parent[rb] = ra
        self._members[ra].extend(self._members.pop(rb))
        self.rules[ra] |= self.rules.pop(rb, set()) | {rule}

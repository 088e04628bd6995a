"""What every parser shares: the report source (bounded, safe reading), the
parser contract, and small normalisation helpers (CVSS, purl, CWE ids).

A parser is pure: it reads one report and yields normalized `Finding`s. It never
touches the store. Errors are `aiva.errors.InputError`s naming the file, the format
and, where known, the position.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from typing import IO, Any, ClassVar, Protocol
from xml.etree.ElementTree import Element

import defusedxml.ElementTree as SafeET
import orjson
from cvss import CVSS3, CVSS4
from cvss.exceptions import CVSSError
from defusedxml import DefusedXmlException
from packageurl import PackageURL

from aiva.enums import Severity
from aiva.errors import ReportParseError, ReportTooLargeError, UnsafeInputError
from aiva.parsers._jsonstream import JsonStream
from aiva.schemas import CVEReference, CvssScore, CWEReference

DEFAULT_MAX_BYTES = 2 * 1024 * 1024 * 1024
SNIFF_BYTES = 64 * 1024


@dataclass(frozen=True)
class ParseContext:
    """What a parser needs besides the bytes: the user's overrides and the secret-hash key."""

    target: str | None = None
    secret_key: bytes = b"aiva-default-secret-hash-key"
    max_bytes: int = DEFAULT_MAX_BYTES


@dataclass
class ReportSource:
    """One report file, read with a size bound and clear errors."""

    path: str
    max_bytes: int = DEFAULT_MAX_BYTES
    _head: bytes | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        try:
            size = os.path.getsize(self.path)
        except OSError as e:
            raise ReportParseError(self.path, "report", f"cannot read file: {e.strerror}") from e
        if size > self.max_bytes:
            raise ReportTooLargeError(self.path, size, self.max_bytes)
        self.size = size

    def open(self) -> IO[bytes]:
        """Open the file for binary streaming."""
        return open(self.path, "rb")

    def head(self, n: int = SNIFF_BYTES) -> bytes:
        """The first bytes, for content sniffing (cached)."""
        if self._head is None:
            with self.open() as f:
                self._head = f.read(SNIFF_BYTES)
        return self._head[:n]

    def text_head(self, n: int = SNIFF_BYTES) -> str:
        """The first bytes decoded leniently, BOM stripped, for sniffing."""
        return self.head(n).decode("utf-8", "replace").lstrip("\ufeff \t\r\n")

    def read_bytes(self) -> bytes:
        """All the bytes (the size was bounded at construction)."""
        with self.open() as f:
            return f.read()

    def load_json(self, fmt: str) -> Any:
        """Parse the whole file as JSON; a truncated or invalid file names the line and column."""
        data = self.read_bytes()
        if data.startswith(b"\xef\xbb\xbf"):
            data = data[3:]
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError as e:
            try:
                data.decode("utf-8")
            except UnicodeDecodeError as ue:
                raise ReportParseError(
                    self.path, fmt, f"not valid UTF-8 ({ue.reason})", f"byte {ue.start}"
                ) from e
            raise ReportParseError(
                self.path, fmt, f"invalid JSON: {e.msg}", f"line {e.lineno}, column {e.colno}"
            ) from e

    def iter_json_lines(self, fmt: str) -> Iterator[Any]:
        """Parse JSON Lines; a bad line names its number."""
        with self.open() as f:
            for lineno, raw in enumerate(f, 1):
                line = raw.strip()
                if not line:
                    continue
                try:
                    yield orjson.loads(line)
                except orjson.JSONDecodeError as e:
                    raise ReportParseError(
                        self.path, fmt, f"invalid JSON: {e.msg}", f"line {lineno}, column {e.colno}"
                    ) from e

    def load_xml(self, fmt: str) -> Element:
        """Parse XML with defusedxml: entities and external references are refused."""
        try:
            return SafeET.fromstring(self.read_bytes(), forbid_dtd=False)  # type: ignore[no-any-return]
        except DefusedXmlException as e:
            raise UnsafeInputError(self.path, fmt, f"{type(e).__name__}: {e}") from e
        except SafeET.ParseError as e:
            line, col = getattr(e, "position", (None, None))
            raise ReportParseError(self.path, fmt, f"invalid XML: {e}", f"line {line}, column {col}") from e

    def text_stream(self) -> io.TextIOWrapper:
        """A text view (UTF-8, undecodable bytes replaced) for CSV and similar formats."""
        return io.TextIOWrapper(self.open(), encoding="utf-8-sig", errors="replace", newline="")


class Parser(Protocol):
    """A report format: detect it from content, then yield normalized findings."""

    name: ClassVar[str]
    fingerprint_version: ClassVar[str]
    # The tool every finding of this format names, or None where the document names it (SARIF's
    # driver, say). A complete scan's scope is (target, tool): without it, a report with no findings
    # could not mitigate what its tool found before.
    tool_name: ClassVar[str | None]

    def sniff(self, source: ReportSource) -> bool:
        """True when the content looks like this format (cheap: the head only)."""
        ...

    def parse(self, source: ReportSource, ctx: ParseContext) -> Iterator[Any]:
        """Yield `aiva.schemas.Finding`s."""
        ...


def severity_from_table(value: object, table: dict[str, Severity], default: Severity = Severity.INFO) -> Severity:
    """Map a tool's severity word through its documented table (case-insensitive)."""
    if value is None:
        return default
    return table.get(str(value).strip().lower(), default)


@lru_cache(maxsize=65_536)
def _cvss_cached(vector: str) -> tuple[CvssScore | None, str | None]:
    v = vector.strip()
    try:
        if v.startswith("CVSS:4.0/"):
            c4 = CVSS4(v)
            return CvssScore(version="4.0", vector=c4.clean_vector(), base_score=float(c4.base_score)), None
        c3 = CVSS3(v if v.startswith("CVSS:3") else f"CVSS:3.1/{v}")
        version = "3.0" if v.startswith("CVSS:3.0/") else "3.1"
        return CvssScore(version=version, vector=c3.clean_vector(), base_score=float(c3.scores()[0])), None
    except (CVSSError, ValueError, KeyError, IndexError) as e:
        return None, f"invalid CVSS vector {v[:120]!r}: {e}"


def parse_cvss(vector: str | None, warnings: list[str]) -> CvssScore | None:
    """Score a CVSS v3/v4 vector with the `cvss` library; an invalid vector becomes a warning."""
    if not vector or not isinstance(vector, str):
        return None
    score, warning = _cvss_cached(vector)
    if warning:
        warnings.append(warning)
    return score


def make_purl(ecosystem: str | None, name: str | None, version: str | None, warnings: list[str]) -> str | None:
    """Build a package URL with packageurl-python; None when the ecosystem has no purl type."""
    if not ecosystem or not name:
        return None
    ptype = PURL_TYPES.get(ecosystem.strip().lower())
    if ptype is None:
        return None
    namespace = None
    pname = name
    if ptype in ("maven",) and ":" in name:
        namespace, pname = name.split(":", 1)
    elif ptype in ("npm", "golang", "composer") and "/" in name:
        namespace, pname = name.rsplit("/", 1)
    # packageurl-python is slow (urllib quoting): the same package is met again and again in one report.
    if type(name) is str and (type(version) is str or version is None):
        purl, warning = _purl_cached(ptype, namespace, pname, version, name)
    else:
        purl, warning = _purl_uncached(ptype, namespace, pname, version, name)
    if warning:
        warnings.append(warning)
    return purl


def _purl_uncached(
    ptype: str, namespace: str | None, pname: str, version: Any, name: str
) -> tuple[str | None, str | None]:
    try:
        return str(PackageURL(type=ptype, namespace=namespace, name=pname, version=version or None).to_string()), None
    except ValueError as e:
        return None, f"cannot build a purl for {name!r}: {e}"


_purl_cached = lru_cache(maxsize=65_536, typed=True)(_purl_uncached)


# Ecosystem words used by scanners -> purl types (purl-spec's registered types).
PURL_TYPES: dict[str, str] = {
    "npm": "npm", "node": "npm", "node-pkg": "npm", "nodejs": "npm", "yarn": "npm", "pnpm": "npm",
    "pypi": "pypi", "pip": "pypi", "python": "pypi", "python-pkg": "pypi", "pipenv": "pypi", "poetry": "pypi",
    "maven": "maven", "jar": "maven", "java": "maven", "java-lib": "maven", "gradle": "maven",
    "go": "golang", "golang": "golang", "gomod": "golang", "gobinary": "golang",
    "cargo": "cargo", "rust": "cargo", "crates.io": "cargo",
    "gem": "gem", "rubygems": "gem", "bundler": "gem", "gemspec": "gem",
    "nuget": "nuget", "dotnet-core": "nuget", "packages-lock": "nuget",
    "composer": "composer", "php": "composer", "packagist": "composer",
    "deb": "deb", "debian": "deb", "ubuntu": "deb",
    "rpm": "rpm", "redhat": "rpm", "centos": "rpm", "rocky": "rpm", "alma": "rpm", "amazon": "rpm",
    "oracle": "rpm", "suse": "rpm", "photon": "rpm",
    "apk": "apk", "alpine": "apk", "wolfi": "apk", "chainguard": "apk",
    "hex": "hex", "pub": "pub", "swift": "swift", "cocoapods": "cocoapods", "conan": "conan",
}


def cwe_refs(values: Iterable[object], warnings: list[str]) -> tuple[CWEReference, ...]:
    """Normalise CWE ids ("CWE-79", 79, "79"), dropping duplicates; unreadable ones become warnings."""
    if type(values) is list and len(values) == 1 and type(values[0]) is str:  # the common case: one id
        refs, warned = _cwe_one(values[0])
        if warned:
            warnings.extend(warned)
        return refs
    vals = tuple(values)
    # Cached for lists of str and int only: equal keys then mean equal input (1 == 1.0 == True otherwise).
    if all(type(v) is str or type(v) is int for v in vals):
        refs, warned = _cwe_refs_cached(vals)
    else:
        refs, warned = _cwe_refs(vals)
    warnings.extend(warned)
    return refs


def _cwe_refs(values: tuple[object, ...]) -> tuple[tuple[CWEReference, ...], tuple[str, ...]]:
    out: dict[int, CWEReference] = {}
    warnings: list[str] = []
    for v in values:
        if v is None or v == "":
            continue
        ref = CWEReference.parse(v if isinstance(v, (int, str)) else str(v))
        if ref is None:
            warnings.append(f"unreadable CWE id {str(v)[:60]!r}")
        else:
            out.setdefault(ref.id, ref)
    return tuple(out.values()), tuple(warnings)


_cwe_refs_cached = lru_cache(maxsize=4_096)(_cwe_refs)


@lru_cache(maxsize=4_096)
def _cwe_one(value: str) -> tuple[tuple[CWEReference, ...], tuple[str, ...]]:
    return _cwe_refs((value,))


def vuln_refs(values: Iterable[str | None]) -> tuple[CVEReference, ...]:
    """Normalise advisory ids (CVE, GHSA, other), dropping duplicates, keeping order."""
    if type(values) is list and len(values) <= 1:  # the usual cases: no id, or one
        if not values:
            return ()
        if type(values[0]) is str:
            return vuln_ref_one(values[0])
    vals = tuple(values)
    if all(type(v) is str or v is None for v in vals):
        return _vuln_refs_cached(vals)
    return _vuln_refs(vals)


def _vuln_refs(values: tuple[str | None, ...]) -> tuple[CVEReference, ...]:
    out: dict[str, CVEReference] = {}
    for v in values:
        if v and isinstance(v, str) and v.strip():
            ref = CVEReference.of(v)
            out.setdefault(ref.id, ref)
    return tuple(out.values())


_vuln_refs_cached = lru_cache(maxsize=32_768)(_vuln_refs)


@lru_cache(maxsize=65_536)
def vuln_ref_one(value: str) -> tuple[CVEReference, ...]:
    """`vuln_refs([value])` for one advisory id (the usual case), cached on the id alone."""
    return _vuln_refs((value,))


def first(*values: Any) -> Any:
    """The first value that is not None or empty."""
    for v in values:
        if v not in (None, "", [], {}):
            return v
    return None


def dumps(obj: Any) -> str:
    """Compact JSON (orjson) as text."""
    return orjson.dumps(obj).decode()


def json_head_has(source: ReportSource, *needles: str) -> bool:
    """Cheap sniff: the head starts like JSON and contains every needle."""
    head = source.text_head()
    return head[:1] in ("{", "[") and all(n in head for n in needles)


Sniffer = Callable[[ReportSource], bool]
__all__ = ["JsonStream", "ParseContext", "Parser", "ReportSource", "make_purl", "parse_cvss"]

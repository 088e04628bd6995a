"""Helpers shared by the network / infrastructure parsers (nuclei, tenable_nessus,
tenable_csv, nmap) and the two generic layouts (generic, defectdojo_generic).

Not a parser: the leading underscore keeps it out of the registry. Nothing here
reads a file; parsing goes through `ReportSource` (defusedxml for XML, orjson for
JSON, the csv module for CSV).
"""

from __future__ import annotations

import csv
import re
import textwrap
from collections.abc import Iterable, Iterator
from typing import Any
from urllib.parse import urlsplit

from aiva.errors import ReportParseError
from aiva.parsers.base import ReportSource
from aiva.schemas import Endpoint
from aiva.secrets import redact, secret_hash

# Free-text fields of a Finding are bounded (schemas.Text is 65,536 characters); keep a margin.
MAX_TEXT = 60_000
DEFAULT_PORTS = {
    "http": 80,
    "https": 443,
    "ws": 80,
    "wss": 443,
    "ftp": 21,
    "ssh": 22,
    "ldap": 389,
    "ldaps": 636,
}
_HOST_PORT = re.compile(r"^\[?(?P<host>[^\s/\[\]]+?|[0-9a-fA-F:]+)\]?(?::(?P<port>\d{1,5}))?(?P<rest>/.*)?$")
_CVE = re.compile(r"\bCVE-\d{4}-\d{4,}\b", re.IGNORECASE)
# "password : hunter2", "Password=hunter2", "pwd: x" (and the same for secrets / tokens / api keys).
_CREDENTIAL = re.compile(
    r"(?P<key>\b(?:password|passwd|passphrase|pwd|secret|api[_-]?key|access[_-]?key|token)\b[^\S\n]*[:=][^\S\n]*)"
    r"(?P<value>[^\s'\"<>,;]{3,})",
    re.IGNORECASE,
)
# Session-like cookies in extracted values or headers: "PHPSESSID=abc...".
_COOKIE = re.compile(
    r"(?P<key>\b[\w.-]*(?:sess|session|sid|token|auth|jwt|csrf|xsrf)[\w.-]*=)(?P<value>[^;\s,'\"]{8,})",
    re.IGNORECASE,
)
# Meta keys (nuclei `meta`) whose values are credentials.
SECRET_KEYS = re.compile(r"pass|secret|token|api[_-]?key|credential|private", re.IGNORECASE)


def clip(value: str, limit: int = MAX_TEXT) -> str:
    """Cut free text to the schema's bound, saying so."""
    if len(value) <= limit:
        return value
    return value[: limit - 20] + "\n…(truncated)"


def dedent_text(value: str | None) -> str:
    """Prose from pretty-printed XML: the common indentation of the lines after the first removed.

    ("text\n        more" and "\n    text\n    more" both become "text\nmore"; deeper
    indentation inside a block is kept.)
    """
    if not value:
        return ""
    lines = value.strip("\r\n").splitlines()
    if not lines:
        return ""
    head, rest = lines[0], lines[1:]
    if head.strip() and rest and not head[:1].isspace():
        return (head.strip() + "\n" + textwrap.dedent("\n".join(rest))).strip()
    return textwrap.dedent("\n".join(lines)).strip()


def as_str(value: Any) -> str:
    """A scalar as stripped text; containers and None are ""."""
    if value is None or isinstance(value, (dict, list, tuple, set)):
        return ""
    return str(value).strip()


def as_list(value: Any, split: str | None = None) -> list[str]:
    """A value that may be one string, a list of strings or null, as a list of non-empty strings.

    With `split` (a regex), single strings are split on it ("a, b" -> ["a", "b"]).
    """
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        out: list[str] = []
        for v in value:
            out += as_list(v, split)
        return out
    if isinstance(value, dict):
        return []
    s = str(value).strip()
    if not s:
        return []
    if split:
        return [p.strip() for p in re.split(split, s) if p.strip()]
    return [s]


def as_int(value: Any) -> int | None:
    """An int from an int or a numeric string; None otherwise."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    s = as_str(value)
    return int(s) if s.isdigit() else None


def as_port(value: Any) -> int | None:
    """A TCP/UDP port (0 to 65535) or None."""
    p = as_int(value)
    return p if p is not None and 0 <= p <= 65_535 else None


def cve_ids(*values: Any) -> list[str]:
    """Every CVE id found in the values (strings or lists), upper-cased, in order, de-duplicated."""
    out: dict[str, None] = {}
    for v in values:
        for s in as_list(v):
            for m in _CVE.findall(s):
                out.setdefault(m.upper(), None)
    return list(out)


def endpoint_from_target(
    value: str | None,
    *,
    protocol: str | None = None,
    port: int | None = None,
    parameter: str | None = None,
) -> Endpoint | None:
    """An Endpoint from a URL ("https://h:8443/p"), a "host:port", a "host/path" or a bare host.

    For URLs the protocol is the scheme and the port defaults from it; an explicit
    `protocol` / `port` argument wins over what the value says.
    """
    v = (value or "").strip()
    if not v:
        return None
    if "://" in v:
        try:
            s = urlsplit(v)
            url_port = s.port
        except ValueError:
            return Endpoint(url=v[:2000], protocol=protocol, port=port, parameter=parameter)
        scheme = (s.scheme or "").lower() or None
        return Endpoint(
            host=(s.hostname or None),
            port=port
            if port is not None
            else (url_port if url_port is not None else DEFAULT_PORTS.get(scheme or "")),
            protocol=protocol or scheme,
            url=v[:2000],
            parameter=parameter,
        )
    m = _HOST_PORT.match(v)
    if not m:
        return Endpoint(host=v[:255], protocol=protocol, port=port, parameter=parameter)
    host_port = as_port(m.group("port"))
    return Endpoint(
        host=m.group("host").lower().rstrip(".") or None,
        port=port if port is not None else host_port,
        protocol=protocol,
        url=v[:2000] if m.group("rest") else None,
        parameter=parameter,
    )


def url_identity(url: str | None) -> str:
    """A URL reduced to scheme://host:port/path for fingerprints: the query and fragment often carry
    random payloads (out-of-band hosts, nonces) that change between two runs of the same scanner."""
    v = (url or "").strip()
    if "://" not in v:
        return v.split("?", 1)[0].split("#", 1)[0].lower()
    try:
        s = urlsplit(v)
        port = s.port
    except ValueError:
        return v.split("?", 1)[0]
    scheme = s.scheme.lower()
    host = (s.hostname or "").lower()
    port = port if port is not None else DEFAULT_PORTS.get(scheme)
    return f"{scheme}://{host}:{port if port is not None else ''}{s.path or '/'}"


def scrub_credentials(text: str, key: bytes) -> tuple[str, str | None]:
    """Redact credential-looking values ("password: x", session cookies) in scanner prose.

    Returns the scrubbed text and the keyed hash of the first value redacted (None when
    nothing looked like a secret), so the finding can carry `secret_hash`.
    """
    if not text:
        return text, None
    found: list[str] = []

    def _sub(m: re.Match[str]) -> str:
        found.append(m.group("value"))
        return m.group("key") + redact(m.group("value"))

    out = _CREDENTIAL.sub(_sub, text)
    out = _COOKIE.sub(_sub, out)
    return out, (secret_hash(found[0], key) if found else None)


# ----------------------------------------------------------------------------- CSV


def csv_header(source: ReportSource) -> tuple[list[str], str] | None:
    """The header row of a CSV file (from the head only) and its delimiter (',' or ';'), or None."""
    head = source.text_head(16 * 1024)
    first = head.split("\n", 1)[0].rstrip("\r")
    if not first or first[:1] in ("{", "[", "<"):
        return None
    delimiter = ";" if first.count(";") > first.count(",") else ","
    try:
        row = next(csv.reader([first], delimiter=delimiter))
    except (csv.Error, StopIteration):
        return None
    return [c.strip() for c in row], delimiter


def iter_csv(source: ReportSource, fmt: str, delimiter: str) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, row) pairs; header names stripped; a malformed or truncated file is a ReportParseError.

    A truncated export usually ends inside a quoted field (the csv module in strict mode says
    so) or with a last row shorter than the header: both are reported with their line.
    """
    csv.field_size_limit(16 * 1024 * 1024)
    with source.text_stream() as f:
        reader = csv.reader(f, delimiter=delimiter, strict=True)
        try:
            header = [c.strip() for c in next(reader)]
        except StopIteration:
            return
        except csv.Error as e:
            raise ReportParseError(source.path, fmt, f"invalid CSV header: {e}", "line 1") from e
        pending: tuple[int, list[str]] | None = None
        try:
            for row in reader:
                if pending is not None:
                    yield pending[0], _row_dict(header, pending[1])
                pending = (reader.line_num, row)
        except csv.Error as e:
            raise ReportParseError(source.path, fmt, f"invalid CSV: {e}", f"line {reader.line_num}") from e
        if pending is not None:
            line, row = pending
            if 1 < len(row) < len(header):
                raise ReportParseError(
                    source.path,
                    fmt,
                    f"the last row has {len(row)} of {len(header)} columns (truncated file?)",
                    f"line {line}",
                )
            yield line, _row_dict(header, row)


def _row_dict(header: list[str], row: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for i, name in enumerate(header):
        if (
            name not in out or not out[name]
        ):  # a repeated (or blank) column name keeps the first non-empty value
            out[name] = row[i] if i < len(row) else ""
    return out


def first_value(row: dict[str, str], *names: str) -> str:
    """The first non-empty cell among the columns named (stripped)."""
    for n in names:
        v = row.get(n)
        if v and v.strip():
            return v.strip()
    return ""


def unique(values: Iterable[str]) -> list[str]:
    """De-duplicate, keeping order, dropping empties."""
    out: dict[str, None] = {}
    for v in values:
        if v:
            out.setdefault(v, None)
    return list(out)

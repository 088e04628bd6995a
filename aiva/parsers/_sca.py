"""Small helpers shared by the SCA parsers (grype, npm audit, pip-audit, OSV, GitHub, trivy-operator).

Not a parser (the leading underscore keeps it out of the registry). Version
ordering here is deliberately tolerant: it only has to pick the nearest fixed
version among a scanner's candidates, never to decide whether a package is
vulnerable (the scanner already did that).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

_SPLIT = re.compile(r"[.\-_+~:]")
_TOKEN = re.compile(r"\d+|[A-Za-z]+")
# Words that sort after the plain release ("1.0.post1" > "1.0"); any other word
# ("rc", "beta", "alpha", "dev") sorts before it ("1.0rc1" < "1.0").
_AFTER_RELEASE = frozenset({"post", "patch", "pl", "p", "r", "rev", "build", "sp", "deb", "el", "ubuntu"})
_END = (0, 0, "")
_GHSA_IN_TEXT = re.compile(r"GHSA(?:-[23456789cfghjmpqrvwx]{4}){3}", re.IGNORECASE)
_CVE_IN_TEXT = re.compile(r"CVE-\d{4}-\d{4,}", re.IGNORECASE)


def version_key(version: str) -> tuple[tuple[int, int, str], ...]:
    """A sortable key for a version string of any ecosystem (epoch and 'v' prefix handled)."""
    v = version.strip()
    epoch = 0
    m = re.match(r"^(\d+):(.+)$", v)
    if m:
        epoch, v = int(m.group(1)), m.group(2)
    if v[:1] in ("v", "V") and v[1:2].isdigit():
        v = v[1:]
    out: list[tuple[int, int, str]] = [(1, epoch, "")]
    for part in _SPLIT.split(v):
        for tok in _TOKEN.findall(part):
            if tok.isdigit():
                out.append((1, int(tok), ""))
            elif tok.lower() in _AFTER_RELEASE:
                out.append((2, 0, tok.lower()))
            else:
                out.append((-1, 0, tok.lower()))
    return tuple(out)


def _cmp_key(a: tuple[tuple[int, int, str], ...], n: int) -> tuple[tuple[int, int, str], ...]:
    return a + (_END,) * (n - len(a))


def version_lt(a: str, b: str) -> bool:
    """True when version a sorts before version b."""
    ka, kb = version_key(a), version_key(b)
    n = max(len(ka), len(kb))
    return _cmp_key(ka, n) < _cmp_key(kb, n)


def nearest_fix(installed: str | None, candidates: Iterable[object]) -> str | None:
    """The lowest candidate fixed version above the installed one.

    With no installed version, or no candidate above it, every candidate is listed
    (comma-separated) so that the information is not lost.
    """
    fixes = [str(c).strip() for c in candidates if c is not None and str(c).strip()]
    fixes = list(dict.fromkeys(fixes))
    if not fixes:
        return None
    if installed:
        above = [f for f in fixes if version_lt(installed, f)]
        if above:
            best = above[0]
            for f in above[1:]:
                if version_lt(f, best):
                    best = f
            return best
    return ", ".join(fixes)


def pypi_name(name: str) -> str:
    """PEP 503 normalised project name (what pip and PyPI compare)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def ids_in_text(text: str) -> list[str]:
    """CVE and GHSA ids mentioned in a URL or a piece of text, in order."""
    return [
        m.group(0)
        for m in re.finditer(f"{_CVE_IN_TEXT.pattern}|{_GHSA_IN_TEXT.pattern}", text, re.IGNORECASE)
    ]


def as_dict(value: Any) -> dict[str, Any]:
    """The value when it is a JSON object, else an empty one (wrong types never raise)."""
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    """The value when it is a JSON array, else an empty one."""
    return value if isinstance(value, list) else []


def as_str(value: Any) -> str:
    """A scalar as text ('' for None, objects and arrays)."""
    if value is None or isinstance(value, (dict, list)):
        return ""
    return str(value).strip()


def str_list(value: Any) -> list[str]:
    """The non-empty strings of a JSON array (a lone string becomes a one-item list)."""
    if isinstance(value, str):
        return [value] if value.strip() else []
    return [str(v).strip() for v in as_list(value) if isinstance(v, (str, int, float)) and str(v).strip()]

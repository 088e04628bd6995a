"""Helpers shared by the DAST parsers (zap, burp): HTML prose to text, URLs to endpoints.

Not a parser (the leading underscore keeps it out of the registry).
"""

from __future__ import annotations

import html
import re
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from aiva.schemas import Endpoint

DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443, "ftp": 21}
_BLOCK = re.compile(r"<\s*/?\s*(?:br|p|li|ul|ol|div|h[1-6]|tr|table|pre)\b[^>]{0,500}>", re.IGNORECASE)
_TAG = re.compile(r"<[^<>]{0,2000}>")
_BLANKS = re.compile(r"\n[ \t]*(?:\n[ \t]*)+")
_HREF = re.compile(r"""href\s*=\s*["']([^"'<>\s]{1,2000})["']""", re.IGNORECASE)
_URL = re.compile(r"""https?://[^\s"'<>]{1,2000}""")


def html_to_text(value: str | None) -> str:
    """Scanner prose in HTML (ZAP, Burp) as plain text: block tags become line breaks, other tags go."""
    if not value:
        return ""
    s = _BLOCK.sub("\n", value)
    s = _TAG.sub("", s)
    s = html.unescape(s)
    s = "\n".join(line.strip() for line in s.splitlines())
    return _BLANKS.sub("\n\n", s).strip()


def links(value: str | None) -> list[str]:
    """The URLs in a reference field: `href`s of HTML links, else bare URLs; de-duplicated, in order."""
    if not value:
        return []
    found = _HREF.findall(value) or _URL.findall(html.unescape(value))
    out: dict[str, None] = {}
    for u in found:
        u = html.unescape(u).rstrip(".,;")
        while u.endswith(")") and u.count(")") > u.count("("):
            u = u[:-1]
        out.setdefault(u, None)
    return list(out)


def split_url(url: str) -> tuple[str | None, str | None, int | None]:
    """(scheme, host, port) of a URL, the port defaulted from the scheme; Nones when unreadable."""
    try:
        s = urlsplit(url.strip())
        port = s.port
    except ValueError:
        return None, None, None
    scheme = s.scheme.lower() or None
    if port is None and scheme in DEFAULT_PORTS:
        port = DEFAULT_PORTS[scheme]
    return scheme, (s.hostname or None), port


def endpoint(url: str | None, parameter: str | None = None, *, host: str | None = None,
             port: int | None = None, protocol: str | None = None) -> Endpoint:
    """An Endpoint from a URL; host/port/protocol fill in what the URL does not say."""
    scheme, h, p = split_url(url) if url else (None, None, None)
    p = p if p is not None else port
    return Endpoint(
        host=h or host,
        port=p if p is not None and 0 <= p <= 65_535 else None,
        protocol=scheme or protocol,
        url=without_userinfo(url) if url else None,
        parameter=parameter or None,
    )


def without_userinfo(url: str) -> str:
    """The URL without `user:password@` (a credential must not be stored in an endpoint)."""
    try:
        s = urlsplit(url)
    except ValueError:
        return url
    if "@" not in s.netloc:
        return url
    return urlunsplit((s.scheme, s.netloc.rsplit("@", 1)[1], s.path, s.query, s.fragment))


def url_identity(url: str) -> str:
    """A URL reduced to what identifies the page: scheme, host, port, path and the sorted query
    parameter NAMES. Query values, fragments and case of scheme/host are dropped, so that a crawler
    picking `?id=18` in one run and `?id=22` in the next still lands on the same finding."""
    try:
        s = urlsplit(url.strip())
        port = s.port
    except ValueError:
        return url.strip()
    scheme = s.scheme.lower()
    if port is None:
        port = DEFAULT_PORTS.get(scheme)
    names = sorted({k for k, _ in parse_qsl(s.query, keep_blank_values=True)})
    query = "&".join(names)
    host = (s.hostname or "").lower()
    base = f"{scheme}://{host}:{port if port is not None else ''}{s.path or '/'}"
    return f"{base}?{query}" if query else base

"""The parser registry: detect a report's format from its content and parse it.

Every module in this package that defines `PARSER` (and optionally
`SNIFF_PRIORITY`, lower is tried later) is registered automatically, so adding a
format is adding one module. Detection never looks at the file name.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterator
from functools import cache

from aiva.errors import InputError, UnknownFormatError
from aiva.parsers.base import DEFAULT_MAX_BYTES, ParseContext, Parser, ReportSource
from aiva.schemas import Finding

__all__ = ["ParseContext", "Parser", "ReportSource", "available", "detect", "get", "open_report"]


@cache
def _registry() -> tuple[Parser, ...]:
    found: list[tuple[int, str, Parser]] = []
    for mod in pkgutil.iter_modules(__path__):
        if mod.name.startswith("_") or mod.name == "base":
            continue
        module = importlib.import_module(f"{__name__}.{mod.name}")
        parser = getattr(module, "PARSER", None)
        if parser is not None:
            found.append((int(getattr(module, "SNIFF_PRIORITY", 50)), parser.name, parser))
    found.sort(key=lambda t: (-t[0], t[1]))
    return tuple(p for _, _, p in found)


def available() -> list[str]:
    """Names of every registered format, in detection order."""
    return [p.name for p in _registry()]


def get(name: str) -> Parser:
    """The parser for an explicit format name."""
    for p in _registry():
        if p.name == name:
            return p
    raise InputError(f"unknown format {name!r}; known formats: {', '.join(sorted(available()))}")


def detect(source: ReportSource) -> Parser:
    """The first parser whose sniff accepts the content; an unknown format lists what was tried."""
    if source.size == 0:
        raise UnknownFormatError(source.path, available(), "the file is empty")
    for p in _registry():
        if p.sniff(source):
            return p
    raise UnknownFormatError(source.path, available(), "pass --format to force one")


def open_report(
    path: str, fmt: str | None = None, ctx: ParseContext | None = None
) -> tuple[Parser, Iterator[Finding]]:
    """Detect (or take) the format and return the parser with a lazy iterator of findings."""
    ctx = ctx or ParseContext()
    source = ReportSource(path, max_bytes=ctx.max_bytes or DEFAULT_MAX_BYTES)
    parser = get(fmt) if fmt else detect(source)
    return parser, parser.parse(source, ctx)


def report_coverage(parser: Parser, path: str, ctx: ParseContext | None = None) -> tuple[str | None, str | None]:
    """(target, tool) a report says it covers, for a report with no findings (which name neither).

    Formats that name their subject (Trivy's ArtifactName, Grype's source, SARIF's driver and
    repository) say so; the others give (None, their fixed tool name). An unreadable file gives
    (None, None): nothing is assumed about it. A target the user declared is the caller's to prefer.
    """
    ctx = ctx or ParseContext()
    coverage = getattr(parser, "coverage", None)
    if coverage is None:
        return None, parser.tool_name
    try:
        target, tool = coverage(ReportSource(path, max_bytes=ctx.max_bytes or DEFAULT_MAX_BYTES))
    except InputError:
        return None, None
    return target, tool

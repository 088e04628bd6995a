"""Small helpers shared by the XML parsers (dependency_check, cyclonedx, zap, burp).

Not a parser (the leading underscore keeps it out of the registry). Parsing itself
always goes through `ReportSource.load_xml` (defusedxml: no entities, no external
references); these helpers only walk the resulting tree.
"""

from __future__ import annotations

from xml.etree.ElementTree import Element

# Free text fields of a Finding are bounded (schemas.Text); keep a margin.
MAX_TEXT = 60_000


def strip_namespaces(root: Element) -> Element:
    """Rename every `{namespace}tag` to its local name, in place: paths then read the same in any
    schema version."""
    for el in root.iter():
        tag = el.tag
        if isinstance(tag, str) and tag.startswith("{"):
            el.tag = tag.split("}", 1)[1]
    return root


def text(el: Element | None, path: str) -> str:
    """The stripped text of the first element at `path` under `el`, or "" when absent."""
    if el is None:
        return ""
    value = el.findtext(path)
    return value.strip() if value else ""


def own_text(el: Element | None) -> str:
    """An element's own text, stripped ("" for None)."""
    if el is None or el.text is None:
        return ""
    return el.text.strip()


def clip(value: str, limit: int = MAX_TEXT) -> str:
    """Cut free text to the schema's bound, saying so."""
    if len(value) <= limit:
        return value
    return value[: limit - 20] + "\n…(truncated)"

"""Test helpers: parse with an explicit parser, and write a copy of a report with its results
in reverse order (to check that fingerprints do not depend on order)."""

from __future__ import annotations

import io
import json
import xml.etree.ElementTree as ET
from pathlib import Path

from aiva.parsers import get
from aiva.parsers.base import ParseContext, ReportSource
from aiva.schemas import Finding

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"

# Containers whose children are results (or lists of results) in the formats of this group.
XML_LISTS = frozenset({"dependencies", "vulnerabilities", "components", "alerts", "instances", "issues",
                       "affects", "references"})
JSON_LISTS = frozenset({"vulnerabilities", "components", "affects", "site", "alerts", "instances",
                        "applications"})


def parse(fmt: str, path: Path | str, ctx: ParseContext | None = None) -> list[Finding]:
    """Every finding of one file, read with the named parser (no sniffing)."""
    return list(get(fmt).parse(ReportSource(str(path)), ctx or ParseContext()))


def reversed_copy(src: Path, dst: Path) -> Path:
    """Write `src` to `dst` with every result list reversed (XML or JSON)."""
    data = src.read_bytes()
    if data.lstrip().startswith(b"<"):
        for _, (prefix, uri) in ET.iterparse(io.BytesIO(data), events=("start-ns",)):
            ET.register_namespace(prefix, uri)
        root = ET.fromstring(data)  # a trusted test file: the corpus or our own fixture
        for el in root.iter():
            local = el.tag.split("}", 1)[-1] if isinstance(el.tag, str) else ""
            if local in XML_LISTS or el is root:
                children = list(el)
                for c in children:
                    el.remove(c)
                el.extend(reversed(children))
        ET.ElementTree(root).write(dst, xml_declaration=True, encoding="utf-8")
    else:
        doc = json.loads(data)
        dst.write_text(json.dumps(_flip_json(doc, reverse=isinstance(doc, list))), encoding="utf-8")
    return dst


def _flip_json(node: object, reverse: bool = False) -> object:
    if isinstance(node, list):
        items = [_flip_json(x) for x in node]
        return items[::-1] if reverse else items
    if isinstance(node, dict):
        return {k: _flip_json(v, reverse=k in JSON_LISTS) for k, v in node.items()}
    return node


def truncated_copy(src: Path, dst: Path, fraction: float = 0.6) -> Path:
    """Write the first `fraction` of `src` to `dst` (a report cut off mid-way)."""
    data = src.read_bytes()
    dst.write_bytes(data[: int(len(data) * fraction)])
    return dst

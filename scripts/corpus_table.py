"""Render tests/corpus_expected/*.tsv as docs/corpus-differences.md (the table of where AIVA's
count differs from the peer's, and why). Run: python scripts/corpus_table.py"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "tests" / "corpus_expected"
OUT = ROOT / "docs" / "corpus-differences.md"


def render() -> str:
    """The markdown document."""
    rows = []
    for tsv in sorted(SRC.glob("*.tsv")):
        with open(tsv, newline="", encoding="utf-8") as f:
            rows += list(csv.DictReader(f, delimiter="\t"))
    same = sum(1 for r in rows if r["peer_count"] == r["aiva_count"])
    lines = [
        "# Corpus counts: AIVA against the peer",
        "",
        "Generated from `tests/corpus_expected/*.tsv` by `scripts/corpus_table.py`; the corpus test",
        "(`tests/parsers/test_corpus.py`) parses every file and asserts AIVA's count.",
        "",
        f"{len(rows)} corpus files: {same} agree with the peer's count, {len(rows) - same} differ on purpose.",
        "",
        "| file | parser | peer | AIVA | why |",
        "|---|---|---:|---:|---|",
    ]
    for r in sorted(rows, key=lambda r: r["file"]):
        if r["peer_count"] != r["aiva_count"]:
            reason = r["reason"].replace("|", "\\|").replace("\n", " ")
            lines.append(f"| `{r['file']}` | {r['format']} | {r['peer_count']} | {r['aiva_count']} | {reason} |")
    lines += ["", "Files where the counts agree:", ""]
    lines += [f"- `{r['file']}` ({r['format']}): {r['aiva_count']}" for r in sorted(rows, key=lambda r: r["file"])
              if r["peer_count"] == r["aiva_count"]]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    text = render()
    if "--check" in sys.argv:
        sys.exit(0 if OUT.read_text(encoding="utf-8") == text else 1)
    OUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUT}")

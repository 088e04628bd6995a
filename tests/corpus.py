"""Where the shared scanner corpus lives, for tests that need it.

The corpus is a peer's test data: it is read from ../shared/corpus (or the folder
named by AIVA_CORPUS_DIR) and never committed. Tests that need it skip, saying
why, when it is absent.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXPECTED_DIR = Path(__file__).resolve().parent / "corpus_expected"


def corpus_dir() -> Path | None:
    """The corpus folder, or None when it is not on this machine."""
    env = os.environ.get("AIVA_CORPUS_DIR")
    candidates = [Path(env)] if env else [ROOT.parent / "shared" / "corpus"]
    for c in candidates:
        if (c / "MANIFEST.tsv").is_file():
            return c
    return None


def require_corpus() -> Path:
    """The corpus folder, or skip the test with the reason."""
    c = corpus_dir()
    if c is None:
        pytest.skip("scanner corpus not found: set AIVA_CORPUS_DIR or put shared/ beside the checkout")
    return c


@dataclass(frozen=True)
class ManifestRow:
    format: str
    file: str
    peer_count: int


def manifest_rows() -> list[ManifestRow]:
    """Every row of MANIFEST.tsv (empty when the corpus is absent)."""
    c = corpus_dir()
    if c is None:
        return []
    with open(c / "MANIFEST.tsv", newline="", encoding="utf-8") as f:
        return [
            ManifestRow(r["format"], r["file"], int(r["expected_findings"]))
            for r in csv.DictReader(f, delimiter="\t")
        ]


@dataclass(frozen=True)
class Expectation:
    file: str
    format: str
    peer_count: int
    aiva_count: int
    reason: str


def expectations() -> dict[str, Expectation]:
    """AIVA's own expected count per corpus file, with the reason when it differs from the peer's.

    One TSV per format in tests/corpus_expected/: file, format, peer_count, aiva_count, reason.
    """
    out: dict[str, Expectation] = {}
    for tsv in sorted(EXPECTED_DIR.glob("*.tsv")):
        with open(tsv, newline="", encoding="utf-8") as f:
            for r in csv.DictReader(f, delimiter="\t"):
                out[r["file"]] = Expectation(
                    r["file"], r["format"], int(r["peer_count"]), int(r["aiva_count"]), r["reason"].strip()
                )
    return out

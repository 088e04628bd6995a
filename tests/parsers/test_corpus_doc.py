"""The corpus differences document is generated from the expectations and must be current."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_corpus_differences_doc_is_up_to_date() -> None:
    res = subprocess.run([sys.executable, str(ROOT / "scripts" / "corpus_table.py"), "--check"])
    assert res.returncode == 0, "docs/corpus-differences.md is stale: run python scripts/corpus_table.py"
